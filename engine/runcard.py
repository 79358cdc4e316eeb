"""The run card: what a run was, so that it can be cited and reproduced.

Package and model versions (the GGUF's SHA-256, or the server's model id), the prompts,
seed, decision window, model calls, tokens and cost, and a description of the model in
the sections of the ODD protocol (Grimm et al. 2020, "The ODD protocol for describing
agent-based and other simulation models: A second update to improve clarity,
replication, and structural realism", JASSS 23(2) 7), generated from the scenario.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from agents.prompts import DEFAULTS
from engine.simtime import format_time

GAME_PURPOSE = {
    "social_media": (
        "Whether LLM agents on a microblogging platform reproduce the friendship paradox "
        "(Orlando, La Gatta, Russo & Moscato, WebSci 2025): do an agent's followees have "
        "more followers, activity and influence than the agent?"
    ),
    "donor_game": (
        "How cooperation evolves across generations of LLM agents in an iterated Donor Game "
        "with reputation traces (Vallinder & Hughes 2024, arXiv 2412.10270)."
    ),
    "narrative": (
        "An open-ended world in the style of Concordia: agents act in natural language; "
        "a narrator judges attempts; coins and a shared project are typed state."
    ),
}
GAME_PROCESS = {
    "social_media": (
        "At each activation an agent sees its feed and suggested accounts, takes one action "
        "(post, reply, repost, like, dislike, unfollow, nothing) and may follow suggested "
        "accounts in the same reply. Feeds: {feed}; recommender: {recommender}."
    ),
    "donor_game": (
        "Each generation: strategies are written; then {rounds} rounds in which donors see the "
        "recipient's trace (depth {trace_depth}) and give part of their resources (x{multiplier}); "
        "the best {survivors:.0%} survive; newcomers learn from them. {generations} generations."
    ),
    "narrative": (
        "At each activation an agent sees its place, company, coins, facts and recent local "
        "events, and speaks, moves, contributes, attempts something (judged by the narrator) "
        "or waits."
    ),
}


def run_card(run: Any) -> dict[str, Any]:
    """The card's content as data (also written as ``run_card.json``)."""
    info = run.info
    scenario = yaml.safe_load(info["scenario_yaml"])
    summary = info.get("summary") or {}
    model = scenario.get("model", {}) or {}
    model_identity: dict[str, Any] = {
        "backend": model.get("backend", "local"),
        "models": run.models_served(),
    }
    if model.get("backend", "local") == "local":
        try:
            from engine.models.local import default_model_path, file_sha256

            path = model.get("model_path") or str(default_model_path())
            model_identity["gguf"] = path.rsplit("/", 1)[-1]
            model_identity["gguf_sha256"] = file_sha256(path)
        except Exception as err:  # the local extra may be missing where the card is read
            model_identity["gguf_sha256"] = f"unavailable ({err})"
    prompts = dict(DEFAULTS)
    prompts.update(scenario.get("prompts") or {})
    game = scenario.get("game", {})
    for key in ("rules", "strategy_prompt"):
        if key in game:
            prompts[f"game.{key}"] = game[key]
    return {
        "run": run.folder.name,
        "scenario": info["scenario_name"],
        "game": info["game"],
        "seed": info["seed"],
        "decision_window_s": info["window"],
        "overrides": info["overrides"],
        "status": info["status"],
        "started_at": info["started_at"],
        "ended_at": info["ended_at"],
        "versions": info["versions"],
        "model": model_identity,
        "model_calls": summary.get("model_calls"),
        "model_calls_per_action": summary.get("model_calls_per_action"),
        "tokens": {
            "prompt": summary.get("prompt_tokens"),
            "completion": summary.get("completion_tokens"),
        },
        "cost": summary.get("cost"),
        "prompts": prompts,
        "odd": odd(scenario, info),
    }


def odd(scenario: dict[str, Any], info: dict[str, Any]) -> dict[str, str]:
    """The ODD protocol's sections, filled from the scenario."""
    game = dict(scenario.get("game", {}))
    kind = game.get("type", info.get("game", ""))
    population = scenario.get("population", {})
    activity = population.get("activity", {}) or {}
    memory = scenario.get("memory", {}) or {}
    defaults = {
        "feed": "mixture",
        "recommender": "similarity",
        "rounds": game.get("agents_per_generation", 12),
        "trace_depth": 3,
        "multiplier": 2,
        "survivors": 0.5,
        "generations": 10,
    }
    try:
        process = GAME_PROCESS.get(kind, "").format(**{**defaults, **game})
    except (KeyError, ValueError):
        process = GAME_PROCESS.get(kind, "")
    count = population.get("count") or len(population.get("personas", [])) or "?"
    return {
        "1 Purpose and patterns": GAME_PURPOSE.get(kind, scenario.get("description", "")),
        "2 Entities, state variables and scales": (
            f"{count} agents (persona: name, description, traits, interests; associative memory). "
            f"World state is kept by the '{kind}' game master. Time is continuous simulated "
            f"time in seconds from {format_time(float(scenario.get('start', 0) or 0))}, "
            f"running for {scenario.get('duration')}."
        ),
        "3 Process overview and scheduling": (
            f"Activations: {activity.get('schedule', 'poisson')} (rate {activity.get('rate', 1)}/h, "
            f"lognormal sigma {activity.get('rate_sigma', 0)}, scale {activity.get('scale', 1)}) or game "
            f"turns. Agents due within one decision window ({scenario.get('window', 0)}) observe the "
            f"world at the window's start, decide concurrently (one model call each) and are "
            f"resolved in activation order, ties broken by the seed. {process}"
        ),
        "4 Design concepts": (
            "Adaptation and objectives come from the language model prompted with the persona, "
            f"the top {memory.get('k', 5)} memories (relevance, recency with half-life "
            f"{memory.get('half_life', '1d')}, importance; Park et al. 2023) and the observation. "
            "Interaction is only through the game master's typed state; stochasticity from one "
            "seed spawned into independent streams."
        ),
        "5 Initialization": f"Seed {info.get('seed')}; game section: {json.dumps(game, default=str)[:600]}",
        "6 Input data": (
            f"Personas: {population.get('personas_file') or 'inline in the scenario'}. No external "
            "time series."
        ),
        "7 Submodels": (
            f"Language model: {json.dumps(scenario.get('model', {}), default=str)}. Embedder: "
            f"{json.dumps(scenario.get('embedder', {}), default=str)}. Statistics as documented in "
            "engine/network/."
        ),
    }


def run_card_markdown(run: Any) -> str:
    """The card as Markdown (``run_card.md``)."""
    card = run_card(run)
    lines = [f"# Run card: {card['run']}", ""]
    for key in (
        "scenario",
        "game",
        "seed",
        "decision_window_s",
        "overrides",
        "status",
        "started_at",
        "ended_at",
        "model_calls",
        "model_calls_per_action",
        "tokens",
        "cost",
    ):
        lines.append(f"- {key}: {card[key]}")
    lines.append(f"- model: {json.dumps(card['model'])}")
    lines.append(f"- versions: {json.dumps(card['versions'])}")
    lines += ["", "## ODD description (Grimm et al. 2020)", ""]
    for section, text in card["odd"].items():
        lines += [f"### {section}", "", text, ""]
    lines += ["## Prompts", ""]
    for name, text in card["prompts"].items():
        lines += [f"### {name}", "", "```", text, "```", ""]
    return "\n".join(lines)


def write_run_card(run: Any) -> None:
    """Write ``run_card.md`` and ``run_card.json`` into the run folder."""
    (run.folder / "run_card.md").write_text(run_card_markdown(run), encoding="utf-8")
    (run.folder / "run_card.json").write_text(
        json.dumps(run_card(run), indent=2, default=str), encoding="utf-8"
    )
