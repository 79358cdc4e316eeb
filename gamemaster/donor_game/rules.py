"""The Donor Game's rules: schedule, traces, donations, punishment, selection.

After Vallinder & Hughes (2024), "Cultural Evolution of Cooperation among LLM Agents",
arXiv 2412.10270. Each generation: agents without a strategy write one (newcomers read
the survivors' strategies first); the population is shuffled into halves A and B; then
two games, the second with every pairing's roles reversed, so that everyone is the
last-round recipient exactly once (the paper's footnote 3); each game starts everyone at
the endowment. A donor sees its strategy, both players' resources and the recipient's
reputation trace, and gives part of its resources; the recipient receives
``multiplier`` times the gift. Selection keeps the best share by the mean final
resources of the two games (``compat: notebook``: the second game only). One round is one
batch: all donors of a round decide at once, on the resources as they stood at its start.

Amounts are shown rounded down to 0.01; giving at least the amount shown (up to 0.01
more than held) gives everything. A donor holding less than 0.01 is not asked: the
round records that it had nothing to give.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping, Sequence
from dataclasses import replace
from itertools import pairwise
from typing import Any

import simpy

from gamemaster.api import (
    Action,
    ActionOption,
    ActionSpace,
    ArgSpec,
    Event,
    GameMaster,
    Kernel,
    Observation,
    Persona,
    TurnDriver,
    check_args,
    invalid,
    render,
)
from gamemaster.api import quote as quoted
from gamemaster.donor_game.section import FIRST_ADVICE, DonorSection

TOLERANCE = 0.01  # the resolution of amounts shown to agents
DECISIONS = ("donation", "punishment", "refusal", "nothing_to_give", "invalid_action")
THINK_STRATEGY = (
    "Before formulating your strategy, briefly think step by step about what would be a "
    'successful strategy in this game, in the "reasoning" field. '
)
THINK_DONATION = (
    " Very briefly think step by step about how you apply your strategy in this situation, "
    'in the "reasoning" field, then give the amount.'
)
Pairs = list[tuple[int, int]]


def shown(amount: float) -> float:
    """An amount as agents see it: rounded down to 0.01 (so "all of it" is never too much)."""
    return math.floor(amount * 100 + 1e-6) / 100


def units(amount: float) -> str:
    """An amount as prompt text, e.g. ``6.66`` for 20/3."""
    return f"{shown(amount):.2f}".rstrip("0").rstrip(".")


def schedule(n: int, pairing: str, rounds: int | None = None) -> list[Pairs]:
    """The first ``rounds`` (default: n) rounds of (donor, recipient) index pairs.

    Indexes 0..n/2-1 are half A, n/2..n-1 half B; a player only ever meets the other half.

    - ``alternating``: round 2m has A[j] give to B[j+m], round 2m+1 has B[j+s] give to
      A[j] with s = m + ceil(n/4) (mod n/2): roles alternate every round, each cross-half
      pair meets once each way, and with 3+ players per half never in consecutive rounds.
    - ``round_robin``: round i (of the first half of the game) pairs A[j] with B[j+i], the
      donor side alternating; the second half repeats it with roles swapped (so half B
      donates in the two middle rounds).
    - ``strict_alternation``: each pair meets in two consecutive rounds, roles swapped.
    """
    half = n // 2
    played: list[Pairs] = []
    for i in range(n if rounds is None else min(rounds, n)):
        if pairing == "alternating":
            a_donates = i % 2 == 0
            shift = i // 2 if a_donates else (i // 2 + (half + 1) // 2) % half
        elif pairing == "strict_alternation":
            shift, a_donates = (i // 2) % half, i % 2 == 0
        else:  # round_robin
            shift = i % half
            a_donates = (shift % 2 == 0) == (i < half)
        pairs = []
        for j in range(half):
            a, b = j, half + (j + shift) % half
            pairs.append((a, b) if a_donates else (b, a))
        played.append(pairs)
    return played


def describe_schedule(played: Sequence[Pairs]) -> str:
    """Sentences about roles and partners that are true of ``played`` for every player."""
    roles: dict[int, list[bool]] = {}
    partners: dict[int, list[int]] = {}
    for pairs in played:
        for donor, recipient in pairs:
            roles.setdefault(donor, []).append(True)
            roles.setdefault(recipient, []).append(False)
            partners.setdefault(donor, []).append(recipient)
            partners.setdefault(recipient, []).append(donor)
    alternate = all(all(a != b for a, b in pairwise(r)) for r in roles.values())
    halves = all(2 * sum(r) == len(r) for r in roles.values())
    if alternate:
        text = (
            "Roles alternate: if you are the donor in one round, you are the recipient in the "
            "next, and vice versa."
        )
    elif halves:
        text = "You are the donor in half of the rounds and the recipient in the other half."
    else:
        text = "Your role can change from round to round."
    sequences = list(partners.values())
    if all(len(set(p)) == 1 for p in sequences):
        return text + " You play every round with the same partner."
    back_to_back = any(a == b for p in sequences for a, b in pairwise(p))
    repeats = any(len(set(p)) < len(p) for p in sequences)
    if not back_to_back:
        again = ", and you may meet the same player again later." if repeats else "."
        return text + " Your partner changes from round to round" + again
    paired_rounds = all(
        p[i] == p[i + 1] and (i + 2 >= len(p) or p[i + 2] != p[i])
        for p in sequences
        for i in range(0, len(p) - 1, 2)
    )
    if paired_rounds and alternate:
        return (
            text + " You meet each partner in two consecutive rounds, once as donor and once "
            "as recipient."
        )
    return text + " You may meet the same player in consecutive rounds."


class DonorGameMaster(GameMaster):
    """See the module docstring."""

    name = "donor_game"
    section: DonorSection

    def setup(self, agents: Sequence[Persona]) -> None:
        """Take the first generation from the population."""
        section = self.section
        if len(agents) < section.agents_per_generation:  # validate() reports this first
            raise ValueError(
                f"the population has {len(agents)} personas; the donor game needs "
                f"agents_per_generation = {section.agents_per_generation}"
            )
        self.templates = list(agents)
        first = list(agents)[: section.agents_per_generation]
        super().setup(first)
        self.taken = {p.name for p in agents}
        self.born = {p.name: 1 for p in first}
        self.generation = 1
        self.game = 1
        self.round = 0
        self.alive = [p.name for p in first]
        self.order = list(self.alive)
        self.strategies: dict[str, str] = {}
        self.resources = {name: section.endowment for name in self.alive}
        self.given: dict[str, list[dict[str, Any]]] = {}  # this game's decisions, by donor
        self.pairs: dict[str, str] = {}  # donor -> recipient in the current round
        self.traces: dict[str, list[dict[str, Any]]] = {}  # what each donor was shown
        self.game_resources: list[dict[str, float]] = []  # final resources of each game
        self.advice: list[tuple[str, str, float]] = []  # (survivor, strategy, score)
        self.finished_generations: list[float] = []  # mean selection score per generation
        self._played = schedule(
            section.agents_per_generation, section.pairing, section.rounds_played
        )
        self._rendered: tuple[Any, str] = (None, "")  # (section, its rules text)

    @property
    def _rules(self) -> str:
        """The rules text of the current section (a ``set`` intervention may change it)."""
        if self._rendered[0] is not self.section:
            self._rendered = (self.section, self._render_rules())
        return self._rendered[1]

    # -- turns ------------------------------------------------------------------------
    def turns(self) -> TurnDriver:
        """Strategy phase, then two games of rounds, then selection, each generation."""
        section = self.section

        def driver(kernel: Kernel[Any]) -> Generator[simpy.Event, Any, None]:
            step = section.round_length
            for generation in range(1, section.generations + 1):
                self.generation = generation
                for name in self.alive:
                    if name not in self.strategies:
                        kernel.activate(name, {"phase": "strategy", "generation": generation})
                yield kernel.env.timeout(step)
                self.order = list(self.alive)
                self.rng.shuffle(self.order)
                self.game_resources = []
                for game in range(1, section.games + 1):
                    self._start_game(game)
                    for round_index, pairs in enumerate(self._rounds(game), start=1):
                        self.round = round_index
                        self.pairs = {self.order[d]: self.order[r] for d, r in pairs}
                        self.traces = {}
                        for donor in sorted(self.pairs, key=self.alive.index):
                            if shown(self.resources[donor]) <= 0:
                                kernel.emit(self._nothing_to_give(donor, kernel.env.now))
                            else:
                                context = {"phase": "donate", "game": game, "round": round_index}
                                kernel.activate(donor, context)
                        yield kernel.env.timeout(step)
                    self._end_game(kernel)
                self._select(kernel)

        return driver

    def _start_game(self, game: int) -> None:
        self.game = game
        self.round = 0
        self.given = {}
        self.resources = {name: self.section.endowment for name in self.alive}

    def _rounds(self, game: int) -> list[Pairs]:
        if game == 1:
            return self._played
        return [[(r, d) for d, r in pairs] for pairs in self._played]  # roles reversed

    def _end_game(self, kernel: Kernel[Any]) -> None:
        final = dict(sorted(self.resources.items()))
        self.game_resources.append(final)
        payload = {"generation": self.generation, "game": self.game, "resources": final}
        kernel.emit(Event(kernel.env.now, "game_end", None, None, payload, tuple(self.alive)))

    def selection_scores(self) -> dict[str, float]:
        """Mean final resources over the generation's games (notebook: the last game)."""
        games = self.game_resources if self.section.compat == "paper" else self.game_resources[-1:]
        return {name: sum(g[name] for g in games) / len(games) for name in sorted(self.alive)}

    def _select(self, kernel: Kernel[Any]) -> None:
        """Keep the best share (ties, to 1e-6 units, broken by the seed); add newcomers."""
        section = self.section
        scores = self.selection_scores()
        tiebreak = {name: float(self.rng.random()) for name in sorted(self.alive)}
        ranked = sorted(self.alive, key=lambda a: (-round(scores[a], 6), tiebreak[a]))
        survivors = ranked[: section.kept]
        self.advice = [(name, self.strategies.get(name, ""), scores[name]) for name in survivors]
        self.finished_generations.append(sum(scores.values()) / len(scores))
        newcomers = [self._newcomer(j) for j in range(len(self.alive) - section.kept)]
        payload = {
            "generation": self.generation,
            "scores": scores,
            "games": self.game_resources,
            "survivors": survivors,
            "newcomers": newcomers,
            "born": {name: self.born[name] for name in sorted(self.alive)},
            "strategies": {a: self.strategies.get(a, "") for a in sorted(self.alive)},
        }
        kernel.emit(Event(kernel.env.now, "generation_end", None, None, payload, tuple(self.alive)))
        if self.generation < section.generations:
            self.alive = survivors + newcomers

    def _newcomer(self, j: int) -> str:
        """Register newcomer ``j`` of the next generation under a name nobody has."""
        base = f"{self.generation + 1}_{j + 1}"
        name, copy = base, 1
        while name in self.taken:
            copy += 1
            name = f"{base}~n{copy}"
        self.taken.add(name)
        template = self.templates[(self.generation * len(self.alive) + j) % len(self.templates)]
        self.agents[name] = Persona(name, template.description, template.traits, template.interests)
        self.born[name] = self.generation + 1
        return name

    # -- what agents see --------------------------------------------------------------
    def _render_rules(self) -> str:
        section = self.section
        punishment = refusal = trace_rule = ""
        if section.punishment.enabled:
            p = section.punishment
            punishment = (
                " Instead of donating, a donor may punish the recipient: punishing with x "
                f"costs the donor {p.cost:g}x units and removes {p.effect:g}x units from the "
                "recipient (never below 0)."
            )
        if section.partner_choice:
            refusal = " A donor may also refuse to play with the recipient: nothing changes hands."
        if section.trace_depth:
            example = [
                "In round 5, B donated 40% of their resources to C",
                "in round 4, C donated 10% of their resources to D",
            ][: section.trace_depth]
            trace_rule = (
                "\nAs a donor you see what your recipient did the last time they were a donor"
                + (
                    ", what their recipient did before that, and so on, up to "
                    f"{section.trace_depth} steps back"
                    if section.trace_depth > 1
                    else ""
                )
                + f', for example: "{"; ".join(example)}."'
            )
        share = "half" if section.survivors == 0.5 else f"{section.survivors:.0%}"
        basis = (
            "their average final units over the generation's games"
            if section.compat == "paper"
            else "their final units in the generation's last game"
        )
        selection = (
            f"After each generation, the best-performing {share} of the players, by {basis}, "
            "survive into the next generation with their strategies; the others are replaced by "
            "newcomers who build on the survivors' strategies."
        )
        return render(
            section.rules,
            agents=section.agents_per_generation,
            endowment=f"{section.endowment:g}",
            multiplier=f"{section.multiplier:g}",
            # The full pattern, not the rounds played: the text must not vary with (and so
            # reveal) the game's length; "may meet again" stays a possibility.
            schedule=describe_schedule(schedule(section.agents_per_generation, section.pairing)),
            selection=selection,
            punishment=punishment,
            refusal=refusal,
            trace_rule=trace_rule,
        )

    def observe(self, agent: str, t: float, context: Mapping[str, Any]) -> Observation:
        """Rules, then the strategy task or the donor's situation and the recipient's trace."""
        section = self.section
        if context.get("phase") == "strategy":
            return Observation(
                t, f"{self._rules}\n\n{self._strategy_task()}", {"phase": "strategy"}
            )
        recipient = self.pairs[agent]
        entries = self.trace_entries(recipient, self.round, section.trace_depth)
        self.traces[agent] = entries
        situation = render(
            section.donation_prompt,
            generation=self.generation,
            round=self.round,
            strategy=quoted(self.strategies.get(agent, "")),
            resources=units(self.resources[agent]),
            recipient=recipient,
            recipient_resources=units(self.resources[recipient]),
            trace=self.trace_text(recipient, entries) + "\n" if section.trace_depth else "",
            think=THINK_DONATION if section.reasoning else "",
        )
        facts = {"recipient": recipient, "resources": self.resources[agent], "phase": "donate"}
        return Observation(t, f"{self._rules}\n\n{situation}", facts)

    def _strategy_task(self) -> str:
        section = self.section
        advice = FIRST_ADVICE
        if self.advice:
            lines = [
                f"- {quoted(strategy)}"
                + (f" (average final units: {units(score)})" if section.show_scores else "")
                for _, strategy, score in self.advice
            ]
            advice = render(section.newcomer_advice, advice="\n".join(lines))
        think = THINK_STRATEGY if section.reasoning else ""
        return render(section.strategy_prompt, advice=advice, think=think)

    def trace_entries(self, agent: str, before_round: int, depth: int) -> list[dict[str, Any]]:
        """The reputation trace of ``agent`` before ``before_round``, ``depth`` steps deep.

        ``agent``'s latest decision as donor, then its recipient's latest before that, and
        so on (this game only).
        """
        entries: list[dict[str, Any]] = []
        who, limit = agent, before_round
        for _ in range(depth):
            last = next((h for h in reversed(self.given.get(who, ())) if h["round"] < limit), None)
            if last is None:
                break
            entries.append(dict(last))
            who, limit = last["recipient"], last["round"]
        return entries

    @staticmethod
    def trace_text(recipient: str, entries: Sequence[Mapping[str, Any]]) -> str:
        """The trace in words (punishments, refusals and empty hands said as such)."""
        if not entries:
            return f"{recipient} has not been a donor yet in this game."
        parts = []
        for e in entries:
            share = f"{100 * (e['fraction'] or 0.0):.0f}% of their resources"
            doing = {
                "donation": f"donated {share} to {e['recipient']}",
                "punishment": f"spent {share} punishing {e['recipient']}",
                "refusal": f"refused to play with {e['recipient']}",
                "nothing_to_give": f"had nothing to give to {e['recipient']}",
            }[e["kind"]]
            parts.append(f"in round {e['round']}, {e['donor']} {doing}")
        text = "; ".join(parts)
        return (
            f"Here is what {recipient} and their earlier partners did in previous rounds: "
            + text[0].upper()
            + text[1:]
            + "."
        )

    def action_space(self, agent: str, t: float, context: Mapping[str, Any]) -> ActionSpace:
        """Write a strategy, or donate (and punish / refuse when enabled)."""
        section = self.section
        reasoning = (
            {"reasoning": ArgSpec("text", "think step by step", max_length=None, min_length=0)}
            if section.reasoning
            else {}
        )
        if context.get("phase") == "strategy":
            strategy = ArgSpec("text", "My strategy will be ...", max_length=600)
            return ActionSpace(
                (
                    ActionOption(
                        "write_strategy",
                        "State your strategy.",
                        {**reasoning, "strategy": strategy},
                    ),
                )
            )
        # Bounds are the rules' job: an out-of-range amount is an invalid action, counted.
        amount = ArgSpec(
            "number", "units", low=0, high=shown(self.resources[agent]), bounds_in_schema=False
        )
        options = [
            ActionOption("donate", "Give units to the recipient.", {**reasoning, "amount": amount})
        ]
        if section.punishment.enabled:
            options.append(
                ActionOption(
                    "punish", "Punish the recipient with x units.", {**reasoning, "amount": amount}
                )
            )
        if section.partner_choice:
            options.append(ActionOption("refuse", "Refuse to play with this recipient.", reasoning))
        return ActionSpace(tuple(options))

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
        """An unparseable reply (after the model layer's re-asks) counts as giving 0."""
        if action.parse == "fallback":
            reasoning = {"reasoning": ""} if self.section.reasoning else {}
            if context.get("phase") == "strategy":
                args = {**reasoning, "strategy": action.raw[:600]}
                return replace(action, name="write_strategy", args=args)
            return replace(action, name="donate", args={**reasoning, "amount": 0.0})
        return action

    # -- resolution -------------------------------------------------------------------
    def resolve(
        self, agent: str, action: Action, t: float, context: Mapping[str, Any]
    ) -> list[Event]:
        """Apply a strategy or a decision; invariants checked against current resources."""
        section = self.section
        reasoning = str(action.args.get("reasoning", ""))[: section.reasoning_max_chars]
        if context.get("phase") == "strategy":
            text = str(action.args.get("strategy", "")).strip()[:600]
            self.strategies[agent] = text
            payload = {
                "generation": self.generation,
                "strategy": text,
                "reasoning": reasoning,
                "advice_from": [name for name, _, _ in self.advice] if self.born[agent] > 1 else [],
            }
            return [Event(t, "strategy", agent, None, payload, (agent,))]
        recipient = self.pairs[agent]
        have = self.resources[agent]
        base = {
            "generation": self.generation,
            "game": self.game,
            "round": self.round,
            "parse": action.parse,
            "reasoning": reasoning,
            "shown": self.traces.get(agent, []),
        }
        amount = action.args.get("amount")
        number = (
            float(amount)
            if isinstance(amount, int | float) and not isinstance(amount, bool)
            else None
        )
        if number is not None and shown(have) <= number <= have + TOLERANCE:  # all of it
            action = replace(action, args={**action.args, "amount": shown(have)})
        reason = check_args(action, self.action_space(agent, t, context))
        if reason is not None:
            event = invalid(agent, action, t, reason)
            return [replace(event, target=recipient, payload={**event.payload, **base})]
        record: dict[str, Any] = {"donor": agent, "recipient": recipient, "round": self.round}
        if action.name == "refuse":
            self._record({**record, "kind": "refusal", "fraction": None})
            return [Event(t, "refusal", agent, recipient, base, (agent, recipient))]
        amount = float(action.args["amount"])
        if amount >= shown(have):
            amount = have
        before = {"donor_before": have, "recipient_before": self.resources[recipient]}
        if action.name == "punish":
            cost = amount * section.punishment.cost
            if cost > have + 1e-9:
                event = invalid(
                    agent,
                    action,
                    t,
                    f"punishing with {amount:g} costs {cost:g}; you have {units(have)}",
                )
                return [replace(event, target=recipient, payload={**event.payload, **base})]
            removed = min(self.resources[recipient], amount * section.punishment.effect)
            self.resources[agent] = max(0.0, have - cost)
            self.resources[recipient] -= removed
            fraction = min(cost / have, 1.0)
            self._record({**record, "kind": "punishment", "fraction": fraction})
            payload = {
                **base,
                **before,
                "amount": amount,
                "fraction": fraction,
                "cost": cost,
                "removed": removed,
            }
            return [Event(t, "punishment", agent, recipient, payload, (agent, recipient))]
        received = amount * section.multiplier
        self.resources[agent] = have - amount
        self.resources[recipient] += received
        fraction = amount / have
        self._record({**record, "kind": "donation", "fraction": fraction})
        payload = {**base, **before, "amount": amount, "fraction": fraction, "received": received}
        return [Event(t, "donation", agent, recipient, payload, (agent, recipient))]

    def _nothing_to_give(self, donor: str, t: float) -> Event:
        """A donor with nothing left is not asked; the round records it as such."""
        recipient = self.pairs[donor]
        self._record(
            {
                "donor": donor,
                "recipient": recipient,
                "round": self.round,
                "kind": "nothing_to_give",
                "fraction": None,
            }
        )
        payload = {
            "generation": self.generation,
            "game": self.game,
            "round": self.round,
            "donor_before": self.resources[donor],
            "recipient_before": self.resources[recipient],
        }
        return Event(t, "nothing_to_give", donor, recipient, payload, (donor, recipient))

    def _record(self, record: dict[str, Any]) -> None:
        self.given.setdefault(record["donor"], []).append(record)

    # -- state ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Generation, roster, strategies, resources and the current game's decisions."""
        return {
            "generation": self.generation,
            "game": self.game,
            "round": self.round,
            "alive": list(self.alive),
            "order": list(self.order),
            "born": dict(self.born),
            "strategies": dict(self.strategies),
            "resources": dict(self.resources),
            "games": list(self.game_resources),
            "given": {k: list(v) for k, v in self.given.items()},
        }

    def metrics(self) -> dict[str, Any]:
        """Generations played and the mean selection score of each."""
        return {
            "generations_played": len(self.finished_generations),
            "mean_final_resources": [round(x, 3) for x in self.finished_generations],
        }
