"""The public API for game plugins: everything a game may import from socium, in one place.

A game (bundled or a user's plugin) imports from this module only::

    from gamemaster.api import Game, GameMaster, Event, ActionSpace, ...

and registers an instance of its :class:`Game` subclass under the ``socium.games``
entry point. ``docs/writing-a-game.md`` walks through a complete game built this way
(``gamemaster/public_goods.py``). ``paradox`` and ``null`` are the generic network
statistics (:mod:`engine.network.paradox`, :mod:`engine.network.null`). Names not listed
in ``__all__`` are internal and may change between releases; a test pins this list.
"""

from __future__ import annotations

from engine.fields import Duration, Name, Strict
from engine.games import Description, Game, Plot, Problem, Row, RunData, Table, View
from engine.interventions import Intervention
from engine.kernel import Kernel, TurnDriver
from engine.models import LanguageModel
from engine.network import null, paradox
from engine.network.compare import holm
from engine.network.inequality import gini
from engine.network.paradox import (
    feld_paradox,
    four_variants,
    individual_paradox,
)
from engine.plotting import figure, integer_ticks, png
from engine.templates import check as check_template
from engine.templates import render
from engine.types import (
    Action,
    ActionOption,
    ActionSpace,
    ArgSpec,
    Event,
    Observation,
    Persona,
    SociumError,
    quote,
)
from gamemaster.base import GameMaster, check_args, invalid, mentioned_options

__all__ = [
    "Action",
    "ActionOption",
    "ActionSpace",
    "ArgSpec",
    "Description",
    "Duration",
    "Event",
    "Game",
    "GameMaster",
    "Intervention",
    "Kernel",
    "LanguageModel",
    "Name",
    "Observation",
    "Persona",
    "Plot",
    "Problem",
    "Row",
    "RunData",
    "SociumError",
    "Strict",
    "Table",
    "TurnDriver",
    "View",
    "check_args",
    "check_template",
    "feld_paradox",
    "figure",
    "four_variants",
    "gini",
    "holm",
    "individual_paradox",
    "integer_ticks",
    "invalid",
    "mentioned_options",
    "null",
    "paradox",
    "png",
    "quote",
    "render",
]
