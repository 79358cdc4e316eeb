"""The run card: what a run was, so that it can be cited and reproduced.

Package and model versions (the GGUF's SHA-256, or the server's model id), the prompts,
seed, decision window, model calls, tokens and cost, what determines the event log
beyond the seed, and a description of the model in the sections of the ODD protocol
(Grimm et al. 2020, "The ODD protocol for describing agent-based and other simulation
models: A second update to improve clarity, replication, and structural realism", JASSS
23(2) 7), generated from the scenario, the stored agents and the game's own description.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from engine.simtime import format_time, parse_duration


def _duration(value: Any, default: float = 0.0) -> float:
    try:
        return parse_duration(value if value is not None else default)
    except ValueError:
        return default


def run_card(run: Any) -> dict[str, Any]:
    """The card's content as data (also written as ``run_card.json``)."""
    info = run.info
    scenario = run.scenario
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
            model_identity["gguf_sha256"] = f"not computed here ({type(err).__name__})"
    description = run.plugin.describe(run.section)
    prompts = dict(run.store.meta("prompts") or {})
    prompts.update({f"game.{k}": v for k, v in description_prompts(run.section).items()})
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
        "simulated": format_time(float(info.get("sim_time") or 0.0) - run.start),
        "versions": info["versions"],
        "determinism": run.store.meta("determinism") or {},
        "fork": run.store.meta("fork"),
        "interventions": scenario.get("interventions") or [],
        "model": model_identity,
        "model_calls": summary.get("model_calls"),
        "model_calls_per_action": summary.get("model_calls_per_action"),
        "tokens": {
            "prompt": summary.get("prompt_tokens"),
            "completion": summary.get("completion_tokens"),
        },
        "cost": summary.get("cost"),
        "prompts": prompts,
        "odd": odd(run, description.purpose, description.process),
    }


def description_prompts(section: Any) -> dict[str, str]:
    """The section's prompt templates (string fields holding ``$`` placeholders)."""
    out = {}
    for name, value in section.model_dump().items():
        if isinstance(value, str) and "$" in value:
            out[name] = value
    return out


def activity_text(activity: dict[str, Any], personas: list[dict[str, Any]]) -> str:
    """How agents are activated, in words (per-persona rates summarized when present)."""
    schedule = activity.get("schedule", "poisson")
    scale = float(activity.get("scale", 1) or 1)
    if schedule == "every":
        return f"every {activity.get('period') or '1h'} (per-persona periods where given)"
    if schedule == "turns":
        return "game turns"
    rates = [float(p["activity"]["rate"]) for p in personas if "rate" in (p.get("activity") or {})]
    if rates:
        r = np.array(rates) * scale
        return (
            f"Poisson, per-persona rates from the persona data for {len(rates)} of "
            f"{len(personas)} agents (times scale {scale:g}: mean {r.mean():.3g}/h, range "
            f"{r.min():.3g}-{r.max():.3g}/h)"
        )
    sigma = float(activity.get("rate_sigma", 0) or 0)
    spread = f", lognormal spread sigma {sigma:g}" if sigma else ", equal for everyone"
    return f"Poisson at {float(activity.get('rate', 1)) * scale:g}/h{spread}"


def odd(run: Any, purpose: str, process: str) -> dict[str, str]:
    """The ODD protocol's sections, filled from the scenario, the store and the game."""
    scenario, info = run.scenario, run.info
    population = scenario.get("population", {}) or {}
    memory = scenario.get("memory", {}) or {}
    personas = list(run.store.agents().values())
    start = _duration(scenario.get("start"))
    duration = _duration(scenario.get("duration"))
    window = _duration(scenario.get("window"))
    played = float(info.get("sim_time") or start) - start
    return {
        "1 Purpose and patterns": purpose or str(scenario.get("description", "")),
        "2 Entities, state variables and scales": (
            f"{len(personas)} agents took part (persona: name, description, traits, interests; "
            f"associative memory). World state is kept by the '{info['game']}' game master. Time "
            f"is continuous simulated time in seconds, from {format_time(start)} for at most "
            f"{format_time(duration)}; {format_time(played)} were played."
        ),
        "3 Process overview and scheduling": (
            f"Activations: {activity_text(population.get('activity', {}) or {}, personas)}. "
            f"Agents due within one decision window ({format_time(window)}) observe the world "
            "at the window's start, decide concurrently (one model call each) and are resolved "
            f"in activation order, ties broken by the seed. {process}"
        ),
        "4 Design concepts": (
            "Adaptation and objectives come from the language model prompted with the persona, "
            + (
                f"the top {memory.get('k', 5)} memories (relevance, recency with half-life "
                f"{memory.get('half_life', '1d')}, importance; Park et al. 2023) "
                if memory.get("enabled", True)
                else "no memory "
            )
            + "and the observation. Interaction is only through the game master's typed state; "
            "stochasticity from one seed spawned into named streams."
        ),
        "5 Initialization": (
            f"Seed {info.get('seed')}; game section: "
            f"{json.dumps(scenario.get('game', {}), default=str)[:600]}"
        ),
        "6 Input data": (
            f"Personas: {population.get('personas_file') or 'inline in the scenario'}. No external "
            "time series."
        ),
        "7 Submodels": (
            f"Language model: {json.dumps(scenario.get('model', {}), default=str)}. Embedder: "
            f"{json.dumps(scenario.get('embedder', {}), default=str)}. Statistics: the game's "
            "own (see its documentation and stats.json)."
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
        "simulated",
        "model_calls",
        "model_calls_per_action",
        "tokens",
        "cost",
    ):
        lines.append(f"- {key}: {card[key]}")
    lines.append(f"- model: {json.dumps(card['model'])}")
    lines.append(f"- versions: {json.dumps(card['versions'])}")
    if card["determinism"]:
        lines.append(f"- determinism: {json.dumps(card['determinism'])}")
    fork = card["fork"]
    if fork:
        prefix = (
            ""
            if "prefix_identical" not in fork
            else f"; its {fork['prefix_events']} events before then "
            + ("equal the parent's" if fork["prefix_identical"] else "DIFFER from the parent's")
        )
        lines.append(
            f"- fork: of {fork['parent']} (run {fork['parent_run']}) at "
            f"{format_time(fork['at'])}, changing {'; '.join(fork['changes'])}{prefix}"
        )
    for item in card["interventions"]:
        lines.append(f"- intervention: {json.dumps(item, default=str)}")
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
