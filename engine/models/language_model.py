"""``LanguageModel``: the one interface agents and game masters call.

It wraps a backend with the structured helpers ``choose``, ``number`` and ``json``
(constrained output where the backend supports it, lenient parsing, bounded re-asks,
then a recorded fallback) and with accounting: every call lands in the ``Ledger``,
which the run store drains once per decision window.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from engine.models.base import Answer, Backend, Generation, Message, Request, messages_of
from engine.models.parsing import ParseError, choice_schema, number_schema, parse
from engine.types import CallRow


@dataclass
class Totals:
    """Running totals for the progress bar and the run summary."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    repaired: int = 0
    fallbacks: int = 0
    malformed: int = 0
    cached: int = 0
    latency: float = 0.0
    cost: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Totals as a plain dict."""
        return dict(self.__dict__)


@dataclass
class Ledger:
    """Model calls not yet committed to the store, plus run totals."""

    record_prompts: bool = True
    price_prompt: float = 0.0  # per million tokens
    price_completion: float = 0.0
    totals: Totals = field(default_factory=Totals)
    _pending: list[_Call] = field(default_factory=list)
    _next_id: int = 0

    def record(
        self,
        request: Request,
        generation: Generation | None,
        *,
        backend: Backend,
        outcome: str,
        context: Mapping[str, Any],
        error: str | None = None,
    ) -> None:
        """Record one model call (a failed one has ``generation=None``).

        The totals count it at once; its row (with the request's hash, a JSON encoding of
        the whole request) is made when the window's calls are numbered, behind the next
        window's requests, not on the reply's path.
        """
        gen = generation or Generation(text="")
        totals = self.totals
        totals.calls += 1
        totals.prompt_tokens += gen.prompt_tokens
        totals.completion_tokens += gen.completion_tokens
        totals.retries += gen.retries
        totals.latency += gen.latency
        totals.cached += int(gen.cached)
        totals.repaired += outcome == "repaired"
        totals.fallbacks += outcome == "fallback"
        totals.malformed += outcome in ("malformed", "fallback")
        if not gen.cached:
            totals.cost += (
                gen.prompt_tokens * self.price_prompt
                + gen.completion_tokens * self.price_completion
            ) / 1e6
        self._pending.append(
            _Call(
                request,
                gen,
                backend.name,
                backend.model,
                gen.model or backend.model,
                outcome,
                context.get("t"),
                context.get("agent"),
                str(context.get("purpose", "")),
                error,
                self.record_prompts,
            )
        )

    def drain(self) -> list[CallRow]:
        """Pending calls in a deterministic order, numbered; the pending list empties."""
        return self.number(self.take())

    def take(self) -> list[_Call]:
        """The pending calls, unnumbered (:meth:`number` them in the order taken)."""
        pending, self._pending = self._pending, []
        return pending

    def number(self, pending: list[_Call]) -> list[CallRow]:
        """Rows for calls :meth:`take` gave, in a deterministic order, numbered after the last.

        Batches are numbered in the order they were taken (the engine numbers a window's
        when it writes the window, behind the next window's requests).
        """
        rows = sorted((call.row() for call in pending), key=_order)
        numbered = []
        for row in rows:
            numbered.append(replace(row, id=self._next_id))
            self._next_id += 1
        return numbered


@dataclass(frozen=True, slots=True)
class _Call:
    """One recorded call, before it becomes a numbered row."""

    request: Request
    generation: Generation
    backend: str
    key_model: str | None  # the backend's model: the request's replay key
    model: str | None  # the model the reply names, else the backend's
    outcome: str
    t: float | None
    agent: str | None
    purpose: str
    error: str | None
    record_prompts: bool

    def row(self) -> CallRow:
        """The call as the store keeps it (``id`` -1 until numbered)."""
        gen = self.generation
        prompt = "\n\n".join(f"[{m.role}]\n{m.content}" for m in self.request.messages)
        return CallRow(
            id=-1,
            t=self.t,
            agent=self.agent,
            purpose=self.purpose,
            backend=self.backend,
            model=self.model,
            prompt_tokens=gen.prompt_tokens,
            completion_tokens=gen.completion_tokens,
            latency_ms=gen.latency * 1000,
            retries=gen.retries,
            outcome=self.outcome,
            cached=gen.cached,
            request_hash=self.request.key(self.backend, self.key_model),
            prompt=prompt if self.record_prompts else None,
            reply=gen.text if self.record_prompts else None,
            error=self.error,
        )


def _order(row: CallRow) -> tuple[Any, ...]:
    """Calls by simulated time, agent, purpose, then request hash (never by arrival)."""
    return (row.t or 0.0, row.agent or "", row.purpose, row.request_hash)


class LanguageModel:
    """A backend plus structured helpers and accounting.

    Parameters
    ----------
    backend : Backend
        Where replies come from (local llama.cpp, an OpenAI-compatible server, the
        scripted test double, possibly wrapped by the replay cache).
    parse_retries : int
        Re-asks after a reply that cannot be parsed, before the fallback is used.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        ledger: Ledger | None = None,
        parse_retries: int = 2,
        max_tokens: int = 192,
        temperature: float = 0.7,
    ) -> None:
        self.backend = backend
        self.ledger = ledger or Ledger()
        self.parse_retries = parse_retries
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._semaphore = asyncio.Semaphore(backend.max_concurrency)
        self.in_flight = 0
        self.idle_seconds = 0.0  # wall time with no request in flight, first to last request
        self._idle_since: float | None = None

    @property
    def max_concurrency(self) -> int:
        """Requests the backend takes at once."""
        return self.backend.max_concurrency

    def request(
        self,
        messages: str | Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        stop: Sequence[str] = (),
        constraint: Mapping[str, Any] | None = None,
    ) -> Request:
        """The request these arguments make, with this model's defaults filled in."""
        return Request(
            messages=messages_of(messages),
            max_tokens=max_tokens or self.max_tokens,
            temperature=self.temperature if temperature is None else temperature,
            seed=seed,
            stop=tuple(stop),
            constraint=constraint,
        )

    async def complete(self, request: Request, context: Mapping[str, Any]) -> Generation:
        """Send one request (bounded by ``max_concurrency``); failures are recorded."""
        async with self._semaphore:
            if self.in_flight == 0 and self._idle_since is not None:
                self.idle_seconds += time.perf_counter() - self._idle_since
            self.in_flight += 1
            try:
                return await self.backend.complete(request)
            except Exception as err:
                self.ledger.record(
                    request,
                    None,
                    backend=self.backend,
                    outcome="error",
                    context=context,
                    error=str(err),
                )
                raise
            finally:
                self.in_flight -= 1
                if self.in_flight == 0:
                    self._idle_since = time.perf_counter()

    async def generate(
        self,
        messages: str | Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        stop: Sequence[str] = (),
        **context: Any,
    ) -> Generation:
        """One free-text model call, recorded in the ledger (``context``: agent, t, purpose)."""
        request = self.request(
            messages, max_tokens=max_tokens, temperature=temperature, seed=seed, stop=stop
        )
        generation = await self.complete(request, context)
        outcome = "ok" if generation.error is None else "malformed"
        self.ledger.record(
            request,
            generation,
            backend=self.backend,
            outcome=outcome,
            context=context,
            error=generation.error,
        )
        return generation

    async def json(
        self,
        prompt: str | Sequence[Message],
        schema: Mapping[str, Any],
        *,
        fallback: Any = None,
        seed: int | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        **context: Any,
    ) -> Answer:
        """A value valid under ``schema``, or ``fallback`` after ``parse_retries`` re-asks.

        Each attempt is one recorded call: ``ok`` or ``repaired`` when it parsed,
        ``malformed`` when a re-ask followed, ``fallback`` for the last failed one.
        """
        messages = messages_of(prompt)
        notes: list[str] = []
        for attempt in range(self.parse_retries + 1):
            request = self.request(
                messages,
                max_tokens=max_tokens,
                temperature=temperature,
                seed=None if seed is None else seed + attempt,
                constraint=schema,
            )
            generation = await self.complete(request, context)
            try:
                if generation.error is not None:
                    raise ParseError(generation.error)
                value, outcome = parse(generation.text, schema)
            except ParseError as err:
                notes.append(str(err))
                last = attempt == self.parse_retries
                self.ledger.record(
                    request,
                    generation,
                    backend=self.backend,
                    outcome="fallback" if last else "malformed",
                    context=context,
                    error=str(err),
                )
                if last:
                    return Answer(fallback, "fallback", generation.text, attempt + 1, tuple(notes))
                messages = (
                    *messages_of(prompt),
                    Message("assistant", generation.text[:500]),
                    Message(
                        "user",
                        f"That reply was not usable ({err}). Answer again with only JSON "
                        f"matching this schema: {schema_text(schema)}",
                    ),
                )
                continue
            self.ledger.record(
                request, generation, backend=self.backend, outcome=outcome, context=context
            )
            return Answer(value, outcome, generation.text, attempt + 1, tuple(notes))
        raise AssertionError("unreachable")

    async def choose(
        self,
        prompt: str | Sequence[Message],
        options: Sequence[str],
        *,
        fallback: str | None = None,
        seed: int | None = None,
        **context: Any,
    ) -> Answer:
        """One of ``options`` (fallback: ``fallback`` or the first option)."""
        answer = await self.json(
            prompt,
            choice_schema(options),
            fallback={"answer": fallback or options[0]},
            seed=seed,
            max_tokens=32,
            **context,
        )
        return replace(answer, value=answer.value["answer"])

    async def number(
        self,
        prompt: str | Sequence[Message],
        low: float | None,
        high: float | None,
        *,
        fallback: float | None = None,
        integer: bool = False,
        seed: int | None = None,
        **context: Any,
    ) -> Answer:
        """A number in ``[low, high]`` (fallback: ``fallback`` or ``low``)."""
        default = fallback if fallback is not None else (low if low is not None else 0)
        answer = await self.json(
            prompt,
            number_schema(low, high, integer),
            fallback={"answer": default},
            seed=seed,
            max_tokens=32,
            **context,
        )
        return replace(answer, value=answer.value["answer"])

    async def aclose(self) -> None:
        """Release the backend."""
        await self.backend.aclose()


def schema_text(schema: Mapping[str, Any]) -> str:
    """A compact rendering of a schema for a corrective prompt."""
    return json.dumps(schema, separators=(",", ":"))[:800]
