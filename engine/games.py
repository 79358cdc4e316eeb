"""The game plugin contract: one typed class a game implements, found by entry point.

A game is a subclass of :class:`Game` whose instance is registered under the
``socium.games`` entry point group (``name = "package.module:GAME"``). The engine, the
report, the analysis and the run card loop over this contract and never name a game; the
bundled games use exactly what a plugin can use (import it from :mod:`gamemaster.api`).

What a game provides, and when the engine calls it:

- ``section`` (a pydantic model) validates the ``game:`` block; ``validate(section,
  population)`` reports what would make a run impossible (``file:line`` errors at
  ``socium validate``);
- ``game_master(...)`` builds the typed world state and rules for one run; the game
  master's ``turns()`` and ``processes()`` run beside (or instead of) the agents'
  schedules;
- ``statistics(data)`` computes the run's statistics from :class:`RunData` (the stored
  events, never the live simulation); ``rows(stats)`` flattens them into tidy
  ``(t, name, value)`` rows; ``summary_table(stats)`` is what the terminal prints;
  ``measures(stats)`` are the numbers ``socium compare`` tests across conditions;
- ``graph(kind, data)`` builds the networkx graphs listed in ``graph_kinds``;
  ``plots(data, stats)`` and ``tables(data, stats)`` fill the report; ``exports(data,
  folder)`` writes files into the run folder at the end of a run;
- ``describe(section)`` gives the run card its ODD purpose and process text;
- ``views(data)`` adds transcript views to the report (threads, generations),
  ``headline(data)`` a few cheap numbers to the live view, ``clock(section, elapsed)``
  the game's own time (generation, round) to the progress bar;
- ``interventions`` (models of the game's own kinds, applied by
  ``GameMaster.intervene``), ``check_intervention``, ``accounts_added``, ``joins`` and
  ``time_of(section, unit, n)`` let scenarios change a run while it goes
  (:mod:`engine.interventions`).

Determinism rules the contract relies on (DESIGN.md, decision 9): a game master draws
randomness only from the generator it is given; ``observe`` and ``action_space`` are
called synchronously, in activation order, with the world as at the window's start;
``interpret`` may run concurrently with other decisions and must seed any model call
from the ``seed`` it receives; ``resolve`` is called one action at a time in activation
order. Statistics draw randomness only from ``RunData.rng(name)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel

from engine.rng import RunSeeds
from engine.types import Event, Persona, SociumError

if TYPE_CHECKING:  # a type only: the engine never imports game masters at run time
    import networkx as nx

    from engine.models import LanguageModel
    from gamemaster.base import GameMaster

ENTRY_POINT_GROUP = "socium.games"
Embed = Callable[[Sequence[str]], np.ndarray]


class GameNotInstalled(SociumError):
    """A scenario or a stored run names a game that no installed plugin provides."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a valid-looking section cannot run: a field path and a message.

    ``loc`` is relative to the scenario's top level, e.g. ``("game",
    "agents_per_generation")`` or ``("population", "count")``; the scenario loader turns
    it into ``file:line: field: message``.
    """

    loc: tuple[str | int, ...]
    message: str


@dataclass(frozen=True)
class RunData:
    """What statistics, graphs, plots and exports are computed from: stored data only.

    Attributes
    ----------
    events : sequence of Event
        The stored events, in sequence order (up to ``end``).
    agents : mapping
        Persona dicts by agent name, in the order agents joined.
    section : pydantic model
        The game's typed section, as the run used it (defaults filled in).
    start, end : float
        The simulated clock at the start and at the end (or the ``at`` of an analysis).
    seed : int
        The run's seed; :meth:`rng` spawns named streams from it.
    embed : callable, optional
        The run's text embedder (texts -> unit vectors), for statistics of texts.
    embedder : str
        What ``embed`` is, for labels (e.g. ``"minilm (semantic)"``).
    """

    events: Sequence[Event]
    agents: Mapping[str, Mapping[str, Any]]
    section: Any
    start: float = 0.0
    end: float = 0.0
    seed: int = 0
    embed: Embed | None = None
    embedder: str = "none"

    @property
    def elapsed(self) -> float:
        """Simulated seconds from the start to the end (at least 1)."""
        return max(self.end - self.start, 1.0)

    def rng(self, name: str) -> np.random.Generator:
        """A statistics stream named ``name``, spawned from the run's seed."""
        return RunSeeds(self.seed).generator("statistics", name)


@dataclass(frozen=True, slots=True)
class Plot:
    """One figure of the report: a title and a PNG data URI (see :mod:`engine.plotting`)."""

    title: str
    image: str
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    """One table of the report; cells are plain text (the report escapes them)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""  # a legend printed under the table

    @classmethod
    def of(cls, stored: Mapping[str, Any] | None, title: str = "statistics") -> Table | None:
        """A table from its JSON form ``{"columns", "rows", "note"}`` (or None)."""
        if not stored:
            return None
        rows = tuple(tuple(r) for r in stored["rows"])
        return cls(title, tuple(stored["columns"]), rows, str(stored.get("note", "")))


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a transcript: who did what when, with details one click away.

    ``text`` is plain text (the report escapes it); ``detail`` is shown on demand (a
    justification, the trace a donor saw); ``children`` nest under it (a post's replies).
    """

    t: float
    agent: str | None
    kind: str
    text: str
    detail: str = ""
    children: tuple[Row, ...] = ()


@dataclass(frozen=True, slots=True)
class View:
    """A game's transcript view for the report: titled rows (e.g. threads, generations)."""

    title: str
    rows: tuple[Row, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Description:
    """The run card's ODD text for a game: purpose and process overview."""

    purpose: str
    process: str


class Game:
    """Base class of every game plugin; see the module docstring.

    Subclasses set ``name``, ``section`` and ``master`` (a
    :class:`gamemaster.base.GameMaster` subclass) and override what they provide.
    """

    name: ClassVar[str]
    section: ClassVar[type[BaseModel]]
    master: ClassVar[type[GameMaster]]
    title: ClassVar[str] = ""
    graph_kinds: ClassVar[tuple[str, ...]] = ()
    interventions: ClassVar[tuple[type[BaseModel], ...]] = ()  # the game's own kinds
    joins: ClassVar[bool] = False  # agents may join during a run (add_agents)
    fixed: ClassVar[frozenset[str]] = frozenset()  # section fields a `set` may not change

    def game_master(
        self, section: Any, *, model: LanguageModel, rng: np.random.Generator, embedder: Any
    ) -> GameMaster:
        """The game master of one run."""
        return self.master(section, model=model, rng=rng, embedder=embedder)

    def validate(self, section: Any, population: Sequence[Persona]) -> Iterable[Problem]:
        """What would make a run of this section with this population impossible."""
        return ()

    def turn_based(self, section: Any) -> bool:
        """True when the game master's turn driver activates the agents (not their schedules)."""
        return False

    def window_limit(self, section: Any) -> float | None:
        """The decision window must be shorter than this (None: any window).

        A turn-based game whose turns must resolve one after another (a round before the
        next) returns the spacing of its turns; ``socium validate`` rejects a longer window.
        """
        return None

    def horizon(self, section: Any) -> float | None:
        """Simulated seconds the game's own turns take (None: it runs until ``duration``).

        ``socium validate`` rejects a ``duration`` shorter than this, and the progress bar
        measures against it.
        """
        return None

    def statistics(self, data: RunData) -> dict[str, Any]:
        """The run's statistics (JSON-ready; stored in ``stats.json``)."""
        return {}

    def rows(self, stats: Mapping[str, Any]) -> Iterable[tuple[float | None, str, float]]:
        """Tidy ``(t, name, value)`` rows of ``stats`` (``t`` None: the whole run)."""
        return ()

    def summary_table(self, stats: Mapping[str, Any]) -> Table | None:
        """The table the terminal prints after a run and ``socium analyze``."""
        return None

    def measures(self, stats: Mapping[str, Any]) -> dict[str, float]:
        """One number per measure, compared across conditions by ``socium compare``."""
        return {}

    def graph(self, kind: str, data: RunData) -> nx.DiGraph:
        """The graph ``kind`` (one of ``graph_kinds``) as it stood at ``data.end``."""
        raise KeyError(kind)

    def plots(self, data: RunData, stats: Mapping[str, Any]) -> list[Plot]:
        """The game's figures for the report."""
        return []

    def tables(self, data: RunData, stats: Mapping[str, Any]) -> list[Table]:
        """The game's tables for the report."""
        return []

    def exports(self, data: RunData, folder: Path) -> list[Path]:
        """Files written into the run folder when a run ends (graph files, ...)."""
        return []

    def views(self, data: RunData) -> list[View]:
        """The game's own transcript views (threads, generations).

        Every game also gets per-agent timelines from its events and model calls.
        """
        return []

    def headline(self, data: RunData) -> dict[str, float]:
        """A few cheap numbers for the live view, recomputed as windows commit."""
        return {}

    def time_of(self, section: Any, unit: str, number: int) -> float | None:
        """Seconds after the start at which ``unit`` ``number`` begins (game-clock timing).

        ``unit`` is ``generation``, ``round`` or ``iteration``; None: the game has no such
        unit (or not that many).
        """
        return None

    def check_intervention(
        self, item: Any, section: Any, known: set[str]
    ) -> tuple[str, str] | None:
        """What is wrong with one of the game's interventions: (argument, problem).

        ``known``: the agents' names at its time; an argument of ``""`` is the whole entry.
        """
        return None

    def accounts_added(self, item: Any) -> list[str]:
        """Names an intervention of the game creates (later ones may name them)."""
        return []

    def clock(self, section: Any, elapsed: float) -> str:
        """Where a turn-based game stands ``elapsed`` seconds in (for progress), or ''."""
        return ""

    def describe(self, section: Any) -> Description:
        """ODD purpose and process text for the run card."""
        return Description(self.title, "")


def game_names() -> list[str]:
    """Names registered under the ``socium.games`` entry point group (nothing imported)."""
    return sorted({point.name for point in entry_points(group=ENTRY_POINT_GROUP)})


def load_game(name: str) -> Game:
    """The installed game called ``name``.

    Raises
    ------
    GameNotInstalled
        Naming the game and how to provide it.
    """
    for point in entry_points(group=ENTRY_POINT_GROUP, name=name):
        game = point.load()
        if not isinstance(game, Game):
            raise SociumError(
                f"entry point {ENTRY_POINT_GROUP}:{name} ({point.value}) is not a Game instance"
            )
        return game
    raise GameNotInstalled(
        f"game {name!r} is not installed: no plugin registers it under the "
        f"{ENTRY_POINT_GROUP!r} entry point (installed: {', '.join(game_names()) or 'none'}). "
        "Install the package that provides it, e.g. pip install -e <plugin folder>."
    )


def registered_games() -> dict[str, Game]:
    """Every installed game, loaded (for the JSON Schema)."""
    return {name: load_game(name) for name in game_names()}
