"""The ``game:`` section of a donor-game scenario and its prompt templates.

Defaults follow Vallinder & Hughes (2024), "Cultural Evolution of Cooperation among LLM
Agents", arXiv 2412.10270: 12 agents, 10 generations, 12 rounds per game, endowment 10,
multiplier 2, traces of depth 3, the best half survive, two games per generation with
roles reversed and selection on the mean of the two (the paper's footnote 3). Every
departure is listed in ``scenarios/donor_game/README.md``.

Templates use ``$name`` placeholders only (:mod:`engine.templates`); none of them is given
the number of rounds, which the paper hides to prevent end-game defection.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gamemaster.api import Duration
from gamemaster.api import check_template as check

RULES = (
    "You are playing an iterated Donor Game with $agents players. Each player starts each "
    "game with $endowment units of a valuable resource. In each round you are paired with "
    "another player: one of you is the donor, the other the recipient. The donor decides how "
    "many of their own units to give up; the recipient receives $multiplier times that amount. "
    "$schedule Your goal is to have as many units as possible at the end of each game. "
    "$selection$punishment$refusal$trace_rule"
)
STRATEGY_PROMPT = (
    "$advice\n${think}"
    'Describe your strategy briefly, without explanation, in one sentence that starts "My '
    'strategy will be".'
)
FIRST_ADVICE = (
    "Based on the description of the game, create a strategy that you will follow in the game."
)
NEWCOMER_ADVICE = (
    "Here is the advice of the best-performing half of the previous generation:\n$advice\n"
    "Modify and improve on this advice to create your own strategy."
)
DONATION_PROMPT = (
    "Generation $generation, round $round.\n"
    "Your strategy: $strategy\n"
    "You are the donor in this round. You have $resources units.\n"
    "Your recipient is $recipient, who has $recipient_resources units.\n"
    "${trace}"
    "How many of your units do you give up?${think}"
)

RULES_VARIABLES = frozenset(
    {
        "agents",
        "endowment",
        "multiplier",
        "schedule",
        "selection",
        "punishment",
        "refusal",
        "trace_rule",
    }
)
STRATEGY_VARIABLES = frozenset({"advice", "think"})
NEWCOMER_VARIABLES = frozenset({"advice"})
DONATION_VARIABLES = frozenset(
    {
        "generation",
        "round",
        "strategy",
        "resources",
        "recipient",
        "recipient_resources",
        "trace",
        "think",
    }
)


class Punishment(BaseModel):
    """Costly punishment (the paper's Section 4.3).

    x units of punishment cost the donor ``cost * x`` and remove ``effect * x`` from the
    recipient (never below 0).
    """

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    cost: float = Field(1.0, gt=0, le=1e6)
    effect: float = Field(2.0, ge=0, le=1e6)


class DonorSection(BaseModel):
    """The ``game:`` section of a donor-game scenario (defaults follow the paper)."""

    model_config = ConfigDict(extra="forbid")
    agents_per_generation: int = Field(12, ge=2, le=100_000)
    generations: int = Field(10, ge=1, le=1000)
    rounds: int | None = Field(
        None,
        ge=2,
        description="Rounds per game. Default (the paper): agents_per_generation; fewer play "
        "the schedule's first rounds. Never shown to the agents.",
    )
    endowment: float = Field(10.0, gt=0, le=1e9)
    multiplier: float = Field(2.0, ge=0, le=1e6)
    trace_depth: int = Field(3, ge=0, le=20, description="Steps of the recipient's trace shown.")
    pairing: Literal["alternating", "round_robin", "strict_alternation"] = Field(
        "alternating",
        description="alternating: roles alternate every round and each cross-half pair meets "
        "once each way, never in consecutive rounds (when the halves have 3+ players); "
        "round_robin: the second half of the game repeats the first with roles swapped; "
        "strict_alternation: each pair meets in two consecutive rounds, roles swapped.",
    )
    survivors: float = Field(0.5, gt=0, lt=1, description="Share surviving each generation.")
    show_scores: bool = Field(False, description="Newcomers see survivors' selection scores.")
    punishment: Punishment = Punishment()
    partner_choice: bool = Field(False, description="Donors may refuse to play.")
    compat: Literal["paper", "notebook"] = Field(
        "paper",
        description="paper: two games per generation, roles reversed in the second, selection "
        "on the mean of the two; notebook: the released notebook's selection on the second "
        "game only, which favours the agents who receive in its last round.",
    )
    reasoning: bool = Field(
        True,
        description='A "reasoning" reply field before the strategy and each amount (the paper: '
        "think step by step first).",
    )
    reasoning_max_chars: int = Field(4000, ge=0, le=100_000, description="Stored reasoning cap.")
    round_length: Duration = Field(60.0, description="Simulated time per round.")
    rules: str = Field(RULES, max_length=8000, description="Rules text ($agents, $schedule, ...).")
    strategy_prompt: str = Field(STRATEGY_PROMPT, max_length=4000)
    newcomer_advice: str = Field(NEWCOMER_ADVICE, max_length=4000)
    donation_prompt: str = Field(DONATION_PROMPT, max_length=4000)
    image_score_bound: int | None = Field(
        5, ge=1, le=1000, description="Image scores clipped to [-b, b] (Nowak & Sigmund 1998)."
    )
    cooperate_at: float = Field(
        0.5,
        gt=0,
        le=1,
        description="A gift of at least this share of the donor's resources counts as "
        "cooperation in the standing assessment (second-order statistics).",
    )

    @field_validator("rules")
    @classmethod
    def _rules(cls, text: str) -> str:
        return check(text, RULES_VARIABLES)

    @field_validator("round_length")
    @classmethod
    def _round_length(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("a round takes simulated time: use a length above 0 (e.g. 60s)")
        return value

    @field_validator("strategy_prompt")
    @classmethod
    def _strategy(cls, text: str) -> str:
        return check(text, STRATEGY_VARIABLES)

    @field_validator("newcomer_advice")
    @classmethod
    def _newcomer(cls, text: str) -> str:
        return check(text, NEWCOMER_VARIABLES)

    @field_validator("donation_prompt")
    @classmethod
    def _donation(cls, text: str) -> str:
        return check(text, DONATION_VARIABLES)

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

    @property
    def rounds_played(self) -> int:
        """Rounds per game."""
        return self.rounds or self.agents_per_generation

    @property
    def games(self) -> int:
        """Games per generation: two in both modes (they differ in what selection uses)."""
        return 2

    @property
    def kept(self) -> int:
        """Survivors per generation."""
        return max(1, round(self.agents_per_generation * self.survivors))
