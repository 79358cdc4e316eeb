"""Donor game (Vallinder & Hughes 2024): schedule, selection, prompts, rules, statistics."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from engine.models import LanguageModel, Ledger, Request
from engine.models.scripted import ScriptedBackend
from engine.network.compare import compare_runs, holm
from engine.network.inequality import gini
from engine.scenario import load_scenario
from engine.simulation import Simulation
from engine.types import Action, Event, Persona
from gamemaster.donor_game.rules import DonorGameMaster, describe_schedule, schedule
from gamemaster.donor_game.section import DonorSection, Punishment
from gamemaster.donor_game.statistics import (
    ceiling,
    indirect_reciprocity,
    schedule_resources,
    second_order,
    strategy_similarity,
)

DONOR = """
name: donor_test
seed: 4
duration: 1d
window: 0
model: {{backend: scripted, parse_retries: {retries}}}
embedder: {{kind: hashing, dim: 64}}
memory: {{enabled: false}}
population:
  count: {n}
  personas: [{{name: "p"}}]
game: {{type: donor_game, agents_per_generation: {n}, generations: {generations}{extra}}}
"""


# -- the schedule -----------------------------------------------------------------------
@pytest.mark.parametrize("n", [6, 12])
@pytest.mark.parametrize("pairing", ["alternating", "round_robin", "strict_alternation"])
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


def test_alternating_pairs_meet_once_each_way_never_back_to_back() -> None:
    rounds = schedule(12, "alternating")
    meetings = Counter(pair for pairs in rounds for pair in pairs)
    assert len(meetings) == 72 and set(meetings.values()) == {1}  # 36 pairs, once each way
    for i, pairs in enumerate(rounds):  # A (0-5) donates in even rounds, B in odd ones
        assert all((d < 6) == (i % 2 == 0) for d, _ in pairs)
    partner = {i: {min(d, r) * 100 + max(d, r) for d, r in pairs} for i, pairs in enumerate(rounds)}
    assert all(not partner[i] & partner[i + 1] for i in range(11))


def test_the_rules_text_is_true_of_each_schedule() -> None:
    alternate = (
        "Roles alternate: if you are the donor in one round, you are the recipient in the "
        "next, and vice versa."
    )
    half = "You are the donor in half of the rounds and the recipient in the other half."
    changes = (
        " Your partner changes from round to round, and you may meet the same player again later."
    )
    assert describe_schedule(schedule(12, "alternating")) == alternate + changes
    assert describe_schedule(schedule(12, "round_robin")) == half + changes
    assert describe_schedule(schedule(12, "strict_alternation")) == (
        alternate
        + " You meet each partner in two consecutive rounds, once as donor and once as recipient."
    )
    assert (
        describe_schedule(schedule(2, "alternating"))
        == alternate + " You play every round with the same partner."
    )


def by_hand(
    f: float, rounds: int = 12, endowment: float = 10.0, m: float = 2.0
) -> tuple[float, float]:
    """Hand derivation for the alternating schedule, one game.

    By symmetry each half holds one amount: a (half A) and b (half B). A donates in rounds
    1, 3, 5, ... and B in rounds 2, 4, ...; a donor sees its holding rounded down to 0.01
    and gives f times what it sees (all of it when f = 1).
    """
    a = b = endowment
    for i in range(rounds):
        if i % 2 == 0:
            gift = a if f == 1 else f * math.floor(a * 100 + 1e-6) / 100
            a, b = a - gift, b + m * gift
        else:
            gift = b if f == 1 else f * math.floor(b * 100 + 1e-6) / 100
            a, b = a + m * gift, b - gift
    return a, b


def test_the_hand_formula_matches_worked_numbers() -> None:
    assert by_hand(0.0) == (10.0, 10.0)
    # everyone gives everything: the total doubles every round after the first
    assert by_hand(1.0) == (61440.0, 0.0)
    assert by_hand(0.5, rounds=4) == (47.5, 17.5)  # 5/20, 25/10, 12.5/35, 47.5/17.5
    section = DonorSection()
    assert ceiling(section) == 6 * 61440.0
    assert sorted(schedule_resources(section, 0.0)) == [10.0] * 12


def _fixed_fraction(f: float, prompts: list[str] | None = None) -> Callable[[Request], str | None]:
    def reply(request: Request) -> str | None:
        text = request.messages[-1].content
        if prompts is not None:
            prompts.append(text)
        if "write_strategy" in text:
            return json.dumps(
                {
                    "action": "write_strategy",
                    "reasoning": "",
                    "strategy": f"My strategy will be to give {f:.0%}.",
                }
            )
        have = float(re.search(r"You have ([0-9.]+) units", text).group(1))  # type: ignore[union-attr]
        return json.dumps({"action": "donate", "reasoning": "fixed", "amount": f * have})

    return reply


def _run(path: Path, out: Path, responder=None, seed=None, overrides=()) -> tuple[list, dict]:  # type: ignore[no-untyped-def]
    loaded = load_scenario(path, overrides)
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
    db.close()
    return events, result.summary | {"stats": result.stats}


def _payloads(events: list, kind: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(e[5]) | {"actor": e[2], "target": e[4]} for e in events if e[3] == kind]


@pytest.mark.parametrize("f", [0.0, 0.5, 1.0])
def test_a_fixed_fraction_population_ends_each_game_with_the_hand_computed_resources(
    write_scenario: Callable[..., Path], tmp_path: Path, f: float
) -> None:
    path = write_scenario(DONOR.format(n=12, generations=1, retries=2, extra=""))
    events, summary = _run(path, tmp_path / "run", _fixed_fraction(f))
    a, b = by_hand(f)
    games = _payloads(events, "game_end")
    assert [g["game"] for g in games] == [1, 2]
    for game in games:  # each half holds one amount; the second game mirrors the first
        assert sorted(game["resources"].values()) == pytest.approx(sorted([a] * 6 + [b] * 6))
    assert summary["actions"] == 12 + 2 * 12 * 6  # 12 strategies, 144 donations
    assert summary["model_calls"] == summary["actions"]  # one call per decision
    efficiency = summary["stats"]["per_generation"][0]["efficiency"]
    assert efficiency == pytest.approx(6 * (a + b) / ceiling(DonorSection()))


def test_selection_rewards_strategy_not_schedule_position(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """A uniform population: equal selection scores, survivors drawn from both halves.

    With one game (or selection on the second game only, the notebook's variant) the
    half that receives in the last round always ends ahead, whatever it does.
    """
    path = write_scenario(DONOR.format(n=12, generations=1, retries=2, extra=""))
    from_half_a = {"paper": 0, "notebook": 0}
    for compat in from_half_a:
        for seed in range(8):
            events, _ = _run(
                path,
                tmp_path / f"{compat}{seed}",
                _fixed_fraction(0.5),
                seed,
                [f"game.compat={compat}"],
            )
            first_round = [
                d for d in _payloads(events, "donation") if d["game"] == 1 and d["round"] == 1
            ]
            half_a = {d["actor"] for d in first_round}  # A donates first (alternating)
            end = _payloads(events, "generation_end")[0]
            if compat == "paper":
                assert len(set(end["scores"].values())) == 1  # all 12 equal, exactly
            from_half_a[compat] += len(half_a & set(end["survivors"]))
    assert 12 <= from_half_a["paper"] <= 36  # of 48 survivors; by chance 24
    assert from_half_a["notebook"] == 0  # B receives last in game 2 and always wins


def test_prompts_never_reveal_the_number_of_rounds(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """Prompts of game 1's first 4 rounds are identical whether the game lasts 4 or 8."""
    seen: dict[int, list[str]] = {}
    for rounds in (4, 8):
        prompts: list[str] = []
        path = write_scenario(
            DONOR.format(n=12, generations=1, retries=2, extra=f", rounds: {rounds}")
        )
        _run(path, tmp_path / f"r{rounds}", _fixed_fraction(0.4, prompts))
        seen[rounds] = prompts[: 12 + 4 * 6]  # strategies, then game 1's first four rounds
        assert not any(re.search(r"\b(of|in) \d+ rounds?\b|\b\d+ rounds\b", p) for p in prompts)
    assert seen[4] == seen[8]


def test_a_full_cooperator_with_nothing_left_had_nothing_to_give(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """round_robin: B donates in two middle rounds in a row, the second time with nothing."""
    path = write_scenario(
        DONOR.format(n=12, generations=1, retries=2, extra=", pairing: round_robin")
    )
    events, summary = _run(path, tmp_path / "run", _fixed_fraction(1.0))
    empty = _payloads(events, "nothing_to_give")
    assert len(empty) == 12 and {e["round"] for e in empty} == {7}  # 6 per game
    row = summary["stats"]["per_generation"][0]
    assert row["donation_fraction_mean"] == 1.0 and row["zero_share"] == 0.0
    assert row["nothing_to_give"] == 12 and row["decisions"] == 132
    assert summary["model_calls"] == 12 + 132  # nobody is asked to give from nothing
    later = [d for d in _payloads(events, "donation") if d["round"] == 8 and d["game"] == 1]
    texts = {tuple(s["kind"] for s in d["shown"]) for d in later}
    assert texts == {("nothing_to_give", "donation", "donation")}


def _gm(**options: object) -> DonorGameMaster:
    model = LanguageModel(ScriptedBackend(), ledger=Ledger())
    section = DonorSection(agents_per_generation=2, **options)  # type: ignore[arg-type]
    gm = DonorGameMaster(section, model=model, rng=np.random.default_rng(0))
    gm.setup([Persona("x"), Persona("y")])
    gm.pairs = {"x": "y"}
    gm.round = 1
    return gm


def _donate(gm: DonorGameMaster, amount: float, name: str = "donate") -> Event:
    return gm.resolve(
        "x", Action(name, {"reasoning": "", "amount": amount}), 0.0, {"phase": "donate"}
    )[0]


def test_giving_the_amount_shown_gives_everything() -> None:
    gm = _gm()
    gm.resources["x"] = 20 / 3
    assert "You have 6.66 units." in gm.observe("x", 0.0, {"phase": "donate"}).text
    event = _donate(gm, 6.66)
    assert event.kind == "donation" and event.payload["fraction"] == 1.0
    assert event.payload["amount"] == pytest.approx(20 / 3) and gm.resources["x"] == 0.0
    assert gm.resources["y"] == pytest.approx(10 + 40 / 3)
    gm.resources["x"] = 20 / 3
    assert _donate(gm, 6.67).payload["fraction"] == 1.0  # within 0.01 of the holding
    gm.resources["x"] = 20 / 3
    assert _donate(gm, 6.68).kind == "invalid_action" and gm.resources["x"] == 20 / 3


def test_punishment_moves_exactly_cost_and_effect_and_never_below_zero() -> None:
    gm = _gm(punishment=Punishment(enabled=True, cost=1, effect=2))
    event = _donate(gm, 3, "punish")
    assert event.kind == "punishment" and gm.resources == {"x": 7.0, "y": 4.0}
    event = _donate(gm, 5, "punish")
    assert gm.resources == {"x": 2.0, "y": 0.0}  # y loses only what it had
    assert event.payload["removed"] == 4.0
    assert _donate(gm, 5, "punish").kind == "invalid_action"
    assert gm.resources == {"x": 2.0, "y": 0.0}
    text = DonorGameMaster.trace_text("x", [gm.given["x"][0]])
    assert "1_" not in text and "x spent 30% of their resources punishing y" in text


def test_out_of_range_donations_are_invalid_and_transfer_nothing() -> None:
    gm = _gm()
    for amount in (10.5, -1):
        event = _donate(gm, amount)
        assert event.kind == "invalid_action" and event.target == "y"
    assert gm.resources == {"x": 10.0, "y": 10.0}
    schema = gm.action_space("x", 0.0, {"phase": "donate"}).json_schema()
    assert "maximum" not in json.dumps(schema)  # the model may say 11; the rules reject it


def test_the_trace_depth_changes_exactly_what_the_donor_sees() -> None:
    texts = {}
    for depth in (0, 1, 3):
        gm = _gm(trace_depth=depth)
        gm.given = {  # y gave 40% to c in round 3, c 10% to d in round 2, d 70% to e in round 1
            "y": [
                {"donor": "y", "recipient": "c", "round": 3, "kind": "donation", "fraction": 0.4}
            ],
            "c": [
                {"donor": "c", "recipient": "d", "round": 2, "kind": "donation", "fraction": 0.1}
            ],
            "d": [
                {"donor": "d", "recipient": "e", "round": 1, "kind": "donation", "fraction": 0.7}
            ],
        }
        gm.round = 4
        texts[depth] = gm.observe("x", 0.0, {"phase": "donate"}).text
    head = "Here is what y and their earlier partners did in previous rounds: "
    assert "previous rounds" not in texts[0] and "has not been a donor" not in texts[0]
    assert head + "In round 3, y donated 40% of their resources to c.\n" in texts[1]
    assert (
        head + "In round 3, y donated 40% of their resources to c; in round 2, c donated 10% of "
        "their resources to d; in round 1, d donated 70% of their resources to e.\n"
    ) in texts[3]
    for depth in (0, 1, 3):  # and nothing else differs
        rest = re.sub(r"Here is what .*\n", "", texts[depth]).replace(
            " and so on, up to 3 steps back", ""
        )
        rest = re.sub(r"\nAs a donor you see .*", "", rest)
        assert rest == re.sub(r"\nAs a donor you see .*", "", texts[0])


def test_unparseable_answers_are_retried_then_count_as_zero(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    good = _fixed_fraction(0.5)

    def stubborn(request: Request) -> str | None:
        if "write_strategy" in request.messages[1].content:
            return good(request)
        return "I'd rather not say."  # never parseable

    path = write_scenario(DONOR.format(n=2, generations=1, retries=3, extra=""))
    events, summary = _run(path, tmp_path / "run", stubborn)
    donations = _payloads(events, "donation")
    assert len(donations) == 4 and all(
        d["amount"] == 0 and d["parse"] == "fallback" for d in donations
    )
    assert summary["model_calls"] == 2 + 4 * (1 + 3)  # strategies + each donation: 1 + 3 re-asks
    row = summary["stats"]["per_generation"][0]
    assert summary["fallbacks"] == 4 and row["fallback_rate"] == 1.0
    assert row["donation_fraction_mean"] is None  # no decision the model made


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
    assert (
        kinds["generation_end"] == 3 and kinds["game_end"] == 6 and kinds["strategy"] == 6 + 3 + 3
    )


def test_survivors_keep_their_strategy_and_newcomers_improve_on_them(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    text = DONOR.format(n=6, generations=2, retries=2, extra=", show_scores: true")
    path = write_scenario(
        text.replace('personas: [{name: "p"}]', 'personas: [{name: "2_1"}, {name: q}]')
    )
    prompts: list[str] = []
    events, _ = _run(path, tmp_path / "run", _fixed_fraction(0.3, prompts))
    ends = _payloads(events, "generation_end")
    survivors, newcomers = ends[0]["survivors"], ends[0]["newcomers"]
    assert len(survivors) == 3 and newcomers == ["2_1~n2", "2_2", "2_3"]  # "2_1" is a persona
    assert set(ends[1]["strategies"]) == set(survivors) | set(newcomers)
    assert ends[1]["born"] == {
        **{s: ends[0]["born"][s] for s in survivors},
        **dict.fromkeys(newcomers, 2),
    }
    advice = [p for p in prompts if "advice of the best-performing half" in p]
    assert len(advice) == 3 and "Modify and improve on this advice" in advice[0]
    assert "average final units" in advice[0]
    for strategy in _payloads(events, "strategy"):
        assert strategy["advice_from"] == (survivors if strategy["generation"] == 2 else [])
    turnover = _run(path, tmp_path / "again", _fixed_fraction(0.3))[1]["stats"]["per_generation"]
    assert turnover[0]["survivor_turnover"] is None  # everyone is new in generation 1
    assert (
        turnover[1]["survivor_turnover"]
        == sum(ends[1]["born"][s] == 2 for s in ends[1]["survivors"]) / 3
    )


def test_indirect_reciprocity_uses_what_the_donor_was_shown() -> None:
    def row(fraction: float, shown: list[dict], kind: str = "donation", parse: str = "ok") -> dict:  # type: ignore[type-arg]
        given = (
            fraction if kind == "donation" else (0.0 if kind in ("refusal", "punishment") else None)
        )
        return {"kind": kind, "fraction": fraction, "given": given, "parse": parse, "shown": shown}

    def saw(fraction: float, kind: str = "donation") -> list[dict]:  # type: ignore[type-arg]
        return [{"kind": kind, "fraction": fraction, "donor": "r", "recipient": "s", "round": 1}]

    # donors answer what they saw with 0.1 + 0.5 x: slope 0.5, r = 1
    rows = [row(0.2, saw(0.2)), row(0.4, saw(0.6)), row(0.6, saw(1.0))]
    rows += [row(0.9, [])]  # saw nothing: not a pair
    rows += [row(0.0, saw(0.0, "nothing_to_give"))]  # saw an empty-handed turn: no signal
    rows += [row(0.0, saw(0.9), parse="fallback")]  # the model did not choose: left out
    result = indirect_reciprocity(rows)
    assert (
        result["n"] == 3
        and result["slope"] == pytest.approx(0.5)
        and result["r"] == pytest.approx(1.0)
    )


def test_second_order_is_a_standing_table() -> None:
    def row(gave: float, recipient_gave: float, partner_gave: float) -> dict:  # type: ignore[type-arg]
        shown = [
            {
                "kind": "donation",
                "fraction": recipient_gave,
                "donor": "r",
                "recipient": "p",
                "round": 2,
            },
            {
                "kind": "donation",
                "fraction": partner_gave,
                "donor": "p",
                "recipient": "q",
                "round": 1,
            },
        ]
        return {"kind": "donation", "fraction": gave, "given": gave, "parse": "ok", "shown": shown}

    rows = [
        row(0.1, 0.0, 0.9),  # the recipient gave 0 to a generous partner: refused a good one
        row(0.3, 0.0, 0.8),
        row(0.8, 0.7, 0.9),  # helped a good partner
        row(0.6, 0.0, 0.1),  # refused a bad partner
        {
            "kind": "donation",
            "fraction": 0.5,
            "given": 0.5,
            "parse": "ok",
            "shown": row(0, 0, 0)["shown"][:1],
        },
    ]
    table = second_order(rows, cooperate_at=0.5)
    assert table["refused_good"] == {"mean": pytest.approx(0.2), "n": 2}
    assert table["helped_good"] == {"mean": pytest.approx(0.8), "n": 1}
    assert table["refused_bad"] == {"mean": pytest.approx(0.6), "n": 1}
    assert table["helped_bad"] == {"mean": None, "n": 0}


SURVIVOR_STRATEGIES = [
    "My strategy will be to give half of my resources to recipients who gave at least 30% last time, and 10% to the others.",
    "My strategy will be to start generously and then copy the share the recipient gave in their last round.",
    "My strategy will be to donate nothing to recipients who donated nothing, and 40% to everyone else.",
    "My strategy will be to give 20% in the first round and raise my gift when the trace shows cooperation.",
    "My strategy will be to reward generous recipients with 60% of my units and punish stingy ones by giving little.",
    "My strategy will be to keep most of my units early and give more in later rounds to cooperative players.",
]
PARAPHRASES = [
    "My strategy will be to hand over 50% of my units to anyone who gave 30% or more in their previous round, and a tenth otherwise.",
    "My strategy will be to begin by giving a lot and afterwards match whatever share the recipient donated most recently.",
    "My strategy will be to give zero to players who gave zero, and 40 percent to all other players.",
    "My strategy will be to donate a fifth of my resources at first and increase it when the history shows cooperation.",
    "My strategy will be to give 60% to generous players and very little to stingy players, to punish them.",
    "My strategy will be to hold on to my resources at the beginning and donate more later to players who cooperate.",
]
UNRELATED = [
    "My strategy will be to bake sourdough bread every Sunday morning.",
    "My strategy will be to learn the names of all the birds in my garden.",
    "My strategy will be to paint the kitchen a pale shade of green.",
    "My strategy will be to practise the violin for twenty minutes a day.",
    "My strategy will be to travel to the coast by train in the spring.",
    "My strategy will be to plant tomatoes along the south fence.",
]


@pytest.mark.slow
def test_strategy_similarity_compares_newcomers_with_the_advice_they_read() -> None:
    pytest.importorskip("sentence_transformers")
    from agents.embedders import SentenceTransformerEmbedder

    embed = SentenceTransformerEmbedder().embed
    survivors = {f"s{i}": text for i, text in enumerate(SURVIVOR_STRATEGIES)}
    end = Event(0.0, "generation_end", payload={"generation": 1, "strategies": survivors})

    def newcomers(texts: list[str]) -> list[Event]:
        return [
            Event(
                1.0,
                "strategy",
                f"n{i}",
                payload={"generation": 2, "strategy": t, "advice_from": list(survivors)},
            )
            for i, t in enumerate(texts)
        ]

    unrelated = strategy_similarity([end, *newcomers(UNRELATED)], embed)[2]
    paraphrased = strategy_similarity([end, *newcomers(PARAPHRASES)], embed)[2]
    assert unrelated["n"] == paraphrased["n"] == 6
    # measured with all-MiniLM-L6-v2: 0.37 against 0.74 (the old measure, comparing the
    # generation's strategies, survivors' verbatim ones included, gave unrelated ones 0.67)
    assert unrelated["mean"] < 0.5 < 0.65 < paraphrased["mean"]
    assert paraphrased["mean"] - unrelated["mean"] > 0.25


def test_statistics_helpers() -> None:
    assert gini([1, 1, 1, 1]) == 0.0
    assert gini([0, 0, 0, 10]) == pytest.approx(0.75)
    result = compare_runs({"claude": [0.9, 0.8, 0.85, 0.95], "gpt": [0.2, 0.3, 0.25, 0.1]})
    assert result["conditions"]["claude"]["n"] == 4
    assert result["mann_whitney"][0]["p"] < 0.05
    # Holm by hand: sorted 0.01, 0.02, 0.04 -> 3 x 0.01, 2 x 0.02, max(0.04, 0.04)
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


def test_a_population_smaller_than_a_generation_is_a_validate_error(
    write_scenario: Callable[..., Path],
) -> None:
    from engine.types import ScenarioError

    path = write_scenario(
        DONOR.format(n=6, generations=1, retries=2, extra="").replace("count: 6", "count: 4")
    )
    with pytest.raises(ScenarioError, match=r"scenario.yaml:\d+: population: 4 persona"):
        load_scenario(path)


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


def test_the_scripted_double_gives_within_what_a_donor_holds(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """The test double reads the range the rules state: no invalid actions of its own."""
    path = write_scenario(DONOR.format(n=6, generations=2, retries=2, extra=""))
    _, summary = _run(path, tmp_path / "run")
    assert [g["invalid_rate"] for g in summary["stats"]["per_generation"]] == [0.0, 0.0]


def test_the_progress_clock_names_generation_game_and_round() -> None:
    from gamemaster.donor_game import GAME

    section = DonorSection(agents_per_generation=6, generations=3, round_length=60)
    rounds = section.rounds_played  # 6 agents, alternating pairs: each donates in half of them
    step = 60.0
    assert GAME.clock(section, 0) == "generation 1/3, strategies"
    assert GAME.clock(section, step) == "generation 1/3, game 1, round 1"
    assert GAME.clock(section, step * rounds) == f"generation 1/3, game 1, round {rounds}"
    assert GAME.clock(section, step * (rounds + 1)) == "generation 1/3, game 2, round 1"
    assert GAME.clock(section, step * (2 * rounds + 1)) == "generation 2/3, strategies"
    end = GAME.horizon(section)
    assert end == 3 * (1 + 2 * rounds) * step
    assert GAME.clock(section, end + 999) == f"generation 3/3, game 2, round {rounds}"
