"""Whole runs on the scripted model: determinism by seed, run folders, killed runs."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from engine.scenario import load_scenario
from engine.simulation import Simulation
from tests.conftest import stored_events


def _run(scenario: Path, out: Path, seed: int | None = None, *overrides: str) -> Path:
    result = Simulation(load_scenario(scenario, overrides), seed=seed, out=out).run()
    assert result.status == "finished"
    return out


def test_same_seed_same_events_other_seed_other_events(scripted_town: Path, tmp_path: Path) -> None:
    first = stored_events(_run(scripted_town, tmp_path / "a", 11))
    second = stored_events(_run(scripted_town, tmp_path / "b", 11))
    other = stored_events(_run(scripted_town, tmp_path / "c", 12))
    assert len(first) > 20
    assert first == second
    assert first != other


def test_run_folder_holds_a_complete_store(scripted_town: Path, tmp_path: Path) -> None:
    folder = _run(scripted_town, tmp_path / "run")
    db = sqlite3.connect(folder / "run.sqlite")
    status, summary = db.execute("SELECT status, summary FROM run").fetchone()
    assert status == "finished"
    kinds = {k for (k,) in db.execute("SELECT DISTINCT kind FROM events")}
    assert {"speak", "final_state"} <= kinds
    calls = db.execute("SELECT COUNT(*), SUM(prompt_tokens) FROM model_calls").fetchone()
    assert calls[0] > 0 and calls[1] > 0
    memories = db.execute("SELECT COUNT(DISTINCT agent) FROM memories").fetchone()[0]
    assert memories == 4
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert '"model_calls_per_action"' in summary


def test_a_killed_run_leaves_only_whole_windows(scripted_town: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "run",
            str(scripted_town),
            "--quiet",
            "--out",
            str(out),
            "--set",
            "duration=30d",
            "--set",
            "model.delay=0.02",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    windows = 0
    while time.monotonic() < deadline and windows < 4:
        time.sleep(0.2)
        try:
            db = sqlite3.connect(out / "run.sqlite", timeout=5)
            windows = db.execute("SELECT COUNT(*) FROM windows").fetchone()[0]
            db.close()
        except sqlite3.OperationalError:
            continue
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert windows >= 4, process.stderr.read() if process.stderr else ""
    db = sqlite3.connect(out / "run.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT status FROM run").fetchone()[0] == "running"
    indexes = [i for (i,) in db.execute("SELECT idx FROM windows ORDER BY idx")]
    assert indexes == list(range(len(indexes)))
    per_window = dict(db.execute("SELECT idx, events FROM windows").fetchall())
    stored = dict(db.execute("SELECT window, COUNT(*) FROM events GROUP BY window").fetchall())
    assert {k: v for k, v in per_window.items() if v} == stored
    seqs = [s for (s,) in db.execute("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(len(seqs)))
    orphan_calls = db.execute(
        "SELECT COUNT(*) FROM model_calls WHERE window NOT IN (SELECT idx FROM windows)"
    ).fetchone()[0]
    assert orphan_calls == 0
