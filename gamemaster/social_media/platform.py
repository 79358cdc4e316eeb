"""A social-media platform: posts, replies, reposts, likes, dislikes, follows, feeds.

Set up as in Orlando, La Gatta, Russo & Moscato (WebSci 2025): the follow graph starts
empty; at each activation an agent takes one action and, in the same reply, may follow
up to ``follows_per_activation`` of the accounts suggested to it. With ``iterations``
set, the game drives the paper's loop: every agent acts once per iteration, one after
another in a shuffled order. The paper's recommender offers only accounts that have
posted, ranked by the mean cosine similarity of their posts to the agent's own (its
persona before it posts); persona-plus-posts similarity, common neighbours, preferential
attachment and random recommenders are offered too. Feeds are chronological
(followees), popularity (time-decayed likes and reposts), similarity (the agent's
persona and own posts against posts) or a mixture with an exploration share of random
recent posts, so that an empty graph can grow. Post texts are embedded in one batch per
window, when the first agent of the window looks.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
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
    quote,
)
from gamemaster.social_media.interventions import Boost, InjectPost, Suspend
from gamemaster.social_media.section import NARRATION, SocialSection


@dataclass
class Post:
    """One post, reply or repost."""

    id: int
    author: str
    t: float
    text: str
    kind: str = "post"
    parent: int | None = None
    likes: int = 0
    dislikes: int = 0
    reposts: int = 0
    replies: list[int] = field(default_factory=list)

    @cached_property
    def quoted(self) -> str:
        """The text as inert prompt data (quoted once: feeds show a post many times)."""
        return quote(self.text)


def top_rows(scores: np.ndarray, n: int, *, ties_to_last: bool = False) -> np.ndarray:
    """Per row of ``scores``, the columns of its ``n`` highest scores at 6 decimals, best first.

    Ties go to the lower column (the higher with ``ties_to_last``); -inf (excluded) ranks
    last. Each score becomes one integer key, its millionths then its column, so that all
    rows are ranked in a few array operations, with no Python loop over them. Only the
    ``n`` best of a row are sorted (a partition finds them).
    """
    rows, width = scores.shape
    n = min(n, width)
    if n <= 0:
        return np.zeros((rows, 0), dtype=np.int64)
    # A score in millionths (np.round's own rint(x * 1e6)), clipped so that keys fit int64.
    millionths = np.rint(np.clip(scores, -_SCORE_LIMIT, _SCORE_LIMIT) * 1e6).astype(np.int64)
    column = np.arange(width, dtype=np.int64)
    keys = -millionths * width + (width - 1 - column if ties_to_last else column)
    chosen = (
        np.argpartition(keys, n - 1, axis=1)[:, :n] if n < width else np.tile(column, (rows, 1))
    )
    order = np.argsort(np.take_along_axis(keys, chosen, axis=1), axis=1)
    return np.take_along_axis(chosen, order, axis=1)


_SCORE_LIMIT = 1e6  # |score| beyond this ranks as this (cosines are within [-1, 1])


def _normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in float64 (zero rows stay zero); row by row alike."""
    rows = vectors.astype(np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))[:, None]
    return rows / np.where(norms == 0, 1, norms)


def _take(ranked: Iterable[Post], count: int, agent: str, chosen: list[int]) -> None:
    """Append to ``chosen`` the first ``count`` posts of ``ranked`` not by ``agent``, not in it."""
    for post in ranked:
        if count <= 0:
            return
        if post.author != agent and post.id not in chosen:
            chosen.append(post.id)
            count -= 1


class SocialMediaGameMaster(GameMaster):
    """See the module docstring."""

    name = "social_media"

    def setup(self, agents: Sequence[Persona]) -> None:
        """Users with no posts and no follows."""
        super().setup(agents)
        self.users = [p.name for p in agents]
        self.index = {name: i for i, name in enumerate(self.users)}
        self.posts: list[Post] = []
        self.following: dict[str, set[str]] = {u: set() for u in self.users}
        self.followers: dict[str, set[str]] = {u: set() for u in self.users}
        self.user_sum: np.ndarray | None = None  # per user: persona vector + own post vectors
        self.persona_vectors: np.ndarray | None = None
        self.post_sum: np.ndarray | None = None  # per user: sum of its own posts' vectors
        self.post_count = np.zeros(len(self.users))
        self._users_normed: np.ndarray | None = None
        self._posters = np.zeros(0, dtype=np.int64)  # accounts with posts, per window
        self._poster_position = np.zeros(0, dtype=np.int64)  # account -> row in the next
        self._poster_means: np.ndarray = np.zeros((0, 0))  # mean own post vector of each
        self._post_vectors = np.zeros((0, 0), np.float32)
        self._embedded = 0
        self._follower_counts = np.zeros(len(self.users))
        self._version = 0  # bumped by every resolve: caches are per (window start, version)
        self._cache_key: tuple[float, int] | None = None
        self._pool: list[Post] = []
        self._feed_size = 0  # per window: min(feed_size, pool), see _plan_feeds
        self._feed_plan: tuple[tuple[Callable[[str], Sequence[Post]], int], ...] = ()
        self._pool_vectors = np.zeros((0, 0), np.float32)
        self._pool64 = np.zeros((0, 0))  # the pool's vectors in float64, for ranking
        self._by_popularity: list[Post] = []
        self._recent_by_author: dict[str, list[int]] = {}  # the last posts of each author
        self._suggested: dict[str, tuple[str, ...]] = {}
        self._feeds: dict[str, tuple[int, ...]] = {}
        # This window's rankings (similarity feed, the paper's suggestions) and feed lines.
        self._similar_ranked: dict[str, list[Post]] = {}
        self._paper_ranked: dict[str, tuple[str, ...]] = {}
        self._lines: dict[int, str] = {}
        # What each activation was shown, in activation order: resolution checks an action
        # against its own view (an agent activated twice in a window has two).
        self._views: dict[str, list[tuple[tuple[int, ...], tuple[str, ...]]]] = {}
        # This window's action spaces, by (shown posts, suggested accounts, followees).
        self._spaces: dict[
            tuple[tuple[int, ...], tuple[str, ...], tuple[str, ...]], ActionSpace
        ] = {}
        self.suspended: set[str] = set()  # accounts whose posts leave feeds and suggestions
        self.boosts: dict[str, float] = {}  # author -> popularity factor

    # -- interventions (interventions.py) ----------------------------------------------
    def intervene(self, item: Any, t: float) -> list[Event]:
        """``inject_post``, ``suspend`` or ``boost`` at ``t``."""
        self._version += 1  # the window's caches (pool, popularity) are stale
        if isinstance(item, InjectPost):
            if item.author not in self.index:
                self.add_agents([Persona(item.author, item.description)], t)
            post = Post(len(self.posts), item.author, t, item.text.strip())
            self._add(post)
            payload = {"post_id": post.id, "parent": None, "text": post.text, "injected": True}
            return [Event(t, "post", item.author, None, payload, self._audience(item.author, None))]
        if isinstance(item, Suspend):
            self.suspended.add(item.account)
            self.removed.add(item.account)
        elif isinstance(item, Boost):
            self.boosts[item.author] = item.factor
        return []

    def add_agents(self, personas: Sequence[Persona], t: float) -> None:
        """New accounts join with no posts and no follows."""
        for persona in personas:
            self.agents[persona.name] = persona
            self.index[persona.name] = len(self.users)
            self.users.append(persona.name)
            self.following[persona.name] = set()
            self.followers[persona.name] = set()
        grow = len(personas)
        self.post_count = np.concatenate([self.post_count, np.zeros(grow)])
        self._follower_counts = np.concatenate([self._follower_counts, np.zeros(grow)])
        if self.user_sum is not None and self.embedder is not None:
            assert self.persona_vectors is not None and self.post_sum is not None
            vectors = np.array(self.embedder.embed([p.render() for p in personas]), np.float32)
            self.persona_vectors = np.vstack([self.persona_vectors, vectors])
            self.user_sum = np.vstack([self.user_sum, vectors])
            self.post_sum = np.vstack([self.post_sum, np.zeros_like(vectors)])
        self._version += 1

    def remove_agents(self, names: Sequence[str], t: float) -> None:
        """Accounts that leave keep their posts; they no longer act."""

    # -- embeddings and per-window caches ------------------------------------------------
    def _refresh(self, t: float) -> None:
        """Embed new posts (one batch) and rebuild what a window's observations share.

        That is: normalized user vectors, the recent-post pool, its vectors, popularity.
        Similarity scores are computed in float64 (exact products of the float32 vectors)
        and rounded to 1e-6 before ranking (ties to the earlier account, the more recent
        post), so that last-bit differences between machines never reorder them and an
        exact tie ranks as a tie (a float32 sum of 64 products can miss it by 1e-7).
        """
        key = (t, self._version)
        if self._cache_key == key:
            return
        section: SocialSection = self.section
        if self.embedder is not None:
            if self.user_sum is None:
                texts = [self.agents[u].render() for u in self.users]
                self.persona_vectors = np.array(self.embedder.embed(texts), dtype=np.float32)
                self.user_sum = self.persona_vectors.copy()
                self.post_sum = np.zeros_like(self.persona_vectors)
            pending = self.posts[self._embedded :]
            authors: list[int] = []  # whose vectors changed
            if pending:
                vectors = np.asarray(
                    self.embedder.embed([p.text for p in pending]), dtype=np.float32
                )
                self._grow_vectors(vectors)
                for post, vector in zip(pending, vectors, strict=True):
                    if post.kind != "repost":  # a repost is not the reposter's own text
                        author = self.index[post.author]
                        authors.append(author)
                        self.user_sum[author] += vector
                        assert self.post_sum is not None
                        self.post_sum[author] += vector
                        self.post_count[author] += 1
                self._embedded = len(self.posts)
            if self._users_normed is None or len(self._users_normed) != len(self.user_sum):
                self._users_normed = _normalized(self.user_sum)
            elif authors:  # only their rows changed
                rows = sorted(set(authors))
                self._users_normed[rows] = _normalized(self.user_sum[rows])
            assert self.post_sum is not None
            self._posters = np.nonzero(self.post_count > 0)[0]
            self._poster_position = np.full(len(self.users), -1, dtype=np.int64)
            self._poster_position[self._posters] = np.arange(len(self._posters))
            self._poster_means = (
                self.post_sum[self._posters] / self.post_count[self._posters][:, None]
            )
        self._pool = self.posts[-section.recent_posts :]
        self._pool_vectors = self._post_vectors[len(self.posts) - len(self._pool) : len(self.posts)]
        if self.suspended:  # a suspended account's posts leave every feed
            keep = [i for i, p in enumerate(self._pool) if p.author not in self.suspended]
            self._pool = [self._pool[i] for i in keep]
            if len(self._pool_vectors):
                self._pool_vectors = self._pool_vectors[keep]
        half_life = section.popularity_half_life
        boosts = self.boosts
        popularity = np.array(
            [
                (
                    (p.likes + p.reposts + 1) * boosts[p.author]
                    if p.author in boosts
                    else p.likes + p.reposts
                )
                * 0.5 ** ((t - p.t) / half_life)
                for p in self._pool
            ]
        )
        ids = np.array([p.id for p in self._pool])
        self._by_popularity = (
            [self._pool[i] for i in np.lexsort((-ids, -popularity))] if self._pool else []
        )
        self._pool64 = self._pool_vectors.astype(np.float64)
        self._plan_feeds()
        self._spaces = {}
        self._similar_ranked, self._paper_ranked, self._lines = {}, {}, {}
        self._cache_key = key

    def _grow_vectors(self, vectors: np.ndarray) -> None:
        needed = self._embedded + len(vectors)
        if needed > len(self._post_vectors):
            grown = np.zeros(
                (max(needed, 2 * len(self._post_vectors), 1024), vectors.shape[1]), np.float32
            )
            if self._embedded:
                grown[: self._embedded] = self._post_vectors[: self._embedded]
            self._post_vectors = grown
        self._post_vectors[self._embedded : needed] = vectors

    # -- recommendation and feeds ------------------------------------------------------
    def prepare_views(self, agents: Sequence[str], t: float) -> None:
        """Rank the similarity feeds and the paper's suggestions of a window's agents at once.

        One matrix product for all of them instead of one per observation (RESULTS.md).
        The rankings are those each observation computes alone: scores are in float64
        (exact products of the float32 vectors), so a row rounds to 6 decimals alike
        whether it is ranked with others or alone.
        """
        self._refresh(t)
        wanted = [a for a in dict.fromkeys(agents) if a in self.index]
        if not wanted:
            return
        if any(source == self._similar for source, _ in self._feed_plan):
            self._similar_ranked.update(zip(wanted, self._rank_similar(wanted), strict=True))
        if self.section.follow_step and self.section.recommender == "paper":
            self._paper_ranked.update(zip(wanted, self._rank_paper(wanted), strict=True))

    def _excluded(self, agent: str) -> list[int]:
        """Accounts never suggested to ``agent``: followees, itself, suspended accounts."""
        return [self.index[u] for u in (*self.following[agent], agent, *self.suspended)]

    def suggest(self, agent: str) -> tuple[str, ...]:
        """Accounts to suggest to ``agent`` (not itself, not already followed)."""
        section: SocialSection = self.section
        kind = section.recommender
        if kind == "paper":
            known = self._paper_ranked.get(agent)
            if known is None:
                known = self._paper_ranked[agent] = self._rank_paper([agent])[0]
            return known
        excluded = np.array(self._excluded(agent), dtype=np.int64)
        available = len(self.users) - len(excluded)
        if available <= 0:
            return ()
        n = min(section.suggestions, available)
        if kind == "similarity" and self._users_normed is not None:
            scores = self._users_normed @ self._users_normed[self.index[agent]]
            scores[excluded] = -np.inf
            return tuple(self.users[i] for i in top_rows(scores[None], n)[0])
        if kind == "common_neighbors":
            mine = self.following[agent] | self.followers[agent]
            candidates = [u for u in self.users if u != agent and u not in self.following[agent]]
            common = np.array(
                [
                    len(mine & (self.following[u] | self.followers[u])) + self.rng.random() * 0.5
                    for u in candidates
                ]
            )
            return tuple(candidates[i] for i in np.argsort(-common, kind="stable")[:n])
        weights = (
            self._follower_counts + 1.0 if kind == "preferential" else np.ones(len(self.users))
        )
        weights[excluded] = 0.0
        chosen = self.rng.choice(len(self.users), size=n, replace=False, p=weights / weights.sum())
        return tuple(self.users[i] for i in chosen)

    def _rank_paper(self, agents: Sequence[str]) -> list[tuple[str, ...]]:
        """Orlando et al.: accounts that have posted, by the mean similarity of their posts.

        The score of a candidate is the mean cosine similarity of its posts (and replies)
        to the agent's reference: the mean of the agent's own post vectors, or its persona
        vector before it has posted. Ties go to the earlier account in the population.
        Never the agent, its followees or a suspended account; one row per agent.
        """
        posters = self._posters  # accounts that have posted (ascending), as of the window
        if self.post_sum is None or self.persona_vectors is None or not len(posters):
            return [() for _ in agents]
        me = np.array([self.index[a] for a in agents], dtype=np.int64)
        counts = self.post_count[me][:, None]
        references = np.where(
            counts > 0,
            self.post_sum[me] / np.maximum(counts, 1),
            self.persona_vectors[me].astype(np.float64),
        )
        scores = _normalized(references) @ self._poster_means.T
        wanted: list[int] = []
        for row, agent in enumerate(agents):
            excluded = self._excluded(agent)
            n = min(self.section.suggestions, len(self.users) - len(excluded))
            positions = self._poster_position[excluded]
            positions = positions[positions >= 0]
            scores[row, positions] = -np.inf
            wanted.append(max(0, min(n, len(posters) - len(positions))))
        ranked = top_rows(scores, max(wanted)).tolist()
        return [
            tuple(self.users[posters[i]] for i in row[:n])
            for row, n in zip(ranked, wanted, strict=True)
        ]

    def turns(self) -> TurnDriver | None:
        """The paper's loop when ``iterations`` is set: everyone acts once per iteration."""
        section: SocialSection = self.section
        if section.iterations is None:
            return None
        iterations = section.iterations

        def driver(kernel: Kernel[Any]) -> Generator[simpy.Event, Any, None]:
            step = section.iteration_length / len(self.users)
            for iteration in range(1, iterations + 1):
                for i in self.rng.permutation(len(self.users)).tolist():
                    kernel.activate(self.users[i], {"iteration": iteration})
                    yield kernel.env.timeout(step)

        return driver

    def feed(self, agent: str, t: float) -> tuple[int, ...]:
        """Post ids for ``agent``'s feed (see the module docstring)."""
        size = self._feed_size
        if not size:
            return ()
        chosen: list[int] = []
        for source, count in self._feed_plan:
            _take(source(agent), count, agent, chosen)
        if len(chosen) < size:  # exploration and any shortfall: random recent posts
            pool = self._pool
            order = self.rng.permutation(len(pool))[: 4 * size + len(chosen)].tolist()
            _take(map(pool.__getitem__, order), size - len(chosen), agent, chosen)
        return tuple(chosen)

    def _plan_feeds(self) -> None:
        """The window's feed size and how many posts each ranked source gives.

        A mixture splits the feed by its weights after the exploration share; sources
        that give no post are left out (they are never ranked).
        """
        section: SocialSection = self.section
        size = min(section.feed_size, len(self._pool))
        self._feed_size = size
        sources = {
            "chronological": self._chronological,
            "popularity": self._popular,
            "similarity": self._similar,
        }
        if section.feed != "mixture":
            self._feed_plan = ((sources[section.feed], size),)
            return
        explore = round(size * section.exploration)
        weights = dict(section.mix)  # field order: chronological, popularity, similarity
        total = sum(weights.values()) or 1.0
        plan = [(sources[name], round((size - explore) * w / total)) for name, w in weights.items()]
        self._feed_plan = tuple((source, count) for source, count in plan if count > 0)

    def _chronological(self, agent: str) -> list[Post]:
        first = self._pool[0].id if self._pool else 0
        ids = [
            i
            for user in self.following[agent]
            if user not in self.suspended
            for i in self._recent_by_author.get(user, ())
            if i >= first
        ]
        return [self.posts[i] for i in sorted(ids, reverse=True)]

    def _popular(self, agent: str) -> list[Post]:
        return self._by_popularity

    def _similar(self, agent: str) -> list[Post]:
        ranked = self._similar_ranked.get(agent)
        if ranked is None:
            ranked = self._similar_ranked[agent] = self._rank_similar([agent])[0]
        return ranked

    def _rank_similar(self, agents: Sequence[str]) -> list[list[Post]]:
        """Per agent, the pool's posts most similar to it, ties to the more recent post."""
        if self._users_normed is None or not len(self._pool64):
            return [[] for _ in agents]
        users = self._users_normed[[self.index[a] for a in agents]]
        ranked = top_rows(users @ self._pool64.T, 4 * self.section.feed_size + 4, ties_to_last=True)
        pool = self._pool
        return [[pool[i] for i in row] for row in ranked.tolist()]

    # -- the agent's view --------------------------------------------------------------
    def observe(self, agent: str, t: float, context: Mapping[str, Any]) -> Observation:
        """The agent's counts, its feed (texts quoted) and suggested accounts."""
        self._refresh(t)
        self._feeds[agent] = self.feed(agent, t)
        self._suggested[agent] = self.suggest(agent) if self.section.follow_step else ()
        self._views.setdefault(agent, []).append((self._feeds[agent], self._suggested[agent]))
        lines = [
            f"You follow {len(self.following[agent])} accounts and have {len(self.followers[agent])} followers."
        ]
        if self._feeds[agent]:
            lines.append("Your feed:")
            lines += map(self._line, self._feeds[agent])
        else:
            lines.append("Your feed is empty.")
        if self._suggested[agent]:
            lines.append(
                "Accounts you might follow: " + ", ".join(f"@{u}" for u in self._suggested[agent])
            )
        return Observation(
            t, "\n".join(lines), {"feed": self._feeds[agent], "suggested": self._suggested[agent]}
        )

    def _line(self, post_id: int) -> str:
        """A post as a feed shows it (the same all window: counts change on resolution)."""
        line = self._lines.get(post_id)
        if line is None:
            post = self.posts[post_id]
            label = {"reply": "replied", "repost": "reposted"}.get(post.kind, "posted")
            line = self._lines[post_id] = (
                f"- [post {post.id}] @{post.author} {label} {post.quoted} "
                f"({post.likes} likes, {post.reposts} reposts, {len(post.replies)} replies)"
            )
        return line

    def action_space(self, agent: str, t: float, context: Mapping[str, Any]) -> ActionSpace:
        """The scenario's actions, with post ids and accounts drawn from the view."""
        return self._space(agent, self._feeds.get(agent, ()), self._suggested.get(agent, ()))

    def _space(self, agent: str, shown: tuple[int, ...], suggested: tuple[str, ...]) -> ActionSpace:
        """The options for a view (shown posts, suggested accounts) and the current followees.

        Built once per window for each such triple: resolution checks an action against
        the same object its decision was offered, unless the agent's followees changed
        in between (then against the options as they now are, as before).
        """
        key = (shown, suggested, tuple(sorted(self.following[agent]))[:50])
        space = self._spaces.get(key)
        if space is None:
            space = self._spaces[key] = self._options(*key)
        return space

    def _options(
        self, shown: tuple[int, ...], suggested: tuple[str, ...], followees: tuple[str, ...]
    ) -> ActionSpace:
        section: SocialSection = self.section
        feed = tuple(str(i) for i in shown)
        text = ArgSpec("text", "your text", max_length=section.post_max_chars)
        post_id = ArgSpec("choice", "a post id from your feed", choices=feed)
        options = []
        for name in section.actions:
            if name == "post":
                options.append(ActionOption("post", "Write a new post.", {"text": text}))
            elif name == "reply" and feed:
                options.append(
                    ActionOption("reply", "Reply to a post.", {"post_id": post_id, "text": text})
                )
            elif name in ("repost", "like", "dislike") and feed:
                options.append(
                    ActionOption(name, f"{name.capitalize()} a post.", {"post_id": post_id})
                )
            elif name == "follow" and suggested and not section.follow_step:
                options.append(
                    ActionOption(
                        "follow",
                        "Follow an account.",
                        {"user": ArgSpec("agent", choices=suggested)},
                    )
                )
            elif name == "unfollow" and followees:
                options.append(
                    ActionOption(
                        "unfollow",
                        "Stop following an account.",
                        {"user": ArgSpec("agent", choices=followees)},
                    )
                )
            elif name == "do_nothing":
                options.append(ActionOption("do_nothing", "Do nothing now."))
        if not options:  # e.g. only unfollow, and nobody followed yet: nothing else to do
            options.append(ActionOption("do_nothing", "Do nothing now."))
        extras = {}
        if section.follow_step and suggested:
            extras["follow"] = ArgSpec(
                "list",
                "accounts to follow, or []",
                choices=suggested,
                max_items=section.follows_per_activation,
            )
        return ActionSpace(tuple(options), extras)

    # -- resolution -------------------------------------------------------------------
    def resolve(
        self, agent: str, action: Action, t: float, context: Mapping[str, Any]
    ) -> list[Event]:
        """Apply the action and the follow step against the current platform state."""
        self._version += 1
        views = self._views.get(agent)
        shown, suggested = views.pop(0) if views else ((), ())
        space = self._space(agent, shown, suggested)  # what this activation was offered
        follows = action.args.get("follow", [])
        main = replace(action, args={k: v for k, v in action.args.items() if k != "follow"})
        reason = check_args(main, ActionSpace(space.options))
        events = (
            [invalid(agent, main, t, reason)] if reason is not None else self._apply(agent, main, t)
        )
        return events + self._follow_step(agent, follows, space, t)

    def _follow_step(self, agent: str, follows: Any, space: ActionSpace, t: float) -> list[Event]:
        """Follow the suggested accounts listed; a bad entry is refused on its own.

        The action it came with stands either way: a post with one follow too many is
        still posted.
        """
        if follows in (None, []):
            return []
        spec = space.extras.get("follow")
        attempt = Action("follow", {"follow": follows})
        if spec is None:
            return [invalid(agent, attempt, t, "follow: no accounts were suggested to you now")]
        if not isinstance(follows, list):
            return [invalid(agent, attempt, t, "follow must be a list of suggested accounts")]
        wanted = list(dict.fromkeys(str(u) for u in follows))
        if len(wanted) > spec.max_items:
            reason = (
                f"follow: at most {spec.max_items} account(s) per turn; you listed {len(wanted)}, "
                "so nobody was followed"
            )
            return [invalid(agent, attempt, t, reason)]
        unknown = [u for u in wanted if u not in spec.choices]
        events = []
        if unknown:
            reason = (
                f"follow: {', '.join(unknown)} not among the accounts suggested to you "
                f"({', '.join(spec.choices)})"
            )
            events.append(invalid(agent, Action("follow", {"follow": unknown}), t, reason))
        for user in wanted:
            if user not in unknown:
                events += self._follow(agent, user, t)
        return events

    def _apply(self, agent: str, action: Action, t: float) -> list[Event]:
        name, args = action.name, action.args
        if name in ("post", "reply"):
            parent = int(args["post_id"]) if name == "reply" else None
            post = Post(len(self.posts), agent, t, str(args["text"]).strip(), name, parent)
            self._add(post)
            target = None
            if parent is not None:
                self.posts[parent].replies.append(post.id)
                target = self.posts[parent].author
            return [
                Event(
                    t,
                    name,
                    agent,
                    target,
                    {"post_id": post.id, "parent": parent, "text": post.text},
                    self._audience(agent, target),
                )
            ]
        if name in ("repost", "like", "dislike"):
            original = self.posts[int(args["post_id"])]
            if original.author == agent:
                return [invalid(agent, action, t, "that is your own post")]
            payload: dict[str, Any] = {"post_id": original.id}
            if name == "repost":
                copy = Post(len(self.posts), agent, t, original.text, "repost", original.id)
                self._add(copy)
                original.reposts += 1
                payload = {"post_id": copy.id, "original": original.id}
            else:
                setattr(original, f"{name}s", getattr(original, f"{name}s") + 1)
            return [
                Event(
                    t, name, agent, original.author, payload, self._audience(agent, original.author)
                )
            ]
        if name == "follow":
            return self._follow(agent, str(args["user"]), t)
        if name == "unfollow":
            user = str(args["user"])
            self.following[agent].discard(user)
            self.followers[user].discard(agent)
            self._follower_counts[self.index[user]] -= 1
            return [Event(t, "unfollow", agent, user, {}, (agent, user))]
        return [Event(t, "do_nothing", agent, None, {}, (agent,))]

    def _add(self, post: Post) -> None:
        self.posts.append(post)
        recent = self._recent_by_author.setdefault(post.author, [])
        recent.append(post.id)
        del recent[: -self.section.feed_size - 1]

    def _follow(self, agent: str, user: str, t: float) -> list[Event]:
        if user == agent or user in self.following[agent] or user not in self.following:
            return []
        self.following[agent].add(user)
        self.followers[user].add(agent)
        self._follower_counts[self.index[user]] += 1
        return [Event(t, "follow", agent, user, {}, (agent, user))]

    def _audience(self, agent: str, target: str | None) -> tuple[str, ...]:
        """Who perceives an action: the actor, its followers and the target."""
        audience = {agent} | self.followers[agent] | ({target} if target else set())
        return tuple(sorted(audience))

    def narrate(self, event: Event, agent: str) -> str:
        """Memories of platform events (post texts stay quoted)."""
        who = "You" if event.actor == agent else f"@{event.actor}"
        text = event.payload.get("text")
        if event.kind in ("post", "reply") and text is not None:
            action = "posted" if event.kind == "post" else f"replied to @{event.target}"
            return f"{who} {action}: {quote(text)}"
        verb = NARRATION.get(event.kind)
        if verb is not None:
            return f"{who} {verb} @{event.target}."
        return super().narrate(event, agent)

    # -- state ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Posts and follow edges."""
        return {
            "posts": [
                {k: v for k, v in p.__dict__.items() if k != "quoted"} for p in self.posts[-1000:]
            ],
            "post_count": len(self.posts),
            "following": {u: sorted(v) for u, v in self.following.items()},
        }

    def metrics(self) -> dict[str, Any]:
        """Posts, follow edges, accounts with followers."""
        return {
            "posts": len(self.posts),
            "follow_edges": sum(len(v) for v in self.following.values()),
            "followed_accounts": sum(1 for v in self.followers.values() if v),
        }
