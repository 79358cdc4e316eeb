"""The replay cache: a wrapper that records replies by request hash and plays them back.

Modes: ``record`` (always ask the backend, store the reply), ``replay`` (only the cache;
a miss is an error naming the request), ``auto`` (the cache first, the backend on a
miss). The key hashes (backend, model, messages, parameters, seed), so a recorded run
replays offline to the same event log, and a re-run costs nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from engine.models.base import Backend, Generation, Request
from engine.types import ModelError


class ReplayBackend:
    """Wrap ``inner`` with a SQLite reply cache at ``path``."""

    def __init__(self, inner: Backend, path: str | Path, mode: str) -> None:
        if mode not in ("record", "replay", "auto"):
            raise ModelError(f"replay mode {mode!r}: use record, replay or auto")
        self.inner = inner
        self.mode = mode
        self.name = inner.name
        self.model = inner.model
        self.max_concurrency = inner.max_concurrency
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, request TEXT NOT NULL,"
                " text TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER, model TEXT)"
            )
        except sqlite3.DatabaseError as err:
            raise ModelError(
                f"{self.path}: not a replay cache ({err}); point model.replay_path at a new "
                "file or at a cache socium wrote"
            ) from None
        self.hits = 0
        self.misses = 0

    async def complete(self, request: Request) -> Generation:
        """A cached reply, or the inner backend's (recorded), per the mode."""
        key = request.key(self.inner.name, self.inner.model)
        if self.mode != "record":
            with self._lock:
                row = self.db.execute(
                    "SELECT text, prompt_tokens, completion_tokens, model FROM replies WHERE key = ?",
                    (key,),
                ).fetchone()
            if row is not None:
                self.hits += 1
                return Generation(row[0], row[1], row[2], 0.0, 0, True, row[3])
            if self.mode == "replay":
                last = request.messages[-1].content[:160] if request.messages else ""
                raise ModelError(
                    f"replay cache {self.path} has no reply for request {key[:16]} "
                    f"(seed {request.seed}, last message {last!r}); record it first with "
                    "replay: record or auto"
                )
        self.misses += 1
        generation = await self.inner.complete(request)
        described = json.dumps([m.as_dict() for m in request.messages], ensure_ascii=False)
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO replies VALUES (?,?,?,?,?,?)",
                (
                    key,
                    described,
                    generation.text,
                    generation.prompt_tokens,
                    generation.completion_tokens,
                    generation.model,
                ),
            )
        return generation

    async def aclose(self) -> None:
        """Close the cache and the inner backend."""
        self.db.close()
        await self.inner.aclose()


class StoredReplies:
    """Serve the replies a run already stored (by request hash); ask ``inner`` otherwise.

    Used by resume, so re-executing the committed windows costs no model calls.
    """

    def __init__(
        self, inner: Backend, replies: dict[str, tuple[str, int, int, str | None]]
    ) -> None:
        self.inner = inner
        self.replies = replies
        self.name = inner.name
        self.model = inner.model
        self.max_concurrency = inner.max_concurrency
        self.served = 0

    async def complete(self, request: Request) -> Generation:
        """The stored reply for this request, or the inner backend's."""
        stored = self.replies.get(request.key(self.inner.name, self.inner.model))
        if stored is None:
            return await self.inner.complete(request)
        self.served += 1
        text, prompt_tokens, completion_tokens, model = stored
        return Generation(text, prompt_tokens, completion_tokens, 0.0, 0, True, model)

    async def aclose(self) -> None:
        """Close the inner backend."""
        await self.inner.aclose()
