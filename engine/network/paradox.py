"""Friendship-paradox statistics of directed graphs, networkx style (``G`` first).

Conventions for a follow graph: an edge ``u -> v`` means u follows v. u's *friends*
are its out-neighbours (accounts it follows), its *followers* its in-neighbours; its
friend count is its out-degree and its follower count its in-degree.

Every statistic has an array form (on :class:`Arcs`) that the null model and the
bootstrap reuse, so each formula exists once.

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
.. [6] F. Kooti, N. O. Hodas, K. Lerman, "Network weirdness: exploring the origins of
   network paradoxes", ICWSM 2014.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any, Literal

import networkx as nx
import numpy as np

Side = Literal["out", "in"]
Attribute = str | Mapping[Any, float]


@dataclass(frozen=True)
class Arcs:
    """A directed graph as arrays: node labels and edge index arrays (source, target)."""

    nodes: list[Hashable]
    sources: np.ndarray
    targets: np.ndarray

    @classmethod
    def of(cls, G: nx.DiGraph) -> Arcs:
        """The arcs of ``G`` (nodes in ``G``'s order)."""
        nodes = list(G)
        index = {node: i for i, node in enumerate(nodes)}
        pairs = np.array([(index[u], index[v]) for u, v in G.edges], dtype=np.int64).reshape(-1, 2)
        return cls(nodes, pairs[:, 0].copy(), pairs[:, 1].copy())

    @property
    def n(self) -> int:
        """Number of nodes."""
        return len(self.nodes)

    def in_degree(self) -> np.ndarray:
        """Followers per node."""
        return np.bincount(self.targets, minlength=self.n).astype(float)

    def out_degree(self) -> np.ndarray:
        """Accounts followed per node."""
        return np.bincount(self.sources, minlength=self.n).astype(float)

    def values(self, attribute: Attribute) -> np.ndarray:
        """Per-node values of ``attribute`` (a degree name or a mapping node -> value)."""
        if isinstance(attribute, str):
            if attribute in ("in_degree", "followers"):
                return self.in_degree()
            if attribute in ("out_degree", "friends"):
                return self.out_degree()
            raise ValueError(f"attribute {attribute!r}: use in_degree, out_degree or a mapping")
        return np.array([float(attribute.get(node, 0.0)) for node in self.nodes])


@dataclass(frozen=True, slots=True)
class FeldResult:
    """Network-level paradox: the mean degree against a random edge's endpoint degree.

    ``mean_neighbor_degree`` is ``<k^2>/<k>``, never less than the mean (Feld's
    inequality): for in-degree, the mean follower count of the account at the end of a
    random follow; for out-degree, the mean following count of the account at its start.
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


# -- the array core ---------------------------------------------------------------------
@dataclass(frozen=True)
class NodeValues:
    """Per-node values with their dense ranks, so that per-neighbour medians sort integers.

    Computed once per attribute; a null model's thousand rewired graphs reuse it.
    """

    values: np.ndarray
    unique: np.ndarray
    rank: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray | NodeValues) -> NodeValues:
        """Rank ``values`` (or pass an existing ``NodeValues`` through)."""
        if isinstance(values, NodeValues):
            return values
        values = np.asarray(values, dtype=float)
        unique, rank = np.unique(values, return_inverse=True)
        return cls(values, unique, rank.astype(np.int64))


def neighbor_summaries(
    rows: np.ndarray, cols: np.ndarray, own: np.ndarray | NodeValues, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row node: neighbour count, mean and median of the neighbours' values.

    ``rows[e]`` is the node whose neighbour ``cols[e]`` is; the median of each group is
    read from one sort of integer keys ``row * R + rank(value)`` (vectorized).
    """
    node = NodeValues.of(own)
    counts = np.bincount(rows, minlength=n)
    sums = np.bincount(rows, weights=node.values[cols], minlength=n)
    means = np.divide(sums, counts, out=np.zeros(n), where=counts > 0)
    size = len(node.unique) + 1
    keys = np.sort(rows * size + node.rank[cols])
    sorted_values = node.unique[keys % size]
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    medians = np.zeros(n)
    has = counts > 0
    low = offsets[has] + (counts[has] - 1) // 2
    high = offsets[has] + counts[has] // 2
    medians[has] = (sorted_values[low] + sorted_values[high]) / 2
    return counts, means, medians


def indicators(
    arcs: Arcs,
    own: np.ndarray | NodeValues,
    neighbors: Side = "out",
    keep: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per node: (has neighbours, below their mean, below their median) as boolean arrays."""
    node = NodeValues.of(own)
    sources, targets = arcs.sources, arcs.targets
    if keep is not None:
        sources, targets = sources[keep], targets[keep]
    rows, cols = (sources, targets) if neighbors == "out" else (targets, sources)
    counts, means, medians = neighbor_summaries(rows, cols, node, arcs.n)
    has = counts > 0
    return has, has & (node.values < means), has & (node.values < medians)


def fractions(
    arcs: Arcs,
    own: np.ndarray | NodeValues,
    neighbors: Side = "out",
    keep: np.ndarray | None = None,
) -> ParadoxResult:
    """Mean and median paradox fractions from arrays (see :func:`individual_paradox`)."""
    has, below_mean, below_median = indicators(arcs, own, neighbors, keep)
    count = int(has.sum())
    if count == 0:
        return ParadoxResult(None, None, 0)
    return ParadoxResult(float(below_mean.sum() / count), float(below_median.sum() / count), count)


# -- node-level paradoxes ---------------------------------------------------------------
def paradox_indicators(
    G: nx.DiGraph, attribute: Attribute = "in_degree", neighbors: Side = "out"
) -> dict[Hashable, tuple[bool, bool]]:
    """Per node with neighbours: (below neighbours' mean, below neighbours' median).

    Nodes without neighbours are left out: they never count.
    """
    arcs = Arcs.of(G)
    has, below_mean, below_median = indicators(arcs, arcs.values(attribute), neighbors)
    return {arcs.nodes[i]: (bool(below_mean[i]), bool(below_median[i])) for i in np.nonzero(has)[0]}


def individual_paradox(
    G: nx.DiGraph, attribute: Attribute = "in_degree", neighbors: Side = "out"
) -> ParadoxResult:
    """Individual-level (generalized) friendship paradox [2]_ [3]_.

    Parameters
    ----------
    G : networkx.DiGraph
        ``u -> v``: u follows v.
    attribute : str or mapping
        ``"in_degree"``/``"followers"``, ``"out_degree"``/``"friends"``, or a mapping
        node -> value (activity, influence, ...).
    neighbors : "out" or "in"
        Compare with friends (accounts followed) or with followers.

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
    arcs = Arcs.of(G)
    return fractions(arcs, arcs.values(attribute), neighbors)


def four_variants(G: nx.DiGraph) -> dict[str, dict[str, Any]]:
    """The four directed variants of Hodas, Kooti & Lerman [2]_.

    Keys: ``friends_by_friend_count``, ``friends_by_follower_count``,
    ``followers_by_friend_count``, ``followers_by_follower_count``.
    """
    arcs = Arcs.of(G)
    out = {}
    for side, side_name in (("out", "friends"), ("in", "followers")):
        for values, attribute_name in (
            (arcs.out_degree(), "friend_count"),
            (arcs.in_degree(), "follower_count"),
        ):
            result = fractions(arcs, values, side)  # type: ignore[arg-type]
            out[f"{side_name}_by_{attribute_name}"] = result.as_dict()
    return out


def contact_strata(arcs: Arcs, weights: np.ndarray) -> np.ndarray:
    """Per edge: 1 strong, -1 weak, 0 at the middle, by rank among the ego's contacts [4]_.

    Each ego's followees are ranked by contact volume (``weights``, e.g. interactions
    u -> v), highest first; tied volumes share their average rank. With ``m`` followees,
    rank percentile ``(rank - 0.5) / m`` below 0.5 is strong and above 0.5 weak; a
    followee exactly at the middle (every tied one when all volumes are equal, the only
    one when m = 1) is in neither stratum. Ranks are per ego, so an ego whose contacts
    all have 1 or 2 interactions still splits them, where a global median would not.
    """
    m = len(weights)
    if m == 0:
        return np.zeros(0, dtype=np.int8)
    order = np.lexsort((-weights, arcs.sources))  # by ego, heaviest first
    ego, w = arcs.sources[order], weights[order]
    start = np.r_[True, (ego[1:] != ego[:-1]) | (w[1:] != w[:-1])]  # new (ego, weight) run
    run_id = np.cumsum(start) - 1
    first = np.nonzero(start)[0]
    run_length = np.diff(np.r_[first, m])
    ego_start = np.r_[True, ego[1:] != ego[:-1]]
    ego_first = np.maximum.accumulate(np.where(ego_start, np.arange(m), 0))
    position = first[run_id] - ego_first  # 0-based position of the run within the ego
    mid_rank = position + (run_length[run_id] + 1) / 2  # 1-based average rank of ties
    count = np.bincount(arcs.sources, minlength=arcs.n)[ego]
    percentile = (mid_rank - 0.5) / count
    strata = np.zeros(m, dtype=np.int8)
    strata[order] = np.where(np.isclose(percentile, 0.5), 0, np.where(percentile < 0.5, 1, -1))
    return strata


def tie_strength_paradox(
    G: nx.DiGraph,
    weights: Mapping[tuple[Hashable, Hashable], float],
    attribute: Attribute = "in_degree",
) -> dict[str, dict[str, Any]]:
    """The paradox among strong versus weak contacts, split per ego by rank [4]_.

    Bagrow, Danforth & Mitchell rank each user's contacts by contact volume; here the
    follow edges of each ego are split into its top and bottom half by interaction count
    (:func:`contact_strata`) and the individual-level paradox is computed over each half.
    """
    arcs = Arcs.of(G)
    w = np.array([float(weights.get((u, v), 0.0)) for u, v in G.edges], dtype=float)
    strata = contact_strata(arcs, w)
    own = arcs.values(attribute)
    return {
        "method": {"split": "per-ego rank of contact volume, top half vs bottom half"},
        "strong": fractions(arcs, own, "out", strata == 1).as_dict(),
        "weak": fractions(arcs, own, "out", strata == -1).as_dict(),
    }


# -- network-level generalized paradox --------------------------------------------------
def generalized_paradox(
    G: nx.DiGraph, attribute: Attribute, degree: Side = "in"
) -> dict[str, float | None]:
    """Network-level generalized friendship paradox of Eom & Jo [3]_.

    The attribute of the account at a random edge's end, ``<x>_nn = <k x> / <k>``
    (k: in-degree, the number of follows that reach the account), against the mean
    ``<x>``: ``<x>_nn > <x>`` exactly when k and x are positively correlated, since
    ``<x>_nn - <x> = rho_kx * sigma_k * sigma_x / <k>``. Returns both means, their
    ratio and ``rho_kx`` (Pearson).

    Examples
    --------
    >>> G = nx.DiGraph([(1, 0), (2, 0), (0, 1)])
    >>> generalized_paradox(G, {0: 3.0, 1: 1.0, 2: 2.0})["mean_neighbor_x"]
    2.3333333333333335
    """
    arcs = Arcs.of(G)
    k = arcs.in_degree() if degree == "in" else arcs.out_degree()
    x = arcs.values(attribute)
    if arcs.n == 0 or k.sum() == 0:
        return {"mean_x": None, "mean_neighbor_x": None, "ratio": None, "rho_kx": None}
    mean_x = float(x.mean())
    neighbor = float((k * x).sum() / k.sum())
    rho = float(np.corrcoef(k, x)[0, 1]) if k.std() > 0 and x.std() > 0 else None
    return {
        "mean_x": mean_x,
        "mean_neighbor_x": neighbor,
        "ratio": neighbor / mean_x if mean_x else None,
        "rho_kx": rho,
    }


def paradox_map(G: nx.DiGraph, attribute: Attribute, *, bins: int = 5) -> list[dict[str, Any]]:
    """h(k, x): the share of nodes with the paradox for ``attribute``, by k and x [3]_.

    Eom & Jo's h(k, x) over nodes with at least one friend: k is the out-degree (friends
    compared with), x the node's own attribute value. Exact values are used when each has
    at most ``bins`` distinct values, else quantile bins; each row gives the bin bounds,
    the number of nodes and ``h`` (the share below their friends' mean).
    """
    arcs = Arcs.of(G)
    own = arcs.values(attribute)
    has, below_mean, _ = indicators(arcs, own, "out")
    k, x, flags = arcs.out_degree()[has], own[has], below_mean[has]
    if not len(k):
        return []

    def binned(values: np.ndarray) -> tuple[np.ndarray, list[tuple[float, float]]]:
        distinct = np.unique(values)
        if len(distinct) <= bins:
            return np.searchsorted(distinct, values), [(float(v), float(v)) for v in distinct]
        edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))
        index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
        return index, [(float(a), float(b)) for a, b in pairwise(edges)]

    k_bin, k_bounds = binned(k)
    x_bin, x_bounds = binned(x)
    rows = []
    for i, (k_low, k_high) in enumerate(k_bounds):
        for j, (x_low, x_high) in enumerate(x_bounds):
            cell = (k_bin == i) & (x_bin == j)
            if cell.any():
                rows.append(
                    {
                        "k": [k_low, k_high],
                        "x": [x_low, x_high],
                        "nodes": int(cell.sum()),
                        "h": float(flags[cell].mean()),
                    }
                )
    return rows


# -- edge-level structure ---------------------------------------------------------------
def hierarchy_shares(arcs: Arcs, values: np.ndarray) -> dict[str, float | int | None]:
    """Shares of edges pointing to a higher, equal or lower value (array form)."""
    m = len(arcs.sources)
    if m == 0:
        return {"higher": None, "tied": None, "lower": None, "edges": 0}
    source, target = values[arcs.sources], values[arcs.targets]
    return {
        "higher": float(np.mean(target > source)),
        "tied": float(np.mean(target == source)),
        "lower": float(np.mean(target < source)),
        "edges": m,
    }


def hierarchy(G: nx.DiGraph, attribute: Attribute) -> dict[str, float | int | None]:
    """Shares of follow edges ``u -> v`` towards a higher, equal or lower value.

    The hierarchy of Orlando et al. (WebSci 2025) and of Hodas et al. [2]_: do users
    follow accounts more active, influential or followed than themselves? Ties (e.g. two
    accounts without activity) are reported apart, not counted as "not higher".
    """
    arcs = Arcs.of(G)
    return hierarchy_shares(arcs, arcs.values(attribute))


def assortativity(G: nx.DiGraph) -> dict[str, float | None]:
    """Degree assortativity of the four directed pairings (Newman [5]_).

    The Pearson correlation, over edges ``u -> v``, of u's x-degree with v's y-degree
    (as ``networkx.degree_assortativity_coefficient(G, x, y)``).
    """
    arcs = Arcs.of(G)
    k = {"in": arcs.in_degree(), "out": arcs.out_degree()}
    out: dict[str, float | None] = {}
    for x in ("in", "out"):
        for y in ("in", "out"):
            a, b = k[x][arcs.sources], k[y][arcs.targets]
            ok = len(a) > 1 and a.std() > 0 and b.std() > 0
            out[f"{x}_{y}"] = float(np.corrcoef(a, b)[0, 1]) if ok else None
    return out


def knn(G: nx.DiGraph) -> dict[int, float]:
    """k_nn(k): mean in-degree of the accounts followed by nodes of out-degree k."""
    arcs = Arcs.of(G)
    if not len(arcs.sources):
        return {}
    counts, means, _ = neighbor_summaries(arcs.sources, arcs.targets, arcs.in_degree(), arcs.n)
    has = counts > 0
    by_k_sum = np.bincount(counts[has], weights=means[has])
    by_k_n = np.bincount(counts[has])
    return {int(k): float(by_k_sum[k] / by_k_n[k]) for k in np.nonzero(by_k_n)[0]}
