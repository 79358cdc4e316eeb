"""Friendship-paradox statistics on graphs with known answers, and their properties."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.network import paradox
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
    assert paradox.hierarchy(G, "in_degree") == 1.0
    assert paradox.hierarchy(G, activity) == pytest.approx(
        2 / 4
    )  # a->b no, a->c no, b->c yes, d->c yes
    feld = paradox.feld_paradox(G, "in")
    assert feld.mean_degree == 1.0 and feld.mean_neighbor_degree == pytest.approx((1 + 9) / 4)


def test_tie_strength_splits_by_interaction_weight() -> None:
    G = nx.DiGraph([("a", "hub"), ("a", "x"), ("b", "hub"), ("c", "x")])
    weights = {("a", "hub"): 5.0, ("b", "hub"): 4.0, ("a", "x"): 1.0, ("c", "x"): 1.0}
    result = paradox.tie_strength_paradox(G, weights)
    assert result["threshold"]["weight"] == 2.5
    assert result["frequent"]["nodes"] == 2 and result["infrequent"]["nodes"] == 2


def test_null_model_z_scores_and_bootstrap_interval() -> None:
    G = nx.DiGraph(nx.scale_free_graph(200, seed=3))
    G.remove_edges_from(nx.selfloop_edges(G))
    G = nx.DiGraph(G)

    def fraction(H: nx.DiGraph) -> dict[str, float | None]:
        return {"f": paradox.individual_paradox(H, "in_degree", "out").fraction_mean}

    result = paradox.null_model(G, fraction, samples=10, seed=1)["f"]
    assert result["null_sd"] is not None and result["z"] is not None
    low, high = paradox.bootstrap_fraction(
        paradox.paradox_indicators(G, "in_degree", "out"), samples=300
    )  # type: ignore[misc]
    observed = result["observed"]
    assert low <= observed <= high  # type: ignore[operator]


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
    H = paradox.rewire(G, seed=seed)
    assert dict(H.in_degree()) == dict(G.in_degree())
    assert dict(H.out_degree()) == dict(G.out_degree())
    assert nx.number_of_selfloops(H) == 0


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
