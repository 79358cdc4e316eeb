"""Friendship-paradox statistics on graphs with known answers, and their properties."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.network import null, paradox
from engine.types import Event
from gamemaster.social_media.graphs import SocialGraphs, graphs_at


def star(leaves: int = 4) -> nx.DiGraph:
    """Every leaf follows the hub."""
    return nx.DiGraph([(i, 0) for i in range(1, leaves + 1)])


def test_directed_star_has_the_paradox_for_every_leaf() -> None:
    G = star(4)
    feld = paradox.feld_paradox(G, "in")
    assert (feld.mean_degree, feld.mean_neighbor_degree) == (0.8, 4.0)  # <k>=4/5, <k^2>/<k>=16/4
    # leaves follow the hub, who has 4 followers; each leaf has 0: all 4 leaves count
    result = paradox.individual_paradox(G, "in_degree", "out")
    assert (result.fraction_mean, result.fraction_median, result.nodes) == (1.0, 1.0, 4)
    # the hub follows nobody: it never counts as a node with friends
    assert 0 not in paradox.paradox_indicators(G, "in_degree", "out")
    # compared with followers: the hub's followers have 1 friend each, the hub 0 -> paradox
    followers = paradox.individual_paradox(G, "out_degree", "in")
    assert (followers.fraction_mean, followers.nodes) == (1.0, 1)


def test_regular_graph_has_no_paradox() -> None:
    G = nx.DiGraph(nx.circulant_graph(10, [1, 2]))  # every node: 4 in, 4 out
    for key, value in paradox.four_variants(G).items():
        assert value["fraction_mean"] == 0.0 and value["fraction_median"] == 0.0, key
    feld = paradox.feld_paradox(G, "out")
    assert feld.mean_degree == feld.mean_neighbor_degree == 4.0


def test_small_hand_computed_graph() -> None:
    # a->b, a->c, b->c, d->c : in-degrees a0 b1 c3 d0 ; out-degrees a2 b1 c0 d1
    G = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "c"), ("d", "c")])
    marks = paradox.paradox_indicators(G, "in_degree", "out")
    # a: friends b(1), c(3): mean 2 > 0, median 2 > 0 ; b: friend c(3) > 1 ; d: c(3) > 0
    assert marks == {"a": (True, True), "b": (True, True), "d": (True, True)}
    activity = {"a": 5.0, "b": 1.0, "c": 2.0, "d": 0.0}
    # a: mean(1, 2) = 1.5 < 5 -> no ; b: 2 > 1 -> yes ; d: 2 > 0 -> yes
    assert paradox.individual_paradox(G, activity, "out").fraction_mean == pytest.approx(2 / 3)
    assert paradox.hierarchy(G, "in_degree")["higher"] == 1.0
    # a->b lower, a->c lower, b->c higher, d->c higher
    assert paradox.hierarchy(G, activity) == {"higher": 0.5, "tied": 0.0, "lower": 0.5, "edges": 4}
    feld = paradox.feld_paradox(G, "in")
    assert feld.mean_degree == 1.0 and feld.mean_neighbor_degree == pytest.approx((1 + 9) / 4)


def test_tie_strength_splits_each_egos_contacts_by_rank_not_by_a_global_median() -> None:
    # interactions (integers): a -> p 3, q 1, r 1 ; b -> p 2, s 2 ; c -> s 1 ; d -> q 1, r 0
    G = nx.DiGraph(
        [
            ("a", "p"),
            ("a", "q"),
            ("a", "r"),
            ("b", "p"),
            ("b", "s"),
            ("c", "s"),
            ("d", "q"),
            ("d", "r"),
        ]
    )
    weights = {
        ("a", "p"): 3,
        ("a", "q"): 1,
        ("a", "r"): 1,
        ("b", "p"): 2,
        ("b", "s"): 2,
        ("c", "s"): 1,
        ("d", "q"): 1,
    }
    arcs = paradox.Arcs.of(G)
    w = np.array([float(weights.get(e, 0)) for e in G.edges])
    strata = dict(zip(G.edges, paradox.contact_strata(arcs, w).tolist(), strict=True))
    # by hand, rank percentile (mid-rank - 0.5) / contacts: a: p 1/6 strong, q and r tie at
    # mid-rank 2.5 -> 2/3 weak; b: p and s tie at 1.5 -> 1/2 neither; c: one contact -> 1/2
    # neither; d: q 1/4 strong, r 3/4 weak
    assert strata == {
        ("a", "p"): 1,
        ("a", "q"): -1,
        ("a", "r"): -1,
        ("b", "p"): 0,
        ("b", "s"): 0,
        ("c", "s"): 0,
        ("d", "q"): 1,
        ("d", "r"): -1,
    }
    # a global median of the positive weights (1, 1, 1, 1, 2, 2, 3 -> 1) would call every
    # interacted contact frequent, a -> q and a -> r included
    result = paradox.tie_strength_paradox(G, weights, "in_degree")
    assert result["strong"]["nodes"] == 2 and result["weak"]["nodes"] == 2  # egos a and d


def test_hierarchy_reports_higher_tied_and_lower_shares() -> None:
    G = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "c"), ("d", "c"), ("c", "e")])
    activity = {"a": 2.0, "b": 2.0, "c": 5.0, "d": 0.0, "e": 0.0}
    # a->b tied (2, 2), a->c higher, b->c higher, d->c higher, c->e lower
    assert paradox.hierarchy(G, activity) == {"higher": 0.6, "tied": 0.2, "lower": 0.2, "edges": 5}
    quiet = dict.fromkeys(G, 0.0)  # nobody active: all tied, not "0% higher" read as anti-hierarchy
    assert paradox.hierarchy(G, quiet) == {"higher": 0.0, "tied": 1.0, "lower": 0.0, "edges": 5}


def test_network_level_generalized_paradox_on_five_nodes() -> None:
    # follows: a->c, b->c, d->c, c->e, a->e ; in-degrees a0 b0 c3 d0 e2 (sum 5)
    G = nx.DiGraph([("a", "c"), ("b", "c"), ("d", "c"), ("c", "e"), ("a", "e")])
    x = {"a": 1.0, "b": 2.0, "c": 6.0, "d": 1.0, "e": 5.0}
    result = paradox.generalized_paradox(G, x)
    # <x> = 15/5 = 3 ; <k x>/<k> = (3*6 + 2*5) / 5 = 28/5 = 5.6 ; ratio 5.6/3
    assert result["mean_x"] == pytest.approx(3.0)
    assert result["mean_neighbor_x"] == pytest.approx(5.6)
    assert result["ratio"] == pytest.approx(5.6 / 3)
    k = np.array([0, 0, 3, 0, 2.0])
    assert result["rho_kx"] == pytest.approx(np.corrcoef(k, [1, 2, 6, 1, 5])[0, 1])
    # h(k, x): nodes with friends a (k 2, x 1: friends c 6, e 5 -> mean 5.5 > 1), b (k 1,
    # x 2: c 6 > 2), d (k 1, x 1: 6 > 1), c (k 1, x 6: e 5 < 6): h = 1 except for c
    cells = {
        (tuple(r["k"]), tuple(r["x"])): (r["nodes"], r["h"]) for r in paradox.paradox_map(G, x)
    }
    assert cells == {
        ((1.0, 1.0), (1.0, 1.0)): (1, 1.0),
        ((1.0, 1.0), (2.0, 2.0)): (1, 1.0),
        ((1.0, 1.0), (6.0, 6.0)): (1, 0.0),
        ((2.0, 2.0), (1.0, 1.0)): (1, 1.0),
    }


def test_null_model_moves_edges_and_keeps_every_degree() -> None:
    G = nx.DiGraph(nx.scale_free_graph(300, seed=3))
    G.remove_edges_from(nx.selfloop_edges(G))
    G = nx.DiGraph(G)
    arcs = paradox.Arcs.of(G)
    before = set(zip(arcs.sources.tolist(), arcs.targets.tolist(), strict=True))
    rng = np.random.default_rng(0)
    for _ in range(5):
        H = null.rewired(arcs, rng)
        after = set(zip(H.sources.tolist(), H.targets.tolist(), strict=True))
        assert len(after) == len(before)  # no repeated edge
        assert all(u != v for u, v in after)  # no self-loop
        assert len(before - after) > 0.5 * len(before)  # most edges moved
        assert (H.in_degree() == arcs.in_degree()).all() and (
            H.out_degree() == arcs.out_degree()
        ).all()


def pyramid() -> nx.DiGraph:
    """96, 48, 12 and 2 accounts in four levels, and a hub everyone follows.

    Each account follows two accounts one level up (the top level: two a level down), so
    in-degrees grow upwards (0, 4, about 8, 12) and the hub has 158. Everyone follows the
    hub, whose 158 followers are all the other accounts: every rewiring keeps that, so
    the mean paradox (one friend is the hub) holds for every account in every rewiring.
    The median of {two friends, hub} is the higher of the two friends: above one's own
    count for all but the 2 top accounts here, far less often in rewired graphs.
    """
    sizes = [96, 48, 12, 2]
    G = nx.DiGraph()
    for level, size in enumerate(sizes):
        other = level + 1 if level + 1 < len(sizes) else level - 1
        for i in range(size):
            G.add_edge((level, i), "hub")
            for k in range(2):
                G.add_edge((level, i), (other, (2 * i + k) % sizes[other]))
    return G


def test_the_median_paradox_needs_the_null_model_and_the_mean_does_not() -> None:
    """Kooti, Hodas & Lerman (2014): the mean paradox survives degree-preserving rewiring."""
    G = pyramid()
    arcs = paradox.Arcs.of(G)
    k_in = paradox.NodeValues.of(arcs.in_degree())

    def statistic(H: paradox.Arcs) -> dict[str, float | None]:
        result = paradox.fractions(H, k_in)
        return {"mean": result.fraction_mean, "median": result.fraction_median}

    result = null.null_model(arcs, statistic, samples=1000, rng=np.random.default_rng(7))
    assert result["mean"]["observed"] == 1.0 and result["median"]["observed"] == pytest.approx(
        156 / 158
    )
    assert result["mean"]["null_mean"] == 1.0 and result["mean"]["p_greater"] == 1.0
    assert result["median"]["band"][1] < 0.9 and result["median"]["p_greater"] <= 0.002
    assert result["median"]["samples"] == 1000


def test_the_cluster_bootstrap_widens_intervals_for_correlated_flags() -> None:
    # 20 stars (5 leaves follow a hub: every leaf has the paradox) and 20 cliques of 5 (all
    # follow all: nobody has it). Flags are equal within each neighbourhood, so there are 40
    # independent units of evidence, not 200: intervals must be about sqrt(5) times wider.
    G = nx.DiGraph([((s, i), (s, "hub")) for s in range(20) for i in range(5)])
    G.add_edges_from(
        ((c, "k", i), (c, "k", j)) for c in range(20) for i in range(5) for j in range(5) if i != j
    )
    arcs = paradox.Arcs.of(G)
    k_in = paradox.NodeValues.of(arcs.in_degree())
    has, below_mean, _ = paradox.indicators(arcs, k_in)
    assert below_mean.sum() / has.sum() == 0.5  # 100 leaves of 200 accounts with friends
    rng = np.random.default_rng(3)
    cluster = null.neighbourhoods(arcs, rng)
    assert int(cluster.max()) + 1 == 40  # each hub with its leaves, each clique
    share = (below_mean.astype(float), has.astype(float))
    clustered = null.cluster_bootstrap({"f": (*share, cluster)}, 40, rng=rng)["f"]
    iid = null.cluster_bootstrap({"f": (*share, np.arange(arcs.n))}, arcs.n, rng=rng)["f"]
    assert clustered is not None and iid is not None
    assert clustered[0] <= 0.5 <= clustered[1]
    assert clustered[1] - clustered[0] > 1.8 * (iid[1] - iid[0])


edges = st.lists(st.tuples(st.integers(0, 14), st.integers(0, 14)), max_size=60)


@settings(max_examples=150, deadline=None)
@given(edges)
def test_feld_inequality_holds_on_every_graph(edge_list: list[tuple[int, int]]) -> None:
    G = nx.DiGraph([(u, v) for u, v in edge_list if u != v])
    for kind in ("in", "out"):
        feld = paradox.feld_paradox(G, kind)  # type: ignore[arg-type]
        assert feld.mean_neighbor_degree >= feld.mean_degree - 1e-12


@settings(max_examples=100, deadline=None)
@given(edges, st.integers(0, 1000))
def test_rewiring_preserves_every_degree(edge_list: list[tuple[int, int]], seed: int) -> None:
    G = nx.DiGraph([(u, v) for u, v in edge_list if u != v])
    arcs = paradox.Arcs.of(G)
    H = null.rewired(arcs, np.random.default_rng(seed))
    assert (H.in_degree() == arcs.in_degree()).all() and (H.out_degree() == arcs.out_degree()).all()
    pairs = list(zip(H.sources.tolist(), H.targets.tolist(), strict=True))
    assert all(u != v for u, v in pairs) and len(set(pairs)) == len(pairs)


@settings(max_examples=100, deadline=None)
@given(edges, st.sampled_from(["in", "out"]), st.sampled_from(["in_degree", "out_degree"]))
def test_nodes_without_neighbours_never_count(
    edge_list: list[tuple[int, int]], side: str, attribute: str
) -> None:
    G = nx.DiGraph([(u, v) for u, v in edge_list if u != v])
    G.add_nodes_from(range(20, 25))  # isolated nodes
    marks = paradox.paradox_indicators(G, attribute, side)  # type: ignore[arg-type]
    for node in marks:
        neighbours = G.successors(node) if side == "out" else G.predecessors(node)
        assert list(neighbours)
    assert not set(range(20, 25)) & set(marks)
    assert paradox.individual_paradox(G, attribute, side).nodes == len(marks)  # type: ignore[arg-type]


def test_graphs_from_events_follow_unfollow_and_time() -> None:
    events = [
        Event(10.0, "follow", "a", "b"),
        Event(20.0, "post", "b", None, {"post_id": 0, "text": "hi"}),
        Event(30.0, "like", "a", "b", {"post_id": 0}),
        Event(40.0, "follow", "c", "b"),
        Event(50.0, "unfollow", "a", "b"),
    ]
    at_35 = graphs_at(events, 35.0)
    assert list(at_35.follow.edges) == [("a", "b")] and at_35.influence_of()["b"] == 1
    final: SocialGraphs = graphs_at(events)
    assert list(final.follow.edges) == [("c", "b")]
    assert final.interactions["a"]["b"]["weight"] == 1
    assert final.follow["c"]["b"]["created"] == 40.0


def test_vectorized_assortativity_and_knn_match_networkx() -> None:
    G = nx.DiGraph(nx.gnp_random_graph(120, 0.05, seed=4, directed=True))
    ours = paradox.assortativity(G)
    for x in ("in", "out"):
        for y in ("in", "out"):
            assert ours[f"{x}_{y}"] == pytest.approx(
                nx.degree_assortativity_coefficient(G, x=x, y=y)
            )
    reference = nx.average_degree_connectivity(G, source="out", target="in")
    assert paradox.knn(G) == pytest.approx({int(k): v for k, v in reference.items() if k > 0})
