"""The friendship-paradox suite of a social-media run, per snapshot, from stored events.

Every ``snapshot_every`` of simulated time from the scenario's start, and at the end, the
follow graph (``u -> v``: u follows v) is measured with :mod:`engine.network.paradox`:

- Feld's network-level paradox (Feld 1991) for followers and for followings;
- the four directed individual-level variants (Hodas, Kooti & Lerman 2013), mean and
  median ("strong") versions;
- the generalized paradox for activity (content per simulated day) and influence (likes
  and reposts received), node-level and network-level ``<k x>/<k>`` against ``<x>``, and
  h(k, x) (Eom & Jo 2014);
- the paradox among each ego's strong and weak contacts, split by per-ego rank of
  interaction volume (Bagrow, Danforth & Mitchell 2017);
- hierarchy: shares of follows towards higher, equal and lower activity, influence and
  followers (Orlando, La Gatta, Russo & Moscato, WebSci 2025);
- degree assortativity (Newman 2003) and k_nn(k);
- for the headline figures, empirical p-values against ``null_samples`` degree-preserving
  rewirings (the mean paradox largely follows from the degree sequence, the median one
  need not: Kooti, Hodas & Lerman 2014) and 95% intervals from an ego-neighbourhood
  cluster bootstrap (:mod:`engine.network.null`), both seeded from the run's seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gamemaster.api import RunData, null, paradox
from gamemaster.social_media.graphs import CONTENT, SocialGraphs, graphs_at

FRACTIONS = {
    "friends_by_follower_count": "followers",
    "friends_by_friend_count": "following",
    "activity": "activity",
    "influence": "influence",
}
HIERARCHY = {
    "to_more_followed": "followers",
    "to_more_active": "activity",
    "to_more_influential": "influence",
}


def node_values(
    graphs: SocialGraphs, arcs: paradox.Arcs, elapsed: float
) -> dict[str, paradox.NodeValues]:
    """The attributes compared: followers, following, activity, influence (ranked once)."""
    activity, influence = graphs.activity(elapsed), graphs.influence_of()
    return {
        "followers": paradox.NodeValues.of(arcs.in_degree()),
        "following": paradox.NodeValues.of(arcs.out_degree()),
        "activity": paradox.NodeValues.of(arcs.values(activity)),
        "influence": paradox.NodeValues.of(arcs.values(influence)),
    }


def headline(values: Mapping[str, paradox.NodeValues]) -> Any:
    """The headline statistics as a function of a (rewired) graph, for the null model."""

    def statistic(arcs: paradox.Arcs) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name, attribute in FRACTIONS.items():
            result = paradox.fractions(arcs, values[attribute], "out")
            out[f"{name}.mean"] = result.fraction_mean
            out[f"{name}.median"] = result.fraction_median
        for name, attribute in HIERARCHY.items():
            out[f"hierarchy.{name}"] = paradox.hierarchy_shares(arcs, values[attribute].values)[
                "higher"
            ]
        return out

    return statistic


def bootstrap(
    arcs: paradox.Arcs,
    values: Mapping[str, paradox.NodeValues],
    samples: int,
    rng: np.random.Generator,
) -> dict[str, list[float] | None]:
    """95% intervals of the headline statistics, resampling ego neighbourhoods."""
    cluster = null.neighbourhoods(arcs, rng)
    clusters = int(cluster.max()) + 1 if arcs.n else 0
    shares: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for name, attribute in FRACTIONS.items():
        has, below_mean, below_median = paradox.indicators(arcs, values[attribute], "out")
        shares[f"{name}.mean"] = (below_mean.astype(float), has.astype(float), cluster)
        shares[f"{name}.median"] = (below_median.astype(float), has.astype(float), cluster)
    edge_cluster = cluster[arcs.sources]
    for name, attribute in HIERARCHY.items():
        v = values[attribute].values
        higher = (v[arcs.targets] > v[arcs.sources]).astype(float)
        shares[f"hierarchy.{name}"] = (higher, np.ones(len(higher)), edge_cluster)
    return null.cluster_bootstrap(shares, clusters, samples=samples, rng=rng)


def snapshot(
    graphs: SocialGraphs,
    elapsed: float,
    *,
    null_samples: int = 0,
    bootstrap_samples: int = 0,
    rng: np.random.Generator | None = None,
) -> dict[str, Any]:
    """All statistics of the graphs as they stand, ``elapsed`` seconds after the start."""
    G = graphs.follow
    arcs = paradox.Arcs.of(G)
    values = node_values(graphs, arcs, elapsed)
    activity, influence = graphs.activity(elapsed), graphs.influence_of()
    weights = {(u, v): float(d["weight"]) for u, v, d in graphs.interactions.edges(data=True)}
    stats: dict[str, Any] = {
        "nodes": G.number_of_nodes(),
        "follow_edges": G.number_of_edges(),
        "interaction_edges": graphs.interactions.number_of_edges(),
        "feld": {
            "followers": paradox.feld_paradox(G, "in").as_dict(),
            "following": paradox.feld_paradox(G, "out").as_dict(),
        },
        "individual": paradox.four_variants(G),
        "activity": paradox.fractions(arcs, values["activity"]).as_dict(),
        "influence": paradox.fractions(arcs, values["influence"]).as_dict(),
        "generalized": {
            "activity": paradox.generalized_paradox(G, activity),
            "influence": paradox.generalized_paradox(G, influence),
        },
        "h_kx": {
            "activity": paradox.paradox_map(G, activity),
            "influence": paradox.paradox_map(G, influence),
        },
        "tie_strength": paradox.tie_strength_paradox(G, weights),
        "hierarchy": {
            name: paradox.hierarchy_shares(arcs, values[attribute].values)
            for name, attribute in HIERARCHY.items()
        },
        "assortativity": paradox.assortativity(G),
        "knn": paradox.knn(G),
    }
    if rng is not None and null_samples:
        stats["null_model"] = null.null_model(arcs, headline(values), samples=null_samples, rng=rng)
    if rng is not None and bootstrap_samples:
        stats["bootstrap_95"] = bootstrap(arcs, values, bootstrap_samples, rng)
    return stats


def run_statistics(data: RunData) -> dict[str, Any]:
    """Statistics at every snapshot (null model and bootstrap included) and at the end."""
    section = data.section
    graphs = SocialGraphs(data.agents)
    snapshots: list[dict[str, Any]] = []

    def take(t: float) -> None:
        index = len(snapshots)
        stats = snapshot(
            graphs,
            t - data.start,
            null_samples=section.null_samples,
            bootstrap_samples=section.bootstrap_samples,
            rng=data.rng(f"snapshot:{index}"),
        )
        snapshots.append({"t": t, **stats})

    next_snapshot = data.start + section.snapshot_every
    for event in data.events:
        while event.t > next_snapshot and next_snapshot < data.end:
            take(next_snapshot)
            next_snapshot += section.snapshot_every
        graphs.apply(event)
    while next_snapshot < data.end:
        take(next_snapshot)
        next_snapshot += section.snapshot_every
    take(data.end)
    final = snapshots[-1]
    return {
        "game": "social_media",
        "final": final,
        "snapshots": snapshots,
        "summary_table": summary_table(final),
    }


LABELS = {
    "friends_by_follower_count": "followers",
    "friends_by_friend_count": "following",
    "activity": "activity",
    "influence": "influence",
    "to_more_followed": "hier. followed",
    "to_more_active": "hier. active",
    "to_more_influential": "hier. influential",
}
LEGEND = (
    "followers, following, activity, influence: share of agents whose friends (accounts "
    "they follow) have more followers, follow more accounts, are more active, are more "
    "influential, than they do, by the friends' mean and median. hier.: share of follows "
    "towards a more followed, active, influential account (ties in stats.json). p: share of "
    "degree-preserving rewirings with a value at least this high (empirical p-value). "
    "95% CI: ego-neighbourhood bootstrap."
)


def summary_table(final: Mapping[str, Any]) -> dict[str, Any]:
    """The headline statistics with their null-model p-values and bootstrap intervals."""
    null = final.get("null_model", {})
    boot = final.get("bootstrap_95", {})
    rows = []
    for name in FRACTIONS:
        result = final["individual"].get(name) or final[name]
        rows.append(
            [
                LABELS[name],
                result["fraction_mean"],
                null.get(f"{name}.mean", {}).get("p_greater"),
                _interval(boot.get(f"{name}.mean")),
                result["fraction_median"],
                null.get(f"{name}.median", {}).get("p_greater"),
            ]
        )
    for name in HIERARCHY:
        rows.append(
            [
                LABELS[name],
                final["hierarchy"][name]["higher"],
                null.get(f"hierarchy.{name}", {}).get("p_greater"),
                _interval(boot.get(f"hierarchy.{name}")),
                None,
                None,
            ]
        )
    columns = ["statistic", "mean", "p", "95% CI", "median", "p"]
    return {"columns": columns, "rows": rows, "note": LEGEND}


def _interval(bounds: list[float] | None) -> str | None:
    return None if not bounds else f"{bounds[0]:.2f}-{bounds[1]:.2f}"


def live_figures(data: RunData) -> dict[str, float]:
    """Cheap figures for the live view: content, follow edges, the follower paradox so far.

    ``paradox_followers`` is the share of accounts (following anyone) whose followees have
    more followers on average than they do (Hodas, Kooti & Lerman 2013), as in the
    statistics, without the null model.
    """
    graphs = graphs_at(data.events, agents=data.agents)
    arcs = paradox.Arcs.of(graphs.follow)
    figures = {
        "content": float(sum(1 for e in data.events if e.kind in CONTENT)),
        "follow_edges": float(graphs.follow.number_of_edges()),
    }
    fraction = paradox.fractions(arcs, paradox.NodeValues.of(arcs.in_degree()), "out")
    if fraction.fraction_mean is not None:
        figures["paradox_followers"] = float(fraction.fraction_mean)
    return figures
