"""Donor game (Vallinder & Hughes 2024): schedule, payoffs, rules, statistics, seeds."""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from engine.models import LanguageModel, Ledger, Request
from engine.models.scripted import ScriptedBackend
from engine.network.cooperation import ceiling, compare_runs, gini, schedule_resources
from engine.scenario import load_scenario
from engine.simulation import Simulation
from engine.types import Action, Persona
from gamemaster.donor_game import DonorGameMaster, DonorSection, Punishment, schedule

DONOR = """
name: donor_test
seed: 4
duration: 1d
window: 0
model: {{backend: scripted, parse_retries: {retries}}}
memory: {{enabled: false}}
population:
  count: {n}
  personas: [{{name: "1_1"}}]
game: {{type: donor_game, agents_per_generation: {n}, generations: {generations}{extra}}}
"""


@pytest.mark.parametrize("n", [6, 12])
@pytest.mark.parametrize("pairing", ["round_robin", "strict_alternation"])
def test_everyone_donates_and_receives_half_the_rounds_and_halves_never_meet(
    n: int, pairing: str
) -> None:
    rounds = schedule(n, pairing)
    assert len(rounds) == n
    gave, got = Counter(), Counter()
    for pairs in rounds:
        members = [x for pair in pairs for x in pair]
        assert len(members) == len(set(members)) == n  # everyone plays once per round
        for donor, recipient in pairs:
            gave[donor] += 1
            got[recipient] += 1
            assert (donor < n // 2) != (recipient < n // 2)  # A meets only B
    assert set(gave.values()) == set(got.values()) == {n // 2}


def by_hand(f: float, n: int = 12, endowment: float = 10.0, m: float = 2.0) -> tuple[float, float]:
    """Hand derivation: by symmetry each half holds one amount, a (half A) and b (half B).

    Round-robin donor sides: A,B,A,B,A,B then swapped B,A,B,A,B,A. When A donates,
    a -> (1 - f) a and b -> b + m f a; when B donates, symmetrically.
    """
    a = b = endowment
    half = n // 2
    sides = ["A" if i % 2 == 0 else "B" for i in range(half)]
    sides += ["B" if s == "A" else "A" for s in sides]
    for side in sides:
        if side == "A":
            a, b = (1 - f) * a, b + m * f * a
        else:
            a, b = a + m * f * b, (1 - f) * b
    return a, b


def test_the_hand_formula_matches_worked_numbers() -> None:
    assert by_hand(0.0) == (10.0, 10.0)
    assert by_hand(1.0) == (0.0, 30720.0)  # 10 -> 30 -> 60 -> ... doubling each round
    assert by_hand(0.5) == (182.96875, 499.375)
    assert ceiling(12) == 6 * 30720.0
    assert sorted(schedule_resources(12, 0.5)) == [182.96875] * 6 + [499.375] * 6


def _fixed_fraction(f: float) -> Callable[[Request], str | None]:
    def reply(request: Request) -> str | None:
        text = request.messages[-1].content
        if "write_strategy" in text:
            return json.dumps(
                {"action": "write_strategy", "strategy": f"My strategy will be to give {f:.0%}."}
            )
        units = float(re.search(r"You have ([0-9.e+-]+) units", text).group(1))  # type: ignore[union-attr]
        return json.dumps({"action": "donate", "justification": "fixed", "amount": f * units})

    return reply


def _run(path: Path, out: Path, responder=None, seed=None) -> tuple[list, dict]:  # type: ignore[no-untyped-def]
    loaded = load_scenario(path)
    model = LanguageModel(
        ScriptedBackend(responder=responder),
        ledger=Ledger(),
        parse_retries=loaded.scenario.model.parse_retries,
    )
    result = Simulation(loaded, out=out, model=model, seed=seed).run()
    db = sqlite3.connect(out / "run.sqlite")
    events = db.execute(
        "SELECT seq, t, actor, kind, target, payload FROM events ORDER BY seq"
    ).fetchall()
    return events, result.summary | {"stats": result.stats}


@pytest.mark.parametrize("f", [0.0, 0.5, 1.0])
def test_a_fixed_fraction_population_ends_with_the_hand_computed_resources(
    write_scenario: Callable[..., Path], tmp_path: Path, f: float
) -> None:
    path = write_scenario(DONOR.format(n=12, generations=1, retries=2, extra=""))
    events, summary = _run(path, tmp_path / "run", _fixed_fraction(f))
    end = json.loads(next(e[5] for e in events if e[3] == "generation_end"))
    a, b = by_hand(f)
    assert sorted(end["resources"].values()) == pytest.approx(sorted([a] * 6 + [b] * 6))
    assert summary["actions"] == 12 + 12 * 6  # 12 strategies, 72 donations
    assert summary["model_calls"] == summary["actions"]  # one call per decision
    graph = summary["stats"]["donation_graph"]
    # each A-B pair meets twice with roles swapped: 72 distinct directed pairs; at f = 1
    # half B is empty when it donates in round 7, so those 6 gifts are 0 and add no edge
    assert graph["edges"] == {0.0: 0, 0.5: 72, 1.0: 66}[f]
    assert (tmp_path / "run" / "donation_graph.graphml").exists()
    efficiency = summary["stats"]["per_generation"][0]["efficiency"]
    assert efficiency == pytest.approx(6 * (a + b) / ceiling(12))
    if f == 1.0:
        assert efficiency == pytest.approx(1.0)


def _gm(**options: object) -> DonorGameMaster:
    model = LanguageModel(ScriptedBackend(), ledger=Ledger())
    gm = DonorGameMaster(
        DonorSection(agents_per_generation=2, **options), model=model, rng=np.random.default_rng(0)
    )
    gm.setup([Persona("x"), Persona("y")])
    gm.order = ["x", "y"]
    gm.pairs = {"x": "y"}
    gm.round = 1
    return gm


def test_punishment_moves_exactly_cost_and_effect_and_never_below_zero() -> None:
    gm = _gm(punishment=Punishment(enabled=True, cost=1, effect=2))
    events = gm.resolve(
        "x", Action("punish", {"justification": "", "amount": 3}), 0.0, {"phase": "donate"}
    )
    assert events[0].kind == "punishment"
    assert gm.resources == {"x": 7.0, "y": 4.0}
    events = gm.resolve(
        "x", Action("punish", {"justification": "", "amount": 5}), 1.0, {"phase": "donate"}
    )
    assert gm.resources == {"x": 2.0, "y": 0.0}  # y loses only what it had
    assert events[0].payload["removed"] == 4.0
    too_much = gm.resolve(
        "x", Action("punish", {"justification": "", "amount": 5}), 2.0, {"phase": "donate"}
    )
    assert too_much[0].kind == "invalid_action" and gm.resources == {"x": 2.0, "y": 0.0}


def test_out_of_range_donations_are_invalid_and_transfer_nothing() -> None:
    gm = _gm()
    for amount in (10.5, -1):
        events = gm.resolve(
            "x", Action("donate", {"justification": "", "amount": amount}), 0.0, {"phase": "donate"}
        )
        assert events[0].kind == "invalid_action" and events[0].target == "y"
    assert gm.resources == {"x": 10.0, "y": 10.0}
    schema = gm.action_space("x", 0.0, {"phase": "donate"}).json_schema()
    assert "maximum" not in json.dumps(schema)  # the model may say 11; the rules reject it


def test_unparseable_answers_are_retried_then_count_as_zero(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    good = _fixed_fraction(0.5)

    def stubborn(request: Request) -> str | None:
        text = request.messages[1].content
        if "write_strategy" in text:
            return good(request)
        return "I'd rather not say."  # never parseable

    path = write_scenario(DONOR.format(n=2, generations=1, retries=3, extra=""))
    events, summary = _run(path, tmp_path / "run", stubborn)
    donations = [json.loads(e[5]) for e in events if e[3] == "donation"]
    assert len(donations) == 2 and all(
        d["amount"] == 0 and d["parse"] == "fallback" for d in donations
    )
    assert summary["model_calls"] == 2 + 2 * (
        1 + 3
    )  # strategies + each donation: 1 call + 3 re-asks
    assert summary["fallbacks"] == 2
    assert summary["stats"]["per_generation"][0]["fallback_rate"] == 1.0


def test_a_seed_reproduces_the_whole_run(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_scenario(
        DONOR.format(n=6, generations=3, retries=2, extra=", punishment: {enabled: true}")
    )
    first, _ = _run(path, tmp_path / "a", seed=9)
    second, _ = _run(path, tmp_path / "b", seed=9)
    third, _ = _run(path, tmp_path / "c", seed=10)
    assert first == second and first != third
    kinds = Counter(e[3] for e in first)
    assert kinds["generation_end"] == 3 and kinds["strategy"] == 6 + 3 + 3


def test_survivors_keep_their_strategy_and_newcomers_read_them(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_scenario(DONOR.format(n=6, generations=2, retries=2, extra=", show_scores: true"))
    prompts: list[str] = []
    base = _fixed_fraction(0.3)

    def record(request: Request) -> str | None:
        prompts.append(request.messages[-1].content)
        return base(request)

    events, _ = _run(path, tmp_path / "run", record)
    ends = [json.loads(e[5]) for e in events if e[3] == "generation_end"]
    survivors, newcomers = ends[0]["survivors"], ends[0]["newcomers"]
    assert len(survivors) == 3 and newcomers == ["2_1", "2_2", "2_3"]
    assert set(ends[1]["strategies"]) == set(survivors) | set(newcomers)
    newcomer_prompts = [p for p in prompts if "survived the last generation" in p]
    assert len(newcomer_prompts) == 3 and "ended with" in newcomer_prompts[0]


def test_notebook_compat_plays_two_games_per_generation(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_scenario(DONOR.format(n=4, generations=1, retries=2, extra=", compat: notebook"))
    events, _ = _run(path, tmp_path / "run", _fixed_fraction(1.0))
    donations = [json.loads(e[5]) for e in events if e[3] == "donation"]
    assert Counter(d["game"] for d in donations) == {1: 8, 2: 8}
    end = json.loads(next(e[5] for e in events if e[3] == "generation_end"))
    assert sum(end["resources"].values()) == pytest.approx(ceiling(4))  # selection on game 2


def test_statistics_helpers() -> None:
    assert gini([1, 1, 1, 1]) == 0.0
    assert gini([0, 0, 0, 10]) == pytest.approx(0.75)
    result = compare_runs({"claude": [0.9, 0.8, 0.85, 0.95], "gpt": [0.2, 0.3, 0.25, 0.1]})
    assert result["conditions"]["claude"]["n"] == 4
    assert result["mann_whitney"][0]["p"] < 0.05


@pytest.mark.slow
def test_quick_donor_game_runs_on_the_embedded_model(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    root = Path(__file__).resolve().parent.parent
    loaded = load_scenario(
        root / "scenarios" / "donor_game" / "quick.yaml",
        ["game.generations=1", "game.agents_per_generation=2"],
    )
    result = Simulation(loaded, out=tmp_path / "run").run()
    assert result.status == "finished"
    table = result.stats["per_generation"]
    assert len(table) == 1 and table[0]["resources_mean"] is not None
    assert result.summary["decision_calls_per_action"] >= 1


def test_reciprocity_and_second_order_on_hand_built_rows() -> None:
    from engine.network.cooperation import reciprocity, second_order

    def row(round_: int, donor: str, recipient: str, fraction: float) -> dict:  # type: ignore[type-arg]
        return {
            "generation": 1,
            "game": 1,
            "round": round_,
            "donor": donor,
            "recipient": recipient,
            "kind": "donation",
            "amount": fraction,
            "fraction": fraction,
            "parse": "ok",
        }

    # round 1: a, b, c give 0.2, 0.6, 1.0; round 2: d, e, f answer with 0.1 + 0.5 x
    rows = [
        row(1, "a", "s", 0.2),
        row(1, "b", "s", 0.6),
        row(1, "c", "t", 1.0),
        row(2, "d", "a", 0.2),
        row(2, "e", "b", 0.4),
        row(2, "f", "c", 0.6),
    ]
    result = reciprocity(rows)
    assert (
        result["n"] == 3
        and result["slope"] == pytest.approx(0.5)
        and result["r"] == pytest.approx(1.0)
    )
    # second order: s was generous (0.9) and t stingy (0.1) in round 0; a and b helped s,
    # c helped t. Gifts to a or b: d 0.2, e 0.4 (round 2), g 0.7 (round 3); to c: f 0.6, h 0.3.
    rows += [
        row(0, "s", "x", 0.9),
        row(0, "t", "x", 0.1),
        row(3, "g", "a", 0.7),
        row(3, "h", "c", 0.3),
    ]
    second = second_order(rows)
    assert second["to_those_who_helped_generous"] == pytest.approx((0.2 + 0.4 + 0.7) / 3)
    assert second["to_those_who_helped_stingy"] == pytest.approx((0.6 + 0.3) / 2)
    assert (second["n_to_those_who_helped_generous"], second["n_to_those_who_helped_stingy"]) == (
        3,
        2,
    )
