"""The game-master protocol, action mapping onto an action space, observation routing.

A game master owns typed world state. Per activation the simulation calls, in order:
``observe`` and ``action_space`` (world as at the window's start), the agent decides,
``interpret`` (async, concurrent with the window's other decisions: maps free text onto
the action space by rules first and one model ``choose`` only when still ambiguous; a
game may also judge an attempt there), then ``resolve`` one action at a time in
activation order, which enforces every invariant whatever the text says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from engine.kernel import TurnDriver
from engine.models import LanguageModel
from engine.types import Action, ActionSpace, Event, Observation, Persona, quote


class GameMaster:
    """Base class: override ``observe``, ``action_space`` and ``resolve``.

    Parameters
    ----------
    section : pydantic model
        The game's section of the scenario file.
    model : LanguageModel
        For interpretation of ambiguous text and games that judge attempts.
    rng : numpy.random.Generator
        The game master's own stream.
    embedder : Embedder, optional
        The run's text embedder (one batch per call).
    """

    name = "base"

    def __init__(
        self, section: Any, *, model: LanguageModel, rng: np.random.Generator, embedder: Any = None
    ) -> None:
        self.section = section
        self.model = model
        self.rng = rng
        self.embedder = embedder  # for games that compare texts (feeds, recommenders)
        self.agents: dict[str, Persona] = {}
        self.removed: set[str] = set()  # agents the game stopped (the engine no longer activates)

    # -- lifecycle --------------------------------------------------------------------
    def setup(self, agents: Sequence[Persona]) -> None:
        """Receive the population before the first window."""
        self.agents = {p.name: p for p in agents}

    def persona(self, agent: str) -> Persona:
        """The persona of ``agent``; games that introduce agents register them in ``agents``."""
        return self.agents[agent]

    def turns(self) -> TurnDriver | None:
        """A turn driver for round-based games; None lets agents follow their schedules."""
        return None

    def processes(self) -> Sequence[TurnDriver]:
        """Processes that run beside the agents' schedules (scheduled news, shocks, ...).

        Each is a generator like a turn driver: it waits with ``kernel.env.timeout`` and
        may ``kernel.emit`` events or ``kernel.activate`` agents; it draws randomness from
        ``self.rng`` only.
        """
        return ()

    # -- interventions (engine/interventions.py) ---------------------------------------
    def intervene(self, item: Any, t: float) -> list[Event]:
        """Apply one of the game's own interventions at ``t``; the events it causes.

        An account the game creates here goes into ``self.agents``: the engine stores it
        (it takes part in graphs) but never activates it.
        """
        raise NotImplementedError(f"the {self.name} game registers no intervention {item.kind!r}")

    def add_agents(self, personas: Sequence[Persona], t: float) -> None:
        """Newcomers join at ``t`` (games with ``Game.joins``); register them in ``agents``."""
        raise NotImplementedError(f"the {self.name} game does not take agents during a run")

    def remove_agents(self, names: Sequence[str], t: float) -> None:
        """Agents leave at ``t``: the engine stops activating them; a game may hide them."""

    # -- per activation ---------------------------------------------------------------
    def prepare_views(self, agents: Sequence[str], t: float) -> None:
        """Called with a window's acting agents (activation order) before their observations.

        A game may compute what their views share in one batch here; the views must be
        those observing each alone gives (this hook is an optimization, not a contract).
        """

    def observe(self, agent: str, t: float, context: Mapping[str, Any]) -> Observation:
        """What ``agent`` sees at ``t``."""
        raise NotImplementedError

    def action_space(self, agent: str, t: float, context: Mapping[str, Any]) -> ActionSpace:
        """What ``agent`` may do at ``t``."""
        raise NotImplementedError

    async def interpret(
        self,
        agent: str,
        action: Action,
        space: ActionSpace,
        t: float,
        context: Mapping[str, Any],
        *,
        seed: int,
    ) -> Action:
        """Map the agent's reply onto ``space`` (rules first, one ``choose`` if ambiguous).

        Runs while earlier turns of the window are being resolved: what it reads of the
        world must be as the turn observed it (:meth:`observe`), not the live state.
        """
        if action.parse != "fallback" and space.option(action.name) is not None:
            return action
        names = mentioned_options(action.raw, space)
        if len(names) == 1:
            return replace(action, name=names[0], args={}, parse="repaired")
        if not action.raw.strip():
            return action
        answer = await self.model.choose(
            "Which of these actions does the following reply describe?\n"
            f"Actions: {', '.join(space.names)}\nReply: {action.raw[:600]!r}\n"
            'Answer with JSON {"answer": "<action>"}.',
            list(space.names),
            fallback=action.name,
            seed=seed,
            agent=agent,
            t=t,
            purpose="interpret",
        )
        return replace(action, name=answer.value, args={}, parse="repaired")

    def resolve(
        self, agent: str, action: Action, t: float, context: Mapping[str, Any]
    ) -> list[Event]:
        """Apply ``action`` to the world; return the events (invalid ones included)."""
        raise NotImplementedError

    def narrate(self, event: Event, agent: str) -> str:
        """How ``agent`` remembers ``event``; text written by agents stays quoted."""
        who = "You" if event.actor == agent else (event.actor or "The world")
        details = ", ".join(
            f"{key}={quote(value) if isinstance(value, str) else value}"
            for key, value in event.payload.items()
        )
        target = f" -> {event.target}" if event.target else ""
        return f"{who}: {event.kind}{target}" + (f" ({details})" if details else "")

    # -- state ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """World state as JSON-ready data (stored every few windows, for inspection)."""
        return {}

    def metrics(self) -> dict[str, Any]:
        """Summary numbers for the run summary."""
        return {}

    def finish(self, t: float) -> list[Event]:
        """Events at the end of the run (final state, standings)."""
        return []


def invalid(agent: str, action: Action, t: float, reason: str) -> Event:
    """An ``invalid_action`` event, perceived by the acting agent only."""
    return Event(
        t,
        "invalid_action",
        actor=agent,
        payload={"attempted": action.name, "args": dict(action.args), "reason": reason},
        perceivers=(agent,),
    )


def check_args(action: Action, space: ActionSpace) -> str | None:
    """Why ``action``'s arguments break the space's constraints, or None if they don't."""
    option = space.option(action.name)
    if option is None:
        return f"{action.name!r} is not an available action (available: {', '.join(space.names)})"
    for name, spec in space.extras.items():  # optional: absent means none
        value = action.args.get(name, [] if spec.type == "list" else None)
        if spec.type == "list" and (
            not isinstance(value, list)
            or len(value) > spec.max_items
            or len(set(map(str, value))) != len(value)
            or any(v not in spec.choices for v in value)
        ):
            return f"{name}={value!r} must list at most {spec.max_items} of {list(spec.choices)}"
    for name, spec in option.args.items():
        if name not in action.args:
            return f"missing argument {name!r}"
        value = action.args[name]
        if spec.type in ("number", "integer"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"{name} must be a number"
            if spec.low is not None and value < spec.low:
                return f"{name}={value} is below {spec.low}"
            if spec.high is not None and value > spec.high:
                return f"{name}={value} is above {spec.high}"
        elif spec.choices and value not in spec.choices:
            return f"{name}={value!r} is not one of {list(spec.choices)}"
        elif spec.type == "text" and (
            not isinstance(value, str) or len(value.strip()) < spec.min_length
        ):
            return f"{name} must be text of at least {spec.min_length} character(s)"
    return None


def mentioned_options(text: str, space: ActionSpace) -> list[str]:
    """Option names that occur as words in ``text`` (the rule-based mapping)."""
    lowered = text.lower()
    return [n for n in space.names if re.search(rf"\b{re.escape(n.lower())}\b", lowered)]
