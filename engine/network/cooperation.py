"""Cooperation statistics of donor-game runs, computed from events only.

Follows the measures of Vallinder & Hughes (2024), "Cultural Evolution of Cooperation
among LLM Agents", arXiv 2412.10270, and adds standard ones: Gini of resources,
efficiency against the schedule's ceiling, reciprocity (Trivers 1971; here the slope of
a donor's fraction on the recipient's last fraction), second-order response (indirect
reciprocity with image scoring, Nowak & Sigmund 1998, "Evolution of indirect
reciprocity by image scoring", Nature 393), punishment, survivor turnover and
strategy similarity across generations.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from engine.types import Event

DECISIONS = ("donation", "punishment", "refusal", "invalid_action")


def schedule_resources(
    n: int,
    fraction: float,
    *,
    endowment: float = 10.0,
    multiplier: float = 2.0,
    pairing: str = "round_robin",
    rounds: int | None = None,
) -> list[float]:
    """Final resources (by shuffled position) when every donor gives ``fraction``.

    By symmetry every agent of half A holds the same amount ``a`` and every agent of
    half B the same ``b``; a round where A donates maps (a, b) to ((1-f) a, b + m f a),
    and symmetrically for B. This function applies exactly that recurrence along the
    schedule (:func:`gamemaster.donor_game.schedule`). With ``fraction = 1`` the total
    is the schedule's ceiling.
    """
    from gamemaster.donor_game import schedule

    resources = [float(endowment)] * n
    for pairs in schedule(n, pairing, rounds):
        for donor, recipient in pairs:
            gift = fraction * resources[donor]
            resources[donor] -= gift
            resources[recipient] += multiplier * gift
    return resources


def ceiling(
    n: int,
    *,
    endowment: float = 10.0,
    multiplier: float = 2.0,
    pairing: str = "round_robin",
    rounds: int | None = None,
) -> float:
    """Total final resources if everyone always donates everything (in the rounds played)."""
    everything = schedule_resources(
        n, 1.0, endowment=endowment, multiplier=multiplier, pairing=pairing, rounds=rounds
    )
    return float(sum(everything))


def gini(values: Sequence[float]) -> float:
    """Gini coefficient of non-negative values (0: equal, towards 1: concentrated)."""
    x = np.sort(np.asarray(values, dtype=float))
    if len(x) == 0 or x.sum() == 0:
        return 0.0
    ranks = np.arange(1, len(x) + 1)
    return float((2 * (ranks * x).sum()) / (len(x) * x.sum()) - (len(x) + 1) / len(x))


def decisions(events: Iterable[Event]) -> list[dict[str, Any]]:
    """One row per donor decision.

    Columns: generation, game, round, donor, recipient, kind, amount, fraction (of the
    donor's resources), parse outcome.
    """
    rows = []
    for event in events:
        if event.kind not in DECISIONS or "round" not in event.payload:
            continue
        payload = event.payload
        rows.append(
            {
                "generation": payload["generation"],
                "game": payload.get("game", 1),
                "round": payload["round"],
                "donor": event.actor,
                "recipient": event.target,
                "kind": event.kind,
                "amount": float(payload.get("amount", 0.0)),
                "fraction": float(payload.get("fraction", 0.0))
                if event.kind == "donation"
                else 0.0,
                "parse": payload.get("parse", "ok"),
            }
        )
    return rows


def _last_given(rows: Sequence[Mapping[str, Any]]) -> dict[int, Mapping[str, Any] | None]:
    """Map each decision (by position) to the recipient's latest earlier decision as donor.

    Only decisions of the same game count.
    """
    latest: dict[tuple[int, int, str], Mapping[str, Any]] = {}
    previous: dict[int, Mapping[str, Any] | None] = {}
    for i, row in sorted(
        enumerate(rows), key=lambda item: (item[1]["generation"], item[1]["game"], item[1]["round"])
    ):
        key = (row["generation"], row["game"], row["recipient"])
        previous[i] = latest.get(key)
        latest[(row["generation"], row["game"], row["donor"])] = row
    return previous


def reciprocity(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | int | None]:
    """OLS slope (and correlation) of a donor's fraction on its recipient's last fraction."""
    previous = _last_given(rows)
    pairs = [(p["fraction"], rows[i]["fraction"]) for i, p in previous.items() if p is not None]
    x, y = np.array(pairs).T if pairs else (np.zeros(0), np.zeros(0))
    if len(pairs) < 3 or x.var() < 1e-12:  # no variation in what recipients gave: no slope
        return {"slope": None, "r": None, "n": len(pairs)}
    slope = float(np.cov(x, y, bias=True)[0, 1] / x.var())
    r = float(np.corrcoef(x, y)[0, 1]) if y.var() > 1e-12 else None
    return {"slope": slope, "r": r, "n": len(pairs)}


def second_order(rows: Sequence[Mapping[str, Any]], generous: float = 0.5) -> dict[str, Any]:
    """Mean fraction given to recipients who last helped a generous versus a stingy partner.

    A partner is generous when its own last fraction is at least ``generous``.
    """
    previous = _last_given(rows)
    index = {id(row): i for i, row in enumerate(rows)}
    groups: dict[str, list[float]] = {
        "to_those_who_helped_generous": [],
        "to_those_who_helped_stingy": [],
    }
    for i, last in previous.items():
        if last is None:
            continue
        partner_last = previous.get(index[id(last)])
        if partner_last is None:
            continue
        key = "generous" if partner_last["fraction"] >= generous else "stingy"
        groups[f"to_those_who_helped_{key}"].append(rows[i]["fraction"])
    return {k: (float(np.mean(v)) if v else None) for k, v in groups.items()} | {
        f"n_{k}": len(v) for k, v in groups.items()
    }


def generation_statistics(
    events: Sequence[Event],
    *,
    agents: int,
    endowment: float = 10.0,
    multiplier: float = 2.0,
    pairing: str = "round_robin",
    games: int = 1,
    rounds: int | None = None,
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> list[dict[str, Any]]:
    """Compute the statistics of each generation.

    Resources (mean, median, SD, Gini), efficiency, donation fractions (overall, by round,
    zero and full shares), reciprocity, second-order response, punishment, invalid and
    fallback rates, survivor turnover, strategy similarity.
    """
    rows = decisions(events)
    by_generation: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_generation[row["generation"]].append(row)
    ends = {e.payload["generation"]: e.payload for e in events if e.kind == "generation_end"}
    top = ceiling(
        agents, endowment=endowment, multiplier=multiplier, pairing=pairing, rounds=rounds
    )
    previous_strategies: list[str] = []
    out = []
    for generation in sorted(set(by_generation) | set(ends)):
        gen_rows = [r for r in by_generation.get(generation, []) if r["game"] == games]
        end = ends.get(generation, {})
        resources = list(end.get("resources", {}).values())
        donations = [r for r in gen_rows if r["kind"] == "donation"]
        fractions = [r["fraction"] for r in donations]
        by_round: dict[int, list[float]] = defaultdict(list)
        for r in donations:
            by_round[r["round"]].append(r["fraction"])
        punish = [r for r in gen_rows if r["kind"] == "punishment"]
        n = max(len(gen_rows), 1)
        survivors = end.get("survivors", [])
        newcomers_here = [s for s in survivors if s.startswith(f"{generation}_")]
        strategies = [s for s in end.get("strategies", {}).values() if s]
        similarity = None
        if embed is not None and strategies and previous_strategies:
            current, before = embed(strategies), embed(previous_strategies)
            similarity = float((current @ before.T).max(axis=1).mean())
        previous_strategies = strategies
        out.append(
            {
                "generation": generation,
                "resources_mean": float(np.mean(resources)) if resources else None,
                "resources_median": float(np.median(resources)) if resources else None,
                "resources_sd": float(np.std(resources, ddof=1)) if len(resources) > 1 else None,
                "resources_gini": gini(resources) if resources else None,
                "efficiency": float(sum(resources) / top) if resources and top else None,
                "donation_fraction_mean": float(np.mean(fractions)) if fractions else None,
                "donation_fraction_by_round": {
                    k: float(np.mean(v)) for k, v in sorted(by_round.items())
                },
                "zero_share": float(np.mean([f == 0 for f in fractions])) if fractions else None,
                "full_share": float(np.mean([f >= 0.999 for f in fractions]))
                if fractions
                else None,
                "reciprocity": reciprocity(gen_rows),
                "second_order": second_order(gen_rows),
                "punishment_rate": len(punish) / n,
                "punishment_units": float(sum(r["amount"] for r in punish)),
                "invalid_rate": sum(r["kind"] == "invalid_action" for r in gen_rows) / n,
                "fallback_rate": sum(r["parse"] == "fallback" for r in gen_rows) / n,
                "decisions": len(gen_rows),
                "survivor_turnover": len(newcomers_here) / len(survivors) if survivors else None,
                "strategy_similarity_to_previous": similarity,
            }
        )
    return out


def donation_graph(events: Iterable[Event]) -> nx.DiGraph:
    """Donor -> recipient graph weighted by units given (``weight``) and gifts (``count``)."""
    graph = nx.DiGraph()
    for event in events:
        if event.kind != "donation" or event.actor is None or event.target is None:
            continue
        amount = float(event.payload.get("amount", 0.0))
        if amount <= 0:
            continue
        data = graph.get_edge_data(event.actor, event.target, {"weight": 0.0, "count": 0})
        graph.add_edge(
            event.actor, event.target, weight=data["weight"] + amount, count=data["count"] + 1
        )
    return graph


def donation_graph_statistics(events: Sequence[Event]) -> dict[str, Any]:
    """Friendship-paradox statistics of the donation-flow graph (donor -> recipient).

    "Friends" are the agents one gave to: does a donor's set of beneficiaries receive
    more (in-degree, units received) than the donor does?
    """
    from engine.network import paradox

    graph = donation_graph(events)
    received = {
        n: float(sum(d["weight"] for _, _, d in graph.in_edges(n, data=True))) for n in graph
    }
    return {
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "feld_in": paradox.feld_paradox(graph, "in").as_dict(),
        "individual": paradox.four_variants(graph),
        "units_received": paradox.individual_paradox(graph, received, "out").as_dict(),
    }


def export_graphs(
    events: Sequence[Event], section: Mapping[str, Any], agents: Mapping[str, Any], folder: Path
) -> list[Path]:
    """Write the donation-flow graph (GraphML, GEXF) with image scores as node attributes."""
    graph = donation_graph(events)
    scores = image_scores(events)
    for node in graph:
        graph.nodes[node]["image_score"] = scores.get(node, 0.0)
    paths = [folder / "donation_graph.graphml", folder / "donation_graph.gexf"]
    nx.write_graphml(graph, paths[0])
    nx.write_gexf(graph, paths[1])
    return paths


def image_scores(events: Iterable[Event]) -> dict[str, float]:
    """Image score per agent (Nowak & Sigmund 1998).

    +1 per donation, -1 per decision to give nothing, refuse or punish; invalid actions
    do not count.
    """
    scores: dict[str, float] = defaultdict(float)
    for row in decisions(events):
        if row["kind"] == "invalid_action":
            continue
        scores[row["donor"]] += 1.0 if (row["kind"] == "donation" and row["amount"] > 0) else -1.0
    return dict(sorted(scores.items()))


def run_statistics(
    events: Sequence[Event], section: Mapping[str, Any], agents: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Everything for one run: per-generation table, trajectories, run summaries."""
    from agents.embedders import HashingEmbedder

    size = int(section.get("agents_per_generation", 12))
    per_generation = generation_statistics(
        events,
        agents=size,
        endowment=float(section.get("endowment", 10.0)),
        multiplier=float(section.get("multiplier", 2.0)),
        pairing=str(section.get("pairing", "round_robin")),
        games=2 if section.get("compat") == "notebook" else 1,
        rounds=section.get("rounds"),
        embed=HashingEmbedder(256).embed,
    )
    means = [g["resources_mean"] for g in per_generation if g["resources_mean"] is not None]
    fractions = [g["donation_fraction_mean"] for g in per_generation]
    return {
        "game": "donor_game",
        "per_generation": per_generation,
        "trajectory_resources": means,
        "trajectory_donation_fraction": fractions,
        "final_generation_resources_mean": means[-1] if means else None,
        "resources_auc": float(np.trapezoid(means))
        if len(means) > 1
        else (means[0] if means else None),
        "generation1_donation_fraction": fractions[0] if fractions else None,
        "image_scores": image_scores(events),
        "donation_graph": donation_graph_statistics(events),
        "summary_table": {
            "columns": [
                "generation",
                "resources_mean",
                "donation_fraction_mean",
                "efficiency",
                "invalid_rate",
            ],
            "rows": [
                [
                    g["generation"],
                    g["resources_mean"],
                    g["donation_fraction_mean"],
                    g["efficiency"],
                    g["invalid_rate"],
                ]
                for g in per_generation
            ],
        },
    }


def compare_runs(conditions: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Mean, standard error and n per condition; Mann-Whitney U between each pair.

    The test is two-sided (``scipy.stats.mannwhitneyu``).
    """
    from scipy.stats import mannwhitneyu

    summary: dict[str, Any] = {}
    for name, values in conditions.items():
        x = np.asarray([v for v in values if v is not None], dtype=float)
        se = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else None
        summary[name] = {"mean": float(x.mean()) if len(x) else None, "se": se, "n": len(x)}
    tests = []
    names = list(conditions)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a = [v for v in conditions[first] if v is not None]
            b = [v for v in conditions[second] if v is not None]
            if len(a) and len(b):
                result = mannwhitneyu(a, b, alternative="two-sided")
                tests.append(
                    {
                        "a": first,
                        "b": second,
                        "u": float(result.statistic),
                        "p": float(result.pvalue),
                        "n_a": len(a),
                        "n_b": len(b),
                    }
                )
    return {"conditions": summary, "mann_whitney": tests}
