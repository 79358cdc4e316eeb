"""Friendship-paradox statistics of directed graphs, networkx style (``G`` first).

Conventions for a follow graph: an edge ``u -> v`` means u follows v. u's *friends*
are its out-neighbours (accounts it follows), its *followers* its in-neighbours; its
friend count is its out-degree and its follower count its in-degree.

References
----------
.. [1] S. L. Feld, "Why your friends have more friends than you do", American Journal
   of Sociology 96(6), 1991.
.. [2] N. O. Hodas, F. Kooti, K. Lerman, "Friendship paradox redux: your friends are
   more interesting than you", ICWSM 2013.
.. [3] Y.-H. Eom, H.-H. Jo, "Generalized friendship paradox in complex networks: the
   case of scientific collaboration", Scientific Reports 4, 4603, 2014.
.. [4] J. P. Bagrow, C. M. Danforth, L. Mitchell, "Which friends are more popular than
   you? Contact strength and the friendship paradox in social networks", ASONAM 2017.
.. [5] M. E. J. Newman, "Mixing patterns in networks", Physical Review E 67, 2003.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import networkx as nx
import numpy as np

Side = Literal["out", "in"]
Attribute = str | Mapping[Any, float]


@dataclass(frozen=True, slots=True)
class FeldResult:
    """Network-level paradox: the mean degree against a random edge's endpoint degree.

    The latter is ``<k^2>/<k>`` and never less than the mean (Feld's inequality).
    """

    mean_degree: float
    mean_neighbor_degree: float
    ratio: float
    nodes: int

    def as_dict(self) -> dict[str, float]:
        """The fields as a dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ParadoxResult:
    """Individual-level paradox over nodes with at least one neighbour.

    The share of those nodes whose attribute is below their neighbours' mean
    (``fraction_mean``) or median (``fraction_median``, the "strong" paradox).
    """

    fraction_mean: float | None
    fraction_median: float | None
    nodes: int

    def as_dict(self) -> dict[str, float | int | None]:
        """The fields as a dict."""
        return asdict(self)


def degrees(G: nx.DiGraph, kind: Side) -> dict[Hashable, float]:
    """Out-degree (friend count) or in-degree (follower count) of every node."""
    view = G.out_degree() if kind == "out" else G.in_degree()
    return {node: float(k) for node, k in view}


def feld_paradox(G: nx.DiGraph, degree: Side = "in") -> FeldResult:
    """Feld's network-level paradox for in- or out-degree [1]_.

    Parameters
    ----------
    G : networkx.DiGraph
        ``u -> v``: u follows v.
    degree : "in" or "out"
        Which degree to compare.

    Returns
    -------
    FeldResult
        ``mean_neighbor_degree = <k^2>/<k>`` >= ``mean_degree = <k>`` on every graph.

    Examples
    --------
    >>> star = nx.DiGraph([(i, 0) for i in range(1, 5)])
    >>> feld_paradox(star, "in").mean_neighbor_degree
    4.0
    """
    k = np.array(list(degrees(G, degree).values()))
    if len(k) == 0 or k.sum() == 0:
        return FeldResult(0.0, 0.0, 1.0, len(k))
    mean = float(k.mean())
    neighbor = float((k**2).mean() / mean)
    return FeldResult(mean, neighbor, neighbor / mean, len(k))


def _values(G: nx.DiGraph, attribute: Attribute) -> dict[Hashable, float]:
    if isinstance(attribute, str):
        if attribute in ("in_degree", "followers"):
            return degrees(G, "in")
        if attribute in ("out_degree", "friends"):
            return degrees(G, "out")
        return {n: float(G.nodes[n].get(attribute, 0.0)) for n in G}
    return {n: float(attribute.get(n, 0.0)) for n in G}


def _edge_arrays(G: nx.DiGraph) -> tuple[list[Hashable], np.ndarray, np.ndarray]:
    """Nodes and the edges as index arrays (source, target)."""
    nodes = list(G)
    index = {node: i for i, node in enumerate(nodes)}
    edges = np.array([(index[u], index[v]) for u, v in G.edges], dtype=np.int64).reshape(-1, 2)
    return nodes, edges[:, 0], edges[:, 1]


def _neighbor_summaries(
    rows: np.ndarray, values: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row (node): neighbour count, mean and median of ``values`` (vectorized)."""
    counts = np.bincount(rows, minlength=n)
    sums = np.bincount(rows, weights=values, minlength=n)
    means = np.divide(sums, counts, out=np.zeros(n), where=counts > 0)
    order = np.lexsort((values, rows))  # sorted by row, then value
    sorted_values = values[order]
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    medians = np.zeros(n)
    has = counts > 0
    low = offsets[has] + (counts[has] - 1) // 2
    high = offsets[has] + counts[has] // 2
    medians[has] = (sorted_values[low] + sorted_values[high]) / 2
    return counts, means, medians


def paradox_indicators(
    G: nx.DiGraph,
    attribute: Attribute = "in_degree",
    neighbors: Side = "out",
    *,
    edge_filter: Callable[[Hashable, Hashable], bool] | None = None,
) -> dict[Hashable, tuple[bool, bool]]:
    """Per node with neighbours: (below neighbours' mean, below neighbours' median).

    Nodes without neighbours (after ``edge_filter``) are left out: they never count.
    """
    nodes, sources, targets = _edge_arrays(G)
    if edge_filter is not None and len(sources):
        keep = np.fromiter(
            (
                edge_filter(nodes[u], nodes[v])
                for u, v in zip(sources.tolist(), targets.tolist(), strict=True)
            ),
            dtype=bool,
            count=len(sources),
        )
        sources, targets = sources[keep], targets[keep]
    values = _values(G, attribute)
    own = np.array([values[node] for node in nodes], dtype=float)
    rows, cols = (sources, targets) if neighbors == "out" else (targets, sources)
    counts, means, medians = _neighbor_summaries(rows, own[cols], len(nodes))
    below_mean, below_median = own < means, own < medians
    return {nodes[i]: (bool(below_mean[i]), bool(below_median[i])) for i in np.nonzero(counts)[0]}


def individual_paradox(
    G: nx.DiGraph,
    attribute: Attribute = "in_degree",
    neighbors: Side = "out",
    *,
    edge_filter: Callable[[Hashable, Hashable], bool] | None = None,
) -> ParadoxResult:
    """Individual-level (generalized) friendship paradox [2]_ [3]_.

    Parameters
    ----------
    G : networkx.DiGraph
        ``u -> v``: u follows v.
    attribute : str or mapping
        ``"in_degree"``/``"followers"``, ``"out_degree"``/``"friends"``, a node
        attribute name (activity, influence, ...) or a mapping node -> value.
    neighbors : "out" or "in"
        Compare with friends (accounts followed) or with followers.
    edge_filter : callable, optional
        Keep only edges ``(u, v)`` for which it returns True (tie strength [4]_).

    Returns
    -------
    ParadoxResult
        Fractions over nodes that have at least one neighbour.

    Examples
    --------
    >>> star = nx.DiGraph([(i, 0) for i in range(1, 5)])
    >>> individual_paradox(star, "in_degree", "out").fraction_mean
    1.0
    """
    marks = paradox_indicators(G, attribute, neighbors, edge_filter=edge_filter)
    if not marks:
        return ParadoxResult(None, None, 0)
    below_mean = np.array([m[0] for m in marks.values()])
    below_median = np.array([m[1] for m in marks.values()])
    return ParadoxResult(float(below_mean.mean()), float(below_median.mean()), len(marks))


def four_variants(G: nx.DiGraph) -> dict[str, dict[str, Any]]:
    """The four directed variants of Hodas, Kooti & Lerman [2]_.

    Keys: ``friends_by_friend_count``, ``friends_by_follower_count``,
    ``followers_by_friend_count``, ``followers_by_follower_count``.
    """
    out = {}
    for side, side_name in (("out", "friends"), ("in", "followers")):
        for attribute, attribute_name in (
            ("out_degree", "friend_count"),
            ("in_degree", "follower_count"),
        ):
            result = individual_paradox(G, attribute, side)  # type: ignore[arg-type]
            out[f"{side_name}_by_{attribute_name}"] = result.as_dict()
    return out


def tie_strength_paradox(
    G: nx.DiGraph,
    weights: Mapping[tuple[Hashable, Hashable], float],
    attribute: Attribute = "in_degree",
) -> dict[str, dict[str, Any]]:
    """The paradox among frequent versus infrequent contacts (Bagrow et al. [4]_).

    ``weights`` counts interactions per follow edge; edges at or above the median
    weight (of edges with any weight) are *frequent*, the others *infrequent*.
    """
    values = [w for w in (weights.get(e, 0.0) for e in G.edges) if w > 0]
    threshold = float(np.median(values)) if values else float("inf")

    def frequent(u: Hashable, v: Hashable) -> bool:
        return weights.get((u, v), 0.0) >= threshold and weights.get((u, v), 0.0) > 0

    def infrequent(u: Hashable, v: Hashable) -> bool:
        return not frequent(u, v)

    return {
        "threshold": {"weight": threshold if values else None},
        "frequent": individual_paradox(G, attribute, "out", edge_filter=frequent).as_dict(),
        "infrequent": individual_paradox(G, attribute, "out", edge_filter=infrequent).as_dict(),
    }


def hierarchy(G: nx.DiGraph, attribute: Attribute) -> float | None:
    """Share of follow edges ``u -> v`` that point to an account with a higher value."""
    nodes, sources, targets = _edge_arrays(G)
    if not len(sources):
        return None
    values = _values(G, attribute)
    own = np.array([values[node] for node in nodes], dtype=float)
    return float(np.mean(own[targets] > own[sources]))


def assortativity(G: nx.DiGraph) -> dict[str, float | None]:
    """Degree assortativity of the four directed pairings (Newman [5]_).

    The Pearson correlation, over edges ``u -> v``, of u's x-degree with v's y-degree
    (as ``networkx.degree_assortativity_coefficient(G, x, y)``).
    """
    nodes, sources, targets = _edge_arrays(G)
    k = {
        "in": np.array([d for _, d in G.in_degree(nodes)], float),
        "out": np.array([d for _, d in G.out_degree(nodes)], float),
    }
    out: dict[str, float | None] = {}
    for x in ("in", "out"):
        for y in ("in", "out"):
            a, b = k[x][sources], k[y][targets]
            ok = len(a) > 1 and a.std() > 0 and b.std() > 0
            out[f"{x}_{y}"] = float(np.corrcoef(a, b)[0, 1]) if ok else None
    return out


def knn(G: nx.DiGraph) -> dict[int, float]:
    """k_nn(k): mean in-degree of the accounts followed by nodes of out-degree k."""
    nodes, sources, targets = _edge_arrays(G)
    if not len(sources):
        return {}
    k_in = np.array([d for _, d in G.in_degree(nodes)], float)
    counts, means, _ = _neighbor_summaries(sources, k_in[targets], len(nodes))
    has = counts > 0
    by_k_sum = np.bincount(counts[has], weights=means[has])
    by_k_n = np.bincount(counts[has])
    return {int(k): float(by_k_sum[k] / by_k_n[k]) for k in np.nonzero(by_k_n)[0]}


def rewire(G: nx.DiGraph, *, swaps_per_edge: float = 10.0, seed: int | None = None) -> nx.DiGraph:
    """A degree-preserving randomisation: directed edge swaps (a->b, c->d) -> (a->d, c->b).

    Every node keeps its in- and out-degree; swaps that would create a self-loop or a
    duplicate edge are skipped. Node attributes are kept.
    """
    rng = np.random.default_rng(seed)
    H = nx.DiGraph()
    H.add_nodes_from(G.nodes(data=True))
    edges = list(G.edges)
    if len(edges) < 2:
        H.add_edges_from(edges)
        return H
    present = set(edges)
    for i, j in rng.integers(0, len(edges), size=(int(swaps_per_edge * len(edges)), 2)).tolist():
        (a, b), (c, d) = edges[i], edges[j]
        if a == d or c == b or (a, d) in present or (c, b) in present or i == j:
            continue
        present.difference_update({(a, b), (c, d)})
        present.update({(a, d), (c, b)})
        edges[i], edges[j] = (a, d), (c, b)
    H.add_edges_from(edges)
    return H


def null_model(
    G: nx.DiGraph,
    statistics: Callable[[nx.DiGraph], Mapping[str, float | None]],
    *,
    samples: int = 20,
    seed: int = 0,
) -> dict[str, dict[str, float | None]]:
    """Observed value, null mean and SD, and z-score of each statistic under rewiring."""
    observed = statistics(G)
    draws: dict[str, list[float]] = {k: [] for k in observed}
    for s in range(samples):
        null = statistics(rewire(G, seed=seed + s))
        for key, value in null.items():
            if value is not None:
                draws[key].append(float(value))
    out: dict[str, dict[str, float | None]] = {}
    for key, value in observed.items():
        values = np.array(draws[key])
        mean = float(values.mean()) if len(values) else None
        sd = float(values.std(ddof=1)) if len(values) > 1 else None
        z = (value - mean) / sd if value is not None and mean is not None and sd else None
        out[key] = {"observed": value, "null_mean": mean, "null_sd": sd, "z": z}
    return out


def bootstrap_fraction(
    indicators: Mapping[Hashable, tuple[bool, bool]],
    *,
    index: int = 0,
    samples: int = 1000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """95% bootstrap interval of a paradox fraction, resampling nodes."""
    marks = np.array([m[index] for m in indicators.values()], dtype=float)
    if len(marks) == 0:
        return None
    rng = np.random.default_rng(seed)
    means = marks[rng.integers(0, len(marks), (samples, len(marks)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)
