"""Scale benchmarks against the limit: engine overhead, parallelism, memory, import time.

    python benchmarks/scale.py [--agents 100 1000 10000] [--quick]

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
window: 10m
max_concurrency: 4096
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
max_concurrency: 4096
model: {model}
memory: {{enabled: false}}
population: {{count: {agents}, personas: [{{name: "p"}}]}}
game: {{type: donor_game, agents_per_generation: {agents}, generations: 1, rounds: 4}}
"""


def one(kind: str, agents: int, latency: float, rate: float = 0.25) -> dict[str, Any]:
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
        (SOCIAL if kind == "social" else DONOR).format(agents=agents, model=model, rate=rate)
    )
    try:
        simulation = Simulation(load_scenario(path), out=folder / "run")
        started = time.perf_counter()
        summary = simulation.run().summary
        wall = time.perf_counter() - started
    finally:
        if process is not None:
            process.terminate()
    actions = summary["actions"]
    windows = max(summary["windows"], 1)
    return {
        "kind": kind,
        "agents": agents,
        "latency": latency,
        "actions": actions,
        "windows": windows,
        "wall": wall,
        "ms_per_action": wall / max(actions, 1) * 1000,
        "calls_per_action": summary["model_calls_per_action"],
        "calls": summary["model_calls"],
        "parallelism": summary["model_calls"] * latency / wall if latency else 0.0,
        "due_per_window": actions / windows,
        "peak_in_flight": summary["peak_decisions_in_flight"],
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


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
        "--one", nargs=3, metavar=("KIND", "AGENTS", "LATENCY"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), float(args.one[2]))))
        return
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
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
                done = subprocess.run(
                    [sys.executable, __file__, "--one", kind, str(agents), str(latency)],
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                )
                if done.returncode:
                    print(f"| {kind} | {agents} | {latency} | failed: {done.stderr[-300:]!r} |")
                    continue
                r = json.loads(done.stdout.strip().splitlines()[-1])
                ideal = min(r["due_per_window"], 256) if latency else 0
                print(
                    f"| {kind} | {agents:,} | {latency:g} | {r['actions']:,} | {r['due_per_window']:.0f} | "
                    f"{r['wall']:.1f} | {r['ms_per_action']:.3f} | {r['calls_per_action']} | "
                    f"{r['parallelism']:.1f} | {ideal:.0f} | {r['rss_mb']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
