"""The social-media game's own interventions (see engine/interventions.py for timing).

- ``inject_post``: ``author`` posts ``text`` (a new account when ``new_account: true``, as
  a misinformation source would be); the post reaches feeds from then on like any other;
- ``suspend``: ``account`` stops acting, and its posts leave feeds and suggestions;
- ``boost``: posts of ``author`` rank ``factor`` times higher by popularity (a promoted
  account), counting one engagement for posts that have none yet.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gamemaster.api import Intervention, Name


class InjectPost(Intervention):
    """A post by ``author`` at the intervention's time."""

    kind: Literal["inject_post"]
    author: Name = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=2000)
    new_account: bool = Field(False, description="Create the author's account (not an agent).")
    description: str = Field("", max_length=2000, description="The new account's profile.")


class Suspend(Intervention):
    """The account stops acting; its posts are hidden from feeds and suggestions."""

    kind: Literal["suspend"]
    account: Name


class Boost(Intervention):
    """Posts of ``author`` rank higher by popularity."""

    kind: Literal["boost"]
    author: Name
    factor: float = Field(10.0, gt=0, le=1e6)


KINDS = (InjectPost, Suspend, Boost)


def check(item: Intervention, known: set[str]) -> tuple[str, str] | None:
    """Accounts must exist (an injected post's new account must not): (argument, problem)."""
    if isinstance(item, InjectPost):
        if item.new_account and item.author in known:
            return "author", f"{item.author!r} already exists; drop new_account to use it"
        if not item.new_account and item.author not in known:
            return "author", f"no account {item.author!r}; set new_account: true to create it"
    if isinstance(item, Suspend) and item.account not in known:
        return "account", f"no account {item.account!r} in the population"
    if isinstance(item, Boost) and item.author not in known:
        return "author", f"no account {item.author!r} in the population"
    return None
