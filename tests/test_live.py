"""The live view follows a run from its store and leaves the run's events untouched."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import stored_events
from tests.test_report import CHROMIUM, _chromium

LIVE = """
name: live
seed: 11
duration: 1d
window: 30m
model: {backend: scripted, delay: 0.05, max_concurrency: 2}
embedder: {kind: hashing, dim: 32}
memory: {k: 2}
population:
  count: 10
  activity: {schedule: poisson, rate: 1}
  personas: [{name: u, description: someone}]
game: {type: social_media, null_samples: 5, bootstrap_samples: 10}
"""


def _socium(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli", *args]


def _state(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "state", timeout=10) as answer:
        data: dict[str, Any] = json.loads(answer.read())
    return data


def _address(process: subprocess.Popen[str]) -> str:
    """The URL the command prints on stderr (``live view...: http://127.0.0.1:PORT/``)."""
    assert process.stderr is not None
    for _ in range(50):
        line = process.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if found:
            return found.group(0)
    raise AssertionError("no live-view address printed")


def test_serve_shows_windows_growing_and_the_events_do_not_change(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    scenario = write_scenario(LIVE)
    served = tmp_path / "served"
    process = subprocess.Popen(
        _socium("run", str(scenario), "--out", str(served), "--quiet", "--serve"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _address(process)
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert b"socium live" in answer.read()
        seen: list[int] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            state = _state(url)
            if state["status"] == "running" and state["windows"] > 0:
                seen.append(state["windows"])
                if len(seen) >= 2 and seen[-1] > seen[0]:
                    break
            time.sleep(0.2)
        assert len(seen) >= 2 and seen[-1] > seen[0], seen  # read twice, the count grew
        assert state["model_calls"] > 0 and state["actions"]
        assert state["progress"] is not None and 0 < state["progress"] < 1
        assert state["latest"] and {"clock", "agent", "kind", "text"} <= set(state["latest"][0])
        assert process.wait(timeout=300) == 0
    finally:
        process.kill()
        process.wait()
    plain = tmp_path / "plain"
    subprocess.run(
        _socium("run", str(scenario), "--out", str(plain), "--quiet", "--set", "model.delay=0"),
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert stored_events(served) == stored_events(plain)


def test_watch_serves_a_finished_run_with_its_headline_history(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    scenario = write_scenario(LIVE.replace("delay: 0.05", "delay: 0"))
    folder = tmp_path / "run"
    subprocess.run(
        _socium("run", str(scenario), "--out", str(folder), "--quiet"),
        check=True,
        capture_output=True,
        timeout=300,
    )
    process = subprocess.Popen(
        _socium("watch", str(folder)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _address(process)
        state = _state(url)
        assert state["status"] == "finished" and state["progress"] == 1.0
        events = stored_events(folder)
        kinds: dict[str, int] = {}
        for row in events:
            kinds[str(row[3])] = kinds.get(str(row[3]), 0) + 1
        assert state["actions"] == kinds
        history = state["headline"]
        assert len(history) > 2 and history == sorted(history, key=lambda p: p["hours"])
        follows = sum(1 for row in events if row[3] == "follow") - sum(
            1 for row in events if row[3] == "unfollow"
        )
        assert history[-1]["follow_edges"] == follows
        if CHROMIUM is not None:
            page = _chromium(url, tmp_path / "profile", "--virtual-time-budget=3000", "--dump-dom")
            assert f'data-windows="{state["windows"]}"' in page.stdout
            assert [line for line in page.stderr.splitlines() if "CONSOLE" in line] == []
    finally:
        process.kill()
        process.wait()
