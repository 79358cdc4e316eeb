"""The language-model protocol: requests, generations, and the backend contract.

A backend turns one ``Request`` into one ``Generation`` (retrying transport errors
itself). Structured answers are expressed as a JSON Schema ``constraint`` on the
request, which a backend enforces when it can (llama.cpp grammars, OpenAI
``response_format``, vLLM guided decoding) and the caller parses leniently otherwise.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# ``json.dumps(payload, sort_keys=True, ensure_ascii=False)``, without its check for
# cycles (a request has none): the same keys, for a third less of the encoding's cost.
_KEY_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, check_circular=False)


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message."""

    role: str
    content: str

    def as_dict(self) -> dict[str, str]:
        """The OpenAI wire form."""
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Request:
    """Everything that determines a model's reply (and so its cache key)."""

    messages: tuple[Message, ...]
    max_tokens: int = 192
    temperature: float = 0.7
    seed: int | None = None
    stop: tuple[str, ...] = ()
    constraint: Mapping[str, Any] | None = None  # a JSON Schema the reply must satisfy
    _keys: dict[tuple[str, str | None], str] = field(
        default_factory=dict, compare=False, repr=False
    )

    def key(self, backend: str, model: str | None) -> str:
        """Stable hash of (backend, model, request): the replay cache key (memoized)."""
        known = self._keys.get((backend, model))
        if known is not None:
            return known
        payload = {
            "backend": backend,
            "model": model,
            "messages": [m.as_dict() for m in self.messages],
            "max_tokens": self.max_tokens,
            "temperature": round(self.temperature, 6),
            "seed": self.seed,
            "stop": list(self.stop),
            "constraint": self.constraint,
        }
        digest = hashlib.sha256(_KEY_ENCODER.encode(payload).encode()).hexdigest()
        self._keys[(backend, model)] = digest
        return digest


@dataclass(frozen=True, slots=True)
class Generation:
    """A model's reply with its cost: tokens, latency (seconds) and transport retries."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency: float = 0.0
    retries: int = 0
    cached: bool = False
    model: str | None = None
    error: str | None = None  # the reply arrived but is unusable (counted as malformed)


@dataclass(frozen=True, slots=True)
class Answer:
    """A structured answer: always a valid value, or the caller's fallback (recorded)."""

    value: Any
    outcome: str  # ok | repaired | fallback
    text: str
    calls: int
    notes: tuple[str, ...] = field(default_factory=tuple)


class Backend(Protocol):
    """What a model backend implements; see the module docstring."""

    name: str
    model: str | None
    max_concurrency: int

    async def complete(self, request: Request) -> Generation:
        """One reply.

        Raises ``ModelError`` only for configuration errors or when the server stays
        unreachable past the retry budget.
        """
        ...

    async def aclose(self) -> None:
        """Release connections and threads."""
        ...


def messages_of(prompt: str | Sequence[Message], system: str | None = None) -> tuple[Message, ...]:
    """Normalise a prompt (text or messages) to a message tuple."""
    if isinstance(prompt, str):
        head = (Message("system", system),) if system else ()
        return (*head, Message("user", prompt))
    return tuple(prompt)


# llama.cpp expands a string's maxLength into nested optional rules; past about 1,000 it
# refuses the grammar ("number of rules ... exceeds sane defaults") and the process dies
# with a segmentation fault (measured with llama-cpp-python 0.3: 1,000 works, 1,500 does
# not). Longer limits are left to max_tokens and to the parser, which truncates. The
# openai backend sends the same (:func:`grammar_text`, on the body it encodes anyway),
# since llama_cpp.server compiles schemas the same way.
GRAMMAR_MAX_LENGTH = 1000


def grammar_schema(schema: Any) -> Any:
    """``schema`` as llama.cpp can compile it: string lengths above the limit dropped."""
    if isinstance(schema, list):
        return [grammar_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: grammar_schema(value) for key, value in schema.items()}
    if out.get("type") == "string" and out.get("maxLength", 0) > GRAMMAR_MAX_LENGTH:
        del out["maxLength"]
    return out


_LONG = re.compile(r', "maxLength": (\d+)|"maxLength": (\d+), ')
# A limit above GRAMMAR_MAX_LENGTH has at least as many digits: a literal-prefix search
# (a tenth of the full pattern's cost over a decision's 2 kB body) finds whether any may.
_MAYBE_LONG = re.compile(rf'"maxLength": \d{{{len(str(GRAMMAR_MAX_LENGTH))}}}')


def grammar_text(text: str) -> str:
    """:func:`grammar_schema` on JSON text (``json.dumps``'s separators); cheap when moot.

    Inside JSON strings quotes are escaped, so only real ``maxLength`` keys match.
    """
    if not _MAYBE_LONG.search(text):
        return text

    def drop(match: re.Match[str]) -> str:
        value = int(match.group(1) or match.group(2))
        return "" if value > GRAMMAR_MAX_LENGTH else match.group(0)

    return _LONG.sub(drop, text)
