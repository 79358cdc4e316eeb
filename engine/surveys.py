"""Surveys of a stored run: ask its agents a question from their memories as of ``T``.

``socium survey RUN_DIR --at T --question "..."`` rebuilds every agent's memory stream
from the store (the memories filed up to ``T``, with their times and importance, embedded
again by the run's embedder), then asks each agent once, as a survey intervention would
have asked it during the run (the same ``survey`` prompt; seeds drawn from the run's seed,
the question, the agent and ``T``). Answers go to the store's ``surveys`` table
(``load_run(...).surveys`` shows them with the run's own survey events); the run's events
are not touched. A survey during a run is the ``survey`` intervention
(:mod:`engine.interventions`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.simtime import format_time
from engine.store import FolderLock, RunStore
from engine.types import Persona, SociumError


def survey(
    folder: Path,
    question: str,
    *,
    at: float | None = None,
    agents: Sequence[str] | None = None,
    scale: tuple[int, int] | None = None,
    overrides: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Ask ``agents`` (default all) of the run in ``folder``; store and return the answers.

    ``at`` counts from the scenario's start (default: where the run ended); with a
    ``scale`` (low, high) each answer carries a whole-number rating in that range.
    """
    if scale is not None and not scale[0] < scale[1]:
        raise SociumError(f"scale {scale[0]},{scale[1]}: low below high, e.g. 0,10")
    from agents.agent import Agent, AgentSettings
    from agents.embedders import build_embedder
    from agents.memory import MemoryBank
    from agents.prompts import Prompts
    from engine.models import build_model
    from engine.rng import RunSeeds
    from engine.scenario import parse_scenario

    lock = FolderLock(folder)  # not while the run (or another survey) writes the folder
    try:
        store = RunStore(folder)
        info = store.run_info()
        loaded = parse_scenario(info["scenario_yaml"], Path(info["scenario_path"]), overrides)
        scenario = loaded.scenario
        t = float(info["sim_time"]) if at is None else scenario.start + at
        if t > float(info["sim_time"]) + 1e-9:
            raise SociumError(
                f"{folder}: the run reached {format_time(float(info['sim_time']) - scenario.start)}"
                f"; it cannot be surveyed at {format_time(t - scenario.start)}"
            )
        personas = {
            name: Persona.from_dict({**p, "name": name}) for name, p in store.agents().items()
        }
        chosen = list(agents) if agents else list(personas)
        unknown = [a for a in chosen if a not in personas]
        if unknown:
            raise SociumError(f"{folder}: no agent {unknown[0]!r} in this run")
        seeds = RunSeeds(int(info["seed"]))
        model = build_model(
            scenario.model,
            base_dir=loaded.base,
            replay_dir=folder.parent,
            seed=seeds.integer("model"),
        )
        memory = None
        if scenario.memory.enabled:
            memory = MemoryBank.from_config(scenario.memory, build_embedder(scenario.embedder))
            rows = store.db.execute(
                "SELECT agent, t, kind, importance, text FROM memories WHERE t <= ? "
                "ORDER BY agent, id",
                (t,),
            )
            for agent, when, kind, importance, text in rows:
                if agent in chosen:
                    memory.add(agent, text, when, kind, importance)
            memory.flush()
        prompts = Prompts(scenario.prompts.model_dump(exclude_none=True))
        settings = AgentSettings.from_config(scenario.memory)

        async def ask_all() -> list[Any]:
            async def ask(name: str) -> Any:
                agent = Agent(
                    personas[name], model=model, memory=memory, prompts=prompts, settings=settings
                )
                seed = seeds.integer("survey", question, name, f"{t:.6f}")
                return await agent.answer(question, t, seed=seed, scale=scale)

            try:
                return await asyncio.gather(*(ask(name) for name in chosen))
            finally:
                await model.aclose()

        answers = asyncio.run(ask_all())
        served = "+".join(sorted({str(model.backend.model)})) if model.backend.model else None
        rows_out = [
            (t, name, question, answer.text, answer.rating, answer.parse, served)
            for name, answer in zip(chosen, answers, strict=True)
        ]
        store.write_surveys(rows_out)
        store.close()
    finally:
        lock.release()
    return [
        {"t": t, "agent": r[1], "answer": r[3], "rating": r[4], "parse": r[5]} for r in rows_out
    ]


def survey_frame(store: RunStore, start: float) -> Any:
    """Every survey answer of a run: its survey events and ``socium survey``'s table."""
    import pandas as pd

    rows = [
        {
            "t": event.t,
            "hours": (event.t - start) / 3600,
            "agent": event.actor,
            "question": event.payload.get("question"),
            "answer": event.payload.get("answer"),
            "rating": event.payload.get("rating"),
            "source": "run",
        }
        for event in store.events()
        if event.kind == "survey"
    ]
    for t, agent, question, answer, rating, _parse, _model, asked_at in store.surveys():
        rows.append(
            {
                "t": t,
                "hours": (t - start) / 3600,
                "agent": agent,
                "question": question,
                "answer": answer,
                "rating": rating,
                "source": f"socium survey ({asked_at})",
            }
        )
    columns = ["t", "hours", "agent", "question", "answer", "rating", "source"]
    return pd.DataFrame(rows, columns=columns)


NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def survey_measures(frame: Any) -> dict[str, float]:
    """Mean numeric answer per survey time (and question), for ``socium compare``.

    An answer's rating counts (a survey with a ``scale``); without one, the first number
    in its text (a free-text question that asks for a number); answers with neither are
    left out. Named ``survey@<hours>h`` (`` q2`` etc. when a run asks several questions).
    """
    out: dict[str, float] = {}
    questions = list(dict.fromkeys(frame["question"])) if len(frame) else []
    for number, question in enumerate(questions, start=1):
        asked = frame[frame["question"] == question]
        for hours, group in asked.groupby("hours", sort=True):
            values = [
                v
                for a, r in zip(group["answer"], group["rating"], strict=True)
                if (v := _number(a, r)) is not None
            ]
            if values:
                suffix = f" q{number}" if len(questions) > 1 else ""
                out[f"survey@{hours:g}h{suffix}"] = sum(values) / len(values)
    return out


def _number(answer: Any, rating: Any) -> float | None:
    """An answer's rating, else the first number in its text, else None."""
    if rating is not None and rating == rating:  # not None, not NaN
        return float(rating)
    found = NUMBER.search(str(answer))
    return float(found.group()) if found else None
