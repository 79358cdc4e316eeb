"""Shared fixtures: offline model hubs, scenario files written into tmp folders."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for benchmarks.fake_openai

SCRIPTED_TOWN = """
name: tiny_town
seed: 3
duration: 6h
window: 30m
model: {backend: scripted}
embedder: {kind: hashing, dim: 64}
memory: {k: 3, half_life: 2h}
population:
  activity: {schedule: poisson, rate: 2}
  personas:
    - {name: Ada, traits: {coins: 10}}
    - {name: Bo, traits: {coins: 5}}
    - {name: Cy, traits: {coins: 0}}
    - {name: Di, traits: {coins: 20}}
game:
  type: narrative
  setting: A village with a broken well.
  locations: [square, well]
  facts: [The well is broken.]
  project: {name: the well fund, cost: 30}
"""


def stored_events(folder: Path) -> list[tuple[object, ...]]:
    """The events table of a run folder, in sequence order (every column but ``run``)."""
    db = sqlite3.connect(folder / "run.sqlite")
    rows = db.execute(
        "SELECT seq, t, actor, kind, target, payload, perceivers, window FROM events ORDER BY seq"
    ).fetchall()
    db.close()
    return rows


def committed_windows(folder: Path) -> int:
    """How many windows a run folder's store has committed (0 before it exists)."""
    try:
        db = sqlite3.connect(folder / "run.sqlite", timeout=5)
        count = int(db.execute("SELECT COUNT(*) FROM windows").fetchone()[0])
        db.close()
        return count
    except sqlite3.OperationalError:
        return 0


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the openai backend's retry waits instead of waiting."""
    recorded: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        recorded.append(delay)
        await real_sleep(0)

    monkeypatch.setattr("engine.models.openai_backend._sleep", fake_sleep)
    return recorded


def start_socium(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``socium ARGS --quiet`` in a child process (for tests that kill or interrupt it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *args, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML text (dedented) as a scenario file in a fresh folder; return its path."""

    def write(text: str = SCRIPTED_TOWN, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write


@pytest.fixture
def scripted_town(write_scenario: Callable[..., Path]) -> Path:
    """A small narrative scenario on the scripted model and the hashing embedder."""
    return write_scenario(SCRIPTED_TOWN)
