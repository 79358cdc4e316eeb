"""A local OpenAI-compatible server for tests and benchmarks (a test double).

Serves ``POST /v1/chat/completions``, ``POST /v1/embeddings`` and ``GET /v1/models`` on 127.0.0.1 from a thread
with its own event loop. It holds each request ``latency`` seconds, admits at most
``cap`` requests at once, counts requests and peak concurrency, and can inject faults
into successive requests: ``429`` (with Retry-After), ``500``, ``reset`` (connection
closed without reply), ``hang`` (never answers), ``garbage`` (a reply that is not the
requested JSON), ``truncated`` (a cut-off HTTP body), ``401`` (a rejected API key), and
hostile replies (``HOSTILE``): multi-part or numeric content, a body or content of 200,000
nested brackets, infinite, huge or negative token counts, an 8 MB body, a 100,000-character
model id.
Replies honour a JSON-schema constraint with a valid instance, like a constrained server
would; ``styles`` limits the constraint forms it accepts (``response_format``,
``json_object``, ``guided``) and answers 400 to the others, as vLLM or an older server
does.

Run standalone: ``python -m benchmarks.fake_openai --port 8000 --latency 0.2``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from engine.models.parsing import example_of

HOSTILE = (
    "multipart",
    "numeric",
    "nested_body",
    "nested_content",
    "infinite_usage",
    "huge_usage",
    "negative_usage",
    "huge_body",
    "huge_model",
)


@dataclass
class Counters:
    """What the server saw."""

    requests: int = 0
    completed: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    arrivals: list[float] = field(default_factory=list)
    embedding_requests: int = 0


class FakeOpenAIServer:
    """See the module docstring. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        cap: int = 100_000,
        port: int = 0,
        retry_after: float | str = 1.0,
        model: str = "fake-model",
        fault_rates: dict[str, float] | None = None,
        seed: int = 0,
        styles: tuple[str, ...] = ("response_format", "json_object", "guided"),
        echo_authorization: bool = False,
    ) -> None:
        self.latency = latency
        self.cap = cap
        self.port = port
        self.retry_after = retry_after
        self.model = model
        self.faults: deque[str] = deque()
        self.fault_rates = dict(fault_rates or {})  # kind -> probability per request
        self._fault_rng = random.Random(seed)
        self.styles = styles
        self.echo_authorization = echo_authorization  # a careless server: 401 repeats the key
        self.counters = Counters()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._authorization = ""

    @property
    def base_url(self) -> str:
        """The ``/v1`` URL clients use."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        """Start serving in a background thread."""
        self._ready.clear()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake server did not start")
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections (the port is kept for a restart)."""
        loop = self._loop
        if loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        with contextlib.suppress(Exception):
            future.result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving ----------------------------------------------------------------------
    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._semaphore = asyncio.Semaphore(self.cap)
        self._server = loop.run_until_complete(
            asyncio.start_server(
                self._connection, "127.0.0.1", self.port, backlog=4096, reuse_address=True
            )
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    k.lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self._authorization = headers.get("authorization", "")
                if not await self._respond(method, path, body, writer):
                    break
        except (
            asyncio.IncompleteReadError,
            ConnectionError,
            asyncio.LimitOverrunError,
            ValueError,
            asyncio.CancelledError,  # the server is shutting down
        ):
            pass  # a client went away, or the server is shutting down
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _respond(
        self, method: str, path: str, body: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        if method == "GET" and path.endswith("/models"):
            await self._send(
                writer, 200, {"object": "list", "data": [{"id": self.model, "object": "model"}]}
            )
            return True
        if method == "POST" and path.endswith("/embeddings"):
            self.counters.embedding_requests += 1
            texts = json.loads(body)["input"]
            texts = [texts] if isinstance(texts, str) else texts
            data = [
                {"object": "embedding", "index": i, "embedding": _vector(text)}
                for i, text in enumerate(texts)
            ]
            await self._send(
                writer,
                200,
                {
                    "object": "list",
                    "data": data,
                    "model": self.model,
                    "usage": {"prompt_tokens": 0, "total_tokens": 0},
                },
            )
            return True
        if not path.endswith("/chat/completions"):
            await self._send(writer, 404, {"error": {"message": f"no route {path}"}})
            return True
        counters = self.counters
        counters.requests += 1
        counters.arrivals.append(time.monotonic())
        fault = self.faults.popleft() if self.faults else self._draw_fault()
        if fault:
            counters.faults[fault] = counters.faults.get(fault, 0) + 1
        async with self._semaphore:
            counters.in_flight += 1
            counters.peak_in_flight = max(counters.peak_in_flight, counters.in_flight)
            try:
                # The latency runs from admission. The reply is built halfway through the
                # wait, when a burst of requests has been read: its CPU (a quarter of a
                # millisecond) then neither delays reading the requests behind it nor
                # queues up behind replies falling due together.
                deadline = time.monotonic() + self.latency
                if self.latency:
                    await asyncio.sleep(self.latency / 2)
                answer = None if fault in _NO_REPLY else self._answer(body, fault)
                if self.latency:
                    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
                if fault == "hang":
                    await asyncio.sleep(3600)
                if fault == "reset":
                    writer.transport.abort()
                    return False
                if fault == "429":
                    await self._send(
                        writer,
                        429,
                        {"error": {"message": "rate limited"}},
                        {"Retry-After": str(self.retry_after)},
                    )
                    return True
                if fault == "500":
                    await self._send(writer, 500, {"error": {"message": "internal error"}})
                    return True
                if fault == "401":
                    message = "Incorrect API key provided"
                    if self.echo_authorization:
                        message += f": {self._authorization}"
                    await self._send(writer, 401, {"error": {"message": message}})
                    return True
                assert answer is not None
                status, reply = answer
                if status != 200:
                    await self._send(writer, status, reply)
                    return True
                if fault == "truncated":
                    raw = json.dumps(reply).encode()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(raw)}\r\n\r\n".encode()
                        + raw[: len(raw) // 2]
                    )
                    await writer.drain()
                    writer.transport.abort()
                    return False
                if fault in HOSTILE:
                    await self._hostile(writer, fault, reply)
                else:
                    await self._send(writer, 200, reply)
                counters.completed += 1
                return True
            finally:
                counters.in_flight -= 1

    async def _hostile(
        self, writer: asyncio.StreamWriter, fault: str, reply: dict[str, Any]
    ) -> None:
        """A 200 reply a careless client would crash on, or store whole."""
        message = reply["choices"][0]["message"]
        if fault == "nested_body":
            raw = b"[" * 200_000
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n"
            writer.write(head.encode() + raw)
            await writer.drain()
            return
        if fault == "multipart":  # the same text, as OpenAI's list of parts
            text = message["content"]
            message["content"] = [
                {"type": "text", "text": text[:5]},
                {"type": "text", "text": text[5:]},
            ]
        elif fault == "numeric":
            message["content"] = 42
        elif fault == "nested_content":
            message["content"] = "[" * 200_000
        elif fault == "infinite_usage":
            reply["usage"]["prompt_tokens"] = float("inf")
        elif fault == "huge_usage":
            reply["usage"]["completion_tokens"] = 1e30
        elif fault == "negative_usage":
            reply["usage"]["prompt_tokens"] = -500
        elif fault == "huge_body":
            reply["padding"] = "x" * 8_000_000
        elif fault == "huge_model":
            reply["model"] = "m" * 100_000
        await self._send(writer, 200, reply)

    def _draw_fault(self) -> str | None:
        draw = self._fault_rng.random()
        for kind, rate in sorted(self.fault_rates.items()):
            if draw < rate:
                return kind
            draw -= rate
        return None

    def _answer(self, body: bytes, fault: str | None) -> tuple[int, dict[str, Any]]:
        """The status and payload a completion request gets (400: a constraint style refused)."""
        request = json.loads(body)
        style = _style_of(request)
        if style is not None and style not in self.styles:
            return 400, {"error": {"message": f"{style} is not supported by this server"}}
        content = self._content(request, garbage=fault == "garbage")
        return 200, self._completion(request, content)

    def _content(self, request: dict[str, Any], *, garbage: bool) -> str:
        if garbage:
            return "I refuse to answer in JSON. ~~~ {{{"
        digest = int(
            hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:8], 16
        )
        schema = _schema_of(request)
        if schema is not None:
            return json.dumps(example_of(schema, digest % 9973))
        return f"A plain reply number {digest % 1000}."

    def _completion(self, request: dict[str, Any], content: str) -> dict[str, Any]:
        prompt_tokens = (
            sum(len(str(m.get("content", ""))) for m in request.get("messages", [])) // 4
        )
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": max(1, len(content) // 4),
                "total_tokens": prompt_tokens + max(1, len(content) // 4),
            },
        }

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        payload: dict[str, Any],
        extra: dict[str, str] | None = None,
    ) -> None:
        raw = json.dumps(payload).encode()
        reason = {
            200: "OK",
            400: "Bad Request",
            401: "Unauthorized",
            404: "Not Found",
            429: "Too Many Requests",
            500: "Internal Server Error",
        }
        head = f"HTTP/1.1 {status} {reason.get(status, 'Status')}\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(raw)}\r\nConnection: keep-alive\r\n"
        for key, value in (extra or {}).items():
            head += f"{key}: {value}\r\n"
        writer.write(head.encode() + b"\r\n" + raw)
        await writer.drain()


_NO_REPLY = ("hang", "reset", "429", "500", "401")  # faults answered without a completion


def _vector(text: str, dim: int = 16) -> list[float]:
    """A deterministic pseudo-embedding: word hashes into ``dim`` buckets."""
    vector = [0.0] * dim
    for word in text.lower().split():
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dim] += 1.0
    return vector


def _style_of(request: dict[str, Any]) -> str | None:
    """The constraint form a request uses, in the backend's names."""
    kind = (request.get("response_format") or {}).get("type")
    if kind == "json_schema":
        return "response_format"
    if kind == "json_object":
        return "json_object"
    return "guided" if "guided_json" in request else None


def _schema_of(request: dict[str, Any]) -> dict[str, Any] | None:
    response_format = request.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return response_format.get("json_schema", {}).get("schema")
    if response_format.get("type") == "json_object":
        return response_format.get("schema") or {"type": "object"}
    return request.get("guided_json")


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--cap", type=int, default=100_000)
    args = parser.parse_args()
    server = FakeOpenAIServer(latency=args.latency, cap=args.cap, port=args.port).start()
    print(f"serving {server.base_url} (latency {args.latency}s, cap {args.cap})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
