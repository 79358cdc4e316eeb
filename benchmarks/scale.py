"""Scale benchmarks against the limit: engine overhead, parallelism, memory, import time.

    python benchmarks/scale.py [--agents 100 1000 10000] [--critical-path]

First the window's critical path (:func:`critical_path`; ``--critical-path``: only that
table), then:

For the social-media and donor-game scenarios at each size, every configuration runs
in its own process (so peak RSS is its own):

- zero latency (the scripted model): model calls per agent action, engine overhead per
  agent action (wall / actions: everything but the model is engine);
- 200 ms latency (benchmarks/fake_openai.py in its own process, max_concurrency 256):
  average parallelism = requests x latency / wall, against the ideal
  min(agents due per window, cap);
- peak RSS; and the import time of ``engine.cli`` and ``socium --help``.

Social media: one simulated day, 10-minute window, lognormal activity around 0.25
activations per agent-hour. Donor game: one generation of N agents, 4 rounds (N/2
donors per round, each round one batch), so N strategies + 2N donations.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOCIAL = """
name: scale_social
seed: 1
duration: 1d
window: {window}
model: {model}
embedder: {{kind: hashing, dim: 64}}
memory: {{k: 3, half_life: 12h}}
population:
  count: {agents}
  activity: {{schedule: poisson, rate: {rate}, rate_sigma: 1.0}}
  personas: [{{name: user, description: A person on the platform.}}]
game: {{type: social_media, actions: [post, reply, repost, like, do_nothing], feed_size: 5,
        recent_posts: 300, snapshot_every: 6h, null_samples: 0, bootstrap_samples: 0}}
"""
DONOR = """
name: scale_donor
seed: 1
duration: 1d
window: 0
model: {model}
memory: {{enabled: false}}
population: {{count: {agents}, personas: [{{name: "p"}}]}}
game: {{type: donor_game, agents_per_generation: {agents}, generations: 1, rounds: 4}}
"""


def one(
    kind: str, agents: int, latency: float, rate: float = 0.25, window: str = "10m"
) -> dict[str, Any]:
    """Run one configuration in this process; print a JSON line."""
    from engine.scenario import load_scenario
    from engine.simulation import Simulation

    process = None
    model = "{backend: scripted, max_concurrency: 4096}"
    if latency:
        from benchmarks.model_throughput import start_latency_server

        process, url = start_latency_server(latency)
        model = f'{{backend: openai, base_url: "{url}", model: fake-model, max_concurrency: 256, timeout: 120s}}'
    folder = Path(tempfile.mkdtemp())
    path = folder / "scenario.yaml"
    path.write_text(
        (SOCIAL if kind == "social" else DONOR).format(
            agents=agents, model=model, rate=rate, window=window
        )
    )
    try:
        simulation = Simulation(load_scenario(path), out=folder / "run")
        simulation.prepare()  # loading, before the clock (as the CLI's loading stage)
        started = time.perf_counter()
        summary = simulation.run().summary
        wall = time.perf_counter() - started
    finally:
        if process is not None:
            process.terminate()
    actions = summary["actions"]
    windows = max(summary["windows"], 1)
    statistics = summary.get("statistics_seconds", 0.0)
    engine = wall - statistics  # the run without its end-of-run statistics and exports
    return {
        "kind": kind,
        "agents": agents,
        "latency": latency,
        "window": window,
        "actions": actions,
        "windows": windows,
        "wall": wall,
        "statistics_s": statistics,
        "ms_per_action": wall / max(actions, 1) * 1000,
        "engine_ms_per_action": engine / max(actions, 1) * 1000,
        "calls_per_action": summary["model_calls_per_action"],
        "calls": summary["model_calls"],
        "parallelism": summary["model_calls"] * latency / engine if latency else 0.0,
        "idle_ms_per_window": summary["model_idle_seconds"] / windows * 1000,
        "due_per_window": actions / windows,
        "peak_in_flight": summary["peak_decisions_in_flight"],
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_one(
    kind: str, agents: int, latency: float, rate: float = 0.25, window: str = "10m"
) -> dict[str, Any] | None:
    """One configuration in its own process (None, with a table row, if it failed)."""
    done = subprocess.run(
        [sys.executable, __file__, "--one", kind, str(agents), str(latency), str(rate), window],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode:
        print(f"| {kind} | {agents} | {latency} | failed: {done.stderr[-300:]!r} |")
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def critical_path(repeats: int = 2) -> None:
    """The window's critical path at 1,000 agents (social media, hashing embedder).

    About 83 decisions per 1h window (1/12 activation per agent-hour). At 200 ms:
    parallelism = calls x latency / run wall (statistics excluded); ratio = parallelism /
    decisions per window; idle = wall time per window with no model request in flight
    (the engine's work that does not overlap a request). At 0 ms (the scripted model):
    engine time per action, statistics reported apart.
    """
    print(
        "| window | latency | run | decisions per window | parallelism | ratio | idle ms per window "
        "| engine ms per action | statistics s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for window in ("1h", "10m"):
        for latency in (0.0, 0.2):
            for repeat in range(1, repeats + 1):
                r = run_one("social", 1000, latency, 1 / 12, window)
                if r is None:
                    continue
                due = r["due_per_window"]
                ratio = f"{r['parallelism'] / min(due, 256):.2f}" if latency else "-"
                parallelism = f"{r['parallelism']:.1f}" if latency else "-"
                print(
                    f"| {window} | {latency:g} | {repeat} | {due:.1f} | {parallelism} | {ratio} | "
                    f"{r['idle_ms_per_window']:.1f} | {r['engine_ms_per_action']:.3f} | "
                    f"{r['statistics_s']:.2f} |",
                    flush=True,
                )


def import_times() -> tuple[float, float]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import engine.cli"], check=True, cwd=ROOT)
    module = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "engine.cli", "--help"],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return module, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, nargs="+", default=[100, 1000, 10_000])
    parser.add_argument(
        "--one",
        nargs=5,
        metavar=("KIND", "AGENTS", "LATENCY", "RATE", "WINDOW"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--critical-path",
        action="store_true",
        help="only the window's critical-path table (1,000 agents, 1h and 10m windows)",
    )
    args = parser.parse_args()
    if args.one:
        kind, agents, latency, rate, window = args.one
        print(json.dumps(one(kind, int(agents), float(latency), float(rate), window)))
        return
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    critical_path()
    if args.critical_path:
        return
    module, help_time = import_times()
    print(
        f"import engine.cli: {module * 1000:.0f} ms (whole interpreter); socium --help: {help_time * 1000:.0f} ms"
    )
    print(
        "| scenario | agents | latency | actions | due per window | wall s | ms per action | calls per action "
        "| parallelism | ideal | peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind in ("social", "donor"):
        for agents in args.agents:
            for latency in (0.0, 0.2):
                if latency and agents > 1000:
                    continue  # 10,000 agents at 200 ms: run by hand; hours of waiting on one core here
                r = run_one(kind, agents, latency)
                if r is None:
                    continue
                ideal = min(r["due_per_window"], 256) if latency else 0
                print(
                    f"| {kind} | {agents:,} | {latency:g} | {r['actions']:,} | {r['due_per_window']:.0f} | "
                    f"{r['wall']:.1f} | {r['ms_per_action']:.3f} | {r['calls_per_action']} | "
                    f"{r['parallelism']:.1f} | {ideal:.0f} | {r['rss_mb']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
