"""Shared vocabulary of a run: events, actions, action spaces, observations, personas, rows.

Both sides of the simulation import this module and nothing else of each other: agents
receive an ``ActionSpace`` and an ``Observation`` and return an ``Action``; the game
master turns an ``Action`` into ``Event`` objects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ParseOutcome = Literal["ok", "repaired", "fallback"]


class SociumError(Exception):
    """Root of every error socium raises on purpose."""


class ScenarioError(SociumError):
    """A scenario or persona file is wrong; the message names file:line: field."""


class ModelError(SociumError):
    """A language model is misconfigured or stayed unreachable past its retry budget."""


@dataclass(frozen=True, slots=True)
class Event:
    """Something observable that happened at simulated time ``t`` (seconds).

    ``seq`` is assigned by the kernel when the event is committed; ``perceivers`` is
    the game master's routing: the agents whose memories receive this event.
    """

    t: float
    kind: str
    actor: str | None = None
    target: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    perceivers: tuple[str, ...] = ()
    seq: int = -1


@dataclass(frozen=True, slots=True)
class ArgSpec:
    """Constraint on one argument of an action option."""

    type: Literal["text", "number", "integer", "agent", "choice", "list"]
    description: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    max_length: int | None = 500  # None: no cap in the schema (the game truncates)
    min_length: int = 1
    max_items: int = 1  # for "list": at most this many distinct choices
    bounds_in_schema: bool = True  # False: out-of-range values reach the rules (invalid_action)

    def placeholder(self) -> str:
        """How the argument's value looks in a reply example."""
        if self.type in ("number", "integer"):
            low = "" if self.low is None else f"{self.low:g}"
            high = "" if self.high is None else f"{self.high:g}"
            return f"<{self.type} {low}-{high}>" if low or high else f"<{self.type}>"
        if self.type == "list":
            return "[" + ", ".join(f'"{c}"' for c in self.choices[: self.max_items]) + "] or []"
        if self.choices:
            return '"' + "|".join(self.choices) + '"'
        return "..."

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of this argument, used for constrained model output."""
        if self.type in ("number", "integer"):
            schema: dict[str, Any] = {"type": self.type}
            if not self.bounds_in_schema:  # the rules enforce them; say them, do not constrain
                if self.low is not None and self.high is not None:
                    schema["description"] = f"from {self.low:g} to {self.high:g}"
                return schema
            if self.low is not None:
                schema["minimum"] = self.low
            if self.high is not None:
                schema["maximum"] = self.high
            return schema
        if self.type == "list":
            items = {"type": "string", "enum": list(self.choices)}
            return {"type": "array", "items": items, "maxItems": self.max_items}
        if self.type in ("choice", "agent") and self.choices:
            return {"type": "string", "enum": list(self.choices)}
        if self.max_length is None:
            return {"type": "string"}
        return {"type": "string", "maxLength": self.max_length}


@dataclass(frozen=True, slots=True)
class ActionOption:
    """One kind of action an agent may take, with typed arguments."""

    name: str
    description: str
    args: Mapping[str, ArgSpec] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActionSpace:
    """The actions open to one agent at one moment, as the game master declares them."""

    options: tuple[ActionOption, ...]
    extras: Mapping[str, ArgSpec] = field(default_factory=dict)  # arguments of every option

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the options, in declaration order."""
        return tuple(option.name for option in self.options)

    def option(self, name: str) -> ActionOption | None:
        """The option called ``name``, or None."""
        for option in self.options:
            if option.name == name:
                return option
        return None

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of a reply: ``{"action": name, <args>...}``, one branch per option."""
        branches = []
        for option in self.options:
            properties: dict[str, Any] = {"action": {"const": option.name}}
            properties.update({k: spec.json_schema() for k, spec in option.args.items()})
            properties.update({k: spec.json_schema() for k, spec in self.extras.items()})
            branches.append(
                {
                    "type": "object",
                    "properties": properties,
                    "required": ["action", *option.args, *self.extras],
                    "additionalProperties": False,
                }
            )
        return branches[0] if len(branches) == 1 else {"anyOf": branches}

    def describe(self) -> str:
        """Plain-text list of the options for a prompt, each with its reply form."""
        lines = []
        for option in self.options:
            fields = [f'"action": "{option.name}"']
            fields += [f'"{name}": {spec.placeholder()}' for name, spec in option.args.items()]
            lines.append(f"- {option.name}: {option.description} Reply {{{', '.join(fields)}}}")
        for name, spec in self.extras.items():
            lines.append(
                f'Every reply also has "{name}": {spec.placeholder()} ({spec.description}).'
            )
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Action:
    """What an agent decided: an option name with arguments, plus the raw model reply."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)
    raw: str = ""
    parse: ParseOutcome = "ok"


@dataclass(frozen=True, slots=True)
class Observation:
    """What one agent perceives of the world at the start of its decision window."""

    t: float
    text: str
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Persona:
    """Who an agent is: the static part of every prompt (put first, for prefix caching)."""

    name: str
    description: str = ""
    traits: Mapping[str, Any] = field(default_factory=dict)
    interests: tuple[str, ...] = ()
    activity: Mapping[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        """The persona as prompt text."""
        parts = [f"You are {self.name}."]
        if self.description:
            parts.append(self.description)
        if self.traits:
            parts.append("Traits: " + ", ".join(f"{k}: {v}" for k, v in self.traits.items()) + ".")
        if self.interests:
            parts.append("Interests: " + ", ".join(self.interests) + ".")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """The persona as the store keeps it (its ``agents`` table)."""
        return {
            "name": self.name,
            "description": self.description,
            "traits": dict(self.traits),
            "interests": list(self.interests),
            "activity": dict(self.activity),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Persona:
        """A persona from its stored dict (:meth:`as_dict`)."""
        return cls(
            str(data["name"]),
            str(data.get("description", "")),
            dict(data.get("traits") or {}),
            tuple(data.get("interests") or ()),
            dict(data.get("activity") or {}),
        )


def quote(text: str) -> str:
    """Render text written by an agent or a model as inert data inside a prompt.

    The text becomes a JSON string literal: quotes and newlines are escaped, so it
    cannot close the quotation or start a new instruction line of the prompt.
    """
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class CallRow:
    """One model call as recorded in ``model_calls``."""

    id: int
    t: float | None
    agent: str | None
    purpose: str
    backend: str
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    retries: int
    outcome: str
    cached: bool
    request_hash: str
    prompt: str | None
    reply: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MemoryRow:
    """One memory as recorded in ``memories``."""

    agent: str
    id: int
    t: float
    kind: str
    importance: float
    text: str
