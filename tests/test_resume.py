"""Resume: killed or interrupted runs continue to the same event log as an uninterrupted run."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import SCRIPTED_TOWN, stored_events

TOWN = SCRIPTED_TOWN.replace("duration: 6h", "duration: 12h").replace(
    "model: {backend: scripted}", "model: {backend: scripted, delay: 0.01}"
)


def _windows(folder: Path) -> int:
    try:
        db = sqlite3.connect(folder / "run.sqlite", timeout=5)
        count = int(db.execute("SELECT COUNT(*) FROM windows").fetchone()[0])
        db.close()
        return count
    except sqlite3.OperationalError:
        return 0


def _reference_run(scenario: Path, out: Path) -> Path:
    """An uninterrupted run of ``scenario`` into ``out`` (the log resumes must match)."""
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", str(scenario), "--quiet", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return out


def _resume(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "resume", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _socium(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *args, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_at_random_moments_then_resume_gives_the_same_events(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    scenario = write_scenario(TOWN)
    reference = _reference_run(scenario, tmp_path / "reference")
    total = _windows(reference)
    assert total > 10

    out = tmp_path / "killed"
    rng = random.Random(2026)
    process = _socium("run", str(scenario), "--out", str(out))
    kills = 0
    while kills < 3:
        target = min(total - 2, _windows(out) + rng.randint(1, 3))
        deadline = time.monotonic() + 120
        while _windows(out) < target and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.15))  # land anywhere, often inside a window
        if process.poll() is not None:
            break
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
        db = sqlite3.connect(out / "run.sqlite")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
        process = _socium("resume", str(out))
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert kills == 3
    assert stored_events(out) == stored_events(reference)
    db = sqlite3.connect(out / "run.sqlite")
    assert db.execute("SELECT status FROM run").fetchone()[0] == "finished"


def test_interrupted_run_resumes_and_a_finished_one_is_left_alone(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    scenario = write_scenario(TOWN)
    reference, out = _reference_run(scenario, tmp_path / "reference"), tmp_path / "interrupted"
    process = _socium("run", str(scenario), "--out", str(out))
    _wait_for_windows(out, 3, process)
    process.send_signal(signal.SIGINT)  # Ctrl-C: stop after the current window
    process.communicate(timeout=120)
    assert process.returncode == 130
    db = sqlite3.connect(out / "run.sqlite")
    assert db.execute("SELECT status FROM run").fetchone()[0] == "interrupted"
    db.close()
    resumed = _resume(out)
    assert resumed.returncode == 0, resumed.stderr
    assert stored_events(out) == stored_events(reference)
    again = subprocess.run(
        [sys.executable, "-m", "engine.cli", "resume", str(out)], capture_output=True, text=True
    )
    assert again.returncode == 0 and "already finished" in again.stdout


def test_resume_refuses_a_store_that_diverges(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    scenario = write_scenario(TOWN)
    out = tmp_path / "run"
    process = _socium("run", str(scenario), "--out", str(out))
    _wait_for_windows(out, 4, process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    db = sqlite3.connect(out / "run.sqlite")
    db.execute("UPDATE events SET payload = '{\"tampered\": true}' WHERE seq = 1")
    db.commit()
    db.close()
    resumed = _resume(out)
    assert resumed.returncode == 1
    assert "resume diverged from the stored run in window" in resumed.stderr
    assert "Traceback" not in resumed.stderr


def _wait_for_windows(folder: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while _windows(folder) < count:
        assert process.poll() is None and time.monotonic() < deadline, "the run ended or stalled"
        time.sleep(0.01)


def test_resume_after_the_model_server_died(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    from benchmarks.fake_openai import FakeOpenAIServer

    server = FakeOpenAIServer().start()
    text = TOWN.replace(
        "model: {backend: scripted, delay: 0.01}",
        f'model: {{backend: openai, base_url: "{server.base_url}", model: m, max_retries: 1, backoff: 0.01}}',
    )
    scenario = write_scenario(text)
    reference = _reference_run(scenario, tmp_path / "reference")
    served = server.counters.requests
    server.faults.extend(["500", "500"])  # retried: they change nothing in the event log
    out = tmp_path / "run"
    process = _socium("run", str(scenario), "--out", str(out))
    _wait_for_windows(out, 4, process)
    server.stop()  # the server dies mid-run
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1 and "server looks down" in stderr and "Traceback" not in stderr
    db = sqlite3.connect(out / "run.sqlite")
    assert db.execute("SELECT status FROM run").fetchone()[0] == "failed"
    db.close()
    server.start()  # ... and comes back on the same port
    resumed = _resume(out)
    server.stop()
    assert resumed.returncode == 0, resumed.stderr
    assert stored_events(out) == stored_events(reference)
    assert served > 0
