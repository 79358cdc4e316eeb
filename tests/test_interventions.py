"""Interventions: what a scheduled change does, when, and to whom (engine/interventions.py)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.report import write_report
from engine.scenario import load_scenario
from engine.simulation import Simulation

SOCIAL = """
name: tiny_social
seed: 5
duration: 1d
window: 1h
model: {{backend: scripted}}
embedder: {{kind: hashing, dim: 64}}
memory: {{k: 3, half_life: 6h}}
population:
  count: {count}
  activity: {{schedule: {schedule}}}
  personas: [{{name: u, description: A resident who reads the local news.}}]
{interventions}
game:
  type: social_media
  actions: [post, reply, repost, like, do_nothing]
  feed: {feed}
  feed_size: 5
  recommender: random
  suggestions: 2
  snapshot_every: 12h
  null_samples: 5
  bootstrap_samples: 20
"""
POISSON = "poisson, rate: 0.5"
HOURLY = "every, period: 1h"  # everyone acts on the hour: windows are [h, h+1h)


def _run(write_scenario: Callable[..., Path], tmp_path: Path, name: str, **fields: str) -> Path:
    fields = {
        "schedule": POISSON,
        "interventions": "",
        "feed": "chronological",
        "count": "12",
        **fields,
    }
    path = write_scenario(SOCIAL.format(**fields), f"{name}.yaml")
    result = Simulation(load_scenario(path), out=tmp_path / name).run()
    assert result.status == "finished"
    return tmp_path / name


def _events(folder: Path, skip: tuple[str, ...] = ()) -> list[tuple[object, ...]]:
    """Events in order, without their sequence and window numbers (what happened, when)."""
    db = sqlite3.connect(folder / "run.sqlite")
    rows = db.execute(
        "SELECT t, actor, kind, target, payload, perceivers FROM events ORDER BY seq"
    ).fetchall()
    db.close()
    return [row for row in rows if row[2] not in skip]


def _prompts(folder: Path) -> list[tuple[float, str, str]]:
    """(t, agent, prompt) of every decision, in call order."""
    db = sqlite3.connect(folder / "run.sqlite")
    rows = db.execute(
        "SELECT t, agent, prompt FROM model_calls WHERE purpose = 'decide' ORDER BY id"
    ).fetchall()
    db.close()
    return [(t, agent, prompt) for t, agent, prompt in rows]


def _suggestions(folder: Path) -> list[tuple[float, str, str]]:
    """(t, agent, "Accounts you might follow" line) of every decision prompt."""
    found = []
    for t, agent, prompt in _prompts(folder):
        line = re.search(r"Accounts you might follow: ([^\\\n]*)", prompt)
        found.append((t, agent, line.group(1) if line else ""))
    return sorted(found)


def test_a_survey_changes_no_world_state(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    plain = _run(write_scenario, tmp_path, "plain")
    surveys = """interventions:
  - {at: 440m, kind: survey, question: "How safe is the water, 0 to 10?", scale: [0, 10]}
  - {every: 5h, kind: survey, question: "Whom do you trust here?", agents: [u~2, u~3]}
"""
    surveyed = _run(write_scenario, tmp_path, "surveyed", interventions=surveys)
    # Poisson activity: the surveys' times (7h20m, every 5h) fall inside windows; they
    # join them, or a window of their own when nobody acts, and move no window's bounds.
    assert _events(surveyed, skip=("survey",)) == _events(plain)
    answers = [
        json.loads(row[4]) | {"t": row[0]} for row in _events(surveyed) if row[2] == "survey"
    ]
    rated = [a for a in answers if a["question"].startswith("How safe")]
    assert len(rated) == 12 and {a["t"] for a in rated} == {440 * 60.0}
    assert all(0 <= a["rating"] <= 10 and a["answer"] for a in rated)
    trusted = [a for a in answers if a["question"].startswith("Whom")]
    assert len(trusted) == 2 * 5 and "rating" not in trusted[0]  # 0h, 5h, ..., 20h
    db = sqlite3.connect(surveyed / "run.sqlite")
    perceived = db.execute(
        "SELECT COUNT(*) FROM events WHERE kind = 'survey' AND perceivers != '[]'"
    )
    assert perceived.fetchone()[0] == 0
    remembered = db.execute("SELECT COUNT(*) FROM memories WHERE text LIKE '%trust here%'")
    assert remembered.fetchone()[0] == 0


def test_an_injected_post_is_in_no_feed_before_its_time_and_in_feeds_after(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    inject = """interventions:
  - {at: 9h, kind: inject_post, author: cityleaks, new_account: true, text: "ZEBRA water alert"}
  - {at: 9h, kind: boost, author: cityleaks, factor: 1000}
"""
    # A new account has no followers: the boost puts its post first in popularity feeds.
    folder = _run(write_scenario, tmp_path, "injected", interventions=inject, feed="popularity")
    prompts = _prompts(folder)
    assert prompts and min(t for t, _, _ in prompts) < 9 * 3600
    assert not [p for t, _, p in prompts if t < 9 * 3600 and "ZEBRA" in p]
    shown = [(t, agent) for t, agent, p in prompts if t >= 9 * 3600 and "ZEBRA water alert" in p]
    first = [(t, agent) for t, agent, _ in prompts if 9 * 3600 <= t < 10 * 3600]
    assert first and set(first) <= set(shown)  # every reader of the next hour sees it
    post = [e for e in _events(folder) if e[2] == "post" and e[1] == "cityleaks"]
    assert len(post) == 1 and post[0][0] == 9 * 3600
    db = sqlite3.connect(folder / "run.sqlite")
    accounts = {name for (name,) in db.execute("SELECT id FROM agents")}
    assert "cityleaks" in accounts  # an account in the graphs; it never acts
    acted = db.execute("SELECT COUNT(*) FROM model_calls WHERE agent = 'cityleaks'")
    assert acted.fetchone()[0] == 0


def test_set_recommender_changes_the_suggestion_lists_from_its_time_on(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    hour = 3600
    fields = {"schedule": HOURLY, "count": "40"}  # 40: nobody follows everyone by 4h
    base = _run(write_scenario, tmp_path, "base", **fields)
    same = "interventions: [{at: 4h, kind: set, field: game.recommender, value: random}]"
    switched = "interventions: [{at: 4h, kind: set, field: game.recommender, value: similarity}]"
    control = _run(write_scenario, tmp_path, "control", interventions=same, **fields)
    changed = _run(write_scenario, tmp_path, "changed", interventions=switched, **fields)
    # Setting the value it already has changes nothing but the record of it.
    assert _events(control, skip=("intervention",)) == _events(base)
    assert _suggestions(control) == _suggestions(base)
    before = [s for s in _suggestions(base) if s[0] < 4 * hour]
    assert before and [s for s in _suggestions(changed) if s[0] < 4 * hour] == before
    # From 4h on, the lists are the similarity recommender's: at 4h (the world still the
    # same in both runs) nearly every agent's list differs from the random recommender's.
    at_four = [s for s in _suggestions(base) if s[0] == 4 * hour]
    switched_four = [s for s in _suggestions(changed) if s[0] == 4 * hour]
    assert len(at_four) == len(switched_four) == 40
    differ = sum(a != b for a, b in zip(at_four, switched_four, strict=True))
    assert differ >= 30
    after = [s for s in _suggestions(base) if s[0] > 4 * hour]
    switched_after = [s for s in _suggestions(changed) if s[0] > 4 * hour]
    assert sum(a != b for a, b in zip(after, switched_after, strict=True)) > len(after) // 2
    event = [e for e in _events(changed) if e[2] == "intervention"]
    assert len(event) == 1 and json.loads(str(event[0][4]))["value"] == "similarity"


def test_broadcast_add_and_remove_agents(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    items = """interventions:
  - {at: 4h, kind: broadcast, text: "The bridge closes on Friday.", agents: [u, u~2]}
  - {at: 6h, kind: remove_agents, agents: [u~3]}
  - {at: 8h, kind: add_agents, personas: [{name: Newt, description: A newcomer.}]}
"""
    folder = _run(write_scenario, tmp_path, "changes", schedule=HOURLY, interventions=items)
    db = sqlite3.connect(folder / "run.sqlite")
    heard = db.execute("SELECT agent, t FROM memories WHERE text LIKE '%bridge closes%'")
    assert sorted(heard.fetchall()) == [("u", 4 * 3600.0), ("u~2", 4 * 3600.0)]
    acts = db.execute("SELECT agent, MIN(t), MAX(t) FROM model_calls GROUP BY agent").fetchall()
    spans = {agent: (first, last) for agent, first, last in acts}
    assert spans["u~3"][1] < 6 * 3600 and spans["u"][1] >= 20 * 3600
    assert spans["Newt"][0] == 8 * 3600
    kinds = [e[2] for e in _events(folder) if e[2] in ("broadcast", "intervention")]
    assert kinds == ["broadcast", "intervention", "intervention"]
    report = write_report(folder).read_text(encoding="utf-8")  # the report's timeline
    assert "Interventions and surveys" in report and "The bridge closes on Friday." in report
    assert "remove_agents" in report and "Newt" in report


DONOR = """
name: donor_set
seed: 4
duration: 1d
window: 0
model: {backend: scripted}
embedder: {kind: hashing, dim: 64}
memory: {enabled: false}
population:
  count: 6
  personas: [{name: "p"}]
interventions:
  - {generation: 2, kind: set, field: game.multiplier, value: 3}
  - {generation: 2, kind: set, field: game.punishment.enabled, value: true}
game: {type: donor_game, agents_per_generation: 6, generations: 2}
"""


def test_donor_multiplier_and_punishment_change_from_a_generation_on(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_scenario(DONOR, "donor.yaml")
    result = Simulation(load_scenario(path), out=tmp_path / "donor").run()
    assert result.status == "finished"
    ratios: dict[int, set[float]] = {}
    for row in _events(tmp_path / "donor"):
        payload = json.loads(str(row[4]))
        if row[2] == "donation" and payload["amount"] > 0:
            ratios.setdefault(payload["generation"], set()).add(
                round(payload["received"] / payload["amount"], 9)
            )
    assert ratios == {1: {2.0}, 2: {3.0}}
    # The rules the agents read change with it: punishment is offered and explained.
    (second,) = [r[0] for r in _events(tmp_path / "donor") if r[2] == "generation_end"][:1]
    prompts = [(t, p) for t, _, p in _prompts(tmp_path / "donor")]
    assert prompts and all("punish" not in p for t, p in prompts if t < second)
    later = [p for t, p in prompts if t >= second]
    assert later and all("punishing with x" in p for p in later)


INVALID = [
    ("{at: 2h, kind: brodcast, text: hi}", "interventions.0.kind", "did you mean 'broadcast'"),
    ("{at: 3d, kind: broadcast, text: hi}", "interventions.0", "not within the run"),
    ("{at: 2h, kind: suspend, account: nobody}", "interventions.0.account", "no account 'nobody'"),
    (
        "{at: 2h, kind: inject_post, author: u~3, new_account: true, text: hi}",
        "interventions.0.author",
        "already exists",
    ),
    ("{at: 2h, kind: boost, author: u, factor: lots}", "interventions.0.factor", "number"),
    (
        "{at: 2h, kind: set, field: game.recommender, value: psychic}",
        "interventions.0.value",
        "'paper'",
    ),
    (
        "{at: 2h, kind: set, field: game.feedsize, value: 3}",
        "interventions.0.field",
        "game.feed_size",
    ),
    (
        "{at: 2h, kind: set, field: game.iterations, value: 3}",
        "interventions.0.field",
        "cannot change during it",
    ),
    (
        "{at: 2h, kind: survey, question: q, agents: [u, ghost]}",
        "interventions.0.agents",
        "'ghost'",
    ),
    ("{at: 2h, kind: survey, question: q, scale: [10, 0]}", "interventions.0", "low below high"),
]


@pytest.mark.parametrize(("entry", "field", "message"), INVALID)
def test_invalid_interventions_are_file_line_errors_from_validate(
    write_scenario: Callable[..., Path], entry: str, field: str, message: str
) -> None:
    listed = f"interventions:\n  - {{at: 1h, kind: survey, question: ok}}\n  - {entry}"
    text = SOCIAL.format(schedule=POISSON, feed="chronological", count=12, interventions=listed)
    path = write_scenario(text)
    line = path.read_text().splitlines().index(f"  - {entry}") + 1
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout  # 2: the scenario is invalid
    expected = f"{path}:{line}: {field.replace('interventions.0', 'interventions.1')}"
    assert expected in done.stderr, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_interventions_are_checked_in_time_order_not_file_order(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    from engine.types import ScenarioError

    later_in_file = """interventions:
  - {at: 9h, kind: broadcast, text: "Welcome.", agents: [Newt]}
  - {at: 8h, kind: add_agents, personas: [{name: Newt, description: A newcomer.}]}
"""
    text = SOCIAL.format(
        schedule=HOURLY, feed="chronological", count=4, interventions=later_in_file
    )
    loaded = load_scenario(write_scenario(text))  # Newt exists from 8h: the 9h entry is valid
    assert [item.kind for item in loaded.interventions] == ["broadcast", "add_agents"]
    assert Simulation(loaded, out=tmp_path / "run").run().status == "finished"
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    heard = db.execute("SELECT agent, t FROM memories WHERE text LIKE '%Welcome.%'").fetchall()
    assert heard == [("Newt", 9 * 3600.0)]  # added at 8h, told at 9h
    too_early = later_in_file.replace("at: 9h", "at: 7h")
    path = write_scenario(
        SOCIAL.format(schedule=HOURLY, feed="chronological", count=4, interventions=too_early)
    )
    with pytest.raises(ScenarioError) as refused:
        load_scenario(path)
    line = path.read_text().splitlines().index(too_early.splitlines()[1]) + 1
    assert f"{path}:{line}: interventions.0.agents: no agent 'Newt'" in str(refused.value)
    assert "added before 0d+07:00:00" in str(refused.value)
