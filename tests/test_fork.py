"""Forks, post-hoc surveys and paired comparison: counterfactual experiments on stored runs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.analysis import compare, load_run
from engine.network.compare import paired
from tests.conftest import committed_windows, start_socium, stored_events

HOUR = 3600.0
SOCIAL = """
name: fork_social
seed: 5
duration: 1d
window: 1h
model: {backend: scripted, delay: 0.05}
embedder: {kind: hashing, dim: 64}
memory: {k: 3, half_life: 6h}
population:
  count: 12
  activity: {schedule: poisson, rate: 0.5}
  personas: [{name: u, description: A resident who reads the local news.}]
game:
  type: social_media
  actions: [post, reply, repost, like, do_nothing]
  recommender: random
  suggestions: 2
  feed_size: 5
  snapshot_every: 12h
  null_samples: 5
  bootstrap_samples: 20
"""
NEWS = """- {at: 14h, kind: broadcast, text: "The market moves to the harbour."}
"""


def _socium(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "120"},
    )
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
    return done


def _calls(folder: Path) -> list[tuple[float, int, str]]:
    """(t, cached, request hash) of every model call of a run, in call order."""
    db = sqlite3.connect(folder / "run.sqlite")
    rows = db.execute("SELECT t, cached, request_hash FROM model_calls ORDER BY id").fetchall()
    db.close()
    return [(float(t), int(c), str(h)) for t, c, h in rows]


def _events_before(folder: Path, t: float) -> list[tuple[object, ...]]:
    return [row for row in stored_events(folder) if float(row[1]) < t]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished parent run (module-wide: the forks below all start from it)."""
    folder = tmp_path_factory.mktemp("parent")
    scenario = folder / "social.yaml"
    scenario.write_text(SOCIAL.lstrip(), encoding="utf-8")
    (folder / "news.yaml").write_text(NEWS, encoding="utf-8")
    _socium("run", str(scenario), "--quiet", "--out", str(folder / "runs" / "parent"))
    return folder / "runs" / "parent"


def _fork(parent: Path, out: Path, at: str, *changes: str) -> subprocess.CompletedProcess[str]:
    return _socium("fork", str(parent), "--at", at, *changes, "--out", str(out), "--quiet")


def test_a_fork_equals_its_parent_before_t_without_a_model_call(
    parent: Path, tmp_path: Path
) -> None:
    fork = tmp_path / "elsewhere" / "fork"  # not beside the parent: nothing shared by path
    done = _fork(parent, fork, "10h", "--set", "game.recommender=similarity")
    before = _events_before(parent, 10 * HOUR)
    assert len(before) > 50
    assert _events_before(fork, 10 * HOUR) == before  # seq, time, payload, perceivers, window
    assert f"the {len(before)} events before the fork equal the parent's" in done.stderr
    mine = [c for c in _calls(fork) if c[0] < 10 * HOUR]
    theirs = [c for c in _calls(parent) if c[0] < 10 * HOUR]
    assert len(mine) == len(theirs) > 50
    assert all(cached for _, cached, _ in mine)  # the ledger: every reply from the parent
    assert sorted(h for *_, h in mine) == sorted(h for *_, h in theirs)
    assert not all(cached for t, cached, _ in _calls(fork) if t >= 10 * HOUR)
    assert stored_events(fork) != stored_events(parent)  # and it does diverge after 10h
    card = (fork / "run_card.md").read_text(encoding="utf-8")
    assert f"fork: of {parent.resolve()}" in card and "set game.recommender=similarity" in card
    assert "events before then equal the parent's" in card
    meta = load_run(fork).store.meta("fork")
    assert meta["prefix_identical"] is True and meta["at"] == 10 * HOUR


def test_a_fork_of_a_fork_equals_the_fork_made_in_one_step(parent: Path, tmp_path: Path) -> None:
    news = parent.parent.parent / "news.yaml"
    _fork(parent, tmp_path / "first", "6h", "--set", "game.recommender=similarity")
    _fork(tmp_path / "first", tmp_path / "second", "14h", "--intervention", str(news))
    _fork(
        parent,
        tmp_path / "direct",
        "6h",
        "--set",
        "game.recommender=similarity",
        "--intervention",
        str(news),
    )
    assert stored_events(tmp_path / "second") == stored_events(tmp_path / "direct")
    assert all(cached for t, cached, _ in _calls(tmp_path / "second") if t < 14 * HOUR)
    heard = [e for e in stored_events(tmp_path / "second") if e[3] == "broadcast"]
    assert len(heard) == 1 and heard[0][1] == 14 * HOUR


def test_a_killed_fork_resumes_to_the_uninterrupted_fork(parent: Path, tmp_path: Path) -> None:
    change = ("--set", "game.recommender=similarity")
    _fork(parent, tmp_path / "whole", "10h", *change)
    out = tmp_path / "killed"
    process = start_socium("fork", str(parent), "--at", "10h", *change, "--out", str(out))
    deadline = time.monotonic() + 120
    while committed_windows(out) < 13 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # past 10h: some of its own model calls made
    assert process.poll() is None, "the fork finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    _socium("resume", str(out), "--quiet")
    assert stored_events(out) == stored_events(tmp_path / "whole")
    assert all(cached for t, cached, _ in _calls(out) if t < 10 * HOUR)


def test_forks_of_a_set_of_runs_compare_paired_by_seed(tmp_path: Path) -> None:
    scenario = tmp_path / "social.yaml"
    scenario.write_text(SOCIAL.replace("delay: 0.05", "delay: 0").lstrip(), encoding="utf-8")
    runs = tmp_path / "runs"
    for seed in (1, 2, 3):
        out = runs / f"seed-{seed}"
        _socium("run", str(scenario), "--seed", str(seed), "--quiet", "--out", str(out))
    done = _socium(  # = socium fork runs --at 8h --grid ...
        "sweep",
        str(runs),
        "--fork-at",
        "8h",
        "--grid",
        "game.feed_size=2,8",
        "--out",
        str(tmp_path / "f"),
    )
    assert done.stderr.count("events before the fork equal the parent's") == 6
    narrow = sorted((tmp_path / "f").glob("*-2"))
    assert [p.name for p in narrow] == ["seed-1-2", "seed-2-2", "seed-3-2"]
    (tmp_path / "narrow").mkdir()
    for folder in narrow:  # one condition: the forks with feed_size 2
        folder.rename(tmp_path / "narrow" / folder.name)
    result = compare([runs, tmp_path / "narrow"])
    measure = "paradox_activity"
    test = result["measures"][measure]["paired"][0]
    by_seed = {}
    for seed in (1, 2, 3):
        a = json.loads((runs / f"seed-{seed}" / "stats.json").read_text())
        b = json.loads((tmp_path / "narrow" / f"seed-{seed}-2" / "stats.json").read_text())
        by_seed[seed] = (
            b["final"]["activity"]["fraction_mean"] - a["final"]["activity"]["fraction_mean"]
        )
    assert test["n"] == 3
    assert test["diffs"] == pytest.approx(by_seed)
    assert test["mean_diff"] == pytest.approx(sum(by_seed.values()) / 3)
    printed = _socium("compare", str(runs), str(tmp_path / "narrow"))
    assert "paired by seed" in printed.stdout and "per-seed differences" in printed.stdout


def test_paired_statistics_match_hand_computed_values() -> None:
    # Differences 1..5 (all positive, no ties): the exact two-sided Wilcoxon p is
    # 2 * P(W+ = 15) = 2/32; the mean 3, the standard deviation sqrt(2.5), and the 95%
    # t-interval 3 -/+ 2.776445 * sqrt(2.5) / sqrt(5) (t quantile from tables, 4 df).
    before = {s: 10.0 * s for s in range(1, 6)}
    after = {s: 10.0 * s + s for s in range(1, 6)}
    test = paired({"a": before, "b": after})[0]
    assert test["diffs"] == {1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0, 5: 5.0}
    assert test["mean_diff"] == 3.0
    assert test["p"] == pytest.approx(2 / 32)
    half = 2.776445 * np.sqrt(2.5) / np.sqrt(5)
    assert test["ci95"] == pytest.approx([3 - half, 3 + half], abs=1e-5)
    # Seeds only one condition has are not pairs; identical conditions give p = 1.
    assert paired({"a": {1: 1.0, 9: 4.0}, "b": {1: 1.0, 7: 2.0}})[0]["n"] == 1
    assert paired({"a": before, "b": before})[0]["p"] == 1.0


def test_socium_survey_asks_a_stored_run_and_changes_no_event(parent: Path) -> None:
    events = stored_events(parent)
    question = "How much do you trust your neighbours?"
    done = _socium(
        "survey",
        str(parent),
        "--at",
        "8h",
        "--question",
        question,
        "--agents",
        "u",
        "u~2",
        "--scale",
        "0,10",
    )
    assert "2 answers stored in the surveys table" in done.stderr
    frame = load_run(parent).surveys
    asked = frame[frame["question"] == question]
    assert list(asked["agent"]) == ["u", "u~2"] and set(asked["hours"]) == {8.0}
    assert all(0 <= r <= 10 for r in asked["rating"]) and all(asked["answer"].str.len() > 0)
    assert stored_events(parent) == events
    late = _socium("survey", str(parent), "--at", "3d", "--question", question, check=False)
    assert late.returncode != 0 and "cannot be surveyed at 3d+00:00:00" in late.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "10h"], "a fork needs a change"),
        (["--at", "2d", "--set", "game.feed_size=3"], "cannot be forked at 2d+00:00:00"),
        (["--at", "10h", "--set", "game.feed_sise=3"], "--set game.feed_sise=3: no field"),
        (["--at", "10h", "--set", "game.feed_size=-3"], "--set game.feed_size=-3: game.feed_size"),
    ],
)
def test_a_fork_that_cannot_be_made_says_why(
    parent: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    done = _socium("fork", str(parent), *args, "--out", str(tmp_path / "f"), check=False)
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "f").exists()


def test_an_intervention_file_error_names_the_file_and_line(parent: Path, tmp_path: Path) -> None:
    changes = tmp_path / "changes.yaml"
    changes.write_text(
        "# the correction\n- {at: 12h, kind: broadcast, text: ok}\n- {at: 12h, kind: suspnd, "
        "account: u}\n- {at: 9h, kind: broadcast, text: early}\n",
        encoding="utf-8",
    )
    args = ("fork", str(parent), "--at", "10h", "--intervention", str(changes))
    done = _socium(*args, "--out", str(tmp_path / "f"), check=False)
    assert f"{changes}:3: interventions.1.kind: unknown intervention 'suspnd'" in done.stderr
    changes.write_text(changes.read_text().replace("suspnd", "suspend"), encoding="utf-8")
    done = _socium(*args, "--out", str(tmp_path / "f"), check=False)
    assert f"{changes}:4: interventions.2: broadcast at 0d+09:00:00 is before" in done.stderr
    assert done.returncode != 0 and not (tmp_path / "f").exists()


def test_a_grid_of_intervention_files_forks_once_per_file(parent: Path, tmp_path: Path) -> None:
    for name, text in (("quiet", "The square is quiet."), ("storm", "A storm is coming.")):
        item = f'- {{at: 12h, kind: broadcast, text: "{text}"}}\n'
        (tmp_path / f"{name}.yaml").write_text(item, encoding="utf-8")
    files = f"intervention={tmp_path / 'quiet.yaml'},{tmp_path / 'storm.yaml'}"
    done = _socium(
        "fork", str(parent), "--at", "12h", "--grid", files, "--out", str(tmp_path / "g")
    )
    assert done.stderr.count("events before the fork equal the parent's") == 2
    for name, text in (("quiet", "The square is quiet."), ("storm", "A storm is coming.")):
        heard = [e for e in stored_events(tmp_path / "g" / f"parent-{name}") if e[3] == "broadcast"]
        assert [json.loads(str(e[5]))["text"] for e in heard] == [text]


def test_survey_measures_average_ratings_else_the_first_number() -> None:
    import pandas as pd

    from engine.surveys import survey_measures

    frame = pd.DataFrame(
        {
            "hours": [44.0, 44.0, 44.0, 44.0, 68.0, 68.0],
            "question": ["q"] * 6,
            "answer": ["fine", "fine", "7 out of 10, I think", "no idea", "2", "8.5"],
            "rating": [3, 5, None, None, None, None],
        }
    )
    # by hand: at 44h the ratings 3 and 5 and the text's 7 (the answer without a number
    # is left out): 15 / 3 = 5; at 68h (2 + 8.5) / 2 = 5.25
    assert survey_measures(frame) == {"survey@44h": 5.0, "survey@68h": 5.25}
    two = pd.concat([frame, frame.assign(question="r", rating=None, answer="1")])
    measures = survey_measures(two)
    assert measures["survey@44h q1"] == 5.0 and measures["survey@68h q2"] == 1.0
