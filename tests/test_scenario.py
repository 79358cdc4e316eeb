"""Scenario files: validation errors name file:line: field, overrides, confinement, schema."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.scenario import json_schema, load_scenario
from engine.types import ScenarioError
from tests.conftest import SCRIPTED_TOWN


def _error(path: Path, *overrides: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, overrides)
    return str(caught.value)


def test_valid_scenario_loads(scripted_town: Path) -> None:
    loaded = load_scenario(scripted_town)
    assert loaded.scenario.duration == 6 * 3600
    assert loaded.scenario.window == 1800
    assert loaded.game_type == "narrative"
    assert loaded.game.project.cost == 30  # type: ignore[attr-defined]


def test_bad_yaml_names_the_line(write_scenario: Callable[..., Path]) -> None:
    path = write_scenario("name: x\nduration: 1h\npopulation: [unclosed\n")
    message = _error(path)
    assert message.startswith(f"{path}:3: (yaml):") or message.startswith(f"{path}:4: (yaml):")


def test_unknown_key_suggests_the_right_one(write_scenario: Callable[..., Path]) -> None:
    path = write_scenario(SCRIPTED_TOWN.replace("window: 30m", "windw: 30m"))
    message = _error(path)
    line = SCRIPTED_TOWN.lstrip().splitlines().index("window: 30m") + 1
    assert message == f"{path}:{line}: windw: unknown key 'windw'; did you mean 'window'?"


def test_unknown_key_in_the_game_section(write_scenario: Callable[..., Path]) -> None:
    path = write_scenario(SCRIPTED_TOWN.replace("  locations:", "  locatons:"))
    message = _error(path)
    assert "game.locatons: unknown key 'locatons'; did you mean 'locations'?" in message
    assert message.startswith(f"{path}:")


def test_wrong_type_names_file_line_and_field(write_scenario: Callable[..., Path]) -> None:
    path = write_scenario(SCRIPTED_TOWN.replace("k: 3,", "k: many,"))
    message = _error(path)
    line = next(
        i for i, s in enumerate(SCRIPTED_TOWN.lstrip().splitlines(), 1) if s.startswith("memory:")
    )
    assert message.startswith(f"{path}:{line}: memory.k: ")
    assert "integer" in message


def test_bad_duration(write_scenario: Callable[..., Path]) -> None:
    path = write_scenario(SCRIPTED_TOWN.replace("duration: 6h", "duration: six hours"))
    assert ": duration: " in _error(path)


def test_missing_field_points_at_the_parent(write_scenario: Callable[..., Path]) -> None:
    path = write_scenario(SCRIPTED_TOWN.replace("duration: 6h\n", ""))
    assert _error(path) == f"{path}:1: duration: required field is missing"


def test_data_paths_may_not_leave_the_scenario_folder(write_scenario: Callable[..., Path]) -> None:
    text = SCRIPTED_TOWN.replace(
        "population:\n", "population:\n  personas_file: ../../etc/passwd\n"
    )
    path = write_scenario(text)
    message = _error(path)
    assert (
        "population.personas_file: Value error, path '../../etc/passwd' leaves the scenario folder"
        in message
    )
    assert message.startswith(f"{path}:")


def test_persona_file_errors_name_their_own_line(write_scenario: Callable[..., Path]) -> None:
    path = write_scenario(
        SCRIPTED_TOWN.replace("population:\n", "population:\n  personas_file: people.jsonl\n")
    )
    (path.parent / "people.jsonl").write_text('{"name": "Eve"}\n{"name": "Fay", "age": 3}\n')
    assert _error(path) == f"{path.parent / 'people.jsonl'}:2: age: unknown key"


def test_csv_personas_and_cycling(write_scenario: Callable[..., Path]) -> None:
    from engine.personas import load_population

    text = SCRIPTED_TOWN.replace(
        "population:\n", "population:\n  personas_file: people.csv\n  count: 9\n"
    )
    path = write_scenario(text)
    (path.parent / "people.csv").write_text(
        "name,description,interests,traits.leaning,activity.rate\nEve,A cook,food;wine,left,3\n"
    )
    loaded = load_scenario(path)
    personas = load_population(loaded.scenario.population, path, {})
    assert [p.name for p in personas][:6] == ["Ada", "Bo", "Cy", "Di", "Eve", "Ada~2"]
    assert len(personas) == 9
    eve = personas[4]
    assert eve.interests == ("food", "wine") and eve.traits == {"leaning": "left"}
    assert eve.activity == {"rate": 3.0}


def test_overrides_change_fields_and_fail_clearly(scripted_town: Path) -> None:
    loaded = load_scenario(scripted_town, ["window=0", "memory.k=7", "game.locations=[a, b, c]"])
    assert loaded.scenario.window == 0 and loaded.scenario.memory.k == 7
    assert loaded.game.locations == ["a", "b", "c"]  # type: ignore[attr-defined]
    assert "memory.k=7" not in loaded.effective_yaml() and "k: 7" in loaded.effective_yaml()
    message = _error(scripted_town, "memory.kk=3")
    assert "memory.kk: unknown key 'kk'; did you mean 'k'?" in message


def test_unknown_game_type(write_scenario: Callable[..., Path]) -> None:
    path = write_scenario(SCRIPTED_TOWN.replace("type: narrative", "type: narative"))
    assert "game.type: unknown game 'narative'; did you mean 'narrative'?" in _error(path)


def test_duplicate_keys_are_errors(write_scenario: Callable[..., Path]) -> None:
    path = write_scenario(SCRIPTED_TOWN + "seed: 4\n")
    assert ": seed: duplicate key" in _error(path)


def test_schema_has_every_game_branch() -> None:
    schema = json_schema()
    assert "window" in schema["properties"]
    types = [b["properties"]["type"]["const"] for b in schema["properties"]["game"]["oneOf"]]
    assert "narrative" in types


@pytest.mark.parametrize(
    "text",
    [
        "name: x\nduration: [\n",  # bad YAML
        SCRIPTED_TOWN.replace("window: 30m", "windw: 30m"),  # unknown key
        SCRIPTED_TOWN.replace("seed: 3", "seed: three"),  # wrong type
        SCRIPTED_TOWN.replace(
            "population:\n", "population:\n  personas_file: ../x.jsonl\n"
        ),  # escape
    ],
)
def test_cli_exits_2_with_one_clear_line_and_no_traceback(
    write_scenario: Callable[..., Path], text: str
) -> None:
    path = write_scenario(text)
    for command in (["validate", str(path)], ["run", str(path), "--quiet"]):
        done = subprocess.run(
            [sys.executable, "-m", "engine.cli", *command],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{path}:")
