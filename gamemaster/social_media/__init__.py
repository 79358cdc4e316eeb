"""A social-media platform for the friendship paradox (Orlando et al., WebSci 2025).

The package: ``section`` (the scenario schema), ``platform`` (the game master: posts,
feeds, follows, recommenders), ``graphs`` (follow and interaction graphs from events),
``statistics`` (the friendship-paradox suite per snapshot), ``report`` (figures,
exports); :data:`GAME` is the registered plugin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from gamemaster.api import Description, Game, Plot, RunData, Table, View
from gamemaster.social_media import interventions, report, transcript
from gamemaster.social_media.graphs import follow_graph, graphs_at
from gamemaster.social_media.platform import SocialMediaGameMaster
from gamemaster.social_media.section import SocialSection
from gamemaster.social_media.statistics import live_figures, run_statistics


class SocialMediaGame(Game):
    """The social-media platform as a plugin (see the package docstring)."""

    name = "social_media"
    section = SocialSection
    master = SocialMediaGameMaster
    title = "A microblogging platform with feeds and follow recommendations (Orlando et al. 2025)"
    graph_kinds = ("follow", "interaction")
    interventions = interventions.KINDS
    joins = True
    fixed = frozenset({"iterations", "iteration_length", "snapshot_every"})

    def check_intervention(
        self, item: Any, section: SocialSection, known: set[str]
    ) -> tuple[str, str] | None:
        """Accounts named by inject_post, suspend and boost exist (or are new on purpose)."""
        return interventions.check(item, known)

    def accounts_added(self, item: Any) -> list[str]:
        """An injected post's new account."""
        new = isinstance(item, interventions.InjectPost) and item.new_account
        return [item.author] if new else []

    def time_of(self, section: SocialSection, unit: str, number: int) -> float | None:
        """``iteration`` n starts (n - 1) iteration lengths in (with ``iterations`` set)."""
        if unit != "iteration" or section.iterations is None or number > section.iterations:
            return None
        return (number - 1) * section.iteration_length

    def turn_based(self, section: SocialSection) -> bool:
        """With ``iterations`` set, the game's loop activates everyone once per iteration."""
        return section.iterations is not None

    def horizon(self, section: SocialSection) -> float | None:
        """``iterations`` x ``iteration_length`` (None: agents follow their schedules)."""
        return None if section.iterations is None else section.iterations * section.iteration_length

    def clock(self, section: SocialSection, elapsed: float) -> str:
        """``iteration i/N`` when the game runs in iterations."""
        if section.iterations is None:
            return ""
        done = min(int(elapsed // section.iteration_length), section.iterations - 1)
        return f"iteration {done + 1}/{section.iterations}"

    def headline(self, data: RunData) -> dict[str, float]:
        """Posts, follow edges and the follower paradox fraction so far."""
        return live_figures(data)

    def views(self, data: RunData) -> list[View]:
        """Threads (replies nested, reaction counts) and the follow timeline."""
        return transcript.views(data)

    def statistics(self, data: RunData) -> dict[str, Any]:
        """The friendship-paradox suite per snapshot and at the end."""
        return run_statistics(data)

    def rows(self, stats: Mapping[str, Any]) -> Iterable[tuple[float | None, str, float]]:
        """Paradox fractions (mean and median) of every snapshot."""
        for snapshot in stats.get("snapshots", []):
            for key, result in {
                **snapshot["individual"],
                "activity": snapshot["activity"],
                "influence": snapshot["influence"],
            }.items():
                for variant in ("fraction_mean", "fraction_median"):
                    if result.get(variant) is not None:
                        yield snapshot["t"], f"{key}.{variant}", float(result[variant])

    def summary_table(self, stats: Mapping[str, Any]) -> Table | None:
        """The headline paradox fractions with their null-model figures."""
        return Table.of(stats.get("summary_table"))

    def measures(self, stats: Mapping[str, Any]) -> dict[str, float]:
        """Final paradox fractions (share of nodes whose friends score higher on average)."""
        final = stats.get("final") or {}
        out: dict[str, float] = {}
        for key, result in (final.get("individual") or {}).items():
            if result.get("fraction_mean") is not None:
                out[f"paradox_{key}"] = float(result["fraction_mean"])
        for key in ("activity", "influence"):
            value = (final.get(key) or {}).get("fraction_mean")
            if value is not None:
                out[f"paradox_{key}"] = float(value)
        return out

    def graph(self, kind: str, data: RunData) -> nx.DiGraph:
        """``follow`` (with node attributes) or ``interaction`` (weighted) at ``data.end``."""
        graphs = graphs_at(data.events, agents=data.agents)
        if kind == "follow":
            return follow_graph(graphs, data.agents, data.elapsed)
        if kind == "interaction":
            return graphs.interactions
        raise KeyError(kind)

    def plots(self, data: RunData, stats: Mapping[str, Any]) -> list[Plot]:
        """Degree CCDFs, the paradox over time with null bands, activity, the network."""
        return report.plots(data, stats)

    def exports(self, data: RunData, folder: Path) -> list[Path]:
        """``follow_graph.graphml`` and ``.gexf``."""
        return report.exports(data, folder)

    def describe(self, section: SocialSection) -> Description:
        """The ODD purpose and process of this configuration."""
        return Description(
            "Whether LLM agents on a microblogging platform reproduce the friendship paradox "
            "(Orlando, La Gatta, Russo & Moscato, WebSci 2025): do an agent's followees have "
            "more followers, activity and influence than the agent?",
            "At each activation an agent sees its feed and suggested accounts, takes one action "
            f"({', '.join(section.actions)}) and may follow up to "
            f"{section.follows_per_activation} suggested account(s) in the same reply. Feed: "
            f"{section.feed} ({section.feed_size} posts); recommender: {section.recommender}.",
        )


GAME = SocialMediaGame()
