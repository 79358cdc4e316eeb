"""Null models and bootstrap intervals for network statistics, vectorized.

**Null model.** A degree-preserving randomization keeps every node's in- and out-degree
and moves the edges: :func:`rewired` re-matches the edges' targets to their sources at
random (a directed configuration model, Newman, Strogatz & Watts 2001), then repairs
self-loops and repeated edges by re-matching the offending targets with randomly chosen
others until none is left; when a dense graph leaves no room for that, it falls back to
edge swaps (a -> b, c -> d) -> (a -> d, c -> b) (Maslov & Sneppen 2002). Statistics are
compared with their distribution over ``samples`` randomized graphs by empirical
p-values, ``(1 + #{null >= observed}) / (1 + samples)`` (Davison & Hinkley 1997, ch. 4),
with the z-score as a secondary figure. Kooti, Hodas & Lerman (2014) show why this
matters for the friendship paradox: the mean-based paradox largely follows from the
degree sequence and survives the randomization; the median ("strong") one need not.

**Bootstrap.** Paradox flags of neighbouring nodes are correlated, so resampling nodes
as if independent gives intervals that are too narrow. :func:`cluster_bootstrap`
partitions the nodes into ego neighbourhoods (a greedy cover: an ego with its not yet
covered neighbours) and resamples whole neighbourhoods with replacement (a
cluster bootstrap, Davison & Hinkley 1997, section 3.8), recomputing each share as a
ratio of sums; the 95% interval is the 2.5 and 97.5 percentiles. The cover visits egos
by decreasing degree, so a hub and the accounts around it form one cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from engine.network.paradox import Arcs

Statistic = Callable[[Arcs], Mapping[str, float | None]]


def _conflicts(sources: np.ndarray, targets: np.ndarray, n: int) -> np.ndarray:
    """Edges that are self-loops or repeat an earlier (source, target) pair."""
    key = sources * n + targets
    order = np.argsort(key)
    repeated = np.zeros(len(key), dtype=bool)
    repeated[order[1:][key[order][1:] == key[order][:-1]]] = True
    return repeated | (sources == targets)


def swap_rewire(arcs: Arcs, rng: np.random.Generator, swaps_per_edge: float = 10.0) -> np.ndarray:
    """Targets after degree-preserving edge swaps (the slow, always-applicable fallback)."""
    m = len(arcs.targets)
    sources, targets = arcs.sources.tolist(), arcs.targets.tolist()
    present = set(zip(sources, targets, strict=True))
    for i, j in rng.integers(0, m, size=(int(swaps_per_edge * m), 2)).tolist():
        a, b, c, d = sources[i], targets[i], sources[j], targets[j]
        if i == j or a == d or c == b or (a, d) in present or (c, b) in present:
            continue
        present.difference_update({(a, b), (c, d)})
        present.update({(a, d), (c, b)})
        targets[i], targets[j] = d, b
    return np.array(targets, dtype=np.int64)


def rewired(arcs: Arcs, rng: np.random.Generator, *, max_rounds: int = 60) -> Arcs:
    """A degree-preserving randomization of ``arcs`` (see the module docstring).

    Every node keeps its in- and out-degree; there are no self-loops or repeated edges.
    """
    m = len(arcs.targets)
    if m < 2:
        return arcs
    targets = arcs.targets[rng.permutation(m)]
    for _ in range(max_rounds):
        bad = np.nonzero(_conflicts(arcs.sources, targets, arcs.n))[0]
        if not len(bad):
            return Arcs(arcs.nodes, arcs.sources, targets)
        pool = np.unique(np.concatenate([bad, rng.integers(0, m, 3 * len(bad) + 1)]))
        targets[pool] = targets[pool[rng.permutation(len(pool))]]
    return Arcs(arcs.nodes, arcs.sources, swap_rewire(arcs, rng))


def null_model(
    arcs: Arcs, statistic: Statistic, *, samples: int = 1000, rng: np.random.Generator
) -> dict[str, dict[str, Any]]:
    """Each statistic's observed value against its distribution over ``samples`` rewirings.

    Returns, per statistic: ``observed``, ``null_mean``, ``null_sd``, ``p_greater`` (the
    one-sided empirical p-value of a value this high), ``p_less``, ``p_two_sided``
    (twice the smaller, at most 1), ``band`` (the null's 2.5 and 97.5 percentiles), ``z``
    (secondary: assumes a normal null) and ``samples`` (draws where it was defined).
    """
    observed = statistic(arcs)
    draws: dict[str, list[float]] = {key: [] for key in observed}
    for _ in range(samples):
        for key, value in statistic(rewired(arcs, rng)).items():
            if value is not None and key in draws:
                draws[key].append(float(value))
    out: dict[str, dict[str, Any]] = {}
    for key, value in observed.items():
        null = np.array(draws[key])
        if value is None or not len(null):
            out[key] = {"observed": value, "samples": len(null)}
            continue
        greater = (1 + int((null >= value - 1e-12).sum())) / (1 + len(null))
        less = (1 + int((null <= value + 1e-12).sum())) / (1 + len(null))
        sd = float(null.std(ddof=1)) if len(null) > 1 else None
        out[key] = {
            "observed": value,
            "null_mean": float(null.mean()),
            "null_sd": sd,
            "p_greater": greater,
            "p_less": less,
            "p_two_sided": min(1.0, 2 * min(greater, less)),
            "band": [float(q) for q in np.percentile(null, [2.5, 97.5])],
            "z": (value - float(null.mean())) / sd if sd else None,
            "samples": len(null),
        }
    return out


def neighbourhoods(arcs: Arcs, rng: np.random.Generator) -> np.ndarray:
    """A cluster id per node: a greedy cover of the graph by ego neighbourhoods.

    Egos are visited by decreasing degree (in plus out; ties in a seeded random order),
    so hubs come first; an ego not yet covered opens a cluster with its not yet covered
    in- and out-neighbours.
    """
    cluster = np.full(arcs.n, -1, dtype=np.int64)
    neighbours: list[list[int]] = [[] for _ in range(arcs.n)]
    for u, v in zip(arcs.sources.tolist(), arcs.targets.tolist(), strict=True):
        neighbours[u].append(v)
        neighbours[v].append(u)
    next_id = 0
    degree = arcs.in_degree() + arcs.out_degree()
    for ego in np.lexsort((rng.random(arcs.n), -degree)).tolist():
        if cluster[ego] >= 0:
            continue
        cluster[ego] = next_id
        for other in neighbours[ego]:
            if cluster[other] < 0:
                cluster[other] = next_id
        next_id += 1
    return cluster


def cluster_bootstrap(
    shares: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    clusters: int,
    *,
    samples: int = 1000,
    rng: np.random.Generator,
) -> dict[str, list[float] | None]:
    """95% intervals of shares ``sum(numerator) / sum(denominator)``, resampling clusters.

    ``shares[key] = (numerator, denominator, cluster)``, one entry per unit (a node for a
    paradox fraction, an edge for a hierarchy share; an edge belongs to its source's
    cluster). Each bootstrap sample draws ``clusters`` clusters with replacement, with
    every unit of a drawn cluster; the same draws serve every key.
    """
    if clusters == 0 or samples <= 0:
        return dict.fromkeys(shares)
    draws = rng.integers(0, clusters, size=(samples, clusters))
    flat = (draws + clusters * np.arange(samples)[:, None]).ravel()
    weights = np.bincount(flat, minlength=samples * clusters).reshape(samples, clusters)
    out: dict[str, list[float] | None] = {}
    for key, (numerator, denominator, cluster) in shares.items():
        top = np.bincount(cluster, weights=numerator, minlength=clusters)
        bottom = np.bincount(cluster, weights=denominator, minlength=clusters)
        totals = weights @ bottom
        valid = totals > 0
        if not valid.any():
            out[key] = None
            continue
        values = (weights @ top)[valid] / totals[valid]
        out[key] = [float(q) for q in np.percentile(values, [2.5, 97.5])]
    return out
