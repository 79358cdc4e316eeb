"""Cooperation statistics of donor-game runs, computed from the stored events only.

Per generation: selection scores (mean, median, SD, Gini), efficiency against the
schedule's ceiling, donation fractions, empty-handed turns, indirect reciprocity,
second-order (standing) responses, punishment, invalid and fallback rates, survivor
turnover, strategy similarity, image scores and the donation graph's paradox statistics.
The measures follow Vallinder & Hughes (2024), "Cultural Evolution of Cooperation among
LLM Agents", arXiv 2412.10270, with standard ones cited where they are used.

Conventions: a *decision* is a donation, punishment or refusal the model chose (parse
``ok`` or ``repaired``); a reply that could not be parsed (``fallback``, applied by the
rules as giving 0) and an ``invalid_action`` are counted in their own rates and left out
of behavioural statistics; a turn with nothing to give (``nothing_to_give``) is no
decision and is counted apart. Response statistics use exactly the trace the donor was
shown (stored in each decision's ``shown`` payload).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np

from gamemaster.api import Event, feld_paradox, four_variants, gini, individual_paradox
from gamemaster.donor_game.rules import DECISIONS, schedule
from gamemaster.donor_game.section import DonorSection

CHOICES = ("donation", "punishment", "refusal")
Embed = Callable[[Sequence[str]], np.ndarray]


def decisions(events: Iterable[Event]) -> list[dict[str, Any]]:
    """One row per donor turn.

    Columns: generation, game, round, donor, recipient, kind (donation, punishment,
    refusal, nothing_to_give, invalid_action), amount, fraction (of the donor's
    resources; None where nothing was chosen), given (the share handed to the recipient:
    the fraction for a donation, 0 for a punishment or refusal), parse, shown (the trace).
    """
    rows = []
    for event in events:
        if event.kind not in DECISIONS or "round" not in event.payload:
            continue
        payload = event.payload
        fraction = payload.get("fraction") if event.kind in ("donation", "punishment") else None
        rows.append(
            {
                "generation": payload["generation"],
                "game": payload.get("game", 1),
                "round": payload["round"],
                "donor": event.actor,
                "recipient": event.target,
                "kind": event.kind,
                "amount": float(payload.get("amount", 0.0) or 0.0),
                "fraction": None if fraction is None else float(fraction),
                "given": given(event.kind, fraction),
                "parse": payload.get("parse", "ok"),
                "shown": list(payload.get("shown", [])),
            }
        )
    return rows


def given(kind: str, fraction: float | None) -> float | None:
    """Share of its resources a donor handed to the recipient (None: no choice made)."""
    if kind == "donation":
        return float(fraction or 0.0)
    if kind in ("punishment", "refusal"):
        return 0.0
    return None


def chosen(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Decisions the model made (no fallbacks, no invalid actions, no empty hands)."""
    return [r for r in rows if r["kind"] in CHOICES and r["parse"] != "fallback"]


def indirect_reciprocity(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | int | None]:
    """Slope and correlation of what a donor gives on what its trace showed the recipient give.

    Indirect, not direct, reciprocity (Nowak & Sigmund 2005, "Evolution of indirect
    reciprocity", Nature 437): the donor responds to the recipient's most recent
    decision towards a third player, the first entry of the trace it was shown. Only
    decisions the donor saw count (invalid actions never enter a trace); a shown turn
    with nothing to give is no signal and is left out. x and y are shares given (a
    punishment or refusal gives 0); OLS slope of y on x.
    """
    pairs = []
    for row in chosen(rows):
        shown = row["shown"]
        if shown and shown[0]["kind"] != "nothing_to_give":
            pairs.append((given(shown[0]["kind"], shown[0].get("fraction")), row["given"]))
    x, y = np.array(pairs, dtype=float).T if pairs else (np.zeros(0), np.zeros(0))
    if len(pairs) < 3 or x.var() < 1e-12:  # no variation in what recipients gave: no slope
        return {"slope": None, "r": None, "n": len(pairs)}
    slope = float(np.cov(x, y, bias=True)[0, 1] / x.var())
    r = float(np.corrcoef(x, y)[0, 1]) if y.var() > 1e-12 else None
    return {"slope": slope, "r": r, "n": len(pairs)}


def second_order(rows: Sequence[Mapping[str, Any]], cooperate_at: float = 0.5) -> dict[str, Any]:
    """Mean share a donor gives, by what the recipient did and to whom: a standing table.

    Standing-type assessment (Ohtsuki & Iwasa 2004, "How should we define goodness?
    Reputation dynamics in indirect reciprocity", J. Theor. Biol. 231): the trace's first
    entry is the recipient's action towards its partner (``helped`` if it gave at least
    ``cooperate_at`` of its resources, else ``refused``), the second entry that partner's
    own previous action (``good`` if it gave at least ``cooperate_at``, else ``bad``). The
    four cells ``helped_good``, ``helped_bad``, ``refused_good``, ``refused_bad`` hold the
    mean share the donor gave and how many decisions fell there. Needs a trace depth of 2+.
    """
    cells: dict[str, list[float]] = {
        f"{act}_{standing}": [] for act in ("helped", "refused") for standing in ("good", "bad")
    }
    for row in chosen(rows):
        shown = row["shown"]
        if len(shown) < 2 or "nothing_to_give" in (shown[0]["kind"], shown[1]["kind"]):
            continue
        act = given(shown[0]["kind"], shown[0].get("fraction")) or 0.0
        standing = given(shown[1]["kind"], shown[1].get("fraction")) or 0.0
        key = f"{'helped' if act >= cooperate_at else 'refused'}_{'good' if standing >= cooperate_at else 'bad'}"
        cells[key].append(row["given"])
    return {
        key: {"mean": float(np.mean(v)) if v else None, "n": len(v)} for key, v in cells.items()
    } | {"cooperate_at": cooperate_at}


def image_scores(rows: Iterable[Mapping[str, Any]], bound: int | None = 5) -> dict[str, float]:
    """Image score per donor (Nowak & Sigmund 1998).

    "Evolution of indirect reciprocity by image scoring", Nature 393: +1 for a gift, -1
    for giving nothing (a gift of 0, including a fallback, a punishment or a refusal),
    clipped to [-bound, bound] after each step; turns with nothing to give and invalid
    actions leave it unchanged.
    """
    scores: dict[str, float] = defaultdict(float)
    for row in sorted(rows, key=lambda r: (r["game"], r["round"])):
        if row["kind"] in ("nothing_to_give", "invalid_action"):
            continue
        step = 1.0 if row["kind"] == "donation" and row["amount"] > 0 else -1.0
        score = scores[row["donor"]] + step
        scores[row["donor"]] = score if bound is None else float(np.clip(score, -bound, bound))
    return dict(sorted(scores.items()))


def donation_graph(
    events: Iterable[Event], generation: int | None = None, game: int | None = None
) -> nx.DiGraph:
    """Donor -> recipient graph of gifts, weighted by units (``weight``) and gifts (``count``).

    Restricted to one generation (and game) when given: pooled over generations, degree
    would mostly measure how long a survivor lived.
    """
    graph = nx.DiGraph()
    for event in events:
        if event.kind != "donation" or event.actor is None or event.target is None:
            continue
        if generation is not None and event.payload.get("generation") != generation:
            continue
        if game is not None and event.payload.get("game") != game:
            continue
        amount = float(event.payload.get("amount", 0.0))
        if amount <= 0:
            continue
        data = graph.get_edge_data(event.actor, event.target, {"weight": 0.0, "count": 0})
        graph.add_edge(
            event.actor, event.target, weight=data["weight"] + amount, count=data["count"] + 1
        )
    return graph


def donation_graph_statistics(graph: nx.DiGraph) -> dict[str, Any]:
    """Friendship-paradox statistics of one donation graph (Feld 1991; Hodas et al. 2013).

    "Friends" are the agents one gave to: do a donor's beneficiaries receive more
    (in-degree, units received) than the donor does?
    """
    received = {
        n: float(sum(d["weight"] for _, _, d in graph.in_edges(n, data=True))) for n in graph
    }
    return {
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "feld_in": feld_paradox(graph, "in").as_dict(),
        "individual": four_variants(graph),
        "units_received": individual_paradox(graph, received, "out").as_dict(),
    }


def schedule_resources(section: DonorSection, fraction: float) -> list[float]:
    """Final resources (by shuffled position) of one game in which every donor gives ``fraction``.

    Applies the schedule (:func:`gamemaster.donor_game.rules.schedule`) literally; with
    ``fraction = 1`` the total is the schedule's ceiling (the second game mirrors the
    first, so both have the same total).
    """
    n = section.agents_per_generation
    resources = [float(section.endowment)] * n
    for pairs in schedule(n, section.pairing, section.rounds_played):
        for donor, recipient in pairs:
            gift = fraction * resources[donor]
            resources[donor] -= gift
            resources[recipient] += section.multiplier * gift
    return resources


def ceiling(section: DonorSection) -> float:
    """Total final resources of a game in which everyone always gives everything."""
    return float(sum(schedule_resources(section, 1.0)))


def strategy_similarity(events: Sequence[Event], embed: Embed) -> dict[int, dict[str, Any]]:
    """How closely newcomers' strategies follow the survivors' strategies they were shown.

    For each newcomer of generation g: the largest cosine similarity between its strategy
    and the strategies of generation g-1's survivors (the advice its prompt listed);
    per generation the mean over newcomers, and ``n``. Survivors' own (verbatim)
    strategies are not compared with themselves. The measure's scale depends on the
    embedder (semantic for a sentence model, lexical for the hashing embedder).
    """
    ends = {e.payload["generation"]: e.payload for e in events if e.kind == "generation_end"}
    by_generation: dict[int, list[float]] = defaultdict(list)
    for event in events:
        if event.kind != "strategy" or not event.payload.get("advice_from"):
            continue
        generation = event.payload["generation"]
        shown_strategies = ends.get(generation - 1, {}).get("strategies", {})
        advice = [shown_strategies.get(name, "") for name in event.payload["advice_from"]]
        advice = [a for a in advice if a]
        text = event.payload.get("strategy", "")
        if not advice or not text:
            continue
        vectors = embed([text, *advice])
        by_generation[generation].append(float((vectors[1:] @ vectors[0]).max()))
    return {g: {"mean": float(np.mean(v)), "n": len(v)} for g, v in sorted(by_generation.items())}


def generation_statistics(
    events: Sequence[Event],
    section: DonorSection,
    *,
    embed: Embed | None = None,
) -> list[dict[str, Any]]:
    """One row of statistics per generation (see the module docstring)."""
    rows = decisions(events)
    by_generation: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_generation[row["generation"]].append(row)
    ends = {e.payload["generation"]: e.payload for e in events if e.kind == "generation_end"}
    end_times = {e.payload["generation"]: e.t for e in events if e.kind == "generation_end"}
    similarity = strategy_similarity(events, embed) if embed is not None else {}
    top = ceiling(section)
    out = []
    for generation in sorted(set(by_generation) | set(ends)):
        turns = by_generation.get(generation, [])
        end = ends.get(generation, {})
        scores = list(end.get("scores", {}).values())
        games = end.get("games", [])
        made = chosen(turns)
        donations = [r for r in made if r["kind"] == "donation"]
        fractions = [r["fraction"] for r in donations]
        by_round: dict[int, list[float]] = defaultdict(list)
        for r in donations:
            by_round[r["round"]].append(r["fraction"])
        punish = [r for r in made if r["kind"] == "punishment"]
        asked = [r for r in turns if r["kind"] != "nothing_to_give"]
        n_asked = max(len(asked), 1)
        survivors = end.get("survivors", [])
        born = end.get("born", {})
        graph = donation_graph(events, generation)
        out.append(
            {
                "generation": generation,
                "t": end_times.get(generation),
                "resources_mean": float(np.mean(scores)) if scores else None,
                "resources_median": float(np.median(scores)) if scores else None,
                "resources_sd": float(np.std(scores, ddof=1)) if len(scores) > 1 else None,
                "resources_gini": gini(scores) if scores else None,
                "resources_by_game": [float(np.mean(list(g.values()))) for g in games],
                "efficiency": float(np.mean([sum(g.values()) / top for g in games]))
                if games and top
                else None,
                "donation_fraction_mean": float(np.mean(fractions)) if fractions else None,
                "donation_fraction_by_round": {
                    k: float(np.mean(v)) for k, v in sorted(by_round.items())
                },
                "zero_share": float(np.mean([f == 0 for f in fractions])) if fractions else None,
                "full_share": float(np.mean([f >= 0.999 for f in fractions]))
                if fractions
                else None,
                "nothing_to_give": len(turns) - len(asked),
                "nothing_to_give_share": (len(turns) - len(asked)) / len(turns) if turns else None,
                "indirect_reciprocity": indirect_reciprocity(turns),
                "second_order": second_order(turns, section.cooperate_at),
                "punishment_rate": len(punish) / n_asked,
                "punishment_units": float(sum(r["amount"] for r in punish)),
                "refusal_rate": sum(r["kind"] == "refusal" for r in made) / n_asked,
                "invalid_rate": sum(r["kind"] == "invalid_action" for r in asked) / n_asked,
                "fallback_rate": sum(r["parse"] == "fallback" for r in asked) / n_asked,
                "decisions": len(asked),
                "survivor_turnover": (
                    sum(born.get(s) == generation for s in survivors) / len(survivors)
                    if survivors and generation > 1
                    else None
                ),
                "strategy_similarity": similarity.get(generation),
                "image_scores": image_scores(turns, section.image_score_bound),
                "donation_graph": donation_graph_statistics(graph),
            }
        )
    return out


def run_statistics(
    events: Sequence[Event],
    section: DonorSection,
    *,
    embed: Embed | None = None,
    embedder: str = "none",
) -> dict[str, Any]:
    """Everything for one run: the per-generation table, trajectories and summaries."""
    per_generation = generation_statistics(events, section, embed=embed)
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
        "strategy_similarity_embedder": embedder,
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


def headline(events: Sequence[Event]) -> dict[str, float]:
    """Live-view figures: generations done, the latest generation's giving and scores.

    ``donated_share``: the mean share given per decision (Vallinder & Hughes 2024's
    donation fraction; refusals and punishments give 0) in the latest generation with
    decisions so far; ``mean_score``: the mean selection score of the last finished one.
    """
    rows = chosen(decisions(events))
    ends = [e for e in events if e.kind == "generation_end"]
    out: dict[str, float] = {"generations_done": float(len(ends))}
    if rows:
        latest = max(r["generation"] for r in rows)
        out["generation"] = float(latest)
        out["donated_share"] = float(
            np.mean([r["given"] for r in rows if r["generation"] == latest])
        )
    if ends:
        scores = ends[-1].payload.get("scores") or {}
        if scores:
            out["mean_score"] = float(np.mean(list(scores.values())))
    return out
