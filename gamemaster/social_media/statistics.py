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

from collections.abc import Mapping
from typing import Any

import networkx as nx

from engine.network import paradox
from gamemaster.api import RunData
from gamemaster.social_media.graphs import SocialGraphs


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


def run_statistics(data: RunData) -> dict[str, Any]:
    """Statistics at every snapshot and, with null model and bootstrap, at the end."""
    section, events = data.section, data.events
    every = float(section.snapshot_every)
    start = events[0].t if events else 0.0
    end = events[-1].t if events else 0.0
    graphs = SocialGraphs(data.agents)
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
        null_samples=section.null_samples,
        bootstrap=section.bootstrap_samples,
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
