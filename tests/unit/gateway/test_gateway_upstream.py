"""The proxy's lean HTTP/1.1 client against real loopback servers that answer as scripted."""

from __future__ import annotations

import asyncio
import hashlib
import socket

import pytest

from simpul.gateway.upstream import BrokenResponse, Unreachable, UpstreamPool
from simpul.shared.balance import Replica

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-answer: yes\r\n\r\nok"


class Server:
    """Counts connections and hands each received request to `answer(n, head, body, writer)`,
    n being the request's number on its connection."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.heads: list[bytes] = []
        self.tasks: set[asyncio.Task] = set()
        self.server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.tasks.add(asyncio.current_task())
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            number = 0
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.heads.append(head)
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length) if length else b""
                number += 1
                if await self.answer(number, head, body, writer) is False:
                    return
                await writer.drain()
        except asyncio.CancelledError:
            pass  # the test is over
        finally:
            self.open -= 1
            writer.close()


def pool(url: str, **overrides) -> UpstreamPool:
    replica = Replica.of(url)
    options = {"host": replica.host, "server_name": replica.server_name, "limit": 10, "connect_timeout": 1.0,
               "read_timeout": 2.0, "keepalive": 4.0} | overrides
    return UpstreamPool(url, **options)


async def fetch(pool: UpstreamPool, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    headers = [(b"content-length", str(len(body)).encode())] if body is not None else []
    response = await pool.request(method, b"/v1/things?x=1", headers, body, retryable=method == "GET")
    try:
        return response.status, await response.read()
    finally:
        response.release()


async def answer_ok(number, head, body, writer):
    writer.write(OK)


async def test_keep_alive_connections_are_reused_and_the_request_is_as_built():
    async with Server(answer_ok) as server:
        upstream = pool(server.url + "/base/")
        for _ in range(3):
            assert await fetch(upstream) == (200, b"ok")
        assert server.connections == 1
        head = server.heads[0]
        assert head.startswith(b"GET /base/v1/things?x=1 HTTP/1.1\r\n")
        assert f"host: {server.url.removeprefix('http://')}\r\n".encode() in head
        upstream.close()


async def test_headers_come_through_raw():
    async with Server(answer_ok) as server:
        upstream = pool(server.url)
        response = await upstream.request("GET", b"/", [(b"x-one", b"1")], None, retryable=True)
        assert (b"x-answer", b"yes") in response.raw_headers
        assert response.content_length == 2
        await response.read()
        response.release()
        assert b"x-one: 1\r\n" in server.heads[0]


async def test_chunked_bodies_are_decoded():
    async def chunked(number, head, body, writer):
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")

    async with Server(chunked) as server:
        upstream = pool(server.url)
        assert await fetch(upstream) == (200, b"hello world")
        assert await fetch(upstream) == (200, b"hello world")
        assert server.connections == 1


async def test_connection_close_is_honoured():
    async def closing(number, head, body, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
        return False

    async with Server(closing) as server:
        upstream = pool(server.url)
        assert await fetch(upstream) == (200, b"ok")
        assert await fetch(upstream, "POST", b"{}") == (200, b"ok")
        assert server.connections == 2


async def test_a_body_until_the_connection_closes():
    async def until_eof(number, head, body, writer):
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nall of it")
        return False

    async with Server(until_eof) as server:
        assert await fetch(pool(server.url)) == (200, b"all of it")


async def test_an_idle_connection_the_server_closed_is_not_used():
    async def once(number, head, body, writer):
        writer.write(OK)
        return False

    async with Server(once) as server:
        upstream = pool(server.url)
        assert await fetch(upstream) == (200, b"ok")
        await asyncio.sleep(0.05)
        # Not idempotent, but nothing was sent on the closed connection.
        assert await fetch(upstream, "POST", b"{}") == (200, b"ok")
        assert server.connections == 2


async def drops_the_second(number, head, body, writer):
    """Takes the second request on a connection and closes without a word: a keep-alive
    connection the server closed just as it was reused."""
    if number == 2:
        return False
    writer.write(OK)


async def test_a_stale_connection_is_retried_for_idempotent_calls():
    async with Server(drops_the_second) as server:
        upstream = pool(server.url)
        assert await fetch(upstream) == (200, b"ok")
        assert await fetch(upstream) == (200, b"ok")
        assert server.connections == 2


async def test_a_stale_connection_is_not_retried_for_other_calls():
    async with Server(drops_the_second) as server:
        upstream = pool(server.url)
        assert await fetch(upstream, "POST", b"{}") == (200, b"ok")
        with pytest.raises(BrokenResponse):
            await fetch(upstream, "POST", b"{}")
        assert server.connections == 1


async def test_a_fresh_connection_closed_without_an_answer_is_broken():
    async def silent(number, head, body, writer):
        return False

    async with Server(silent) as server:
        with pytest.raises(BrokenResponse):
            await fetch(pool(server.url))
        assert server.connections == 1


async def test_read_timeout_and_the_connection_is_not_reused():
    async def slow_first(number, head, body, writer):
        if server.connections == 1:
            await asyncio.sleep(1.0)
        writer.write(OK)

    async with Server(slow_first) as server:
        upstream = pool(server.url, read_timeout=0.2)
        with pytest.raises(TimeoutError):
            await fetch(upstream)
        assert await fetch(upstream) == (200, b"ok")
        assert server.connections == 2


async def test_the_read_timeout_bounds_each_wait_not_the_whole_body():
    async def trickle(number, head, body, writer):
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
        for byte in b"12345":
            await writer.drain()
            await asyncio.sleep(0.1)
            writer.write(bytes([byte]))

    async with Server(trickle) as server:
        assert await fetch(pool(server.url, read_timeout=0.3)) == (200, b"12345")


async def test_refused_connections_are_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(Unreachable):
        await fetch(pool(f"http://127.0.0.1:{port}"))


async def test_a_malformed_answer_is_broken():
    async def garbage(number, head, body, writer):
        writer.write(b"this is not http\r\n\r\n")

    async with Server(garbage) as server:
        with pytest.raises(BrokenResponse):
            await fetch(pool(server.url))


async def test_a_bad_content_length_is_broken():
    async def bad_length(number, head, body, writer):
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n")

    async with Server(bad_length) as server:
        with pytest.raises(BrokenResponse):
            await fetch(pool(server.url))


async def test_an_answer_cut_short_is_broken():
    async def short(number, head, body, writer):
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        return False

    async with Server(short) as server:
        with pytest.raises(BrokenResponse):
            await fetch(pool(server.url))


async def test_a_response_not_read_to_its_end_is_not_reused():
    async def late_body(number, head, body, writer):
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(b"ok")

    async with Server(late_body) as server:
        upstream = pool(server.url)
        response = await upstream.request("GET", b"/", [], None, retryable=True)
        response.release()
        assert await fetch(upstream) == (200, b"ok")
        assert server.connections == 2


async def test_head_answers_have_no_body():
    async with Server(answer_ok) as server:
        upstream = pool(server.url)
        assert await fetch(upstream, "HEAD") == (200, b"")
        assert await fetch(upstream) == (200, b"ok")


async def test_the_pool_limits_open_connections():
    async def slowly(number, head, body, writer):
        await asyncio.sleep(0.05)
        writer.write(OK)

    async with Server(slowly) as server:
        upstream = pool(server.url, limit=2)
        results = await asyncio.gather(*(fetch(upstream) for _ in range(6)))
        assert results == [(200, b"ok")] * 6
        assert server.most_open == 2


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_large_response_streams_with_bounded_buffering(chunked):
    piece = bytes(range(256)) * 256
    pieces = 320  # 20 MiB

    async def large(number, head, body, writer):
        framing = b"transfer-encoding: chunked" if chunked else f"content-length: {len(piece) * pieces}".encode()
        writer.write(b"HTTP/1.1 200 OK\r\n" + framing + b"\r\n\r\n")
        for _ in range(pieces):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            await writer.drain()
        if chunked:
            writer.write(b"0\r\n\r\n")

    async with Server(large) as server:
        upstream = pool(server.url)
        response = await upstream.request("GET", b"/", [], None, retryable=True)
        digest = hashlib.sha256()
        size = 0
        largest = 0
        async for chunk in response.iter_any():
            # A slow reader: the connection is paused rather than the body piling up.
            await asyncio.sleep(0.001)
            largest = max(largest, len(chunk))
            digest.update(chunk)
            size += len(chunk)
        response.release()
        assert size == len(piece) * pieces
        assert digest.digest() == hashlib.sha256(piece * pieces).digest()
        assert largest < 2 * 1024 * 1024
