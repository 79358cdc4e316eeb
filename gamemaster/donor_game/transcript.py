"""The donor game's transcript view: each generation's strategies and donations.

Per generation (Vallinder & Hughes 2024, §3): the strategies the agents wrote, survivors
marked, then each game's donor turns in order, each with the donor's justification and
the reputation trace it was shown, in the words the prompt used.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from gamemaster.api import Event, Row, RunData, View
from gamemaster.donor_game.rules import DECISIONS, DonorGameMaster


def views(data: RunData) -> list[View]:
    """One view: a row per generation, strategies and games nested under it."""
    strategies: dict[int, list[Event]] = defaultdict(list)
    turns: dict[tuple[int, int], list[Event]] = defaultdict(list)
    ends: dict[int, Event] = {}
    for event in data.events:
        payload = event.payload
        if event.kind == "strategy":
            strategies[int(payload["generation"])].append(event)
        elif event.kind in DECISIONS and "round" in payload:
            turns[(int(payload["generation"]), int(payload.get("game", 1)))].append(event)
        elif event.kind == "generation_end":
            ends[int(payload["generation"])] = event
    generations = sorted(set(strategies) | {g for g, _ in turns} | set(ends))
    rows = tuple(_generation(g, strategies[g], turns, ends.get(g)) for g in generations)
    note = (
        "Survivors are marked; a donation's details hold the donor's justification and "
        "the trace of the recipient it was shown."
    )
    return [View("Generations: strategies and donations", rows, note)] if rows else []


def _generation(
    generation: int,
    strategies: list[Event],
    turns: dict[tuple[int, int], list[Event]],
    end: Event | None,
) -> Row:
    survivors: list[str] = list(end.payload.get("survivors", [])) if end else []
    scores: dict[str, float] = dict(end.payload.get("scores", {})) if end else {}
    children = [_strategy(e, e.actor in survivors, scores.get(e.actor or "")) for e in strategies]
    written = {e.actor for e in strategies}
    t0 = min((e.t for e in strategies), default=end.t if end else 0.0)
    born: dict[str, int] = dict(end.payload.get("born", {})) if end else {}
    kept_rows = []
    for name, text in (end.payload.get("strategies", {}) if end else {}).items():
        if name not in written:  # a survivor keeps the strategy it wrote when it was born
            marker = " [survived]" if name in survivors else ""
            score = f" (selection score {scores[name]:.2f})" if name in scores else ""
            kept = f"kept from generation {born.get(name, '?')}"
            kept_rows.append(Row(t0, name, "strategy", f"{text}{marker}{score}", kept))
    children = kept_rows + children
    games = sorted(game for g, game in turns if g == generation)
    for game in games:
        played = turns[(generation, game)]
        children.append(
            Row(
                played[0].t,
                None,
                "game",
                f"generation {generation}, game {game}: {len(played)} donor turns",
                children=tuple(_turn(e) for e in played),
            )
        )
    if end:
        text = f"generation {generation}: survivors {', '.join(survivors) or 'none'}"
        if scores:
            text += f"; mean selection score {sum(scores.values()) / len(scores):.2f} units"
    else:
        text = f"generation {generation} (in progress)"
    t = min((row.t for row in children), default=end.t if end else 0.0)
    return Row(t, None, "generation", text, children=tuple(children))


def _strategy(event: Event, survived: bool, score: float | None) -> Row:
    payload = event.payload
    marker = " [survived]" if survived else ""
    scored = "" if score is None else f" (selection score {score:.2f})"
    advice = payload.get("advice_from") or []
    detail = f"Reasoning:\n{payload.get('reasoning') or '(none asked or given)'}"
    if advice:
        detail += f"\n\nWritten after the advice of: {', '.join(advice)}"
    return Row(
        event.t,
        event.actor,
        "strategy",
        f"{payload.get('strategy', '')}{marker}{scored}",
        detail,
    )


def _turn(event: Event) -> Row:
    payload: dict[str, Any] = dict(event.payload)
    recipient = event.target or "?"
    before = payload.get("donor_before")
    if event.kind == "donation":
        text = (
            f"round {payload['round']}: gave {payload['amount']:.2f} of {before:.2f} units "
            f"({100 * payload['fraction']:.0f}%) to {recipient}, who received "
            f"{payload['received']:.2f}"
        )
    elif event.kind == "punishment":
        text = (
            f"round {payload['round']}: spent {payload['cost']:.2f} of {before:.2f} units "
            f"punishing {recipient}, who lost {payload['removed']:.2f}"
        )
    elif event.kind == "refusal":
        text = f"round {payload['round']}: refused to play with {recipient}"
    elif event.kind == "nothing_to_give":
        text = f"round {payload['round']}: had nothing left to give to {recipient}"
    else:
        text = f"round {payload['round']}: invalid action ({payload.get('reason', '')})"
    if payload.get("parse") == "fallback":
        text += " [the reply was unusable: fallback]"
    detail = ""
    if event.kind != "nothing_to_give":
        shown = DonorGameMaster.trace_text(recipient, payload.get("shown") or [])
        detail = (
            f"Justification:\n{payload.get('reasoning') or '(none asked or given)'}\n\n"
            f"What the donor was shown of {recipient}:\n{shown}"
        )
    return Row(event.t, event.actor, event.kind, text, detail)
