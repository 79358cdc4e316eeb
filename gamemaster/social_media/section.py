"""The ``game:`` section of a social-media scenario (Orlando et al., WebSci 2025)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
    """The ``game:`` section of a social-media scenario."""

    model_config = ConfigDict(extra="forbid")
    actions: list[ActionName] = Field(default_factory=lambda: list(ALL_ACTIONS), min_length=1)
    feed: Literal["chronological", "popularity", "similarity", "mixture"] = "mixture"
    feed_size: int = Field(6, ge=0, le=100)
    mix: FeedMix = FeedMix()
    exploration: float = Field(0.25, ge=0, le=1, description="Share of the feed drawn at random.")
    popularity_half_life: Duration = Field(6 * 3600.0)
    recent_posts: int = Field(500, ge=10, le=100_000, description="Candidate pool of feeds.")
    follow_step: bool = Field(True, description="Follow suggested accounts alongside the action.")
    follows_per_activation: int = Field(1, ge=1, le=20)
    recommender: Literal["similarity", "common_neighbors", "preferential", "random"] = "similarity"
    suggestions: int = Field(3, ge=1, le=50)
    post_max_chars: int = Field(280, ge=10, le=5000)
    snapshot_every: Duration = Field(6 * 3600.0, description="Statistics snapshot period.")
    null_samples: int = Field(20, ge=0, le=1000, description="Rewired graphs for z-scores.")
    bootstrap_samples: int = Field(500, ge=0, le=100_000)
