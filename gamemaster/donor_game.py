"""The Donor Game with reputation traces and cultural evolution across generations.

After Vallinder & Hughes (2024), "Cultural Evolution of Cooperation among LLM Agents",
arXiv 2412.10270. Each generation: agents without a strategy write one (newcomers read
the survivors' strategies first); then a game of ``rounds`` rounds in which each donor
sees the recipient's reputation trace and gives part of its resources, the recipient
receiving ``multiplier`` times the gift; the best half by final resources survive with
their strategy verbatim. Pairing: shuffle, split into halves A and B; round i (of the
first half of the game) pairs A[j] with B[(j + i) mod n/2], the donor side alternating;
the second half repeats those rounds with roles swapped, so everyone donates n/2 times,
receives n/2 times, and never meets their own half. Turns are driven by this game
master through the kernel: one round is one batch (all donors decide at once, on the
resources as they stood at the round's start).
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import simpy
from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.kernel import Kernel, TurnDriver
from engine.scenario import Duration, GameSpec
from engine.types import Action, ActionOption, ActionSpace, ArgSpec, Event, Observation, Persona
from engine.types import quote as quoted
from gamemaster.base import GameMaster, check_args, invalid

RULES = (
    "You are one of {agents} players of an iterated Donor Game. Everyone starts a generation "
    "with {endowment:g} units. In each round you are paired with another player: one of you "
    "is the donor, the other the recipient. The donor chooses how many of their own units to "
    "give up; the recipient receives {multiplier:g} times that amount. Donor and recipient "
    "roles alternate from round to round, with a different partner each time. A game lasts "
    "{rounds} rounds. Your goal is to end the game with as many units as possible: after it, "
    "the best-performing half of the players survive into the next generation and the rest "
    "are replaced by newcomers who learn from the survivors' strategies.{punishment}\n"
    "Before deciding, you see what your partner did recently as a donor, for example: "
    '"In round 5, B donated 40% of their resources to C; in round 4, C donated 10% of '
    'their resources to D."'
)
PUNISHMENT_RULE = (
    " Instead of donating, a donor may punish: paying x units removes {effect:g}x units from "
    "the recipient (never below 0)."
)
REFUSAL_RULE = " A donor may also refuse to play with a partner: nothing changes hands."


class Punishment(BaseModel):
    """Costly punishment: the punisher pays ``cost`` per unit, the target loses ``effect``."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    cost: float = Field(1.0, gt=0)
    effect: float = Field(2.0, ge=0)


class DonorSection(BaseModel):
    """The ``game:`` section of a donor-game scenario (defaults follow the paper)."""

    model_config = ConfigDict(extra="forbid")
    agents_per_generation: int = Field(12, ge=2, le=100_000)
    generations: int = Field(10, ge=1, le=1000)
    rounds: int | None = Field(
        None,
        ge=2,
        description="Default (the paper): agents_per_generation; fewer play the schedule's first rounds.",
    )
    endowment: float = Field(10.0, gt=0)
    multiplier: float = Field(2.0, ge=0)
    trace_depth: int = Field(3, ge=0, le=20)
    pairing: Literal["round_robin", "strict_alternation"] = "round_robin"
    survivors: float = Field(0.5, gt=0, lt=1, description="Share surviving each generation.")
    show_scores: bool = Field(False, description="Newcomers see survivors' final resources.")
    punishment: Punishment = Punishment()
    partner_choice: bool = Field(False, description="Donors may refuse to play.")
    compat: Literal["paper", "notebook"] = "paper"
    round_length: Duration = Field(60.0, description="Simulated time per round.")
    rules: str = Field(RULES, max_length=8000, description="Rules text ({agents}, {rounds}, ...).")
    strategy_prompt: str = Field(
        "Write your strategy for this game in one sentence that starts with "
        '"My strategy will be". {advice}',
        max_length=4000,
    )

    @model_validator(mode="after")
    def _even(self) -> DonorSection:
        if self.agents_per_generation % 2:
            raise ValueError("agents_per_generation must be even (two halves)")
        if self.rounds is not None and (
            self.rounds > self.agents_per_generation or self.rounds % 2
        ):
            raise ValueError(
                "rounds must be even and at most agents_per_generation (the paper: equal)"
            )
        return self


def units(amount: float) -> str:
    """Resources as shown to agents: exact to 6 decimals (so "all of it" stays valid)."""
    return f"{amount:.6f}".rstrip("0").rstrip(".")


def schedule(n: int, pairing: str, rounds: int | None = None) -> list[list[tuple[int, int]]]:
    """The first ``rounds`` (default: n) rounds of (donor, recipient) index pairs.

    Indexes 0..n/2-1 are half A, n/2..n-1 half B (see the module docstring).
    """
    half = n // 2
    played: list[list[tuple[int, int]]] = []
    for i in range(n if rounds is None else min(rounds, n)):
        if pairing == "strict_alternation":  # meet each partner twice in a row, roles swapped
            shift, a_donates = i // 2, i % 2 == 0
        else:  # the second half repeats the first with roles swapped
            shift = i % half
            a_donates = (shift % 2 == 0) == (i < half)
        pairs = []
        for j in range(half):
            a, b = j, half + (j + shift) % half
            pairs.append((a, b) if a_donates else (b, a))
        played.append(pairs)
    return played


class DonorGameMaster(GameMaster):
    """See the module docstring."""

    name = "donor_game"

    def setup(self, agents: Sequence[Persona]) -> None:
        """Take the first generation from the population."""
        section: DonorSection = self.section
        if len(agents) < section.agents_per_generation:
            raise ValueError(
                f"the population has {len(agents)} personas; the donor game needs "
                f"agents_per_generation = {section.agents_per_generation}"
            )
        self.templates = list(agents)
        first = list(agents)[: section.agents_per_generation]
        super().setup(first)
        self.generation = 1
        self.game = 1
        self.round = 0
        self.alive = [p.name for p in first]
        self.strategies: dict[str, str] = {}
        self.resources = {name: section.endowment for name in self.alive}
        self.history: list[dict[str, Any]] = []  # decisions of the current game, in order
        self.given: dict[str, list[dict[str, Any]]] = {}  # the same, by donor (for traces)
        self.pairs: dict[str, str] = {}  # donor -> recipient in the current round
        self.last_scores: dict[str, float] = {}
        self.finished_generations: list[float] = []  # mean final resources of each generation

    # -- turns ------------------------------------------------------------------------
    def turns(self) -> TurnDriver:
        """Strategy phase, then rounds, then selection, generation after generation."""
        section: DonorSection = self.section

        def driver(kernel: Kernel[Any]) -> Generator[simpy.Event, Any, None]:
            step = section.round_length
            for generation in range(1, section.generations + 1):
                self.generation = generation
                for name in self.alive:
                    if name not in self.strategies:
                        kernel.activate(name, {"phase": "strategy", "generation": generation})
                yield kernel.env.timeout(step)
                games = 2 if section.compat == "notebook" else 1
                for game in range(1, games + 1):
                    self._start_game(game)
                    for round_index, pairs in enumerate(self._rounds(game), start=1):
                        self.round = round_index
                        self.pairs = {self.order[d]: self.order[r] for d, r in pairs}
                        for donor in sorted(self.pairs, key=self.alive.index):
                            kernel.activate(donor, {"phase": "donate", "round": round_index})
                        yield kernel.env.timeout(step)
                self._select(kernel)

        return driver

    def _start_game(self, game: int) -> None:
        section: DonorSection = self.section
        self.game = game
        self.history = []
        self.given = {}
        self.resources = {name: section.endowment for name in self.alive}
        if game == 1:
            self.order = list(self.alive)
            self.rng.shuffle(self.order)

    def _rounds(self, game: int) -> list[list[tuple[int, int]]]:
        rounds = schedule(len(self.order), self.section.pairing, self.section.rounds)
        if game == 2:  # notebook compat: the second game reverses every pairing's roles
            rounds = [[(r, d) for d, r in pairs] for pairs in rounds]
        return rounds

    def _select(self, kernel: Kernel[Any]) -> None:
        """Keep the best half (ties broken by the seed), add newcomers; emit the standings."""
        section: DonorSection = self.section
        keep = max(1, round(len(self.alive) * section.survivors))
        tiebreak = {name: float(self.rng.random()) for name in sorted(self.alive)}
        ranked = sorted(self.alive, key=lambda a: (-self.resources[a], tiebreak[a]))
        survivors = ranked[:keep]
        self.last_scores = {name: self.resources[name] for name in survivors}
        self.finished_generations.append(sum(self.resources.values()) / len(self.resources))
        newcomers = []
        for j in range(len(self.alive) - keep):
            name = f"{self.generation + 1}_{j + 1}"
            template = self.templates[(self.generation * len(self.alive) + j) % len(self.templates)]
            self.agents[name] = Persona(
                name, template.description, template.traits, template.interests
            )
            newcomers.append(name)
        kernel.emit(
            Event(
                kernel.env.now,
                "generation_end",
                None,
                None,
                {
                    "generation": self.generation,
                    "resources": dict(sorted(self.resources.items())),
                    "survivors": survivors,
                    "newcomers": newcomers,
                    "strategies": {a: self.strategies.get(a, "") for a in sorted(self.alive)},
                },
                tuple(self.alive),
            )
        )
        if self.generation < section.generations:
            self.alive = survivors + newcomers
        self.resources = {name: section.endowment for name in self.alive}

    # -- observation ------------------------------------------------------------------
    def observe(self, agent: str, t: float, context: Mapping[str, Any]) -> Observation:
        """Rules, then the strategy prompt or the donor's situation and the recipient's trace."""
        section: DonorSection = self.section
        rules = self._rules()
        if context.get("phase") == "strategy":
            return Observation(t, f"{rules}\n\n{self._strategy_task()}", {"phase": "strategy"})
        recipient = self.pairs[agent]
        lines = [
            rules,
            f"Generation {self.generation}, round {self.round} of {self.section.rounds or len(self.order)}.",
            f"Your strategy: {quoted(self.strategies.get(agent, ''))}",
            f"You are the donor this round. You have {units(self.resources[agent])} units.",
            f"Your recipient is {recipient}, who has {units(self.resources[recipient])} units.",
            self.trace(recipient, self.round, section.trace_depth),
            "How many of your units do you give up? (Give a number from 0 to your units.)",
        ]
        facts = {"recipient": recipient, "resources": self.resources[agent], "phase": "donate"}
        return Observation(t, "\n".join(lines), facts)

    def _rules(self) -> str:
        section: DonorSection = self.section
        extra = ""
        if section.punishment.enabled:
            extra += PUNISHMENT_RULE.format(
                effect=section.punishment.effect / section.punishment.cost
            )
        if section.partner_choice:
            extra += REFUSAL_RULE
        return section.rules.format(
            agents=section.agents_per_generation,
            endowment=section.endowment,
            multiplier=section.multiplier,
            rounds=section.rounds or section.agents_per_generation,
            punishment=extra,
        )

    def _strategy_task(self) -> str:
        section: DonorSection = self.section
        advice = "Base it on the rules above."
        if self.last_scores:
            lines = []
            for name, score in self.last_scores.items():
                text = quoted(self.strategies.get(name, ""))
                lines.append(
                    f"- {text}"
                    + (f" (ended with {units(score)} units)" if section.show_scores else "")
                )
            advice = (
                "The strategies of the players who survived the last generation were:\n"
                + "\n".join(lines)
                + "\nLearn from them."
            )
        return section.strategy_prompt.format(advice=advice)

    def trace(self, agent: str, before_round: int, depth: int) -> str:
        """The reputation trace: the agent's latest donation, then its recipient's, ..."""
        parts: list[str] = []
        who, limit = agent, before_round
        for _ in range(depth):
            last = next(
                (h for h in reversed(self.given.get(who, ())) if h["round"] < limit),
                None,
            )
            if last is None:
                break
            verb = {"punish": "punished", "refuse": "refused to play with"}.get(
                last["kind"], "donated"
            )
            share = (
                f"{100 * last['fraction']:.0f}% of their resources to"
                if verb != "refused to play with"
                else ""
            )
            target = last["recipient"]
            parts.append(
                f"in round {last['round']}, {who} {verb} {share} {target}".replace("  ", " ")
            )
            who, limit = target, last["round"]
        if not parts:
            return f"{agent} has not been a donor yet in this game."
        text = "; ".join(parts)
        return "What your recipient did before: " + text[0].upper() + text[1:] + "."

    def action_space(self, agent: str, t: float, context: Mapping[str, Any]) -> ActionSpace:
        """Write a strategy, or donate (and punish / refuse when enabled)."""
        section: DonorSection = self.section
        if context.get("phase") == "strategy":
            return ActionSpace(
                (
                    ActionOption(
                        "write_strategy",
                        "State your strategy in one sentence.",
                        {"strategy": ArgSpec("text", "My strategy will be ...", max_length=400)},
                    ),
                )
            )
        have = self.resources[agent]
        justification = ArgSpec("text", "your reasoning, briefly", max_length=300, min_length=0)
        # Bounds are the rules' job: an out-of-range amount is an invalid action, counted.
        amount = ArgSpec("number", "units", low=0, high=have, bounds_in_schema=False)
        options = [
            ActionOption(
                "donate",
                "Give units to the recipient.",
                {"justification": justification, "amount": amount},
            )
        ]
        if section.punishment.enabled:
            options.append(
                ActionOption(
                    "punish",
                    "Pay units to remove units from the recipient.",
                    {"justification": justification, "amount": amount},
                )
            )
        if section.partner_choice:
            options.append(ActionOption("refuse", "Refuse to play with this recipient."))
        return ActionSpace(tuple(options))

    async def interpret(
        self, agent: str, action: Action, space: ActionSpace, t: float, context: Mapping[str, Any]
    ) -> Action:
        """An unparseable reply (after the model layer's re-asks) counts as giving 0."""
        if action.parse == "fallback":
            if context.get("phase") == "strategy":
                return replace(action, name="write_strategy", args={"strategy": action.raw[:400]})
            return replace(action, name="donate", args={"justification": "", "amount": 0.0})
        return action

    # -- resolution -------------------------------------------------------------------
    def resolve(
        self, agent: str, action: Action, t: float, context: Mapping[str, Any]
    ) -> list[Event]:
        """Apply a strategy or a donation; invariants checked against current resources."""
        section: DonorSection = self.section
        if context.get("phase") == "strategy":
            text = str(action.args.get("strategy", "")).strip()[:400]
            self.strategies[agent] = text
            return [
                Event(
                    t,
                    "strategy",
                    agent,
                    None,
                    {"generation": self.generation, "strategy": text},
                    (agent,),
                )
            ]
        recipient = self.pairs[agent]
        space = self.action_space(agent, t, context)
        reason = check_args(action, space)
        base = {
            "generation": self.generation,
            "game": self.game,
            "round": self.round,
            "parse": action.parse,
        }
        if reason is not None:
            event = invalid(agent, action, t, reason)
            return [replace(event, target=recipient, payload={**event.payload, **base})]
        have = self.resources[agent]
        amount = float(action.args.get("amount", 0.0))
        fraction = amount / have if have > 0 else 0.0
        payload = {
            **base,
            "amount": amount,
            "fraction": fraction,
            "donor_before": have,
            "recipient_before": self.resources[recipient],
        }
        record = {
            "donor": agent,
            "recipient": recipient,
            "round": self.round,
            "fraction": fraction,
            "kind": action.name,
        }
        if action.name == "refuse":
            record["fraction"] = 0.0
            self._record(record)
            return [Event(t, "refusal", agent, recipient, {**base}, (agent, recipient))]
        if action.name == "punish":
            cost = amount * section.punishment.cost
            if cost > have:
                event = invalid(
                    agent, action, t, f"punishing {amount:g} costs {cost:g}; you have {have:g}"
                )
                return [replace(event, target=recipient, payload={**event.payload, **base})]
            removed = min(self.resources[recipient], amount * section.punishment.effect)
            self.resources[agent] -= cost
            self.resources[recipient] -= removed
            self._record(record)
            return [
                Event(
                    t,
                    "punishment",
                    agent,
                    recipient,
                    {**payload, "cost": cost, "removed": removed},
                    (agent, recipient),
                )
            ]
        self.resources[agent] -= amount
        self.resources[recipient] += amount * section.multiplier
        self._record(record)
        payload["received"] = amount * section.multiplier
        return [Event(t, "donation", agent, recipient, payload, (agent, recipient))]

    def _record(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        self.given.setdefault(record["donor"], []).append(record)

    # -- state ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything needed to continue: generation, roster, strategies, resources, history."""
        return json.loads(
            json.dumps(
                {
                    "generation": self.generation,
                    "game": self.game,
                    "round": self.round,
                    "alive": self.alive,
                    "order": getattr(self, "order", []),
                    "strategies": self.strategies,
                    "resources": self.resources,
                    "history": self.history,
                    "last_scores": self.last_scores,
                }
            )
        )

    def metrics(self) -> dict[str, Any]:
        """Generations played and the mean final resources of each."""
        return {
            "generations_played": len(self.finished_generations),
            "mean_final_resources": [round(x, 3) for x in self.finished_generations],
        }


GAME = GameSpec(
    name="donor_game",
    section=DonorSection,
    factory="gamemaster.donor_game:DonorGameMaster",
    description="Iterated Donor Game with reputation traces and generations (Vallinder & Hughes 2024).",
    statistics="engine.network.cooperation:run_statistics",
    exports="engine.network.cooperation:export_graphs",
)
