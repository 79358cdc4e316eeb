"""The ``openai`` backend: any OpenAI-compatible server over HTTP.

One ``POST {base_url}/chat/completions`` per call, a JSON body in and a JSON body out,
over pooled keep-alive connections (:mod:`engine.models.http`). We do not go through the
``openai`` SDK's ``AsyncOpenAI`` here: its request building and httpx dispatch cost
about 1.5 ms of CPU per request, which caps a single process near 600 requests/s, far
below the 1,280/s that 256 requests in flight at 200 ms need; aiohttp, used before,
cost 0.19 ms per request against 0.08 ms now (benchmarks/RESULTS.md). The wire format
is the same, so every OpenAI-compatible server works (OpenAI, vLLM, Ollama, llama.cpp
server, LM Studio).

Transport errors (timeouts, connection errors, cut-off bodies, 408/409/429/5xx) are
retried with exponential backoff and full jitter, honouring ``Retry-After``; past the
budget the call raises ``ModelError`` so the run stops cleanly with a resumable store.
Any other 4xx is a configuration error and stops at once. With several base URLs each
request goes to the endpoint with the fewest requests outstanding. Constrained output:
OpenAI ``response_format`` JSON schema, llama.cpp server's ``json_object`` + schema, or
vLLM's ``guided_json``; ``auto`` probes them in that order per endpoint and falls back
to plain text (parsed leniently) when a server rejects all three.

Proxies and CA bundles come from the environment (``HTTPS_PROXY``/``NO_PROXY``,
``SSL_CERT_FILE``), as with the SDK. The API key is sent only in the
``Authorization`` header and never appears in an error message.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from engine.models.base import Generation, Request, grammar_text
from engine.models.http import HTTPClient, HTTPError, Origin
from engine.types import ModelError

RETRY_STATUS = {408, 409, 429}
MAX_TOKENS_COUNT = 10**9  # usage counts beyond this (or negative, or not integers) are ignored
_sleep = asyncio.sleep  # the retry wait; tests replace it to record delays
STYLES = ("response_format", "json_object", "guided", "none")


class _Transient(Exception):
    """A failure worth retrying; ``wait`` is the server's Retry-After, if it gave one."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


@dataclass
class _Endpoint:
    url: str  # the base URL, without a trailing slash
    proxy: str | None = None  # from HTTP(S)_PROXY / NO_PROXY, resolved once
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
        max_reply_bytes: int = 4_000_000,
        max_retry_after: float = 60.0,
    ) -> None:
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
        for url in urls:
            try:
                Origin.of(url)
            except ValueError:
                raise ModelError(f"model.base_url {url!r} is not an http(s) URL") from None
        self.model: str | None = model
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.constrained = constrained
        self.timeout = timeout
        self.max_reply_bytes = max_reply_bytes
        self.max_retry_after = max_retry_after
        self._secret = api_key if api_key_env else None  # redacted from every message
        # Jitter only changes wall-clock waits, never replies, so it may use its own stream.
        self._jitter = rng or random.Random(0)
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "socium",
        }
        self.tls: ssl.SSLContext | None = None  # for https endpoints, made by warm_up
        self._client: HTTPClient | None = None  # bound to the running loop
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.endpoints = [_Endpoint(url.rstrip("/"), _proxy_for(url)) for url in urls]

    async def complete(self, request: Request) -> Generation:
        """One reply, retried on transport errors; see the module docstring."""
        retries = 0
        started = time.perf_counter()
        while True:
            endpoint = min(self.endpoints, key=lambda e: e.outstanding)
            endpoint.outstanding += 1
            try:
                text, usage, model, error = await self._send(endpoint, request)
                return Generation(
                    text,
                    usage[0],
                    usage[1],
                    time.perf_counter() - started,
                    retries,
                    False,
                    model,
                    error,
                )
            except _Transient as err:
                failure = err
            except ModelError as err:
                raise ModelError(self._redact(str(err))) from None
            finally:
                endpoint.outstanding -= 1
            if retries >= self.max_retries:
                raise ModelError(
                    self._redact(
                        f"{endpoint.url}: no usable reply after {retries + 1} attempts "
                        f"({_short(failure)}); the server looks down. "
                        "The run stopped after its last whole window; fix the server and resume."
                    )
                ) from None
            retries += 1
            await _sleep(self._delay(retries - 1, failure.wait))

    def _delay(self, retries: int, wait: float | None) -> float:
        """Backoff with full jitter, or the server's Retry-After capped at ``max_retry_after``.

        A Retry-After beyond the cap (an hour, infinity, not a number) waits the cap: the
        attempt still counts against ``max_retries``, so a server that keeps asking for
        patience stops the run with a resumable store instead of stalling it.
        """
        if wait is None:
            return self._jitter.uniform(0, min(self.max_backoff, self.backoff * 2**retries))
        if not math.isfinite(wait) or wait > self.max_retry_after:
            return self.max_retry_after
        return max(wait, 0.0)

    def _redact(self, text: str) -> str:
        """``text`` without the API key (a server may echo the Authorization header)."""
        return text.replace(self._secret, "[redacted]") if self._secret else text

    async def _send(
        self, endpoint: _Endpoint, request: Request
    ) -> tuple[str, tuple[int, int], str, str | None]:
        styles = self._styles(endpoint, request)
        for position, style in enumerate(styles):
            status, headers, body = await self._post(endpoint, self._arguments(request, style))
            if status < 300:
                break
            message = _error_message(body)
            if position + 1 < len(styles) and _rejects_style(status, message):
                continue  # this server does not take this style of constraint; try the next
            if status in RETRY_STATUS or status >= 500:
                raise _Transient(f"HTTP {status}: {message}", _retry_after(headers))
            raise ModelError(
                f"{endpoint.url}: HTTP {status} for model {self.model!r}: {message}; "
                "check model, base_url and api_key_env"
            )
        if request.constraint is not None:
            endpoint.style = style
        return completion(body, self.max_reply_bytes, self.model or "")

    def warm_up(self) -> None:
        """Load the CA bundle for https endpoints now (tens of ms), before the clock starts."""
        if self.tls is None and any(e.url.startswith("https:") for e in self.endpoints):
            self.tls = ssl.create_default_context()

    async def _post(
        self, endpoint: _Endpoint, arguments: dict[str, Any]
    ) -> tuple[int, Mapping[str, str], bytes]:
        try:
            response = await self._http().post(
                endpoint.url + "/chat/completions", request_body(arguments), proxy=endpoint.proxy
            )
        except TimeoutError:
            raise _Transient(f"no reply within the {self.timeout:g} s timeout") from None
        except HTTPError as err:
            raise _Transient(str(err)) from None
        return response.status, response.headers, response.body

    def _http(self) -> HTTPClient:
        """The run's HTTP client, created on first use inside the running event loop."""
        if self._closed:
            raise ModelError("the openai backend was closed; no more requests are sent")
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = HTTPClient(
                self._headers, timeout=self.timeout, max_body=self.max_reply_bytes, tls=self.tls
            )
            self._client_loop = loop
        return self._client

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
        schema = request.constraint  # long text limits are dropped from the encoded body
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
        """Close the HTTP connections; later requests raise ``ModelError``."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None and self._client_loop is asyncio.get_running_loop():
            client.close()  # connections of a finished loop went with it


# ``json.dumps``'s output; no check for cycles, which the arguments never have (a third
# of the encoding's cost on a decision's many small schema objects).
_BODY_ENCODER = json.JSONEncoder(check_circular=False)


def request_body(arguments: Mapping[str, Any]) -> bytes:
    """The JSON body sent for ``arguments`` (long text limits dropped: :func:`grammar_text`)."""
    return grammar_text(_BODY_ENCODER.encode(arguments)).encode()


def completion(body: bytes, limit: int, model: str) -> tuple[str, tuple[int, int], str, str | None]:
    """Text, usage, model id and the reason it is unusable (None: usable) of a 200 body.

    Accepted: ``content`` as a string, as a list of text parts (the OpenAI multi-part
    form, joined) or null (empty). Refused, as a malformed reply the caller counts and
    re-asks: a body over ``limit`` bytes, one that is not JSON (or nests too deep to
    read), not a completion, or whose content is neither. Usage counts that are not
    integers from 0 to 10**9 count as 0; a model id is cut to 200 characters.
    """
    if len(body) > limit:
        return "", (0, 0), model, f"reply of more than {limit:,} bytes (model.max_reply_bytes)"
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as err:
        return "", (0, 0), model, f"reply is not JSON ({_short(type(err).__name__)})"
    try:
        message = data["choices"][0]["message"]
        content = message.get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return "", (0, 0), model, "reply is not a chat completion (no choices[0].message)"
    if isinstance(content, list):  # multi-part content: the text of each part, joined
        texts = [
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        ]
        if len(texts) != len(content):
            return "", (0, 0), model, "reply content has parts that are not text"
        content = "".join(texts)
    if content is not None and not isinstance(content, str):
        return "", (0, 0), model, f"reply content is a {type(content).__name__}, not text"
    usage = data.get("usage") if isinstance(data, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    served = data.get("model") if isinstance(data, dict) else None
    return (
        content or "",
        (_count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))),
        served[:200] if isinstance(served, str) and served else model,
        None,
    )


def _count(value: object) -> int:
    """A token count, or 0 when it is not an integer from 0 to 10**9."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if not math.isfinite(value) or value < 0 or value > MAX_TOKENS_COUNT or value != int(value):
        return 0
    return int(value)


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``NO_PROXY``...).

    Resolved once per endpoint, not per request.
    """
    from urllib.parse import urlsplit
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(url)
    proxy = getproxies().get(parts.scheme)
    if not proxy or (parts.hostname and proxy_bypass(parts.hostname)):
        return None
    return proxy


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


def _error_message(body: bytes) -> str:
    """The server's error text: OpenAI's ``{"error": {"message": ...}}`` or the raw body."""
    try:
        error = json.loads(body[:100_000]).get("error")
        message = error.get("message") if isinstance(error, dict) else error
        if message:
            return _short(str(message))
    except (ValueError, AttributeError, RecursionError):
        pass
    return _short(body.decode("utf-8", "replace")) or "(empty body)"


def _rejects_style(status: int, message: str) -> bool:
    """Tell whether the server refused the constraint's form (not the request as a whole).

    OpenAI and vLLM answer 400/422; llama.cpp's server answers 500 with a validation
    error that names ``response_format``.
    """
    names_field = "response_format" in message or "guided" in message
    return status in (400, 422) or (status == 500 and names_field)


def _short(text: object) -> str:
    return str(text).replace("\n", " ")[:200]
