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
import time
from pathlib import Path

import networkx as nx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scale import one  # noqa: E402
from gamemaster.social_media.graphs import SocialGraphs  # noqa: E402
from gamemaster.social_media.statistics import snapshot  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def simulate(agents: int, rate: float, server: bool) -> None:
    """The social configuration of benchmarks/scale.py, reported in more detail."""
    r = one("social", agents, 0.2 if server else 0.0, rate)
    setting = (
        "latency server 200 ms, max_concurrency 256" if server else "scripted model (zero latency)"
    )
    print(f"agents {agents:,}, one simulated day, 10-minute window, {setting}")
    print(
        f"  actions {r['actions']:,} in {r['windows']} windows; wall {r['wall']:.1f} s "
        f"({r['ms_per_action']:.3f} ms per action, statistics included)"
    )
    print(f"  model calls per agent action: {r['calls_per_action']}")
    print(f"  peak decisions in flight: {r['peak_in_flight']}")
    print(f"  peak RSS: {r['rss_mb']:.0f} MB")
    if server:
        print(f"  average parallelism: {r['parallelism']:.1f} (requests x latency / wall)")


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
    stats = snapshot(graphs, 86400.0)
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
