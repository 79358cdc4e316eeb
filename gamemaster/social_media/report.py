"""The social-media game's report parts: degree distributions, paradox over time, network."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from gamemaster.api import Plot, RunData, figure, png
from gamemaster.social_media.graphs import follow_graph, graphs_at

PARADOX_SERIES = (
    ("friends_by_follower_count", "friends have more followers"),
    ("friends_by_friend_count", "friends follow more accounts"),
    ("activity", "friends are more active"),
    ("influence", "friends are more influential"),
)


def _fraction(snapshot: Mapping[str, Any], key: str) -> float:
    result = snapshot["individual"].get(key) or snapshot.get(key) or {}
    value = result.get("fraction_mean")
    return np.nan if value is None else float(value)


def _band(snapshot: Mapping[str, Any], key: str) -> tuple[float, float]:
    entry = snapshot.get("null_model", {}).get(f"{key}.mean", {})
    band = entry.get("band")
    return (np.nan, np.nan) if not band else (float(band[0]), float(band[1]))


def plots(data: RunData, stats: Mapping[str, Any]) -> list[Plot]:
    """CCDFs, paradox statistics over time with null bands, activity vs followers, network."""
    out: list[Plot] = []
    graphs = graphs_at(data.events, agents=data.agents)
    G = graphs.follow
    fig, ax = figure()
    for kind, label in (("in", "in-degree (followers)"), ("out", "out-degree (following)")):
        k = np.array(sorted(d for _, d in (G.in_degree() if kind == "in" else G.out_degree())))
        k = k[k > 0]
        if len(k):
            ccdf = 1.0 - np.arange(len(k)) / len(k)
            ax.loglog(k, ccdf, marker=".", linestyle="none", label=label)
    ax.set_xlabel("degree k")
    ax.set_ylabel("P(K >= k)")
    ax.legend()
    ax.set_title("degree distributions (CCDF)")
    out.append(Plot("Degree distributions", png(fig)))

    snapshots = stats.get("snapshots", [])
    if snapshots:
        fig, ax = figure(7.5, 4.0)
        times = [(s["t"] - data.start) / 3600 for s in snapshots]
        for key, label in PARADOX_SERIES:
            values = [_fraction(s, key) for s in snapshots]
            line = ax.plot(times, values, marker="o", label=label)[0]
            bands = [_band(s, key) for s in snapshots]  # the stored null samples of each snapshot
            ax.fill_between(
                times,
                [b[0] for b in bands],
                [b[1] for b in bands],
                color=line.get_color(),
                alpha=0.15,
            )
        ax.set_ylim(0, 1)
        ax.set_xlabel("simulated hours")
        ax.set_ylabel("share of nodes below their friends' mean")
        ax.legend(fontsize=7)
        ax.set_title("friendship paradox over time (bands: 95% of degree-preserving rewirings)")
        out.append(Plot("Paradox over time", png(fig)))

    activity = graphs.activity(data.elapsed)
    fig, ax = figure()
    ax.scatter([activity[n] for n in G], [G.in_degree(n) for n in G], s=12, alpha=0.7)
    ax.set_xlabel("activity (content per simulated day)")
    ax.set_ylabel("followers")
    ax.set_title("activity against followers")
    out.append(Plot("Activity against followers", png(fig)))

    if 0 < G.number_of_nodes() <= 500:
        fig, ax = figure(6.5, 6.5)
        layout = nx.spring_layout(G, seed=1)
        sizes = [20 + 15 * G.in_degree(n) for n in G]
        nx.draw_networkx(
            G,
            layout,
            ax=ax,
            node_size=sizes,
            with_labels=False,
            arrowsize=5,
            width=0.4,
            node_color="#4c72b0",
            edge_color="#999999",
        )
        ax.set_title("follow network (size: followers)")
        ax.axis("off")
        out.append(Plot("Follow network", png(fig)))
    return out


def exports(data: RunData, folder: Path) -> list[Path]:
    """The final follow graph as GraphML and GEXF, with node attributes."""
    G = follow_graph(graphs_at(data.events, agents=data.agents), data.agents, data.elapsed)
    paths = [folder / "follow_graph.graphml", folder / "follow_graph.gexf"]
    nx.write_graphml(G, paths[0])
    nx.write_gexf(G, paths[1])
    return paths
