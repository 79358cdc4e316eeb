"""The openai backend's HTTP client against servers that answer byte by byte.

benchmarks/fake_openai.py covers the backend's retries and hostile bodies; here are the
framings and connection cases a real server or proxy may choose: chunked replies split at
awkward places, bodies ended by the connection, ``Connection: close``, ``100 Continue``,
idle connections the server closed, TLS, and a CONNECT tunnel through a proxy.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from engine.models.http import HTTPClient, HTTPError, Response

Reply = Callable[[int], list[bytes]]  # request number -> byte pieces to write
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer k"}


class Server:
    """Reads each request (head and Content-Length body); writes scripted pieces."""

    def __init__(self, reply: Reply, *, close_after: bool = False) -> None:
        self.reply = reply
        self.close_after = close_after  # close each connection after one reply
        self.requests: list[bytes] = []
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                for piece in self.reply(len(self.requests)):
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0.001)  # separate reads on the client's side
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def start(self, tls: ssl.SSLContext | None = None) -> tuple[asyncio.Server, int]:
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=tls)
        return server, server.sockets[0].getsockname()[1]


def exchange(
    reply: Reply,
    body: Callable[[HTTPClient, str], Awaitable[object]],
    *,
    close_after: bool = False,
    max_body: int = 1_000_000,
    timeout: float = 5.0,
    fake: Server | None = None,
) -> tuple[object, Server]:
    """Run ``body(client, url)`` against a :class:`Server` answering with ``reply``.

    The client's connections must report no error to the event loop (a protocol
    callback that raised); the test server's own shutdown noise is not counted.
    """
    fake = fake or Server(reply, close_after=close_after)
    errors: list[dict[str, object]] = []

    def record(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        if type(context.get("protocol")).__module__ == "engine.models.http":
            errors.append(context)

    async def go() -> object:
        asyncio.get_running_loop().set_exception_handler(record)
        server, port = await fake.start()
        client = HTTPClient(HEADERS, timeout=timeout, max_body=max_body)
        try:
            return await body(client, f"http://127.0.0.1:{port}/v1/chat/completions")
        finally:
            client.close()
            server.close()

    result = asyncio.run(go())
    assert errors == []
    return result, fake


def post_twice(client: HTTPClient, url: str) -> Awaitable[list[Response]]:
    async def go() -> list[Response]:
        return [await client.post(url, b'{"n": 1}'), await client.post(url, b'{"n": 2}')]

    return go()


def head(status: str = "200 OK", *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *headers]) + "\r\n\r\n").encode()


def test_a_chunked_reply_split_anywhere_is_read_whole_and_the_connection_kept() -> None:
    chunked = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
    pieces = [head("200 OK", "Transfer-Encoding: chunked")] + [
        chunked[i : i + 3] for i in range(0, len(chunked), 3)
    ]
    replies, server = exchange(lambda n: pieces, post_twice)
    assert [(r.status, r.body) for r in replies] == [(200, b"hello, world")] * 2  # type: ignore[attr-defined]
    assert server.connections == 1  # kept alive between the two requests


def test_the_request_carries_its_headers_length_and_body() -> None:
    reply = [head("200 OK", "Content-Length: 2") + b"{}"]
    _, server = exchange(lambda n: reply, post_twice)
    first = server.requests[0].decode()
    assert first.startswith("POST /v1/chat/completions HTTP/1.1\r\n")
    assert "Host: 127.0.0.1:" in first and "Authorization: Bearer k\r\n" in first
    assert "Content-Length: 8\r\n" in first and first.endswith('\r\n\r\n{"n": 1}')
    assert "Accept-Encoding: identity" in first  # never a compressed body


def test_a_reply_framed_by_the_connections_end_is_read_and_not_reused() -> None:
    replies, server = exchange(
        lambda n: [head("200 OK"), b"part one, ", f"part two {n}".encode()],
        post_twice,
        close_after=True,
    )
    assert [r.body for r in replies] == [b"part one, part two 1", b"part one, part two 2"]  # type: ignore[attr-defined]
    assert server.connections == 2


def test_connection_close_means_a_new_connection_for_the_next_request() -> None:
    reply = [head("200 OK", "Content-Length: 2", "Connection: close") + b"ok"]
    replies, server = exchange(lambda n: reply, post_twice)
    assert [r.body for r in replies] == [b"ok", b"ok"]  # type: ignore[attr-defined]
    assert server.connections == 2


def test_interim_100_continue_is_skipped() -> None:
    reply = [head("100 Continue"), head("429 Too Many Requests", "Content-Length: 0")]
    replies, _ = exchange(lambda n: reply, post_twice)
    assert [r.status for r in replies] == [429, 429]  # type: ignore[attr-defined]


def test_a_body_past_the_cap_stops_the_read_and_drops_the_connection() -> None:
    big = [head("200 OK", "Content-Length: 5000"), b"x" * 2000, b"y" * 3000]
    small = [head("200 OK", "Content-Length: 2") + b"ok"]
    replies, server = exchange(lambda n: big if n == 1 else small, post_twice, max_body=1000)
    first, second = replies  # type: ignore[misc]
    assert 1000 < len(first.body) < 5000 and second.body == b"ok"
    assert server.connections == 2


@pytest.mark.parametrize("split", [False, True])
def test_a_chunked_body_past_the_cap_is_returned_once(
    split: bool,
) -> None:
    chunks = b"".join(b"%x\r\n%s\r\n" % (300, b"z" * 300) for _ in range(5)) + b"0\r\n\r\n"
    pieces = [head("200 OK", "Transfer-Encoding: chunked")]
    pieces += [chunks[i : i + 400] for i in range(0, len(chunks), 400)] if split else [chunks]
    small = [head("200 OK", "Content-Length: 2") + b"ok"]
    # Whether the cap is passed mid-body or with the whole body at once, the reply is
    # handed over once (exchange() checks that no client callback failed).
    replies, _ = exchange(lambda n: pieces if n == 1 else small, post_twice, max_body=1000)
    first, second = replies  # type: ignore[misc]
    assert 1000 < len(first.body) <= 1500 and set(first.body) == {ord("z")}
    assert second.body == b"ok"


@pytest.mark.parametrize(
    ("pieces", "message"),
    [
        ([head("200 OK", "Content-Length: 100") + b"cut"], "in the middle of a reply body"),
        ([b"SSH-2.0-OpenSSH\r\n\r\n"], "reply is not HTTP"),
        ([head("200 OK", "Content-Length: many")], "Content-Length that is not a number"),
        ([head("200 OK", "Transfer-Encoding: chunked") + b"zz\r\n"], "malformed chunked"),
        ([], "before any reply"),
    ],
)
def test_a_broken_exchange_is_an_http_error(pieces: list[bytes], message: str) -> None:
    async def one(client: HTTPClient, url: str) -> object:
        with pytest.raises(HTTPError, match=message):
            await client.post(url, b"{}")
        return None

    exchange(lambda n: pieces, one, close_after=True)


def test_a_reply_that_never_comes_times_out() -> None:
    async def one(client: HTTPClient, url: str) -> object:
        with pytest.raises(TimeoutError):
            await client.post(url, b"{}")
        return None

    exchange(lambda n: [head("200 OK", "Content-Length: 10") + b"half"], one, timeout=0.3)


def test_an_idle_connection_the_server_closed_is_replaced_without_an_error() -> None:
    fake = Server(lambda n: [head("200 OK", "Content-Length: 2") + b"ok"])

    async def go(client: HTTPClient, url: str) -> list[Response]:
        first = await client.post(url, b"{}")
        for writer in fake.writers:  # the server's keep-alive timeout
            writer.close()
        await asyncio.sleep(0.05)
        return [first, await client.post(url, b"{}")]

    replies, _ = exchange(fake.reply, go, fake=fake)
    assert [r.body for r in replies] == [b"ok", b"ok"]  # type: ignore[attr-defined]
    assert fake.connections == 2


# -- TLS and proxies ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost"
    names = "subjectAltName=DNS:localhost,IP:127.0.0.1"
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert), "-addext", names],
        check=True,
        capture_output=True,
    )
    return cert, key


class ConnectProxy:
    """Answers CONNECT (recording it) and pipes bytes both ways; anything else is a 405."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        method, target, _ = head.split(b" ", 2)
        if method != b"CONNECT":
            writer.write(b"HTTP/1.1 405 Not a proxy for this\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        host, port = target.decode().rsplit(":", 1)
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.0 200 Connection established\r\n\r\n")  # HTTP/1.0, like squid

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


def test_https_directly_and_through_a_connect_proxy(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    fake = Server(lambda n: [head("200 OK", "Content-Length: 6") + f"secret{n}"[:6].encode()])
    proxy = ConnectProxy()

    async def go() -> tuple[list[Response], list[Response]]:
        server, port = await fake.start(server_tls)
        tunnel = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        proxy_url = f"http://user:p%40ss@127.0.0.1:{tunnel.sockets[0].getsockname()[1]}"
        url = f"https://localhost:{port}/v1/chat/completions"
        client = HTTPClient(HEADERS, timeout=5, max_body=1000, tls=client_tls)
        try:
            direct = await post_twice(client, url)
            proxied = await post_twice(client, url.replace("localhost", "127.0.0.1"))
            via = [await client.post(url, b"{}", proxy=proxy_url) for _ in range(2)]
            return direct + proxied, via
        finally:
            client.close()
            server.close()
            tunnel.close()

    direct, via = asyncio.run(go())
    assert [r.status for r in direct + via] == [200] * 6
    assert fake.connections == 3  # localhost, 127.0.0.1, and the tunnel, each reused
    (connect,) = proxy.heads  # one tunnel, kept alive for the second request
    assert connect.startswith(b"CONNECT localhost:")
    credentials = base64.b64encode(b"user:p@ss").decode()
    assert f"Proxy-Authorization: Basic {credentials}".encode() in connect
    assert b"Proxy-Authorization" not in fake.requests[-1]  # the origin never sees them


def test_a_certificate_the_client_does_not_trust_fails_the_connection(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    fake = Server(lambda n: [head("200 OK", "Content-Length: 0")])

    async def go() -> None:
        server, port = await fake.start(server_tls)
        client = HTTPClient(HEADERS, timeout=5, max_body=1000)  # the system's CAs only
        try:
            with pytest.raises(HTTPError, match=r"cannot connect.*CERTIFICATE_VERIFY_FAILED"):
                await client.post(f"https://127.0.0.1:{port}/v1", b"{}")
        finally:
            client.close()
            server.close()

    asyncio.run(go())
