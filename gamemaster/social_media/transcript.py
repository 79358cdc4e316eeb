"""The social-media transcript views: posts as threads, and who followed whom when.

Threads nest replies (and reposts) under the post they answer, each with its like,
dislike, repost and reply counts; the follow view lists follows and unfollows in time
order, the edges the friendship-paradox statistics are computed on.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from gamemaster.api import Event, Row, RunData, View

MAX_DEPTH = 24  # deeper replies are shown at this depth (a readable page, bounded nesting)
POSTS = ("post", "reply", "repost")
PLURALS = (("like", "likes"), ("dislike", "dislikes"), ("repost", "reposts"), ("reply", "replies"))


def views(data: RunData) -> list[View]:
    """Threads, then follows."""
    out = []
    threads = _threads(data.events)
    if threads:
        out.append(
            View(
                "Threads",
                threads,
                "Posts in time order with their replies and reposts nested under them.",
            )
        )
    follows = tuple(
        Row(e.t, e.actor, e.kind, f"{e.actor} {e.kind}ed {e.target}")
        for e in data.events
        if e.kind in ("follow", "unfollow") and e.actor and e.target
    )
    if follows:
        out.append(View("Who followed whom, when", follows))
    return out


def _threads(events: Sequence[Event]) -> tuple[Row, ...]:
    posts: dict[int, Event] = {}
    parent_of: dict[int, int] = {}
    reactions: dict[int, Counter[str]] = defaultdict(Counter)
    for event in events:
        payload = event.payload
        if event.kind in POSTS and "post_id" in payload:
            post = int(payload["post_id"])
            posts[post] = event
            parent = payload.get("original") if event.kind == "repost" else payload.get("parent")
            if parent is not None and int(parent) in posts:
                parent_of[post] = _shallow(int(parent), parent_of)
                reactions[int(parent)][event.kind] += 1
        elif event.kind in ("like", "dislike") and "post_id" in payload:
            reactions[int(payload["post_id"])][event.kind] += 1
    children: dict[int, list[int]] = defaultdict(list)
    for post, parent in parent_of.items():
        children[parent].append(post)
    built: dict[int, Row] = {}
    for post in sorted(posts, reverse=True):  # replies have larger ids: built first
        event = posts[post]
        built[post] = Row(
            event.t,
            event.actor,
            event.kind,
            _text(post, event, reactions[post]),
            children=tuple(built.pop(c) for c in sorted(children[post])),
        )
    return tuple(built[post] for post in sorted(built))


def _shallow(parent: int, parent_of: dict[int, int]) -> int:
    """``parent``, or its ancestor at ``MAX_DEPTH`` when the thread is deeper than that."""
    chain = [parent]
    while chain[-1] in parent_of:
        chain.append(parent_of[chain[-1]])
    return chain[max(0, len(chain) - MAX_DEPTH)]


def _text(post: int, event: Event, counts: Counter[str]) -> str:
    text = str(event.payload.get("text", "")) if event.kind != "repost" else "(reposted)"
    tallies = ", ".join(
        f"{counts[k]} {k if counts[k] == 1 else plural}" for k, plural in PLURALS if counts[k]
    )
    return f"{text}\n#{post}" + (f" · {tallies}" if tallies else "")
