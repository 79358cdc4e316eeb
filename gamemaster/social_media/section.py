"""The ``game:`` section of a social-media scenario (Orlando et al., WebSci 2025)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gamemaster.api import Duration

ActionName = Literal[
    "post", "reply", "repost", "like", "dislike", "follow", "unfollow", "do_nothing"
]
ALL_ACTIONS: tuple[ActionName, ...] = (
    "post",
    "reply",
    "repost",
    "like",
    "dislike",
    "follow",
    "unfollow",
    "do_nothing",
)


NARRATION = {
    "like": "liked a post by",
    "dislike": "disliked a post by",
    "repost": "reposted a post by",
    "follow": "followed",
    "unfollow": "unfollowed",
}


class FeedMix(BaseModel):
    """Weights of the feed sources in a mixture feed."""

    model_config = ConfigDict(extra="forbid")
    chronological: float = Field(0.4, ge=0)
    popularity: float = Field(0.3, ge=0)
    similarity: float = Field(0.3, ge=0)


class SocialSection(BaseModel):
    """The ``game:`` section of a social-media scenario.

    ``iterations`` set: the protocol of Orlando et al. (WebSci 2025): iterations in which
    every agent acts once, one after another in a freshly shuffled order spread evenly
    over ``iteration_length`` (population.activity is then not used); with
    ``follows_per_activation: 1`` that is at most one follow per agent and iteration.
    Unset: agents act on their own activity schedules (population.activity).
    """

    model_config = ConfigDict(extra="forbid")
    actions: list[ActionName] = Field(default_factory=lambda: list(ALL_ACTIONS), min_length=1)
    iterations: int | None = Field(
        None, ge=1, le=100_000, description="Every agent acts once per iteration (the paper)."
    )
    iteration_length: Duration = Field(3600.0, description="Simulated time of one iteration.")
    feed: Literal["chronological", "popularity", "similarity", "mixture"] = "mixture"
    feed_size: int = Field(6, ge=0, le=100)
    mix: FeedMix = FeedMix()
    exploration: float = Field(0.25, ge=0, le=1, description="Share of the feed drawn at random.")
    popularity_half_life: Duration = Field(6 * 3600.0)
    recent_posts: int = Field(500, ge=10, le=100_000, description="Candidate pool of feeds.")
    follow_step: bool = Field(True, description="Follow suggested accounts alongside the action.")
    follows_per_activation: int = Field(1, ge=1, le=20)
    recommender: Literal["paper", "similarity", "common_neighbors", "preferential", "random"] = (
        Field(
            "paper",
            description="paper: only accounts that have posted, ranked by the mean cosine "
            "similarity of their posts to the agent's own (its persona until it posts); "
            "similarity: cosine of persona-plus-posts vectors (accounts suggested before they "
            "post); common_neighbors; preferential (by followers); random.",
        )
    )
    suggestions: int = Field(3, ge=1, le=50)
    post_max_chars: int = Field(280, ge=10, le=5000)
    snapshot_every: Duration = Field(6 * 3600.0, description="Statistics snapshot period.")
    null_samples: int = Field(
        1000, ge=0, le=100_000, description="Degree-preserving rewirings per snapshot (p-values)."
    )
    bootstrap_samples: int = Field(
        1000, ge=0, le=100_000, description="Ego-neighbourhood bootstrap samples per snapshot."
    )

    @field_validator("snapshot_every", "iteration_length")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than 0")
        return value
