"""Memory retrieval latency (faiss + exact bound) against a plain numpy scan, and MiniLM
embedding throughput.

    python benchmarks/memory.py [--sizes 1000 10000 100000] [--queries 300]

Retrieval excludes the query embedding (queries are precomputed unit vectors): one agent
holding N memories of dimension 384, k=10, realistic times and importance ratings.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from agents.memory import AssociativeMemory


def _percentiles(samples: list[float]) -> tuple[float, float]:
    values = np.array(samples) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def numpy_scan(
    vectors: np.ndarray,
    times: np.ndarray,
    importance: np.ndarray,
    query: np.ndarray,
    t: float,
    k: int,
    half_life: float,
) -> np.ndarray:
    """The same score computed over every memory with numpy (the baseline)."""
    score = (vectors @ query + 1) / 2 + 0.5 ** ((t - times) / half_life) + importance / 10
    top = np.argpartition(-score, k)[:k]
    return top[np.argsort(-score[top])]


def bench_retrieval(
    size: int, queries: int, index: str, dim: int = 384, k: int = 10
) -> dict[str, float]:
    rng = np.random.default_rng(size)
    # clustered vectors, like real texts: 50 topics plus noise
    topics = rng.normal(size=(50, dim)).astype(np.float32)
    vectors = topics[rng.integers(0, 50, size)] + 0.6 * rng.normal(size=(size, dim)).astype(
        np.float32
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    times = np.sort(rng.uniform(0, 30 * 86400, size))
    importance = rng.integers(1, 11, size).astype(np.float32)
    memory = AssociativeMemory(dim, half_life=86400.0, index=index)
    memory.extend(
        vectors, [(float(times[i]), "event", float(importance[i]), "") for i in range(size)]
    )
    probes = topics[rng.integers(0, 50, queries)] + 0.6 * rng.normal(size=(queries, dim)).astype(
        np.float32
    )
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    now = 30 * 86400.0
    ours, scan, overlap = [], [], 0.0
    for probe in probes:
        started = time.perf_counter()
        got = memory.retrieve_vector(probe, now, k)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        expected = numpy_scan(vectors, times, importance, probe, now, k, 86400.0)
        scan.append(time.perf_counter() - started)
        overlap += len({m.id for m in got} & {int(i) for i in expected}) / k
    p50, p99 = _percentiles(ours)
    s50, s99 = _percentiles(scan)
    return {
        "size": size,
        "p50_ms": p50,
        "p99_ms": p99,
        "scan_p50_ms": s50,
        "scan_p99_ms": s99,
        "recall": overlap / queries,
        "queries": queries,
    }


def bench_minilm(texts: int = 2000) -> float | None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from agents.embedders import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
        embedder.embed(["warm up"])
    except Exception as err:  # the local extra is not installed
        print(f"MiniLM: skipped ({err})")
        return None
    batch = [
        f"Agent {i % 97} said at the square: the well needs {i % 13} more coins."
        for i in range(texts)
    ]
    started = time.perf_counter()
    embedder.embed(batch)
    return texts / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--index", nargs="+", default=["auto", "hnsw"], help="auto is exact (flat)")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        "| memories | index | p50 ms | p99 ms | numpy scan p50 ms | numpy scan p99 ms | top-10 recall vs exact |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for index in args.index:
        for size in args.sizes:
            r = bench_retrieval(size, args.queries, index)
            print(
                f"| {size:,} | {index} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
                f"{r['scan_p50_ms']:.3f} | {r['scan_p99_ms']:.3f} | {r['recall']:.3f} |"
            )
    rate = bench_minilm()
    if rate:
        print(f"MiniLM (all-MiniLM-L6-v2, CPU) embedding throughput: {rate:.0f} texts/s")


if __name__ == "__main__":
    main()
