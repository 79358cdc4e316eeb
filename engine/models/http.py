"""A small HTTP/1.1 client for the ``openai`` backend: one JSON POST, one reply.

Why not aiohttp: at 1,000 agents a decision window sends about 75 requests from the one
core the event loop has, and aiohttp spent about 0.11 ms more CPU per request than this
client (0.19 against 0.08 ms, ``benchmarks/http_client.py``), 8 ms or more per window on
the critical path; it also writes each request body from a new task, so a request left
one loop turn after it was handed over. Here the bytes go to the socket in the call.

What an OpenAI-compatible server needs, and no more:

- ``http`` and ``https`` (TLS verified against the system's CA bundle, which
  ``SSL_CERT_FILE``/``SSL_CERT_DIR`` override), keep-alive connections pooled per origin;
- replies framed by ``Content-Length``, ``Transfer-Encoding: chunked``, or the connection's
  end; no compression (the request asks for ``identity``);
- a proxy: ``http`` URLs in absolute form through it, ``https`` through a ``CONNECT``
  tunnel; credentials in the proxy URL become ``Proxy-Authorization``;
- one total timeout per request and a cap on a reply body: past the cap, reading stops,
  the connection is dropped and the body returned so far is longer than the cap.

Failures of the exchange (refused or reset connections, a reply cut off or not HTTP)
raise :class:`HTTPError`; the timeout raises ``TimeoutError``; the backend retries both.
An idle pooled connection the server has closed (its keep-alive timeout) is skipped
for a new one; a request is never re-sent here.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

MAX_HEAD = 65_536  # bytes of status line and headers before the reply counts as malformed


class HTTPError(Exception):
    """The exchange failed: no connection, a reset, a cut-off or malformed reply."""


@dataclass(frozen=True, slots=True)
class Response:
    """A reply: status, headers (names lower-case) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a connection goes: scheme, host and port (a proxy's, for proxied http)."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        """The origin of ``url``; ``ValueError`` when it has no host or a bad port."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL with a host")
        default = 443 if parts.scheme == "https" else 80
        return cls(parts.scheme, parts.hostname, parts.port or default)

    @property
    def authority(self) -> str:
        """``host:port``, as a CONNECT request names its target."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def host_header(self) -> str:
        """The Host header: the port only when it is not the scheme's default."""
        default = self.port == (443 if self.scheme == "https" else 80)
        return self.authority.rsplit(":", 1)[0] if default else self.authority


@dataclass(frozen=True, slots=True)
class _Route:
    """How requests to one URL travel: origin, proxy, its credentials, the request head."""

    origin: Origin
    via: Origin | None  # the proxy
    auth: str | None  # Proxy-Authorization
    head: bytes  # request line and headers, without Content-Length

    @property
    def key(self) -> tuple[Origin, Origin | None]:
        """Connections are shared by routes with the same key."""
        return self.origin, self.via


class _Connection(asyncio.Protocol):
    """One keep-alive connection; reads one reply at a time into a future."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buffer = bytearray()
        self._reply: asyncio.Future[Response] | None = None
        self._bodiless = False  # a CONNECT reply: head only
        self._head: tuple[int, dict[str, str], bool] | None = None  # status, headers, keep
        self._body = bytearray()
        self._length: int | None = None  # bytes of body still due (Content-Length)
        self._chunked = False
        self._chunk = 0  # bytes of the current chunk still due; -1: its CRLF is due
        self._trailers = False

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._reply is None or self._reply.done():
            self.close()  # bytes nobody asked for: the connection is out of step
            return
        self._buffer += data
        try:
            self._parse()
        except HTTPError as err:
            self._fail(err)

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost finishes a read-to-end body

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        reply = self._reply
        if reply is None or reply.done():
            return
        if self._head is not None and self._length is None and not self._chunked:
            self._finish(keep=False)  # the body was framed by the connection's end
            return
        what = "before any reply" if self._head is None else "in the middle of a reply body"
        reason = f": {exc}" if exc else ""
        reply.set_exception(HTTPError(f"connection closed {what}{reason}"))

    # -- one exchange ---------------------------------------------------------------------
    def send(self, data: bytes, *, bodiless: bool = False) -> asyncio.Future[Response]:
        """Write one request; the future gets its reply."""
        assert self.transport is not None
        self._reply = asyncio.get_running_loop().create_future()
        self._bodiless = bodiless
        self._head, self._body, self._length = None, bytearray(), None
        self._chunked, self._chunk, self._trailers = False, 0, False
        if self.closed or self.transport.is_closing():  # a write would vanish unanswered
            self._reply.set_exception(HTTPError("connection closed before any reply"))
        else:
            self.transport.write(data)
        return self._reply

    def close(self) -> None:
        """Drop the connection (a pending reply fails)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, err: Exception) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(err)
        self.close()

    def _finish(self, *, keep: bool) -> None:
        assert self._head is not None and self._reply is not None
        status, headers, keep_alive = self._head
        if not self._bodiless and (not keep or not keep_alive or self._buffer):
            self.close()
        self._reply.set_result(Response(status, headers, bytes(self._body)))

    def _parse(self) -> None:
        buffer = self._buffer
        while self._head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise HTTPError(f"reply head longer than {MAX_HEAD:,} bytes")
                return
            head = _head(bytes(buffer[:end]))
            del buffer[: end + 4]
            status, headers, _ = head
            if 100 <= status < 200:
                continue  # 100 Continue and the like: the real reply follows
            self._head = head
            if self._bodiless or status in (204, 304):
                self._finish(keep=True)
                return
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._chunked = True
            elif "content-length" in headers:
                try:
                    self._length = int(headers["content-length"])
                except ValueError:
                    raise HTTPError("reply has a Content-Length that is not a number") from None
                if self._length < 0:
                    raise HTTPError("reply has a negative Content-Length")
        if self._chunked:
            self._parse_chunks()
        elif self._length is not None:
            take = min(self._length, len(buffer))
            self._body += buffer[:take]
            del buffer[:take]
            self._length -= take
            if self._length == 0:
                self._finish(keep=True)
                return
        else:
            self._body += buffer
            buffer.clear()
        reply = self._reply
        if len(self._body) > self.limit and reply is not None and not reply.done():
            self._finish(keep=False)  # the caller refuses the body; stop reading it

    def _parse_chunks(self) -> None:
        buffer = self._buffer
        while True:
            if self._trailers:
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                line = buffer[:end]
                del buffer[: end + 2]
                if not line:
                    self._finish(keep=True)
                    return
                continue
            if self._chunk == -1:  # the CRLF after a chunk's data
                if len(buffer) < 2:
                    return
                if buffer[:2] != b"\r\n":
                    raise HTTPError("malformed chunked reply body")
                del buffer[:2]
                self._chunk = 0
            if self._chunk == 0:
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > 1024:
                        raise HTTPError("malformed chunked reply body")
                    return
                size = bytes(buffer[:end]).split(b";", 1)[0].strip()
                del buffer[: end + 2]
                try:
                    self._chunk = int(size, 16)
                except ValueError:
                    raise HTTPError("malformed chunked reply body") from None
                if self._chunk == 0:
                    self._trailers = True
                    continue
            take = min(self._chunk, len(buffer))
            self._body += buffer[:take]
            del buffer[:take]
            self._chunk -= take
            if self._chunk > 0:
                return
            self._chunk = -1


def _head(raw: bytes) -> tuple[int, dict[str, str], bool]:
    """Status, headers (lower-case names) and keep-alive of a reply's head."""
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise HTTPError(f"reply is not HTTP: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
    return int(code), headers, keep


class HTTPClient:
    """Keep-alive connections per origin; :meth:`post` sends one request."""

    def __init__(
        self,
        headers: Mapping[str, str],
        *,
        timeout: float,
        max_body: int,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.headers = dict(headers)
        self.timeout = timeout
        self.max_body = max_body
        self._idle: dict[tuple[Origin, Origin | None], list[_Connection]] = {}  # by route key
        self._busy: set[_Connection] = set()
        self._tls = tls  # made on the first https connection when not given
        self._routes: dict[tuple[str, str | None], _Route] = {}

    async def post(self, url: str, body: bytes, *, proxy: str | None = None) -> Response:
        """POST ``body`` (JSON) to ``url``; see the module docstring for what may fail."""
        route = self._routes.get((url, proxy)) or self._route(url, proxy)
        data = route.head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        async with asyncio.timeout(self.timeout):
            connection = await self._connection(route)
            self._busy.add(connection)
            try:
                response = await connection.send(data)
            except BaseException:  # a timeout or a cancelled run abandons the reply
                connection.close()
                raise
            finally:
                self._busy.discard(connection)
        if not connection.closed:
            self._idle.setdefault(route.key, []).append(connection)
        return response

    def close(self) -> None:
        """Close every connection, idle or busy (pending replies fail)."""
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        for connection in list(self._busy):
            connection.close()

    # -- internals -----------------------------------------------------------------------
    def _route(self, url: str, proxy: str | None) -> _Route:
        """Where ``url`` is sent and the request head that goes with it (memoized)."""
        parts = urlsplit(url)
        origin = Origin.of(url)
        via = Origin.of(proxy) if proxy else None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if via and origin.scheme == "http":  # absolute form: the proxy forwards it
            target = f"http://{origin.host_header}{target}"
        lines = [f"POST {target} HTTP/1.1", f"Host: {origin.host_header}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        lines.append("Accept-Encoding: identity")
        auth = _proxy_authorization(proxy) if proxy else None
        if via and origin.scheme == "http" and auth:
            lines.append(f"Proxy-Authorization: {auth}")
        head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        route = _Route(origin, via, auth, head)
        self._routes[(url, proxy)] = route
        return route

    async def _connection(self, route: _Route) -> _Connection:
        """An idle pooled connection for ``route``, or a new one."""
        idle = self._idle.get(route.key)
        while idle:
            connection = idle.pop()
            if not connection.closed and not connection.transport.is_closing():  # type: ignore[union-attr]
                return connection
        origin, via = route.origin, route.via
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if origin.scheme == "https" else None
        target = via or origin
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(self.max_body),
                target.host,
                target.port,
                ssl=None if via else tls,
                server_hostname=origin.host if tls and not via else None,
            )
            if via and tls:
                try:
                    await self._tunnel(connection, route, tls)
                except BaseException:
                    connection.close()
                    raise
        except OSError as err:
            raise HTTPError(f"cannot connect to {target.authority}: {err}") from None
        return connection

    async def _tunnel(self, connection: _Connection, route: _Route, tls: ssl.SSLContext) -> None:
        """Turn a connection to the proxy into a TLS connection to the origin (CONNECT)."""
        origin = route.origin
        lines = [f"CONNECT {origin.authority} HTTP/1.1", f"Host: {origin.authority}"]
        if route.auth:
            lines.append(f"Proxy-Authorization: {route.auth}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        reply = await connection.send(data, bodiless=True)
        if not 200 <= reply.status < 300:
            connection.close()
            raise HTTPError(f"the proxy refused the tunnel to {origin.authority}: {reply.status}")
        loop = asyncio.get_running_loop()
        assert connection.transport is not None
        transport = await loop.start_tls(
            connection.transport, connection, tls, server_hostname=origin.host
        )
        if transport is None:  # the loop gave no TLS transport
            raise HTTPError(f"no TLS connection to {origin.authority} through the proxy")
        connection.transport = transport

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls


def _proxy_authorization(proxy: str) -> str | None:
    """``Basic`` credentials from a proxy URL's ``user:password@``, if it has them."""
    parts: Any = urlsplit(proxy)
    if parts.username is None:
        return None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")
