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

import pytest

from tests.conftest import SCRIPTED_TOWN, committed_windows, start_socium, stored_events

TOWN = SCRIPTED_TOWN.replace("duration: 6h", "duration: 12h").replace(
    "model: {backend: scripted}", "model: {backend: scripted, delay: 0.01}"
)


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


def test_sigkill_at_random_moments_then_resume_gives_the_same_events(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    scenario = write_scenario(TOWN)
    reference = _reference_run(scenario, tmp_path / "reference")
    total = committed_windows(reference)
    assert total > 10

    out = tmp_path / "killed"
    rng = random.Random(2026)
    process = start_socium("run", str(scenario), "--out", str(out))
    kills = 0
    while kills < 3:
        target = min(total - 2, committed_windows(out) + rng.randint(1, 3))
        deadline = time.monotonic() + 120
        while (
            committed_windows(out) < target
            and process.poll() is None
            and time.monotonic() < deadline
        ):
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
        process = start_socium("resume", str(out))
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
    process = start_socium("run", str(scenario), "--out", str(out))
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
    process = start_socium("run", str(scenario), "--out", str(out))
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
    while committed_windows(folder) < count:
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
    process = start_socium("run", str(scenario), "--out", str(out))
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


def _social(out: Path, threads: int, *extra: str) -> subprocess.Popen[str]:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return start_socium(
        "run",
        str(root / "scenarios/social_media/quick.yaml"),
        "--set",
        "model.backend=scripted",
        "--set",
        "game.null_samples=0",
        "--set",
        "game.bootstrap_samples=0",
        *extra,
        "--out",
        str(out),
        env=env,
    )


def test_the_event_log_does_not_depend_on_the_cpu_thread_count(tmp_path: Path) -> None:
    """MiniLM embeddings feed memory retrieval and feeds; 1 or 2 threads, the same log."""
    import pytest

    pytest.importorskip("sentence_transformers")
    logs = {}
    for threads in (1, 2):
        process = _social(tmp_path / f"t{threads}", threads)
        assert process.wait(timeout=600) == 0, process.stderr.read() if process.stderr else ""
        logs[threads] = stored_events(tmp_path / f"t{threads}")
    assert logs[1] == logs[2] and len(logs[1]) > 50

    # killed at 1 thread, resumed at 2: the uninterrupted log
    out = tmp_path / "killed"
    process = _social(out, 1, "--set", "model.delay=0.05")
    deadline = time.monotonic() + 300
    while committed_windows(out) < 20 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 0 < committed_windows(out) < 60
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "resume", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert stored_events(out) == logs[1]


def test_two_runs_on_one_folder_the_second_refuses_naming_the_first(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    scenario = write_scenario(
        TOWN.replace("delay: 0.01", "delay: 0.3")
    )  # still running while we try
    out = tmp_path / "shared"
    first = start_socium("run", str(scenario), "--out", str(out))
    deadline = time.monotonic() + 60
    while committed_windows(out) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    for command in (["run", str(scenario), "--out", str(out)], ["resume", str(out)]):
        second = subprocess.run(
            [sys.executable, "-m", "engine.cli", *command, "--quiet"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1, second.stderr
        assert (
            f"is in use by socium process {first.pid}" in second.stderr
            and "Traceback" not in second.stderr
        )
    first.send_signal(signal.SIGKILL)
    first.wait()
    done = _resume(out)  # the lock died with its holder
    assert done.returncode == 0, done.stderr


def test_a_store_killed_before_its_header_is_started_again(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    from engine.store import RunStore

    out = tmp_path / "shell"
    RunStore(out, create=True).close()  # what a SIGKILL right after creating the store leaves
    done = _resume(out)
    assert done.returncode == 1 and "killed before it started" in done.stderr
    scenario = write_scenario(TOWN.replace("duration: 12h", "duration: 2h"))
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", str(scenario), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_a_second_ctrl_c_aborts_cleanly_and_resume_reaches_the_same_log(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    scenario = write_scenario(TOWN.replace("delay: 0.01", "delay: 0.05"))
    reference = _reference_run(scenario, tmp_path / "reference")
    out = tmp_path / "aborted"
    process = start_socium("run", str(scenario), "--out", str(out))
    deadline = time.monotonic() + 60
    while committed_windows(out) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr
    assert "aborted" in stderr or "stopping after the current window" in stderr
    db = sqlite3.connect(out / "run.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    done = _resume(out)
    assert done.returncode == 0, done.stderr
    assert stored_events(out) == stored_events(reference)


def test_statistics_cut_short_are_computed_by_resume(
    scripted_town: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from engine.scenario import load_scenario
    from engine.simulation import Simulation
    from gamemaster.narrative import NarrativeGame

    def interrupted(self: object, data: object) -> dict[str, object]:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(NarrativeGame, "statistics", interrupted)
        with pytest.raises(KeyboardInterrupt):
            Simulation(load_scenario(scripted_town), out=tmp_path / "run").run()
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    status, summary = db.execute("SELECT status, summary FROM run").fetchone()
    db.close()
    assert (
        status == "finished" and "statistics interrupted" in json.loads(summary)["statistics_error"]
    )
    done = _resume(tmp_path / "run")
    assert done.returncode == 0 and "computing them" in done.stderr, done.stderr
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert stats["game"] == "narrative" and _resume(tmp_path / "run").stdout.endswith(
        "already finished\n"
    )


def test_a_run_of_fallbacks_warns_and_exits_3(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    scenario = write_scenario(TOWN.replace("delay: 0.01", "malformed_rate: 1.0, parse_retries: 0"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "run",
            str(scenario),
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 3, done.stderr
    assert "of decisions fell back to their default" in done.stderr
