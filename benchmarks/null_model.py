"""The friendship-paradox null model and bootstrap at 10,000 nodes and 100,000 edges.

    python benchmarks/null_model.py [--nodes 10000] [--edges 100000] [--samples 1000]

Builds a synthetic follow graph with heavy-tailed follower counts (as
benchmarks/social_scale.py), then times, on one core, what a social-media snapshot
computes for its headline figures: ``samples`` degree-preserving rewirings with the 11
headline statistics on each (the four paradox shares, mean and median, and three
hierarchy shares), and ``samples`` ego-neighbourhood bootstrap resamples. Prints wall
time, time per rewiring, peak RSS and a check that the same seed gives the same p-values.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.social_scale import synthetic_graph  # noqa: E402
from engine.network import null, paradox  # noqa: E402
from gamemaster.social_media.statistics import bootstrap, headline, node_values  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--edges", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    graphs = synthetic_graph(args.nodes, args.edges)
    arcs = paradox.Arcs.of(graphs.follow)
    values = node_values(graphs, arcs, 86400.0)
    print(
        f"graph: {arcs.n:,} nodes, {len(arcs.sources):,} edges; RSS after building {peak_rss_mb():.0f} MB"
    )
    started = time.perf_counter()
    result = null.null_model(
        arcs, headline(values), samples=args.samples, rng=np.random.default_rng(1)
    )
    elapsed = time.perf_counter() - started
    print(
        f"null model, {args.samples} rewirings x 11 statistics: {elapsed:.1f} s "
        f"({1000 * elapsed / args.samples:.1f} ms per rewiring)"
    )
    for key in (
        "friends_by_follower_count.mean",
        "friends_by_follower_count.median",
        "hierarchy.to_more_followed",
    ):
        r = result[key]
        print(
            f"  {key}: observed {r['observed']:.3f}, null {r['null_mean']:.3f} {r['band']}, p {r['p_greater']:.4f}"
        )
    started = time.perf_counter()
    intervals = bootstrap(arcs, values, args.samples, np.random.default_rng(1))
    print(f"bootstrap, {args.samples} resamples: {time.perf_counter() - started:.1f} s")
    print(f"  friends_by_follower_count.mean 95%: {intervals['friends_by_follower_count.mean']}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")
    again = null.null_model(arcs, headline(values), samples=20, rng=np.random.default_rng(1))
    first = null.null_model(arcs, headline(values), samples=20, rng=np.random.default_rng(1))
    print(f"same seed, same result: {again == first}")


if __name__ == "__main__":
    main()
