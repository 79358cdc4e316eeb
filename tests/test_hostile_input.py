"""Hostile input: any scenario or persona file yields a scenario or a file:line error.

Property-based (hypothesis) with a fixed example budget, so CI time is bounded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.scenario import LoadedScenario, parse_scenario
from engine.types import ScenarioError
from tests.conftest import SCRIPTED_TOWN

BUDGET = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
LOCATION = re.compile(r"^(--set .*|.+:\d+): \S.*: .+")  # file:line: field: message

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=30),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
BASE = yaml.safe_load(SCRIPTED_TOWN)
PATHS = [
    ("name",),
    ("seed",),
    ("duration",),
    ("window",),
    ("model",),
    ("model", "backend"),
    ("memory", "k"),
    ("population",),
    ("population", "personas"),
    ("population", "count"),
    ("population", "personas_file"),
    ("game",),
    ("game", "type"),
    ("game", "project"),
    ("game", "locations"),
    ("embedder", "kind"),
    ("prompts",),
]


def _check(text: str, path: Path) -> None:
    try:
        loaded = parse_scenario(text, path)
    except ScenarioError as err:
        for line in str(err).splitlines():
            assert LOCATION.match(line), line
        return
    assert isinstance(loaded, LoadedScenario)


@BUDGET
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises_anything_but_a_located_error(
    tmp_path: Path, text: str
) -> None:
    _check(text, tmp_path / "fuzz.yaml")


@pytest.mark.parametrize("value", ["\x1e", "a\u2028b", "x\rx"])
def test_a_value_with_a_line_separator_is_echoed_on_its_errors_line(
    tmp_path: Path, value: str
) -> None:
    """Found by the fuzzer below: str.splitlines() also splits at \\x1e, \\u2028, \\r."""
    data = json.loads(json.dumps(BASE))
    data["model"]["backend"] = value
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(yaml.safe_dump(data, allow_unicode=True), tmp_path / "fuzz.yaml")
    (line,) = str(caught.value).splitlines()
    assert LOCATION.match(line) and "backend" in line


@BUDGET
@given(st.sampled_from(PATHS), values)
def test_a_mutated_valid_scenario_is_valid_or_a_located_error(
    tmp_path: Path, path: tuple[str, ...], value: object
) -> None:
    data = json.loads(json.dumps(BASE))
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else node
    if isinstance(node, dict):
        node[path[-1]] = value
    _check(yaml.safe_dump(data, allow_unicode=True), tmp_path / "fuzz.yaml")


@BUDGET
@given(
    st.lists(
        st.one_of(
            st.text(max_size=60),
            st.dictionaries(st.text(max_size=10), scalars, max_size=5).map(json.dumps),
        ),
        max_size=6,
    ),
    st.booleans(),
)
def test_persona_files_yield_personas_or_a_located_error(
    tmp_path: Path, lines: list[str], csv: bool
) -> None:
    name = "people.csv" if csv else "people.jsonl"
    (tmp_path / name).write_text("\n".join(lines), encoding="utf-8")
    text = SCRIPTED_TOWN.replace("population:\n", f"population:\n  personas_file: {name}\n")
    _check(text, tmp_path / "scenario.yaml")


def test_size_limits_and_no_evaluation(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("name: x\n" + "#" * 1_100_000)
    from engine.scenario import load_scenario

    try:
        load_scenario(big)
    except ScenarioError as err:
        assert "over the 1000000 limit" in str(err)
    # YAML tags that would construct Python objects are refused by safe_load
    tagged = SCRIPTED_TOWN.replace(
        "name: tiny_town", "name: !!python/object/apply:os.system ['echo pwned']"
    )
    try:
        parse_scenario(tagged, tmp_path / "tagged.yaml")
        raise AssertionError("a python tag was accepted")
    except ScenarioError as err:
        assert ": (yaml):" in str(err)
    long_description = SCRIPTED_TOWN.replace(
        "{name: Ada, traits: {coins: 10}}", "{name: Ada, description: '" + "x" * 5000 + "'}"
    )
    try:
        parse_scenario(long_description, tmp_path / "long.yaml")
        raise AssertionError("an oversized field was accepted")
    except ScenarioError as err:
        assert "population.personas.0.description" in str(err)
