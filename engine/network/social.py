"""Social-media graphs built incrementally from events, and their statistics per snapshot.

The follow graph (``u -> v``: u follows v, edge attribute ``created``) and the
interaction graph (``u -> v`` weighted by u's likes, dislikes, reposts and replies of
v's posts) are fed event by event; every ``snapshot_every`` of simulated time the
statistics of :mod:`engine.network.paradox` are taken, so their evolution can be
plotted. Activity is content created (posts, replies, reposts) per simulated day;
influence is likes and reposts received. The analysis follows Orlando, La Gatta, Russo
& Moscato (WebSci 2025), "Can Generative Agent-Based Modeling Replicate the Friendship
Paradox in Social Media Simulations?".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx

from engine.network import paradox
from engine.types import Event

CONTENT = ("post", "reply", "repost")
INTERACTIONS = ("like", "dislike", "repost", "reply")
DAY = 86400.0


class SocialGraphs:
    """Follow and interaction graphs plus activity and influence counts, fed by events."""

    def __init__(self, agents: Iterable[str] = ()) -> None:
        self.follow = nx.DiGraph()
        self.interactions = nx.DiGraph()
        self.follow.add_nodes_from(agents)
        self.interactions.add_nodes_from(agents)
        self.content: dict[str, int] = defaultdict(int)
        self.influence: dict[str, float] = defaultdict(float)

    def apply(self, event: Event) -> None:
        """Update the graphs with one event."""
        actor, target, kind = event.actor, event.target, event.kind
        if actor is None:
            return
        self.follow.add_node(actor)
        if kind in CONTENT:
            self.content[actor] += 1
        if target is None or target == actor:
            return
        if kind == "follow":
            self.follow.add_edge(actor, target, created=event.t)
        elif kind == "unfollow" and self.follow.has_edge(actor, target):
            self.follow.remove_edge(actor, target)
        elif kind in INTERACTIONS:
            weight = self.interactions.get_edge_data(actor, target, {"weight": 0})["weight"]
            self.interactions.add_edge(actor, target, weight=weight + 1)
            if kind in ("like", "repost"):
                self.influence[target] += 1

    def activity(self, elapsed: float) -> dict[str, float]:
        """Content created per simulated day, per node."""
        days = max(elapsed / DAY, 1e-9)
        return {n: self.content.get(n, 0) / days for n in self.follow}

    def influence_of(self) -> dict[str, float]:
        """Likes and reposts received, per node."""
        return {n: self.influence.get(n, 0.0) for n in self.follow}


def graphs_at(
    events: Iterable[Event], t: float | None = None, agents: Iterable[str] = ()
) -> SocialGraphs:
    """The graphs as they stood at simulated time ``t`` (None: after every event)."""
    graphs = SocialGraphs(agents)
    for event in events:
        if t is not None and event.t > t:
            break
        graphs.apply(event)
    return graphs


def statistics(
    graphs: SocialGraphs,
    elapsed: float,
    *,
    null_samples: int = 0,
    bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """All friendship-paradox statistics of one snapshot."""
    G = graphs.follow
    activity, influence = graphs.activity(elapsed), graphs.influence_of()
    weights = {(u, v): float(d["weight"]) for u, v, d in graphs.interactions.edges(data=True)}
    stats: dict[str, Any] = {
        "nodes": G.number_of_nodes(),
        "follow_edges": G.number_of_edges(),
        "interaction_edges": graphs.interactions.number_of_edges(),
        "feld_in": paradox.feld_paradox(G, "in").as_dict(),
        "feld_out": paradox.feld_paradox(G, "out").as_dict(),
        "individual": paradox.four_variants(G),
        "activity": paradox.individual_paradox(G, activity, "out").as_dict(),
        "influence": paradox.individual_paradox(G, influence, "out").as_dict(),
        "tie_strength": paradox.tie_strength_paradox(G, weights),
        "hierarchy": {
            "to_more_active": paradox.hierarchy(G, activity),
            "to_more_influential": paradox.hierarchy(G, influence),
            "to_more_followed": paradox.hierarchy(G, "in_degree"),
        },
        "assortativity": paradox.assortativity(G),
        "knn": paradox.knn(G),
    }
    if bootstrap:
        stats["bootstrap_95"] = {
            "friends_by_follower_count": paradox.bootstrap_fraction(
                paradox.paradox_indicators(G, "in_degree", "out"), samples=bootstrap, seed=seed
            ),
            "activity": paradox.bootstrap_fraction(
                paradox.paradox_indicators(G, activity, "out"), samples=bootstrap, seed=seed
            ),
        }
    if null_samples:

        def fractions(H: nx.DiGraph) -> dict[str, float | None]:
            return {
                "friends_by_follower_count": paradox.individual_paradox(
                    H, "in_degree", "out"
                ).fraction_mean,
                "friends_by_friend_count": paradox.individual_paradox(
                    H, "out_degree", "out"
                ).fraction_mean,
                "activity": paradox.individual_paradox(H, activity, "out").fraction_mean,
                "influence": paradox.individual_paradox(H, influence, "out").fraction_mean,
            }

        stats["null_model"] = paradox.null_model(G, fractions, samples=null_samples, seed=seed)
    return stats


def run_statistics(
    events: Sequence[Event], section: Mapping[str, Any], agents: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Statistics at every snapshot and, with null model and bootstrap, at the end."""
    every = float(section.get("snapshot_every", 6 * 3600.0))
    start = events[0].t if events else 0.0
    end = events[-1].t if events else 0.0
    graphs = SocialGraphs(agents)
    snapshots = []
    next_snapshot = start + every
    for event in events:
        while event.t > next_snapshot:
            snapshots.append({"t": next_snapshot, **statistics(graphs, next_snapshot - start)})
            next_snapshot += every
        graphs.apply(event)
    final = statistics(
        graphs,
        max(end - start, 1.0),
        null_samples=int(section.get("null_samples", 20)),
        bootstrap=int(section.get("bootstrap_samples", 500)),
    )
    snapshots.append(
        {"t": end, **{k: v for k, v in final.items() if k not in ("null_model", "bootstrap_95")}}
    )
    individual = final["individual"]
    return {
        "game": "social_media",
        "final": final,
        "snapshots": snapshots,
        "summary_table": {
            "columns": ["statistic", "fraction (mean)", "fraction (median)", "nodes", "null z"],
            "rows": [
                [
                    "friends_by_follower_count",
                    *_row(individual["friends_by_follower_count"]),
                    _z(final, "friends_by_follower_count"),
                ],
                [
                    "friends_by_friend_count",
                    *_row(individual["friends_by_friend_count"]),
                    _z(final, "friends_by_friend_count"),
                ],
                ["activity", *_row(final["activity"]), _z(final, "activity")],
                ["influence", *_row(final["influence"]), _z(final, "influence")],
            ],
        },
    }


def _row(result: Mapping[str, Any]) -> list[Any]:
    return [result["fraction_mean"], result["fraction_median"], result["nodes"]]


def _z(final: Mapping[str, Any], key: str) -> float | None:
    entry = final.get("null_model", {}).get(key)
    return entry["z"] if entry else None


def export_graphs(
    events: Sequence[Event],
    section: Mapping[str, Any],
    agents: Mapping[str, Mapping[str, Any]],
    folder: Path,
) -> list[Path]:
    """Write the final follow graph as GraphML and GEXF (for Gephi or Cytoscape).

    Node attributes: persona fields, activity, influence, follower and followee counts.
    """
    graphs = graphs_at(events, agents=agents)
    elapsed = max((events[-1].t - events[0].t) if events else 1.0, 1.0)
    G = graphs.follow.copy()
    activity, influence = graphs.activity(elapsed), graphs.influence_of()
    for node in G:
        persona = agents.get(node, {})
        attributes: dict[str, Any] = {
            "description": str(persona.get("description", "")),
            "interests": "; ".join(persona.get("interests", [])),
            "activity": activity.get(node, 0.0),
            "influence": influence.get(node, 0.0),
            "followers": G.in_degree(node),
            "following": G.out_degree(node),
        }
        for key, value in (persona.get("traits") or {}).items():
            attributes[f"trait_{key}"] = (
                value if isinstance(value, int | float | bool) else str(value)
            )
        G.nodes[node].update(attributes)
    for _, _, data in G.edges(data=True):
        data["created"] = float(data.get("created", 0.0))
    paths = [folder / "follow_graph.graphml", folder / "follow_graph.gexf"]
    nx.write_graphml(G, paths[0])
    nx.write_gexf(G, paths[1])
    return paths
