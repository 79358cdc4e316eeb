"""Sweeps: local processes and Ray give the same aggregate; a killed sweep resumes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.sweep import finished, parse_grid, parse_seeds, plan, sweep
from engine.types import ScenarioError

DONOR = """
name: donor_sweep
seed: 0
duration: 1d
window: 0
model: {backend: scripted, delay: 0.005}
memory: {enabled: false}
population: {count: 6, personas: [{name: "1_1"}]}
embedder: {kind: hashing, dim: 32}
game: {type: donor_game, agents_per_generation: 6, generations: 2}
"""


def test_seed_and_grid_parsing() -> None:
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_grid(["game.trace_depth=1,3"]) == [("game.trace_depth", ["1", "3"])]
    runs = plan([0, 1], [("game.trace_depth", ["1", "3"])], Path("/s"))
    assert [(r.seed, r.overrides) for r in runs] == [
        (0, ("game.trace_depth=1",)),
        (1, ("game.trace_depth=1",)),
        (0, ("game.trace_depth=3",)),
        (1, ("game.trace_depth=3",)),
    ]
    for bad in ("3-1", "a"):
        with pytest.raises(ScenarioError):
            parse_seeds(bad)


def test_local_and_ray_executors_aggregate_identically(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    ray = pytest.importorskip("ray")
    scenario = write_scenario(DONOR)
    grid = [("game.trace_depth", ["1", "3"])]
    local = sweep(
        scenario,
        seeds=[0, 1],
        grid=grid,
        folder=tmp_path / "local",
        executor="local",
        workers=2,
        base=["game.endowment=12"],
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = sweep(
            scenario,
            seeds=[0, 1],
            grid=grid,
            folder=tmp_path / "ray",
            executor="ray",
            base=["game.endowment=12"],
        )
    finally:
        ray.shutdown()
    assert len(local["runs"]) == len(remote["runs"]) == 4
    assert all(o["status"] == "finished" for o in local["outcomes"] + remote["outcomes"])
    assert json.dumps(local["measures"], sort_keys=True) == json.dumps(
        remote["measures"], sort_keys=True
    )
    conditions = local["measures"]["final_generation_resources_mean"]["conditions"]
    assert sorted(c["n"] for c in conditions.values()) == [2, 2]
    assert (tmp_path / "local" / "sweep_stats.json").exists()
    assert all(
        label.split("] ")[1].startswith("game.endowment=12 game.trace_depth=")
        for label in conditions
    )


def _started(folder: Path) -> str:
    db = sqlite3.connect(folder / "run.sqlite")
    value = db.execute("SELECT started_at || id FROM run").fetchone()[0]
    db.close()
    return str(value)


def test_a_killed_sweep_reruns_only_the_missing_runs(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    scenario = write_scenario(DONOR.replace("delay: 0.005", "delay: 0.03"))
    out = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "engine.cli",
        "sweep",
        str(scenario),
        "--seeds",
        "0-3",
        "--workers",
        "1",
        "--out",
        str(out),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    runs = plan([0, 1, 2, 3], [], out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(finished(Path(r.folder)) for r in runs):
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)  # the CLI and its worker processes
    process.wait()
    done_before = [r for r in runs if finished(Path(r.folder))]
    assert 1 <= len(done_before) < 4
    stamps = {r.folder: _started(Path(r.folder)) for r in done_before}
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert all(finished(Path(r.folder)) for r in runs)
    assert {r.folder: _started(Path(r.folder)) for r in done_before} == stamps  # not redone
    assert f"({len(runs)} runs, {len(done_before)} already finished)" in again.stdout


@pytest.mark.slow
def test_a_sweep_runs_after_the_parent_used_torch(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """A forked worker of a parent that ran torch hangs in its first encode; spawn does not."""
    pytest.importorskip("sentence_transformers")
    from agents.embedders import SentenceTransformerEmbedder

    SentenceTransformerEmbedder().embed(["the parent process has used torch"])
    path = write_scenario(
        DONOR.replace("embedder: {kind: hashing, dim: 32}\n", "embedder: {kind: minilm}\n")
    )
    result = sweep(
        path, seeds=[0, 1], grid=[], folder=tmp_path / "sweep", executor="local", workers=2
    )
    assert [o["status"] for o in result["outcomes"]] == ["finished", "finished"]


SLOW = DONOR.replace("delay: 0.005", "delay: 0.1")


def _children(pid: int) -> set[int]:
    done = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return {int(p) for p in done.stdout.split()}


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        state = (
            Path(f"/proc/{pid}/stat").read_text().split()[2]
            if Path(f"/proc/{pid}/stat").exists()
            else "X"
        )
        if state != "Z":
            alive.add(pid)
    return alive


def _sweep_process(scenario: Path, folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "sweep",
            str(scenario),
            "--seeds",
            "0-5",
            "--workers",
            "2",
            "--out",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_runs(folder: Path, process: subprocess.Popen[str]) -> set[int]:
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while time.monotonic() < deadline and process.poll() is None:
        workers = (
            {p for p in _children(process.pid) if "spawn" in Path(f"/proc/{p}/cmdline").read_text()}
            if process.poll() is None
            else set()
        )
        if len(list(folder.rglob("run.sqlite"))) >= 2 and len(workers) >= 2:
            time.sleep(0.5)
            return workers
        time.sleep(0.1)
    raise AssertionError("the sweep's runs did not start")


def test_no_worker_survives_a_killed_sweep(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    scenario = write_scenario(SLOW)
    process = _sweep_process(scenario, tmp_path / "sweep")
    workers = _wait_for_runs(tmp_path / "sweep", process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(workers)


def test_ctrl_c_stops_queued_runs_and_marks_running_ones_interrupted(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    scenario = write_scenario(SLOW)
    folder = tmp_path / "sweep"
    process = _sweep_process(scenario, folder)
    workers = _wait_for_runs(folder, process)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert "sweep interrupted" in stderr
    assert not _alive(workers)
    statuses = {}
    for store in folder.rglob("run.sqlite"):
        db = sqlite3.connect(store)
        statuses[store.parent.name] = db.execute("SELECT status FROM run").fetchone()[0]
        db.close()
    assert 2 <= len(statuses) < 6  # queued runs never started
    assert (
        set(statuses.values()) <= {"interrupted", "finished"} and "interrupted" in statuses.values()
    )
    again = _sweep_process(scenario, folder)  # the same command resumes and completes the sweep
    assert again.wait(timeout=600) == 0, again.stderr.read() if again.stderr else ""
    assert len(list(folder.rglob("run.sqlite"))) == 6
