"""Interventions: scheduled changes to a running simulation (experiments, not just runs).

A scenario's ``interventions:`` list says *when* (``at: 2d``; ``every: 12h`` with
optional ``from:``/``until:``; or a game's own clock, ``generation: 5``) and *what*: a
``kind`` the engine or the game registers, with its arguments. The engine's kinds:

- ``broadcast``: a fact (``text``) that the chosen ``agents`` (default all) perceive and
  remember;
- ``set``: a scenario ``field`` takes ``value`` from then on (``game.<field>``,
  ``model.temperature``, ``model.max_tokens``);
- ``survey``: the chosen agents answer a ``question`` from their memories as of then (with
  ``scale: [0, 10]``, also a whole-number rating the model's constrained output keeps in
  range: the measure ``socium compare`` uses); each answer is a ``survey`` event that
  nobody perceives and that changes no world state (attitude measurement, as in the
  interviews of generative-agent studies, Park et al. 2023); a survey draws its seeds
  from its own stream, so the rest of the run is the same with or without it;
- ``add_agents`` (``personas``, in a game that takes newcomers) and ``remove_agents``.

Games add their own (``Game.interventions``; social media: ``inject_post``,
``suspend``, ``boost``). Every intervention is an event in the store (``intervention``,
or ``broadcast``/``survey``), so it shows in the report's timeline, and no decision
window spans an intervention's time: what happens at ``t`` is seen by every decision from
``t`` on and by none before. A survey is a kernel probe instead (``Kernel.add_probe``): it
joins the window that covers its time and moves no window's bounds.
"""

from __future__ import annotations

import functools
import math
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from pydantic import BaseModel, Field, TypeAdapter, ValidationError, model_validator

from engine.fields import Duration, Name, Strict
from engine.games import Game
from engine.personas import PersonaConfig, persona_from_config
from engine.simtime import format_time
from engine.types import Event, Persona
from engine.yamlsource import did_you_mean, dotted, format_errors, line_for, printable

if TYPE_CHECKING:
    from engine.simulation import Simulation

CLOCK_UNITS = ("generation", "round", "iteration")
MODEL_FIELDS = ("model.temperature", "model.max_tokens")


class Intervention(Strict):
    """When an intervention happens; subclasses add ``kind`` and the arguments.

    Exactly one of ``at``, ``every`` (with optional ``from`` and ``until``), or a game
    clock unit (``generation``, ``round``, ``iteration``: the start of that unit).
    """

    kind: str
    at: Duration | None = Field(None, description="Once, this long after the start.")
    every: Duration | None = Field(None, gt=0, description="Repeatedly, this often.")
    from_: Duration | None = Field(None, alias="from", description="First time of `every`.")
    until: Duration | None = Field(None, description="Last time of `every` (default: the end).")
    generation: int | None = Field(None, ge=1, description="At the start of this generation.")
    round: int | None = Field(None, ge=1, description="At the start of this round.")
    iteration: int | None = Field(None, ge=1, description="At the start of this iteration.")

    @model_validator(mode="after")
    def _one_time(self) -> Intervention:
        given = [name for name in ("at", "every", *CLOCK_UNITS) if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "say when, once: one of at, every (with from/until), "
                + ", ".join(CLOCK_UNITS)
                + (f" (got {', '.join(given)})" if given else "")
            )
        if (self.from_ is not None or self.until is not None) and self.every is None:
            raise ValueError("from and until go with every")
        return self

    def arguments(self) -> dict[str, Any]:
        """The intervention's own arguments (for its event's payload)."""
        timing = {"kind", "at", "every", "from_", "until", *CLOCK_UNITS}
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in timing}


Agents = list[Name] | Literal["all"]


class Broadcast(Intervention):
    """A fact the chosen agents perceive and remember."""

    kind: Literal["broadcast"]
    text: str = Field(min_length=1, max_length=4000)
    agents: Agents = "all"


class SetField(Intervention):
    """A scenario field takes a new value from then on."""

    kind: Literal["set"]
    field: str = Field(description="game.<field> (dotted), model.temperature or model.max_tokens")
    value: Any


class Survey(Intervention):
    """The chosen agents answer a question from their memories; nobody perceives it."""

    kind: Literal["survey"]
    question: str = Field(min_length=1, max_length=2000)
    agents: Agents = "all"
    sample: int | None = Field(None, ge=1, description="Ask this many of them, drawn at random.")
    scale: tuple[int, int] | None = Field(
        None, description="[low, high]: each answer also carries a whole-number rating in range."
    )

    @model_validator(mode="after")
    def _scale(self) -> Survey:
        if self.scale is not None and not self.scale[0] < self.scale[1]:
            raise ValueError(f"scale: low below high, e.g. [0, 10] (got {list(self.scale)})")
        return self


class AddAgents(Intervention):
    """New agents join (in a game that takes newcomers)."""

    kind: Literal["add_agents"]
    personas: list[PersonaConfig] = Field(min_length=1)


class RemoveAgents(Intervention):
    """Agents leave: they are no longer activated."""

    kind: Literal["remove_agents"]
    agents: list[Name] = Field(min_length=1)


ENGINE_KINDS: tuple[type[Intervention], ...] = (
    Broadcast,
    SetField,
    Survey,
    AddAgents,
    RemoveAgents,
)


def kinds(game: Game) -> dict[str, type[Intervention]]:
    """The engine's kinds and the game's, by name."""
    members = ENGINE_KINDS + tuple(cast(Sequence[type[Intervention]], game.interventions))
    return {typing.get_args(k.model_fields["kind"].annotation)[0]: k for k in members}


def parse(
    raw: Sequence[Any],
    game: Game,
    section: BaseModel,
    scenario: Any,
    personas: Sequence[Persona],
    path: Any,
    lines: Mapping[tuple[Any, ...], int],
) -> tuple[list[Intervention], list[str]]:
    """Validate a scenario's ``interventions:`` list; ``file:line`` problems, if any.

    Beyond each entry's schema: its times fall within the run, the agents it names
    exist (or joined earlier), a ``set`` names a field that can change and a value the
    field takes, and ``add_agents`` needs a game that takes newcomers.
    """
    by_name = kinds(game)
    names = list(by_name)
    union: Any = typing.Union[tuple(by_name.values())]  # noqa: UP007 (built at run time)
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[union, Field(discriminator="kind")])
    checked: list[tuple[int, Intervention, list[float]]] = []  # (position, entry, times)
    problems: list[tuple[int, str]] = []
    for i, entry in enumerate(raw):
        loc = ("interventions", i)
        if not isinstance(entry, dict) or entry.get("kind") not in names:
            got = entry.get("kind") if isinstance(entry, dict) else entry
            what = did_you_mean(printable(str(got)), names) if got is not None else " (none)"
            problems.append(
                (
                    i,
                    f"{path}:{line_for(lines, (*loc, 'kind'))}: {dotted((*loc, 'kind'))}: "
                    f"unknown intervention{what}",
                )
            )
            continue
        try:
            item: Intervention = adapter.validate_python(entry)
        except ValidationError as err:
            found = format_errors(err, path, lines, by_name[entry["kind"]], loc, {(): names})
            problems += [(i, problem) for problem in found]
            continue
        try:
            checked.append((i, item, times(item, game, section, scenario)))
        except ValueError as err:
            problems.append((i, f"{path}:{line_for(lines, loc)}: {dotted(loc)}: {err}"))
    # The cross-field checks go in time order (the file's order among equal times), so
    # an entry may name an agent that an add_agents further down the file adds earlier.
    known = {p.name for p in personas}
    accepted: set[int] = set()
    for i, item, when in sorted(checked, key=lambda c: (min(c[2], default=math.inf), c[0])):
        problem = _check(item, when, game, section, scenario, known)
        if problem:
            field, message = problem
            at = ("interventions", i, field) if field else ("interventions", i)
            problems.append((i, f"{path}:{line_for(lines, at)}: {dotted(at)}: {message}"))
            continue
        accepted.add(i)
        if isinstance(item, AddAgents):
            known |= {p.name for p in item.personas}
        known |= set(game.accounts_added(item))
    parsed = [item for i, item, _ in checked if i in accepted]
    return parsed, [message for _, message in sorted(problems, key=lambda p: p[0])]


def _check(
    item: Intervention,
    when: Sequence[float],
    game: Game,
    section: BaseModel,
    scenario: Any,
    known: set[str],
) -> tuple[str, str] | None:
    """The first cross-field problem of ``item`` (happening at ``when``) as (field, message)."""
    if not when:
        return "", "happens at no time within the run (check from/until)"
    for name in _named_agents(item):
        if name not in known:
            return (
                "agents",
                f"no agent {name!r} in the population (or added before {format_time(when[0])})",
            )
    if isinstance(item, SetField):
        return _check_set(item, game, section, scenario)
    if isinstance(item, AddAgents):
        if not game.joins:
            return "personas", f"the {game.name} game does not take agents during a run"
        clash = [p.name for p in item.personas if p.name in known]
        if clash:
            return "personas", f"{', '.join(clash)} already take part"
    return game.check_intervention(item, section, known)


def _named_agents(item: Intervention) -> list[str]:
    agents = getattr(item, "agents", "all")
    return [] if agents == "all" else list(agents)


def _check_set(
    item: SetField, game: Game, section: BaseModel, scenario: Any
) -> tuple[str, str] | None:
    if item.field in MODEL_FIELDS:
        key = item.field.split(".", 1)[1]
        try:
            type(scenario.model).model_validate({**scenario.model.model_dump(), key: item.value})
        except ValidationError as err:
            return "value", err.errors()[0]["msg"]
        return None
    if not item.field.startswith("game.") or item.field == "game.type":
        return "field", (
            f"{item.field!r} cannot change during a run; a set takes game.<field> or "
            + ", ".join(MODEL_FIELDS)
        )
    path = item.field.split(".")[1:]
    if path[0] in game.fixed:
        return "field", (
            f"{item.field} shapes the whole run (the {game.name} game's schedule): it cannot "
            "change during it"
        )
    node: Any = section.model_dump()
    for depth, key in enumerate(path):
        if not isinstance(node, dict) or key not in node:
            keys = node if isinstance(node, dict) else {}
            options = [".".join(["game", *path[:depth], k]) for k in keys]
            return "field", f"no field in the {game.name} game:" + did_you_mean(item.field, options)
        node = node[key]
    try:
        changed(section, path, item.value)
    except (ValidationError, TypeError) as err:
        message = err.errors()[0]["msg"] if isinstance(err, ValidationError) else str(err)
        return "value", f"{item.field}: {message}"
    return None


def changed(section: BaseModel, path: Sequence[str], value: Any) -> BaseModel:
    """A copy of a game ``section`` with the field at ``path`` set (validated)."""
    data = section.model_dump()
    node = data
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            raise KeyError(f"no field {'.'.join(path)}")
        node = node[key]
    if path[-1] not in node:
        raise KeyError(f"no field {'.'.join(path)} in the game's section")
    node[path[-1]] = value
    return type(section).model_validate(data)


def times(item: Intervention, game: Game, section: BaseModel, scenario: Any) -> list[float]:
    """Absolute simulated times of ``item`` within the run (raises ValueError if outside)."""
    start, duration = scenario.start, scenario.duration
    if item.at is not None:
        offsets = [item.at]
    elif item.every is not None:
        first = item.from_ or 0.0
        last = min(item.until if item.until is not None else math.inf, duration)
        count = math.floor((last - first) / item.every) + 1 if last >= first else 0
        offsets = [first + k * item.every for k in range(count)]
        offsets = [o for o in offsets if o < duration]
    else:
        unit = next(u for u in CLOCK_UNITS if getattr(item, u) is not None)
        offset = game.time_of(section, unit, getattr(item, unit))
        if offset is None:
            raise ValueError(
                f"the {game.name} game has no {unit}s (or no {unit} {getattr(item, unit)})"
            )
        offsets = [offset]
    for offset in offsets:
        if offset >= duration:
            raise ValueError(
                f"{format_time(offset)} is not within the run ({format_time(duration)} long)"
            )
    return [start + o for o in offsets]


# -- at run time --------------------------------------------------------------------
class Runner:
    """Schedules a run's interventions on its kernel and applies them when due."""

    def __init__(self, simulation: Simulation, items: Iterable[Intervention]) -> None:
        self.sim = simulation
        self.items = list(items)

    def schedule(self) -> None:
        """Barriers at every intervention time; one simpy process per intervention.

        A survey is a probe instead: it joins whatever window covers its time, so the
        run around it is the same as without it.
        """
        sim = self.sim
        for number, item in enumerate(self.items):
            when = times(item, sim.game, sim.loaded.game, sim.scenario)
            if isinstance(item, Survey):
                for t in when:
                    sim.kernel.add_probe(t, functools.partial(self._survey, number, item, t))
                continue
            for t in when:
                sim.kernel.add_barrier(t)
            sim.kernel.add_turns(self._process(number, item, when))

    def _process(self, number: int, item: Intervention, when: list[float]) -> Any:
        def process(kernel: Any) -> Any:
            for t in when:
                if t > kernel.env.now:
                    yield kernel.env.timeout(t - kernel.env.now)
                self.apply(number, item, t)

        return process

    def apply(self, number: int, item: Intervention, t: float) -> None:
        """Apply ``item`` at ``t`` (during the kernel's stepping, before the window forms)."""
        sim = self.sim
        kernel = sim.kernel
        record = {"kind": item.kind, **item.arguments()}
        if isinstance(item, Broadcast):
            audience = tuple(self._chosen(item.agents, number, t, None))
            kernel.emit(Event(t, "broadcast", None, None, {"text": item.text}, audience))
            return
        kernel.emit(Event(t, "intervention", None, None, record, ()))
        if isinstance(item, SetField):
            self._set(item)
        elif isinstance(item, AddAgents):
            sim.add_agents([persona_from_config(p) for p in item.personas], t)
        elif isinstance(item, RemoveAgents):
            for name in item.agents:
                kernel.remove_agent(name)
            sim.gm.remove_agents(item.agents, t)
        else:
            before = set(sim.gm.agents)
            for event in sim.gm.intervene(item, t):
                kernel.emit(event)
            created = [p for name, p in sim.gm.agents.items() if name not in before]
            sim.register_accounts(created)  # stored (graphs), never activated
            for name in sim.gm.removed:  # e.g. a suspended account
                kernel.remove_agent(name)

    def _survey(self, number: int, item: Survey, t: float) -> list[tuple[str, dict[str, Any]]]:
        """The survey's activations: each chosen agent, its question and its own seed."""
        taken = []
        for agent in self._chosen(item.agents, number, t, item.sample):
            seed = self.sim.seeds.integer("survey", number, f"{t:.6f}", agent)
            context: dict[str, Any] = {"survey": item.question, "seed": seed}
            if item.scale is not None:
                context["scale"] = item.scale
            taken.append((agent, context))
        return taken

    def _chosen(self, agents: Any, number: int, t: float, sample: int | None) -> list[str]:
        sim = self.sim
        pool = (
            [a for a in sim.agents if a not in sim.kernel.removed]
            if agents == "all"
            else list(agents)
        )
        if sample is not None and sample < len(pool):
            rng = sim.seeds.generator("survey_sample", number, f"{t:.6f}")
            pool = [pool[i] for i in sorted(rng.choice(len(pool), size=sample, replace=False))]
        return pool

    def _set(self, item: SetField) -> None:
        sim = self.sim
        if item.field in MODEL_FIELDS:
            setattr(sim.model, item.field.split(".", 1)[1], item.value)
            return
        section = changed(sim.gm.section, item.field.split(".")[1:], item.value)
        sim.gm.section = section
