"""The scripted backend: a deterministic TEST DOUBLE, not a model of behaviour.

Its reply is a pure function of the request hash: with a constraint it returns a valid
instance of the schema (choices picked by the hash; numbers within the schema's bounds, or
within the range a game states in a number's ``description`` when the rules rather than
the schema enforce it), otherwise a short neutral sentence. A ``responder`` callable can
script replies for a test; ``malformed_rate`` makes a hash-chosen share of replies
garbage, to exercise parsing, re-asks and fallbacks.

It is for tests, benchmarks and trying a scenario offline (``--set
model.backend=scripted``): fast and reproducible, but its choices mean nothing, so its
statistics say nothing about behaviour.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from engine.models.base import Generation, Request
from engine.models.parsing import example_of

Responder = Callable[[Request], str | None]


class ScriptedBackend:
    """Deterministic replies from the request hash; see the module docstring."""

    name = "scripted"

    def __init__(
        self,
        *,
        model: str | None = "scripted",
        responder: Responder | None = None,
        malformed_rate: float = 0.0,
        delay: float = 0.0,
        max_concurrency: int = 1024,
    ) -> None:
        self.model = model
        self.responder = responder
        self.malformed_rate = malformed_rate
        self.delay = delay
        self.max_concurrency = max_concurrency
        self.calls = 0
        self.in_flight = 0
        self.peak_in_flight = 0

    async def complete(self, request: Request) -> Generation:
        """Reply deterministically (after ``delay`` seconds of wall-clock time)."""
        self.calls += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            text = self.reply(request)
        finally:
            self.in_flight -= 1
        prompt_tokens = sum(len(m.content) for m in request.messages) // 4
        return Generation(
            text, prompt_tokens, max(1, len(text) // 4), self.delay, 0, False, self.model
        )

    def reply(self, request: Request) -> str:
        """The scripted text for ``request``."""
        if self.responder is not None:
            scripted = self.responder(request)
            if scripted is not None:
                return scripted
        digest = int(request.key(self.name, self.model)[:12], 16)
        if self.malformed_rate and (digest % 10_000) / 10_000 < self.malformed_rate:
            return "Hmm, let me think about that... {not json"
        if request.constraint is not None:
            return json.dumps(example_of(request.constraint, digest % 9973))
        return f"I will keep going as planned ({digest % 1000})."

    async def aclose(self) -> None:
        """Nothing to release."""
