"""The public-goods game: hand-computed contributions and payoffs, its report, its imports."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.analysis import compare, load_run
from engine.models import LanguageModel, Ledger, Request
from engine.models.scripted import ScriptedBackend
from engine.report import write_report
from engine.scenario import load_scenario
from engine.simulation import Simulation

ROOT = Path(__file__).resolve().parent.parent
GAME = """
name: pg_test
seed: 1
duration: 1d
window: 0
model: {{backend: scripted}}
embedder: {{kind: hashing, dim: 32}}
memory: {{enabled: false}}
population:
  personas: [{{name: A}}, {{name: B}}, {{name: C}}, {{name: D}}]
game: {{type: public_goods, group_size: 4, rounds: 3, endowment: 20, multiplier: 1.6{extra}}}
"""
# A gives everything, B half, C nothing, D 5 more each round (0, 5, 10)
PLAN = {"A": [20, 20, 20], "B": [10, 10, 10], "C": [0, 0, 0], "D": [0, 5, 10]}


def responder(request: Request) -> str | None:
    text = request.messages[-1].content
    me = re.search(r"You are (\w+)\.", request.messages[0].content).group(1)  # type: ignore[union-attr]
    round_ = int(re.search(r"Round (\d+) of", text).group(1))  # type: ignore[union-attr]
    if "punishment points" in text and "Do you assign" in text:
        if me == "A":  # A punishes the free rider C with 2 points
            return json.dumps({"action": "punish", "member": "C", "points": 2})
        return json.dumps({"action": "no_punishment"})
    return json.dumps({"action": "contribute", "amount": PLAN[me][round_ - 1]})


def _run(write_scenario: Callable[..., Path], folder: Path, extra: str = "") -> dict:  # type: ignore[type-arg]
    path = write_scenario(GAME.format(extra=extra), f"{folder.name}.yaml")
    model = LanguageModel(ScriptedBackend(responder=responder), ledger=Ledger())
    return Simulation(load_scenario(path), out=folder, model=model).run().stats


def test_contribution_statistics_match_the_hand_computed_values(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    stats = _run(write_scenario, tmp_path / "plain")
    # rates per round: (20 + 10 + 0 + 0) / 80, (20 + 10 + 0 + 5) / 80, (20 + 10 + 0 + 10) / 80
    assert [r["contribution_rate"] for r in stats["per_round"]] == pytest.approx(
        [0.375, 0.4375, 0.5]
    )
    # free riders: C and D in round 1, C alone afterwards
    assert [r["free_riding_share"] for r in stats["per_round"]] == [0.5, 0.25, 0.25]
    assert [r["full_contribution_share"] for r in stats["per_round"]] == [0.25, 0.25, 0.25]
    assert stats["contribution_rate"] == pytest.approx((0.375 + 0.4375 + 0.5) / 3)
    assert stats["free_riding_share"] == pytest.approx(4 / 12)
    assert stats["contribution_decay_per_round"] == pytest.approx(0.0625)  # rises by 1/16 a round
    # earnings: round r pot total t_r = 30, 35, 40 -> share 1.6 t / 4 = 12, 14, 16
    # A: (0 + 12) + (0 + 14) + (0 + 16) = 42 ; C: (20 + 12) + (20 + 14) + (20 + 16) = 102
    assert stats["earnings"] == pytest.approx({"A": 42.0, "B": 72.0, "C": 102.0, "D": 87.0})
    assert stats["mean_earnings"] == pytest.approx((42 + 72 + 102 + 87) / 4)


def test_punishment_moves_exactly_cost_and_effect(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    stats = _run(
        write_scenario, tmp_path / "punish", ", punishment: {enabled: true, from_round: 2}"
    )
    assert [r["punishment_points"] for r in stats["per_round"]] == [0.0, 2.0, 2.0]
    # A pays 1 per point (2 rounds x 2 points), C loses 3 per point
    assert stats["earnings"]["A"] == pytest.approx(42.0 - 4.0)
    assert stats["earnings"]["C"] == pytest.approx(102.0 - 12.0)
    run = load_run(tmp_path / "punish")
    graph = run.graph("punishment")
    assert list(graph.edges(data=True)) == [("A", "C", {"weight": 4.0, "count": 2})]
    assert (tmp_path / "punish" / "punishment_graph.graphml").exists()


def test_its_report_has_its_own_plots_and_compare_its_measures(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    _run(write_scenario, tmp_path / "runs" / "one")
    html = write_report(tmp_path / "runs" / "one").read_text()
    assert "Contributions per round" in html
    measures = compare([tmp_path / "runs"])["measures"]
    assert {"contribution_rate", "free_riding_share", "contribution_decay_per_round"} <= set(
        measures
    )


def test_it_imports_only_the_public_api() -> None:
    source = (ROOT / "gamemaster" / "public_goods.py").read_text()
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {
                alias.name.split(".")[0]
                if not alias.name.startswith(("engine", "agents", "gamemaster"))
                else alias.name
                for alias in node.names
            }
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    socium = {m for m in modules if m.split(".")[0] in ("engine", "agents", "gamemaster")}
    assert socium == {"gamemaster.api"}


def test_a_population_that_does_not_split_into_groups_is_a_validate_error(
    write_scenario: Callable[..., Path],
) -> None:
    from engine.types import ScenarioError

    path = write_scenario(GAME.format(extra="").replace("{name: D}]", "{name: D}, {name: E}]"))
    with pytest.raises(
        ScenarioError, match=r"\d+: population: 5 persona\(s\) do not split into groups of 4"
    ):
        load_scenario(path)


def test_the_progress_clock_names_round_and_stage() -> None:
    from gamemaster.public_goods import GAME, PublicGoodsSection

    section = PublicGoodsSection.model_validate(
        {"rounds": 3, "round_length": 60, "punishment": {"enabled": True, "from_round": 2}}
    )
    # round 1 has no punishment stage; rounds 2 and 3 have one: 5 stages of 60 s
    assert GAME.horizon(section) == 300
    labels = [GAME.clock(section, t) for t in (0, 60, 120, 180, 240, 10_000)]
    assert labels == [
        "round 1/3, contributions",
        "round 2/3, contributions",
        "round 2/3, punishment",
        "round 3/3, contributions",
        "round 3/3, punishment",
        "round 3/3, punishment",
    ]
