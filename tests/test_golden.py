"""Golden event logs: every bundled scenario, scripted, compared event by event.

Each scenario in ``scenarios/`` runs on the scripted backend and the hashing embedder
(scaled down where the study itself is large); its event log must equal
``tests/golden/<folder>__<name>.jsonl`` line for line. An intended change to a game or
the engine changes these logs: re-bless them, then review the diff with git::

    SOCIUM_BLESS=1 .venv/bin/python -m pytest tests/test_golden.py

"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.scenario import load_scenario
from engine.simulation import Simulation
from tests.conftest import stored_events

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
OFFLINE = ["model.backend=scripted", "embedder.kind=hashing", "embedder.dim=64"]
SMALLER = {
    "town_square/scenario.yaml": ["duration=6h"],
    "social_media/quick.yaml": ["game.null_samples=20", "game.bootstrap_samples=20"],
    "social_media/election.yaml": ["game.iterations=2", "duration=2h", "population.count=30"],
    "social_media/election_poisson.yaml": ["duration=12h", "population.count=30"],
    "social_media/control_homogeneous.yaml": [
        "game.iterations=2",
        "duration=2h",
        "population.count=20",
    ],
    "social_media/control_heterogeneous.yaml": ["duration=2h", "population.count=20"],
    "donor_game/paper.yaml": ["game.generations=2"],
    "donor_game/punishment.yaml": ["game.generations=2"],
    "public_goods/fehr_gaechter.yaml": ["game.rounds=12", "population.count=8"],
}
SOCIAL = ["game.null_samples=20", "game.bootstrap_samples=20"]
SCENARIOS = sorted(
    str(p.relative_to(ROOT / "scenarios")) for p in (ROOT / "scenarios").glob("*/*.yaml")
)


def event_lines(folder: Path) -> list[str]:
    """The stored event log as canonical JSON lines (every column but the run id)."""
    lines = []
    for seq, t, actor, kind, target, payload, perceivers, window in stored_events(folder):
        row = [seq, t, actor, kind, target, json.loads(payload), json.loads(perceivers), window]
        lines.append(json.dumps(row, sort_keys=True, ensure_ascii=False))
    return lines


def first_difference(expected: list[str], actual: list[str]) -> str | None:
    """Where two logs part, for the failure message (None: identical)."""
    for i, (a, b) in enumerate(zip(expected, actual, strict=False)):
        if a != b:
            return f"event {i} differs:\n  golden: {a[:400]}\n  now:    {b[:400]}"
    if len(expected) != len(actual):
        return f"the golden log has {len(expected)} events, this run {len(actual)}"
    return None


def golden_file(scenario: str) -> Path:
    return GOLDEN / (scenario.replace("/", "__").removesuffix(".yaml") + ".jsonl")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_event_log_equals_the_golden_log(scenario: str, tmp_path: Path) -> None:
    overrides = (
        OFFLINE + SMALLER.get(scenario, []) + (SOCIAL if scenario.startswith("social") else [])
    )
    loaded = load_scenario(ROOT / "scenarios" / scenario, overrides)
    result = Simulation(loaded, out=tmp_path / "run", overrides=overrides).run()
    assert result.status == "finished"
    lines = event_lines(tmp_path / "run")
    path = golden_file(scenario)
    if os.environ.get("SOCIUM_BLESS"):
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.exists(), (
        f"no golden log for {scenario}: run with SOCIUM_BLESS=1 (see the module docstring)"
    )
    difference = first_difference(path.read_text(encoding="utf-8").splitlines(), lines)
    assert difference is None, (
        f"{scenario}: {difference}\n(intended? re-bless: see tests/test_golden.py)"
    )


def test_a_golden_log_catches_one_changed_event() -> None:
    golden = golden_file("donor_game/quick.yaml").read_text(encoding="utf-8").splitlines()
    changed = list(golden)
    row = json.loads(changed[40])
    row[5] = {**row[5], "amount": row[5].get("amount", 0) + 0.01}  # one donation, one cent more
    changed[40] = json.dumps(row, sort_keys=True, ensure_ascii=False)
    assert first_difference(golden, golden) is None
    assert first_difference(golden, changed) == (
        f"event 40 differs:\n  golden: {golden[40][:400]}\n  now:    {changed[40][:400]}"
    )
    assert first_difference(golden, golden[:-1]) is not None
