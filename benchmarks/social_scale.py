"""Social-media scale: a 10,000-agent simulated day, and statistics on a 1M-edge graph.

    python benchmarks/social_scale.py [--agents 10000] [--rate 0.25] [--server]
                                      [--nodes 100000] [--edges 1000000]

Part 1 runs the platform for one simulated day with a 10-minute decision window on the
scripted model (zero latency: wall time is engine time) or, with ``--server``, against
the local latency server (200 ms per request, benchmarks/fake_openai.py in its own
process). It reports wall time, engine overhead per agent action, model calls per agent
action and peak RSS. Part 2 computes every friendship-paradox statistic (no null model)
on a synthetic 100,000-node, 1,000,000-edge follow graph with heavy-tailed in-degrees.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.network.social import SocialGraphs, statistics  # noqa: E402
from engine.scenario import load_scenario  # noqa: E402
from engine.simulation import Simulation  # noqa: E402

SCENARIO = """
name: social_scale
seed: 1
duration: 1d
window: 10m
max_concurrency: {concurrency}
model: {model}
embedder: {{kind: hashing, dim: 64}}
memory: {{k: 3, half_life: 12h}}
population:
  count: {agents}
  activity: {{schedule: poisson, rate: {rate}, rate_sigma: 1.0}}
  personas: [{{name: user, description: A person on the platform.}}]
game:
  type: social_media
  actions: [post, reply, repost, like, do_nothing]
  feed_size: 5
  recent_posts: 300
  recommender: similarity
  snapshot_every: 6h
  null_samples: 0
  bootstrap_samples: 0
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def simulate(agents: int, rate: float, server: bool) -> None:
    model = "{backend: scripted, max_concurrency: 4096}"
    process = None
    concurrency = 4096
    if server:
        from benchmarks.model_throughput import start_latency_server

        process, url = start_latency_server(0.2)
        model = f'{{backend: openai, base_url: "{url}", model: fake-model, max_concurrency: 256}}'
        concurrency = 256
    folder = Path(tempfile.mkdtemp())
    path = folder / "scenario.yaml"
    path.write_text(SCENARIO.format(agents=agents, rate=rate, model=model, concurrency=concurrency))
    try:
        simulation = Simulation(load_scenario(path), out=folder / "run")
        started = time.perf_counter()
        result = simulation.run()
        wall = time.perf_counter() - started
    finally:
        if process is not None:
            process.terminate()
    summary = result.summary
    actions = summary["actions"]
    print(
        f"agents {agents:,}, one simulated day, 10-minute window, "
        f"{'latency server 200 ms, max_concurrency 256' if server else 'scripted model (zero latency)'}"
    )
    print(
        f"  actions {actions:,} in {summary['windows']} windows; wall {wall:.1f} s "
        f"({wall / max(actions, 1) * 1000:.3f} ms per action, statistics included)"
    )
    print(f"  model calls per agent action: {summary['model_calls_per_action']}")
    print(f"  peak decisions in flight: {summary['peak_decisions_in_flight']}")
    print(f"  peak RSS: {peak_rss_mb():.0f} MB")
    if server:
        ideal = actions * 0.2 / min(256, max(1, actions // max(summary["windows"], 1)))
        print(f"  average parallelism: {actions * 0.2 / wall:.1f} (requests x latency / wall)")
        del ideal


def synthetic_graph(nodes: int, edges: int, seed: int = 0) -> SocialGraphs:
    rng = np.random.default_rng(seed)
    popularity = rng.pareto(1.5, nodes) + 1  # heavy-tailed follower counts
    sources = rng.integers(0, nodes, int(edges * 1.05))
    targets = rng.choice(nodes, size=len(sources), p=popularity / popularity.sum())
    keep = sources != targets
    pairs = np.unique(np.stack([sources[keep], targets[keep]], axis=1), axis=0)[:edges]
    graphs = SocialGraphs()
    graphs.follow = nx.DiGraph()
    graphs.follow.add_nodes_from(range(nodes))
    graphs.follow.add_edges_from(pairs.tolist())
    graphs.content = dict(enumerate(rng.poisson(rng.lognormal(0, 1, nodes) * 5).tolist()))
    graphs.influence = dict(enumerate(rng.poisson(popularity).astype(float).tolist()))
    interactions = pairs[rng.random(len(pairs)) < 0.3]
    graphs.interactions = nx.DiGraph()
    graphs.interactions.add_weighted_edges_from(
        (int(u), int(v), float(w))
        for (u, v), w in zip(interactions, rng.integers(1, 20, len(interactions)), strict=True)
    )
    return graphs


def graph_statistics(nodes: int, edges: int) -> None:
    started = time.perf_counter()
    graphs = synthetic_graph(nodes, edges)
    built = time.perf_counter() - started
    started = time.perf_counter()
    stats = statistics(graphs, 86400.0)
    elapsed = time.perf_counter() - started
    print(
        f"statistics on {graphs.follow.number_of_nodes():,} nodes, {graphs.follow.number_of_edges():,} edges "
        f"(no null model): {elapsed:.1f} s (graph built in {built:.1f} s); "
        f"friends_by_follower_count = {stats['individual']['friends_by_follower_count']['fraction_mean']:.3f}"
    )
    print(f"  peak RSS: {peak_rss_mb():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument(
        "--rate", type=float, default=0.25, help="mean activations per agent per hour"
    )
    parser.add_argument("--server", action="store_true")
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--skip-run", action="store_true")
    parser.add_argument("--skip-graph", action="store_true")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    if not args.skip_run:
        simulate(args.agents, args.rate, args.server)
    if not args.skip_graph:
        graph_statistics(args.nodes, args.edges)


if __name__ == "__main__":
    main()
