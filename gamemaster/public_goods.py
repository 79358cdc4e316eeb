"""A linear public-goods game with optional punishment, after Fehr & Gachter (2000).

E. Fehr and S. Gachter, "Cooperation and punishment in public goods experiments",
American Economic Review 90(4), 980-994, 2000. Players are split into groups of
``group_size``. Each round every player receives the ``endowment`` and decides how much
of it to contribute to the group's project; the project's total times ``multiplier`` is
shared equally, so a player earns ``endowment - contribution + multiplier * total /
group_size``. With punishment (from round ``punishment.from_round`` on), everyone then
sees the others' contributions and may assign punishment points to one group member:
each point costs the punisher ``punishment.cost`` and the punished ``punishment.effect``.

This module is the worked example of ``docs/writing-a-game.md``: it imports only the
public API (:mod:`gamemaster.api`) and the standard scientific stack.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Generator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import numpy as np
import simpy
from pydantic import Field, field_validator, model_validator

from gamemaster.api import (
    Action,
    ActionOption,
    ActionSpace,
    ArgSpec,
    Description,
    Duration,
    Event,
    Game,
    GameMaster,
    Kernel,
    Observation,
    Persona,
    Plot,
    Problem,
    RunData,
    Strict,
    Table,
    TurnDriver,
    check_args,
    check_template,
    figure,
    integer_ticks,
    invalid,
    png,
    render,
)

RULES = (
    "You are in a group of $group_size players. In each of $rounds rounds every player "
    "receives $endowment points and decides how many of them to contribute to a group "
    "project; the rest you keep. The project's total is multiplied by $multiplier and "
    "shared equally among the $group_size players, whatever each contributed. Your "
    "earnings of a round are the points you keep plus your share of the project.$punishment"
)
PUNISHMENT_RULE = (
    " From round $from_round on, after each round's contributions you see what the others "
    "contributed and may assign punishment points to one of them: each point costs you "
    "$cost point(s) and removes $effect point(s) from that player's earnings."
)


class Punishment(Strict):
    """The punishment stage (Fehr & Gachter's P condition)."""

    enabled: bool = False
    from_round: int = Field(1, ge=1, description="First round with a punishment stage.")
    cost: float = Field(1.0, gt=0, le=1000, description="Cost of one point to the punisher.")
    effect: float = Field(3.0, ge=0, le=1000, description="Earnings one point removes.")
    max_points: int = Field(10, ge=1, le=1000, description="Points per punishment at most.")


class PublicGoodsSection(Strict):
    """The ``game:`` section of a public-goods scenario (defaults: Fehr & Gachter 2000)."""

    group_size: int = Field(4, ge=2, le=1000)
    rounds: int = Field(10, ge=1, le=10_000)
    endowment: float = Field(20.0, gt=0, le=1e9)
    multiplier: float = Field(1.6, ge=0, le=1e6, description="Pot multiplier (MPCR x group size).")
    matching: Literal["partner", "stranger"] = Field(
        "partner", description="partner: fixed groups; stranger: new groups every round."
    )
    punishment: Punishment = Punishment()
    round_length: Duration = Field(60.0, description="Simulated time of one stage.")
    rules: str = Field(RULES, max_length=8000)

    @field_validator("rules")
    @classmethod
    def _rules(cls, text: str) -> str:
        return check_template(
            text, {"group_size", "rounds", "endowment", "multiplier", "punishment"}
        )

    @field_validator("round_length")
    @classmethod
    def _round_length(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("a stage takes simulated time: use a length above 0 (e.g. 60s)")
        return value

    @model_validator(mode="after")
    def _punishment_within_the_game(self) -> PublicGoodsSection:
        if self.punishment.enabled and self.punishment.from_round > self.rounds:
            raise ValueError("punishment.from_round is after the last round")
        return self


class PublicGoodsMaster(GameMaster):
    """Groups, contributions, payoffs and punishment; see the module docstring."""

    name = "public_goods"
    section: PublicGoodsSection

    def setup(self, agents: Sequence[Persona]) -> None:
        """Everyone takes part; groups are formed when the first round starts."""
        super().setup(agents)
        self.players = [p.name for p in agents]
        self.round = 0
        self.stage = "contribute"
        self.groups: list[list[str]] = []
        self.contributions: dict[str, float] = {}
        self.earnings: dict[str, float] = dict.fromkeys(self.players, 0.0)
        self.last_round: dict[int, Any] = {}  # what each group did in the previous round

    def turns(self) -> TurnDriver:
        """Per round: contributions, payoffs, then the punishment stage when it is on."""
        section = self.section

        def driver(kernel: Kernel[Any]) -> Generator[simpy.Event, Any, None]:
            for round_index in range(1, section.rounds + 1):
                self.round = round_index
                if round_index == 1 or section.matching == "stranger":
                    self._form_groups()
                self.stage, self.contributions = "contribute", {}
                for name in self.players:
                    kernel.activate(name, {"stage": "contribute", "round": round_index})
                yield kernel.env.timeout(section.round_length)
                kernel.emit(self._payoffs(kernel.env.now))
                p = section.punishment
                if p.enabled and round_index >= p.from_round:
                    self.stage = "punish"
                    for name in self.players:
                        kernel.activate(name, {"stage": "punish", "round": round_index})
                    yield kernel.env.timeout(section.round_length)

        return driver

    def _form_groups(self) -> None:
        order = list(self.players)
        self.rng.shuffle(order)
        size = self.section.group_size
        self.groups = [order[i : i + size] for i in range(0, len(order), size)]
        self.group_of = {name: g for g, members in enumerate(self.groups) for name in members}

    def _payoffs(self, t: float) -> Event:
        """Share each group's project; the round's contributions and earnings as one event."""
        section = self.section
        summary: list[dict[str, Any]] = []
        for g, members in enumerate(self.groups):
            given = {m: self.contributions.get(m, 0.0) for m in members}
            share = section.multiplier * sum(given.values()) / len(members)
            payoff = {m: section.endowment - given[m] + share for m in members}
            for m in members:
                self.earnings[m] += payoff[m]
            summary.append({"group": g, "contributions": given, "payoffs": payoff})
        self.last_round = {int(entry["group"]): entry for entry in summary}
        payload = {"round": self.round, "groups": summary}
        return Event(t, "round_end", None, None, payload, tuple(self.players))

    def observe(self, agent: str, t: float, context: Mapping[str, Any]) -> Observation:
        """Rules, the round, last round's group contributions; in punishment, this round's."""
        section = self.section
        punishment = ""
        if section.punishment.enabled:
            p = section.punishment
            punishment = render(
                PUNISHMENT_RULE, from_round=p.from_round, cost=f"{p.cost:g}", effect=f"{p.effect:g}"
            )
        rules = render(
            section.rules,
            group_size=section.group_size,
            rounds=section.rounds,
            endowment=f"{section.endowment:g}",
            multiplier=f"{section.multiplier:g}",
            punishment=punishment,
        )
        others = [m for m in self.groups[self.group_of[agent]] if m != agent]
        lines = [
            rules,
            "",
            f"Round {self.round} of {section.rounds}. Your group: {', '.join(others)} and you.",
        ]
        if context.get("stage") == "punish":
            mine = self.last_round[self.group_of[agent]]["contributions"]
            lines.append(
                "This round's contributions: "
                + ", ".join(f"{m} {mine[m]:g}" for m in others)
                + f"; you {mine[agent]:g}."
            )
            lines.append("Do you assign punishment points to one of them?")
        else:
            previous = (
                self.last_round.get(self.group_of[agent]) if section.matching == "partner" else None
            )
            if previous is not None and agent in previous["contributions"]:
                given = previous["contributions"]
                lines.append(
                    "Last round your group contributed: "
                    + ", ".join(f"{m} {given[m]:g}" for m in others)
                    + f"; you {given[agent]:g} (you earned {previous['payoffs'][agent]:g})."
                )
            lines.append(f"You have {section.endowment:g} points. How many do you contribute?")
        return Observation(t, "\n".join(lines), {"stage": context.get("stage")})

    def action_space(self, agent: str, t: float, context: Mapping[str, Any]) -> ActionSpace:
        """Contribute an amount, or punish one group member (or nobody)."""
        section = self.section
        if context.get("stage") == "punish":
            others = tuple(m for m in self.groups[self.group_of[agent]] if m != agent)
            points = ArgSpec("integer", "points", low=0, high=section.punishment.max_points)
            return ActionSpace(
                (
                    ActionOption(
                        "punish",
                        "Assign points to one member.",
                        {"member": ArgSpec("agent", choices=others), "points": points},
                    ),
                    ActionOption("no_punishment", "Punish nobody."),
                )
            )
        amount = ArgSpec("number", "points", low=0, high=section.endowment, bounds_in_schema=False)
        return ActionSpace(
            (ActionOption("contribute", "Contribute points to the project.", {"amount": amount}),)
        )

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
        """An unparseable reply contributes nothing and punishes nobody (and is counted)."""
        if action.parse != "fallback":
            return action
        if context.get("stage") == "punish":
            return Action("no_punishment", {}, action.raw, "fallback")
        return Action("contribute", {"amount": 0.0}, action.raw, "fallback")

    def resolve(
        self, agent: str, action: Action, t: float, context: Mapping[str, Any]
    ) -> list[Event]:
        """Record a contribution, or apply a punishment against current earnings."""
        base = {"round": self.round, "stage": context.get("stage"), "parse": action.parse}
        reason = check_args(action, self.action_space(agent, t, context))
        if reason is not None:
            event = invalid(agent, action, t, reason)
            return [Event(event.t, event.kind, agent, None, {**event.payload, **base}, (agent,))]
        if action.name == "contribute":
            amount = float(action.args["amount"])
            self.contributions[agent] = amount
            payload = {**base, "amount": amount, "share": amount / self.section.endowment}
            return [Event(t, "contribution", agent, None, payload, (agent,))]
        if action.name == "punish":
            p = self.section.punishment
            member, points = str(action.args["member"]), int(action.args["points"])
            cost, removed = points * p.cost, points * p.effect
            self.earnings[agent] -= cost
            self.earnings[member] -= removed
            payload = {**base, "points": points, "cost": cost, "removed": removed}
            return [Event(t, "punishment", agent, member, payload, (agent, member))]
        return [Event(t, "no_punishment", agent, None, base, (agent,))]

    def snapshot(self) -> dict[str, Any]:
        """Round, groups and earnings so far."""
        return {"round": self.round, "groups": self.groups, "earnings": dict(self.earnings)}

    def metrics(self) -> dict[str, Any]:
        """Rounds played and mean earnings."""
        mean = float(np.mean(list(self.earnings.values()))) if self.earnings else 0.0
        return {"rounds_played": self.round, "mean_earnings": round(mean, 3)}


# -- statistics, from stored events only ------------------------------------------------
def contributions_by_round(events: Iterable[Event]) -> dict[int, list[float]]:
    """Contribution shares (of the endowment) per round, in event order."""
    by_round: dict[int, list[float]] = defaultdict(list)
    for event in events:
        if event.kind == "contribution":
            by_round[int(event.payload["round"])].append(float(event.payload["share"]))
        elif event.kind == "invalid_action" and event.payload.get("stage") == "contribute":
            by_round[int(event.payload["round"])].append(0.0)  # the rules gave nothing
    return dict(sorted(by_round.items()))


def statistics(events: Sequence[Event], section: PublicGoodsSection) -> dict[str, Any]:
    """Contribution rates, free riding, decay and punishment (Fehr & Gachter 2000).

    Per round: mean contribution rate (contribution / endowment), free-riding share
    (contributions of 0), full-contribution share, punishment points assigned. Per run:
    the overall and last-round rates, and the decay of contributions, the OLS slope of the
    round's mean rate on the round number (negative: contributions fall, as in the paper's
    no-punishment condition).
    """
    by_round = contributions_by_round(events)
    points: dict[int, float] = defaultdict(float)
    for event in events:
        if event.kind == "punishment":
            points[int(event.payload["round"])] += float(event.payload["points"])
    rows = [
        {
            "round": r,
            "contribution_rate": float(np.mean(shares)),
            "free_riding_share": float(np.mean([s == 0 for s in shares])),
            "full_contribution_share": float(np.mean([s >= 1 for s in shares])),
            "punishment_points": points.get(r, 0.0),
            "players": len(shares),
        }
        for r, shares in by_round.items()
    ]
    rounds = np.array([row["round"] for row in rows], dtype=float)
    rates = np.array([row["contribution_rate"] for row in rows])
    slope = float(np.polyfit(rounds, rates, 1)[0]) if len(rows) > 1 else None
    every = [s for shares in by_round.values() for s in shares]
    earnings: dict[str, float] = defaultdict(float)
    for event in events:
        if event.kind == "round_end":
            for group in event.payload["groups"]:
                for member, payoff in group["payoffs"].items():
                    earnings[member] += float(payoff)
        elif event.kind == "punishment":
            earnings[str(event.actor)] -= float(event.payload["cost"])
            earnings[str(event.target)] -= float(event.payload["removed"])
    return {
        "game": "public_goods",
        "per_round": rows,
        "contribution_rate": float(np.mean(every)) if every else None,
        "free_riding_share": float(np.mean([s == 0 for s in every])) if every else None,
        "last_round_contribution_rate": rows[-1]["contribution_rate"] if rows else None,
        "contribution_decay_per_round": slope,
        "mean_earnings": float(np.mean(list(earnings.values()))) if earnings else None,
        "earnings": dict(sorted(earnings.items())),
    }


def punishment_graph(events: Iterable[Event]) -> nx.DiGraph:
    """Punisher -> punished, weighted by points (``weight``) and occasions (``count``)."""
    graph = nx.DiGraph()
    for event in events:
        if event.kind == "punishment" and event.actor and event.target:
            edge = graph.get_edge_data(event.actor, event.target, {"weight": 0.0, "count": 0})
            points = float(event.payload["points"])
            graph.add_edge(
                event.actor, event.target, weight=edge["weight"] + points, count=edge["count"] + 1
            )
    return graph


class PublicGoodsGame(Game):
    """The public-goods game as a plugin: the contract in full, from the public API only."""

    name = "public_goods"
    section = PublicGoodsSection
    master = PublicGoodsMaster
    title = "Linear public-goods game with optional punishment (Fehr & Gachter 2000)"
    graph_kinds = ("punishment",)
    fixed = frozenset({"group_size", "rounds", "matching", "round_length"})

    def validate(
        self, section: PublicGoodsSection, population: Sequence[Persona]
    ) -> Iterable[Problem]:
        """Everyone needs a full group."""
        if len(population) % section.group_size:
            yield Problem(
                ("population",),
                f"{len(population)} persona(s) do not split into groups of {section.group_size} "
                "(set population.count to a multiple of game.group_size)",
            )

    def turn_based(self, section: PublicGoodsSection) -> bool:
        """Rounds are turns."""
        return True

    def window_limit(self, section: PublicGoodsSection) -> float:
        """A stage must resolve before the next: the window stays under a stage's length."""
        return section.round_length

    def horizon(self, section: PublicGoodsSection) -> float:
        """A contribution stage per round, plus a punishment stage where it is on."""
        p = section.punishment
        punished = section.rounds - p.from_round + 1 if p.enabled else 0
        return (section.rounds + punished) * section.round_length

    def clock(self, section: PublicGoodsSection, elapsed: float) -> str:
        """``round r/R`` (and the stage) ``elapsed`` seconds in."""
        stages = _stages(section)
        r, stage = stages[min(max(int(elapsed // section.round_length), 0), len(stages) - 1)]
        return f"round {r}/{section.rounds}, {stage}"

    def time_of(self, section: PublicGoodsSection, unit: str, number: int) -> float | None:
        """``round`` n starts with its contribution stage."""
        if unit != "round" or number > section.rounds:
            return None
        return _stages(section).index((number, "contributions")) * section.round_length

    def headline(self, data: RunData) -> dict[str, float]:
        """Rounds played, the contribution rate overall and in the latest round."""
        by_round = contributions_by_round(data.events)
        if not by_round:
            return {}
        shares = [s for values in by_round.values() for s in values]
        last = by_round[max(by_round)]
        return {
            "rounds_played": float(len(by_round)),
            "contribution_rate": float(np.mean(shares)),
            "latest_round_contribution_rate": float(np.mean(last)),
        }

    def statistics(self, data: RunData) -> dict[str, Any]:
        """Contribution rates per round, free riding, decay, punishment, earnings."""
        return statistics(data.events, data.section)

    def rows(self, stats: Mapping[str, Any]) -> Iterable[tuple[float | None, str, float]]:
        """Per-round figures (``t``: the round number's stage time is not needed here)."""
        for row in stats.get("per_round", []):
            for key in ("contribution_rate", "free_riding_share", "punishment_points"):
                yield float(row["round"]), key, float(row[key])

    def summary_table(self, stats: Mapping[str, Any]) -> Table | None:
        """Contribution rate, free riding and punishment per round."""
        rows = tuple(
            (r["round"], r["contribution_rate"], r["free_riding_share"], r["punishment_points"])
            for r in stats.get("per_round", [])
        )
        return Table(
            "statistics",
            ("round", "contribution_rate", "free_riding_share", "punishment_points"),
            rows,
        )

    def measures(self, stats: Mapping[str, Any]) -> dict[str, float]:
        """Overall and last-round contribution rates, free riding, decay, earnings."""
        keys = (
            "contribution_rate",
            "last_round_contribution_rate",
            "free_riding_share",
            "contribution_decay_per_round",
            "mean_earnings",
        )
        return {key: float(stats[key]) for key in keys if stats.get(key) is not None}

    def graph(self, kind: str, data: RunData) -> nx.DiGraph:
        """``punishment``: who punished whom, with how many points."""
        if kind != "punishment":
            raise KeyError(kind)
        return punishment_graph(data.events)

    def plots(self, data: RunData, stats: Mapping[str, Any]) -> list[Plot]:
        """Contribution rate and free riding per round; punishment points."""
        rows = stats.get("per_round", [])
        if not rows:
            return []
        rounds = [r["round"] for r in rows]
        fig, (left, right) = figure(9, 3.6, columns=2)
        left.plot(
            rounds, [r["contribution_rate"] for r in rows], marker="o", label="contribution rate"
        )
        left.plot(rounds, [r["free_riding_share"] for r in rows], marker="s", label="free riders")
        left.set_ylim(0, 1)
        left.set_xlabel("round")
        left.legend(fontsize=8)
        right.bar(rounds, [r["punishment_points"] for r in rows], color="#c44e52")
        right.set_xlabel("round")
        right.set_ylabel("punishment points")
        integer_ticks(left, right)
        fig.suptitle("contributions and punishment per round")
        return [Plot("Contributions per round", png(fig))]

    def exports(self, data: RunData, folder: Path) -> list[Path]:
        """``punishment_graph.graphml`` when anyone punished."""
        graph = punishment_graph(data.events)
        if not graph.number_of_edges():
            return []
        path = folder / "punishment_graph.graphml"
        nx.write_graphml(graph, path)
        return [path]

    def describe(self, section: PublicGoodsSection) -> Description:
        """The ODD purpose and process."""
        p = section.punishment
        punish = (
            f"; punishment from round {p.from_round} (cost {p.cost:g}, effect {p.effect:g})"
            if p.enabled
            else ""
        )
        return Description(
            "Whether LLM agents sustain contributions to a public good, and whether peer "
            "punishment helps (Fehr & Gachter 2000).",
            f"{section.matching.capitalize()} groups of {section.group_size}, {section.rounds} rounds: each "
            f"player contributes part of {section.endowment:g} points; the total times "
            f"{section.multiplier:g} is shared equally{punish}.",
        )


def _stages(section: PublicGoodsSection) -> list[tuple[int, str]]:
    """(round, stage) of every stage in order: contributions, then punishment where on."""
    p = section.punishment
    return [
        (r, stage)
        for r in range(1, section.rounds + 1)
        for stage in (
            ("contributions", "punishment")
            if p.enabled and r >= p.from_round
            else ("contributions",)
        )
    ]


GAME = PublicGoodsGame()
