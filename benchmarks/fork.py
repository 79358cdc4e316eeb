"""Forking a stored run: the prefix costs engine time only, no model calls.

    python benchmarks/fork.py [--agents 1000] [--latency 0.2] [--at 0.9]

A 1,000-agent, one-day social run (the scale benchmark's scenario: 10-minute windows,
lognormal activity around 0.25 activations per agent-hour) against the 200 ms latency
server (benchmarks/fake_openai.py in its own process, max_concurrency 256), then its
fork at 90% of the day with ``--set game.recommender=similarity``. Both are the CLI's
commands (``socium run``, ``socium fork``), timed from outside; the table gives their
wall times, the model calls each made (the fork's prefix served from the parent's
store), and the end-of-run statistics both pay.
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.model_throughput import start_latency_server  # noqa: E402
from benchmarks.scale import SOCIAL  # noqa: E402


def _timed(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", *args, "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"socium {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return wall, done.stderr


def _ledger(folder: Path, t: float) -> dict[str, float]:
    db = sqlite3.connect(folder / "run.sqlite")
    calls = db.execute(
        "SELECT COUNT(*), SUM(cached), SUM(t < ?), SUM(cached AND t < ?) FROM model_calls",
        (t, t),
    ).fetchone()
    summary = json.loads(db.execute("SELECT summary FROM run").fetchone()[0] or "{}")
    db.close()
    total, cached, before, cached_before = (int(x or 0) for x in calls)
    return {
        "calls": total,
        "new_calls": total - cached,
        "calls_before": before,
        "new_calls_before": before - cached_before,
        "actions": summary.get("actions", 0),
        "statistics_s": summary.get("statistics_seconds", 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--at", type=float, default=0.9, help="fork time, share of the day")
    args = parser.parse_args()
    server, url = start_latency_server(args.latency)
    model = (
        f'{{backend: openai, base_url: "{url}", model: fake-model, max_concurrency: 256, '
        "timeout: 120s}"
    )
    folder = Path(tempfile.mkdtemp())
    scenario = folder / "scenario.yaml"
    scenario.write_text(SOCIAL.format(agents=args.agents, model=model, rate=0.25, window="10m"))
    minutes = round(args.at * 24 * 60)
    try:
        parent_wall, _ = _timed("run", str(scenario), "--out", str(folder / "parent"))
        fork_wall, stderr = _timed(
            "fork",
            str(folder / "parent"),
            "--at",
            f"{minutes}m",
            "--set",
            "game.recommender=similarity",
            "--out",
            str(folder / "fork"),
        )
    finally:
        server.terminate()
    t = minutes * 60.0
    parent, fork = _ledger(folder / "parent", t), _ledger(folder / "fork", t)
    print(f"machine: {platform.machine()}, {platform.python_version()}, {sys.platform}")
    print(f"fork check: {stderr.strip().splitlines()[-1]}")
    print(
        "| run | wall s | statistics s | actions | model calls | new model calls "
        f"| new calls before {minutes / 60:g}h |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, wall, row in (("parent", parent_wall, parent), ("fork", fork_wall, fork)):
        print(
            f"| {name} | {wall:.1f} | {row['statistics_s']:.1f} | {row['actions']:,} | "
            f"{row['calls']:,} | {row['new_calls']:,} | {row['new_calls_before']:,} |"
        )
    print(f"fork / parent wall: {fork_wall / parent_wall:.2f}")


if __name__ == "__main__":
    main()
