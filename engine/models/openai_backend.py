"""The ``openai`` backend: any OpenAI-compatible server through ``AsyncOpenAI``.

Transport errors (timeouts, connection errors, 408/409/429/5xx) are retried with
exponential backoff and full jitter, honouring ``Retry-After``; past the budget the
call raises ``ModelError`` so the run stops cleanly with a resumable store. With
several base URLs each request goes to the endpoint with the fewest requests
outstanding. Constrained output: OpenAI ``response_format`` JSON schema, llama.cpp
server's ``json_object`` + schema, or vLLM's ``guided_json``; ``auto`` probes them in
that order per endpoint and falls back to plain text (parsed leniently) when a server
rejects all three.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from engine.models.base import Generation, Request
from engine.types import ModelError

RETRY_STATUS = {408, 409, 429}
_sleep = asyncio.sleep  # the retry wait; tests replace it to record delays
STYLES = ("response_format", "json_object", "guided", "none")


@dataclass
class _Endpoint:
    url: str
    client: Any
    outstanding: int = 0
    style: str | None = None  # constraint style this server accepted


class OpenAIBackend:
    """See the module docstring."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | Sequence[str],
        model: str | None,
        api_key_env: str | None = None,
        max_concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        constrained: str = "auto",
        rng: random.Random | None = None,
    ) -> None:
        from openai import AsyncOpenAI

        if not model:
            raise ModelError("the openai backend needs model: <server model id>")
        api_key = "not-needed"
        if api_key_env:
            api_key = os.environ.get(api_key_env, "")
            if not api_key:
                raise ModelError(
                    f"environment variable {api_key_env} (named by model.api_key_env) is not set"
                )
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise ModelError("model.base_url lists no URL")
        self.model: str | None = model
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.constrained = constrained
        self.timeout = timeout
        # Jitter only changes wall-clock waits, never replies, so it may use its own stream.
        self._jitter = rng or random.Random(0)
        self.endpoints = [
            _Endpoint(
                url,
                AsyncOpenAI(
                    base_url=url,
                    api_key=api_key,
                    timeout=timeout,
                    max_retries=0,
                    http_client=_http_client(timeout),
                ),
            )
            for url in urls
        ]

    async def complete(self, request: Request) -> Generation:
        """One reply, retried on transport errors; see the module docstring."""
        import openai

        retries = 0
        started = time.perf_counter()
        while True:
            endpoint = min(self.endpoints, key=lambda e: e.outstanding)
            endpoint.outstanding += 1
            try:
                text, usage, model = await self._send(endpoint, request)
                return Generation(
                    text,
                    usage[0],
                    usage[1],
                    time.perf_counter() - started,
                    retries,
                    False,
                    model,
                )
            except (openai.APITimeoutError, openai.APIConnectionError) as err:
                failure: Exception = err
                wait = None
            except openai.APIStatusError as err:
                if err.status_code not in RETRY_STATUS and err.status_code < 500:
                    raise ModelError(
                        f"{endpoint.url}: HTTP {err.status_code} for model {self.model!r}: "
                        f"{_short(err)}; check model, base_url and api_key_env"
                    ) from None
                failure, wait = err, _retry_after(err.response.headers)
            finally:
                endpoint.outstanding -= 1
            if retries >= self.max_retries:
                raise ModelError(
                    f"{endpoint.url}: no usable reply after {retries + 1} attempts "
                    f"({type(failure).__name__}: {_short(failure)}); the server looks down. "
                    "The run stopped after its last whole window; fix the server and resume."
                ) from None
            delay = min(self.max_backoff, self.backoff * 2**retries)
            delay = self._jitter.uniform(0, delay) if wait is None else max(wait, 0.0)
            retries += 1
            await _sleep(delay)

    async def _send(
        self, endpoint: _Endpoint, request: Request
    ) -> tuple[str, tuple[int, int], str]:
        import openai

        styles = self._styles(endpoint, request)
        for position, style in enumerate(styles):
            try:
                # The SDK's low-level post: same errors, auth and timeouts as
                # chat.completions.create, without its per-call typed transform (about
                # 1.4 ms of CPU per request, the bottleneck at hundreds in flight).
                response = await endpoint.client.post(
                    "/chat/completions",
                    cast_to=httpx.Response,
                    body=self._arguments(request, style),
                )
            except openai.APIStatusError as err:
                if position + 1 == len(styles) or not _rejects_style(err):
                    raise
                continue  # this server does not take this style of constraint; try the next
            if request.constraint is not None:
                endpoint.style = style
            try:
                data = json.loads(response.content)
                text = data["choices"][0]["message"].get("content") or ""
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
                raise openai.APIConnectionError(
                    message=f"malformed completion body: {err}", request=response.request
                ) from None
            usage = data.get("usage") or {}
            tokens = (
                int(usage.get("prompt_tokens") or 0),
                int(usage.get("completion_tokens") or 0),
            )
            return text, tokens, str(data.get("model") or self.model or "")
        raise AssertionError("unreachable")

    def _styles(self, endpoint: _Endpoint, request: Request) -> Sequence[str]:
        if request.constraint is None or self.constrained == "none":
            return ("none",)
        if self.constrained == "response_format":
            return ("response_format",)
        if self.constrained == "guided":
            return ("guided",)
        if endpoint.style is not None:
            return (endpoint.style,)
        return STYLES

    def _arguments(self, request: Request, style: str) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self.model,
            "messages": [m.as_dict() for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.seed is not None:
            arguments["seed"] = request.seed
        if request.stop:
            arguments["stop"] = list(request.stop)
        schema = request.constraint
        if schema is not None:
            if style == "guided":
                arguments["guided_json"] = dict(schema)  # vLLM's extension, top-level in the body
            elif style == "response_format":
                arguments["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": dict(schema), "strict": False},
                }
            elif style == "json_object":
                arguments["response_format"] = {"type": "json_object", "schema": dict(schema)}
        return arguments

    async def aclose(self) -> None:
        """Close every endpoint's HTTP client."""
        for endpoint in self.endpoints:
            await endpoint.client.close()


def _http_client(timeout: float) -> Any:
    """Use aiohttp under the SDK when available.

    httpx's pool costs O(connections) of CPU per request, which dominates at hundreds of
    requests in flight (benchmarks/RESULTS.md).
    """
    try:
        from openai import DefaultAioHttpClient

        return DefaultAioHttpClient(timeout=timeout)
    except (ImportError, RuntimeError):
        return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _rejects_style(err: Exception) -> bool:
    """Tell whether the server refused the constraint's form (not the request as a whole).

    OpenAI and vLLM answer 400/422; llama.cpp's server answers 500 with a validation
    error that names ``response_format``.
    """
    status = getattr(err, "status_code", 0)
    text = str(err)
    names_field = "response_format" in text or "guided" in text
    return status in (400, 422) or (status == 500 and names_field)


def _short(err: Exception) -> str:
    return str(err).replace("\n", " ")[:200]
