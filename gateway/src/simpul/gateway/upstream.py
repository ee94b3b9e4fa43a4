"""A lean HTTP/1.1 client for the proxy hop: keep-alive pools on asyncio.Protocol and httptools.

It carries requests whose body is absent or already in memory. Measured in the whole system
(bench/system.py, create+submit): the gateway spends 0.34 ms of CPU per proxied request with it,
0.53 ms with aiohttp carrying the same requests (docs/architecture.md, "HTTP clients"). Errors come out
as `Unreachable` (could not connect), `TimeoutError` (connect or read timeout; the read timeout
bounds each wait for bytes, like aiohttp's sock_read) and `BrokenResponse` (the answer broke off
or is not HTTP). A connection goes back to its pool only after a response read to its end that
allows keep-alive.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from urllib.parse import urlsplit

import httptools

# Beyond this much unread body the socket stops being read, so a slow client holds back the
# service instead of the gateway's memory.
_HIGH_WATER = 512 * 1024


class Unreachable(Exception):
    """No connection could be made."""


class ConnectTimeout(TimeoutError):
    """No connection was made within the connect timeout: the request never left."""


class BrokenResponse(Exception):
    """The service's answer broke off or is not valid HTTP."""


class _Stale(BrokenResponse):
    """The connection was closed before any byte of the answer came."""


class Response:
    """One answer being received; the parser's callbacks land here."""

    __slots__ = ("status", "raw_headers", "content_length", "_conn", "_parser", "_head_only", "_chunks",
                 "_buffered", "_headers_done", "_complete", "_keep_alive", "_until_eof", "_interim", "_error",
                 "_waiter", "_received", "_released")

    def __init__(self, conn: _Connection, head_only: bool) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.content_length: int | None = None
        self._conn = conn
        self._parser = httptools.HttpResponseParser(self)
        self._head_only = head_only
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._headers_done = False
        self._complete = False
        self._keep_alive = False
        self._until_eof = False
        self._interim = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future | None = None
        self._received = False
        self._released = False

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self._complete:
            # Bytes after the answer: the connection is not in a state to reuse.
            self._keep_alive = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._headers_done:
            self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._headers_done:
            return
        status = self._parser.get_status_code()
        if status < 200:
            # An interim answer (100 Continue and the like) is not the answer.
            self.raw_headers = []
            self._interim = True
            return
        self.status = status
        self._headers_done = True
        chunked = False
        for name, value in self.raw_headers:
            lowered = name.lower()
            if lowered == b"content-length":
                if not value.strip().isdigit():
                    raise BrokenResponse("invalid Content-Length")
                self.content_length = int(value)
            elif lowered == b"transfer-encoding":
                chunked = True
        self._until_eof = (self.content_length is None and not chunked and status not in (204, 304))
        if self._head_only:
            # The parser can't know a HEAD answer has no body, so the connection is not reused.
            self._complete = True
            self._keep_alive = False
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._complete:
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER:
            self._conn.pause()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self._complete:
            return
        self._complete = True
        self._keep_alive = self._parser.should_keep_alive()
        self._wake()

    # fed by the connection

    def feed(self, data: bytes) -> None:
        self._received = True
        try:
            self._parser.feed_data(data)
        except BrokenResponse as exc:  # raised by a callback, passed through by the parser
            self.fail(exc)
        except httptools.HttpParserUpgrade:
            self.fail(BrokenResponse("unexpected protocol upgrade"))
        except httptools.HttpParserError as exc:
            self.fail(BrokenResponse(str(exc)))

    def lost(self, exc: BaseException | None) -> None:
        if self._complete:
            return
        if self._headers_done and self._until_eof and exc is None:
            # No length and not chunked: the body is everything until the connection closes.
            self._complete = True
            self._wake()
        elif not self._received:
            self.fail(_Stale(f"connection closed before an answer: {exc!r}"))
        else:
            self.fail(BrokenResponse(f"connection closed mid-answer: {exc!r}"))

    def fail(self, exc: BaseException) -> None:
        if self._error is None and not self._complete:
            self._error = exc
            self._conn.close()
            self._wake()

    # read by the proxy

    async def read(self) -> bytes:
        """The whole body (for small answers)."""
        while not self._complete:
            await self._wait()
        body = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        return body

    async def iter_any(self):
        """The body as it arrives, in pieces of whatever size came."""
        while True:
            if self._chunks:
                chunk = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
                self._chunks.clear()
                self._buffered = 0
                self._conn.resume()
                yield chunk
            elif self._complete:
                return
            else:
                await self._wait()

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._conn.finished(self._complete and self._keep_alive and self._error is None)

    async def _headers(self) -> None:
        while not self._headers_done:
            await self._wait()

    async def _wait(self) -> None:
        if self._error is not None:
            raise self._error
        loop = self._conn.loop
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(self._conn.pool.read_timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
        if self._error is not None:
            raise self._error

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("the service did not answer within the read timeout"))


class _Connection(asyncio.Protocol):
    __slots__ = ("pool", "loop", "transport", "response", "closed", "paused", "idle_since")

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.response: Response | None = None
        self.closed = False
        self.paused = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:
            # Nothing was asked: a service talking out of turn can't be trusted with the next request.
            self.close()
            return
        response.feed(data)

    def eof_received(self) -> None:
        self.closed = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.response is not None:
            self.response.lost(exc)

    def send(self, head: bytes, body: bytes | None, head_only: bool) -> Response:
        response = self.response = Response(self, head_only)
        assert self.transport is not None
        self.transport.write(head + body if body else head)
        return response

    def pause(self) -> None:
        if not self.paused and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and not self.closed:
            self.paused = False
            self.transport.resume_reading()

    def finished(self, reusable: bool) -> None:
        self.response = None
        self.pool.give_back(self, reusable and not self.closed)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamPool:
    """Keep-alive connections to one service, at most `limit` of them open at once."""

    def __init__(self, base_url: str, *, host: str, server_name: str, limit: int, connect_timeout: float,
                 read_timeout: float, keepalive: float) -> None:
        """`base_url` says where to connect; `host` is the Host header and `server_name` the TLS
        name, which differ from it when a replica is reached by one of its name's addresses."""
        parts = urlsplit(base_url)
        secure = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if secure else 80)
        self.ssl: ssl.SSLContext | None = ssl.create_default_context() if secure else None
        self.server_name = server_name
        self.prefix = parts.path.rstrip("/").encode("ascii")
        self.host_header = host.encode("idna")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
        self._slots = asyncio.Semaphore(limit)
        self._idle: deque[_Connection] = deque()
        self._closed = False

    async def request(
        self, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes | None, *,
        retryable: bool,
    ) -> Response:
        """Sends one request and waits for the answer's head; the caller reads the body and then
        calls `release()`. `retryable`: the request may be sent again on a fresh connection when
        a pooled one turns out to be closed before it answered."""
        parts = [method.encode("ascii"), b" ", self.prefix, target, b" HTTP/1.1\r\nhost: ", self.host_header, b"\r\n"]
        for name, value in headers:
            parts += (name, b": ", value, b"\r\n")
        parts.append(b"\r\n")
        head = b"".join(parts)
        head_only = method == "HEAD"
        # The slot is held until the response is released.
        await self._slots.acquire()
        try:
            conn = self._take_idle()
            if conn is not None:
                response = conn.send(head, body, head_only)
                try:
                    await response._headers()
                    return response
                except _Stale:
                    conn.close()
                    if not retryable:
                        raise
                except BaseException:
                    conn.close()
                    raise
            conn = await self._connect()
            response = conn.send(head, body, head_only)
            try:
                await response._headers()
            except BaseException:
                conn.close()
                raise
            return response
        except BaseException:
            self._slots.release()
            raise

    def _take_idle(self) -> _Connection | None:
        idle = self._idle
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive:
                return conn
            conn.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self), self.host, self.port, ssl=self.ssl,
                    server_hostname=self.server_name if self.ssl else None,
                )
        except TimeoutError:
            raise ConnectTimeout(f"connecting to {self.host}:{self.port} timed out") from None
        except OSError as exc:
            raise Unreachable(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return conn

    def give_back(self, conn: _Connection, reusable: bool) -> None:
        """Once per response the caller got, from `Response.release`."""
        self._slots.release()
        if reusable and not self._closed:
            conn.idle_since = conn.loop.time()
            self._idle.append(conn)
            # The oldest idle connections are closed here before the service closes them.
            idle = self._idle
            while idle and (idle[0].closed or conn.idle_since - idle[0].idle_since >= self.keepalive):
                idle.popleft().close()
        else:
            conn.close()

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()
