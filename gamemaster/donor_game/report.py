"""The donor game's report parts: figures, strategy tables, the exported donation graph."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from gamemaster.api import Plot, RunData, Table, figure, integer_ticks, png
from gamemaster.donor_game.statistics import decisions, image_scores


def donation_multigraph(data: RunData) -> nx.MultiDiGraph:
    """Every gift as an edge donor -> recipient keyed ``g<generation>.<game>``.

    Edge attributes: ``generation``, ``game``, ``weight`` (units given), ``count``
    (gifts); node attributes: ``born`` (generation of arrival) and ``image_score`` (in
    the last generation the agent played). Filter edges by ``generation`` for one
    generation's network: pooled, degree mostly measures how long a survivor lived.
    """
    graph = nx.MultiDiGraph()
    born: dict[str, int] = {}
    for event in data.events:
        if event.kind == "generation_end":
            born.update(event.payload.get("born", {}))
        if event.kind != "donation" or event.actor is None or event.target is None:
            continue
        amount = float(event.payload.get("amount", 0.0))
        if amount <= 0:
            continue
        generation, game = event.payload.get("generation", 1), event.payload.get("game", 1)
        key = f"g{generation}.{game}"
        if graph.has_edge(event.actor, event.target, key):
            edge = graph.edges[event.actor, event.target, key]
            edge["weight"] += amount
            edge["count"] += 1
        else:
            graph.add_edge(
                event.actor,
                event.target,
                key,
                generation=generation,
                game=game,
                weight=amount,
                count=1,
            )
    rows = decisions(data.events)
    last: dict[str, int] = {}
    for row in rows:
        last[row["donor"]] = max(last.get(row["donor"], 0), row["generation"])
    bound = data.section.image_score_bound
    for node in list(graph):
        generation = last.get(node, 1)
        scores = image_scores([r for r in rows if r["generation"] == generation], bound)
        graph.nodes[node]["born"] = int(born.get(node, 1))
        graph.nodes[node]["image_score"] = float(scores.get(node, 0.0))
    return graph


def plots(data: RunData, stats: Mapping[str, Any]) -> list[Plot]:
    """Resources and donation fractions per generation; punishment and invalid actions."""
    table = stats.get("per_generation", [])
    if not table:
        return []
    generations = [g["generation"] for g in table]
    fig, (left, right) = figure(9, 3.6, columns=2)
    left.plot(generations, [g["resources_mean"] for g in table], marker="o")
    left.set_xlabel("generation")
    left.set_ylabel("mean selection score (units)")
    right.plot(
        generations, [g["donation_fraction_mean"] for g in table], marker="o", color="#dd8452"
    )
    right.set_ylim(0, 1)
    right.set_xlabel("generation")
    right.set_ylabel("mean donation fraction")
    integer_ticks(left, right)
    fig.suptitle("cooperation across generations")
    out = [Plot("Resources and donations", png(fig))]
    fig, ax = figure()
    bottom = [0.0] * len(table)
    for key, color, label in (
        ("punishment_rate", "#c44e52", "punishment"),
        ("refusal_rate", "#937860", "refusal"),
        ("invalid_rate", "#8172b3", "invalid"),
        ("fallback_rate", "#8c8c8c", "unparseable (fallback)"),
    ):
        values = [g[key] for g in table]
        ax.bar(generations, values, bottom=bottom, color=color, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xlabel("generation")
    ax.set_ylabel("share of donor turns")
    ax.legend(fontsize=8)
    integer_ticks(ax)
    ax.set_title("punishment, refusals, invalid and unparseable replies")
    out.append(Plot("Punishment and invalid actions", png(fig)))
    return out


def tables(data: RunData, stats: Mapping[str, Any]) -> list[Table]:
    """Every generation's strategies, survivors marked."""
    rows = []
    for event in data.events:
        if event.kind != "generation_end":
            continue
        survivors = set(event.payload.get("survivors", []))
        scores = event.payload.get("scores", {})
        for agent, text in event.payload.get("strategies", {}).items():
            rows.append(
                (
                    event.payload["generation"],
                    agent,
                    "survived" if agent in survivors else "",
                    f"{scores.get(agent, 0.0):.2f}",
                    text,
                )
            )
    if not rows:
        return []
    return [Table("Strategies", ("generation", "agent", "", "score", "strategy"), tuple(rows))]


def exports(data: RunData, folder: Path) -> list[Path]:
    """``donation_graph.graphml`` and ``.gexf`` (every gift, by generation and game)."""
    graph = donation_multigraph(data)
    paths = [folder / "donation_graph.graphml", folder / "donation_graph.gexf"]
    nx.write_graphml(graph, paths[0])
    nx.write_gexf(graph, paths[1])
    return paths
