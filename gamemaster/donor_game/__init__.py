"""The Donor Game with reputation traces and cultural evolution across generations.

After Vallinder & Hughes (2024), "Cultural Evolution of Cooperation among LLM Agents",
arXiv 2412.10270. The package: ``section`` (the scenario schema and prompt templates),
``rules`` (the game master), ``statistics`` (cooperation statistics from stored events),
``report`` (figures, tables, exports); :data:`GAME` is the registered plugin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx

from gamemaster.api import Description, Game, Persona, Plot, Problem, RunData, Table, View
from gamemaster.donor_game import report, transcript
from gamemaster.donor_game.rules import DonorGameMaster
from gamemaster.donor_game.section import DonorSection
from gamemaster.donor_game.statistics import headline, run_statistics

MEASURES = (
    "final_generation_resources_mean",
    "resources_auc",
    "generation1_donation_fraction",
    "final_generation_donation_fraction",
)


class DonorGame(Game):
    """The donor game as a plugin (see the package docstring)."""

    name = "donor_game"
    section = DonorSection
    master = DonorGameMaster
    title = "Iterated Donor Game with reputation traces and generations (Vallinder & Hughes 2024)"
    graph_kinds = ("donation",)
    fixed = frozenset(
        {"agents_per_generation", "generations", "rounds", "pairing", "compat", "round_length"}
    )

    def validate(self, section: DonorSection, population: Sequence[Persona]) -> Iterable[Problem]:
        """The first generation comes from the population: it must be large enough."""
        if len(population) < section.agents_per_generation:
            yield Problem(
                ("population",),
                f"{len(population)} persona(s); the donor game takes its first generation of "
                f"agents_per_generation = {section.agents_per_generation} from the population "
                f"(set population.count: {section.agents_per_generation} to cycle them)",
            )

    def turn_based(self, section: DonorSection) -> bool:
        """Rounds are turns: the game master activates the donors."""
        return True

    def window_limit(self, section: DonorSection) -> float:
        """A round must resolve before the next: the window stays under a round's length."""
        return section.round_length

    def horizon(self, section: DonorSection) -> float:
        """Per generation: a strategy step, then two games of rounds."""
        steps = 1 + section.games * section.rounds_played
        return section.generations * steps * section.round_length

    def time_of(self, section: DonorSection, unit: str, number: int) -> float | None:
        """``generation`` n starts with its strategy step (game-clock interventions).

        E.g. the multiplier or punishment changed from a generation on: ``set`` with
        ``field: game.multiplier`` and ``generation: 5``.
        """
        if unit != "generation" or number > section.generations:
            return None
        return (number - 1) * (1 + section.games * section.rounds_played) * section.round_length

    def clock(self, section: DonorSection, elapsed: float) -> str:
        """``generation g/G, game k, round r`` (or the strategy step) ``elapsed`` seconds in."""
        steps = 1 + section.games * section.rounds_played
        step = min(int(elapsed // section.round_length), section.generations * steps - 1)
        generation, within = divmod(max(step, 0), steps)
        where = f"generation {generation + 1}/{section.generations}"
        if within == 0:
            return f"{where}, strategies"
        game, played = divmod(within - 1, section.rounds_played)
        return f"{where}, game {game + 1}, round {played + 1}"

    def headline(self, data: RunData) -> dict[str, float]:
        """Generations done, the latest generation's mean donated share and score."""
        return headline(data.events)

    def views(self, data: RunData) -> list[View]:
        """Per generation: strategies (survivors marked) and donations with justifications."""
        return transcript.views(data)

    def statistics(self, data: RunData) -> dict[str, Any]:
        """Per-generation cooperation statistics (see :mod:`.statistics`)."""
        return run_statistics(data.events, data.section, embed=data.embed, embedder=data.embedder)

    def rows(self, stats: Mapping[str, Any]) -> Iterable[tuple[float | None, str, float]]:
        """One row per generation and numeric column, at the generation's end time."""
        for row in stats.get("per_generation", []):
            for key, value in row.items():
                if isinstance(value, int | float) and not isinstance(value, bool) and key != "t":
                    yield row.get("t"), key, float(value)

    def summary_table(self, stats: Mapping[str, Any]) -> Table | None:
        """Per generation: mean score, donation fraction, efficiency, invalid rate."""
        return Table.of(stats.get("summary_table"))

    def measures(self, stats: Mapping[str, Any]) -> dict[str, float]:
        """Final-generation mean score, area under the score curve, donation fractions."""
        return {key: float(stats[key]) for key in MEASURES if stats.get(key) is not None}

    def graph(self, kind: str, data: RunData) -> nx.DiGraph:
        """``donation``: every gift, keyed by (generation, game) (a MultiDiGraph)."""
        if kind != "donation":
            raise KeyError(kind)
        return report.donation_multigraph(data)

    def plots(self, data: RunData, stats: Mapping[str, Any]) -> list[Plot]:
        """Resources and donations per generation; punishment and invalid actions."""
        return report.plots(data, stats)

    def tables(self, data: RunData, stats: Mapping[str, Any]) -> list[Table]:
        """Strategies of every generation."""
        return report.tables(data, stats)

    def exports(self, data: RunData, folder: Path) -> list[Path]:
        """The donation graph as GraphML and GEXF."""
        return report.exports(data, folder)

    def describe(self, section: DonorSection) -> Description:
        """The ODD purpose and process of this configuration."""
        games = (
            "two games (roles reversed in the second), selection on the mean of the two"
            if section.compat == "paper"
            else "two games (roles reversed in the second), selection on the second only "
            "(notebook compat: favours the second game's last-round recipients)"
        )
        return Description(
            "How cooperation evolves across generations of LLM agents in an iterated Donor "
            "Game with reputation traces (Vallinder & Hughes 2024, arXiv 2412.10270).",
            f"{section.agents_per_generation} agents per generation, {section.generations} "
            f"generations. Each generation: newcomers write strategies from the survivors' "
            f"advice; then {games}, each of {section.rounds_played} rounds ({section.pairing} "
            f"pairing, never told to the agents) in which donors see the recipient's trace "
            f"(depth {section.trace_depth}) and give part of their resources (x{section.multiplier:g}"
            f" to the recipient); the best {section.survivors:.0%} survive with their strategies.",
        )


GAME = DonorGame()
