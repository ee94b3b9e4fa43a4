"""The proxy hop to the services: plain ASGI in, HTTP/1.1 out.

Requests without a body or with a small one (read whole, which is faster) go through the lean
keep-alive pools of upstream.py, one per service; streamed uploads (chunked or large) go through one
`aiohttp.ClientSession` (httpx collapses under concurrency on this hop, see DESIGN.md), so a large
upload is never held in memory. Responses stream back.
Failures become problem+json: 503 when the service can't be reached, 504 when it is too slow,
502 when it answers with something broken. The internal address never reaches the client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp
from starlette.types import Message, Receive, Scope, Send
from yarl import URL

from simpul.gateway.asgi import request_header, send_problem
from simpul.gateway.registry import ClientView
from simpul.gateway.tokens import AssertionMinter
from simpul.gateway.upstream import BrokenResponse, ConnectTimeout, Response, Unreachable, UpstreamPool
from simpul.shared.balance import Balancer, Failure, Probe, Replica, Resolver, repeatable
from simpul.shared.bodylimit import TOO_LARGE
from simpul.shared.identity import ASSERTION_HEADER
from simpul.shared.problems import Text
from simpul.shared.requestid import current_request_id
from simpul.shared.serve import KEEPALIVE_SECONDS

log = logging.getLogger("simpul.gateway.proxy")

HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
     b"transfer-encoding", b"upgrade", b"proxy-connection"}
)
# Request headers the gateway replaces or must not pass on: the client's credentials stay here,
# and an assertion a client made up never reaches a service.
_ASSERTION_HEADER = ASSERTION_HEADER.encode()
_DROP_REQUEST = HOP_BY_HOP | {
    b"host", b"authorization", _ASSERTION_HEADER, b"x-request-id", b"traceparent", b"tracestate",
    b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded", b"expect", b"cookie",
}
# The gateway's server adds its own Date.
_DROP_RESPONSE = HOP_BY_HOP | {b"date", b"server", b"set-cookie"}

SMALL_BODY = 64 * 1024
# Media types of the upload routes' bodies (documents, complaint attachments, PDFs to verify).
FILE_MEDIA_TYPES = frozenset({"multipart/form-data", "application/pdf", "application/octet-stream"})
# The status recorded when the client hung up before it was answered (nginx's convention).
CLIENT_GONE = 499
SMALL_RESPONSE = 256 * 1024
_POOL_SIZE = 1024
# Below the services' own keep-alive, so the pool seldom hands out a connection a service just closed.
_KEEPALIVE_SECONDS = KEEPALIVE_SECONDS - 1.0

UNAVAILABLE = Text(
    "Layanan {service} sedang tidak tersedia. Coba lagi sebentar lagi.",
    "The {service} service is unavailable right now. Try again shortly.",
)
TIMED_OUT = Text(
    "Layanan {service} tidak menjawab tepat waktu.",
    "The {service} service did not answer in time.",
)
BROKEN = Text(
    "Layanan {service} memberikan jawaban yang rusak.",
    "The {service} service gave a broken answer.",
)
BAD_LENGTH = Text("Content-Length tidak valid.", "Content-Length is not valid.")
FAILED = Text("Terjadi kesalahan pada gateway.", "Something went wrong in the gateway.")


@dataclass(frozen=True)
class Upstream:
    name: str
    # Its replicas (one or more base URLs), probed on `/readyz` through the proxy's session.
    balancer: Balancer
    connect_timeout: float
    read_timeout: float
    # A streamed upload may take longer than the read timeout to send, so that wait is timed by
    # the proxy itself from the moment the last byte went out.
    streaming_timeout: aiohttp.ClientTimeout
    # The metrics label of requests forwarded to it.
    route_label: str

    @classmethod
    def make(cls, name: str, urls: list[str], connect_timeout: float, read_timeout: float, probe: Probe,
             resolver: Resolver) -> Upstream:
        return cls(
            name=name,
            # Probed even when alone: the gateway's readiness reports every service's.
            balancer=Balancer(name, urls, probe=probe, resolver=resolver, always_probe=True),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            streaming_timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
            route_label=f"proxy:{name}",
        )


class _BodyRefused(Exception):
    """The client's body was too large or the client left; the exchange records which."""


class _Exchange:
    """What happened so far in one forwarded request, for the error handling."""

    __slots__ = ("status", "answered", "too_large", "client_gone", "deadline", "body_started", "body_limit")

    def __init__(self, body_limit: int) -> None:
        # The largest body this request may carry (Proxy.body_limit).
        self.body_limit = body_limit
        # The status sent to the client once the response has started; 0 before.
        self.status = 0
        # The service answered (perhaps before the whole body was sent): from then on the
        # deadline is the answer's.
        self.answered = False
        self.too_large = False
        self.client_gone = False
        self.deadline: asyncio.Timeout | None = None
        # Some of a streamed body was taken from the client: it can't be sent to another replica.
        self.body_started = False


class Proxy:
    def __init__(self, minter: AssertionMinter, *, max_body_bytes: int, max_json_bytes: int,
                 default_language: str) -> None:
        self.minter = minter
        self.max_body_bytes = max_body_bytes
        self.max_json_bytes = max_json_bytes
        self.default_language = default_language
        self.session: aiohttp.ClientSession | None = None
        self.pools: dict[tuple[str, str], UpstreamPool] = {}

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=_POOL_SIZE, keepalive_timeout=_KEEPALIVE_SECONDS, ttl_dns_cache=10)
        self.session = aiohttp.ClientSession(
            connector=connector,
            # Bodies pass through as the service encoded them; nothing is added the client didn't send.
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
        for pool in self.pools.values():
            pool.close()
        self.pools.clear()

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        upstream: Upstream,
        view: ClientView,
        traceparent: bytes,
        trace_continued: bool,
        response_headers: list[tuple[bytes, bytes]],
    ) -> int:
        """Forwards one request and relays the answer; returns the status sent to the client
        (499 when the client left before an answer). `trace_continued`: the traceparent is the
        client's own, so its tracestate goes along."""
        method = scope["method"]
        headers, content_length, chunked = self._request_headers(scope, view, upstream, traceparent, trace_continued)
        files = streams_files(scope)
        exchange = _Exchange(self.max_body_bytes if files else self.max_json_bytes)
        data: bytes | AsyncIterator[bytes] | None = None
        if content_length is not None:
            if not content_length.isdigit():
                return await send_problem(scope, receive, send, 400, BAD_LENGTH, self.default_language,
                                          response_headers, slug="bad-content-length")
            length = int(content_length)
            if length > exchange.body_limit:
                return await self._too_large(scope, receive, send, response_headers, exchange.body_limit)
        if (content_length is not None or chunked) and not files:
            # Read whole before the service is called: an oversize one never reaches it.
            try:
                data = await _read_body(receive, exchange.body_limit)
            except _BodyRefused:
                return await self._too_large(scope, receive, send, response_headers, exchange.body_limit)
            if data is None:
                return CLIENT_GONE
        elif content_length is not None and int(content_length) <= SMALL_BODY:
            data = await _read_body(receive, SMALL_BODY)
            if data is None:
                return CLIENT_GONE
        elif content_length is not None or chunked:
            data = self._stream_body(receive, exchange, upstream.read_timeout)

        try:
            if data is None or isinstance(data, bytes):
                await self._exchange(method, upstream, _raw_path(scope), headers, data, send, response_headers,
                                     exchange)
            else:
                async with asyncio.timeout(None) as exchange.deadline:
                    await self._stream(method, upstream, _raw_path(scope), headers, data, send, response_headers,
                                       exchange)
        except Exception as exc:  # every failure of the hop is answered here, never with a trace
            return await self._failed(exc, scope, receive, send, upstream, exchange, response_headers)
        return exchange.status

    def _request_headers(
        self, scope: Scope, view: ClientView, upstream: Upstream, traceparent: bytes, trace_continued: bool
    ) -> tuple[list[tuple[bytes, bytes]], bytes | None, bool]:
        headers: list[tuple[bytes, bytes]] = []
        content_length = None
        chunked = False
        host = None
        nominated = None
        tracestate = None
        for name, value in scope["headers"]:
            if name in _DROP_REQUEST:
                if name == b"transfer-encoding":
                    chunked = True
                elif name == b"host":
                    host = value
                elif name == b"connection":
                    nominated = value
                elif name == b"tracestate":
                    tracestate = value
                continue
            if name == b"content-length":
                content_length = value
            headers.append((name, value))
        if nominated is not None and nominated.lower() not in (b"keep-alive", b"close"):
            headers = _without_nominated(headers, nominated)
        if tracestate is not None and trace_continued:
            headers.append((b"tracestate", tracestate))
        client = scope.get("client")
        headers.append((_ASSERTION_HEADER, self.minter.assertion(view, upstream.name).encode("latin-1")))
        headers.append((b"x-request-id", (current_request_id() or "").encode("latin-1")))
        headers.append((b"traceparent", traceparent))
        headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode("latin-1")))
        if client:
            headers.append((b"x-forwarded-for", client[0].encode("latin-1")))
        if host is not None:
            headers.append((b"x-forwarded-host", host))
        return headers, content_length, chunked

    async def _stream_body(self, receive: Receive, exchange: _Exchange, read_timeout: float) -> AsyncIterator[bytes]:
        """The client's body, chunk by chunk. The deadline only runs while the service has a chunk
        to take or an answer to give: a slow client is not the service's timeout."""
        loop = asyncio.get_running_loop()
        received = 0
        while True:
            if exchange.deadline is not None and not exchange.answered:
                exchange.deadline.reschedule(None)
            message = await receive()
            exchange.body_started = True
            if message["type"] == "http.disconnect":
                exchange.client_gone = True
                raise _BodyRefused("client gone")
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > exchange.body_limit:
                exchange.too_large = True
                raise _BodyRefused("too large")
            if exchange.deadline is not None and not exchange.answered:
                exchange.deadline.reschedule(loop.time() + read_timeout)
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                break

    async def _exchange(
        self,
        method: str,
        upstream: Upstream,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        data: bytes | None,
        send: Send,
        response_headers: list[tuple[bytes, bytes]],
        exchange: _Exchange,
    ) -> None:
        """A request whose body (if any) is in memory, on the lean client: tried on another replica
        when the first could not be reached, or broke off before answering a repeatable request."""
        repeat = repeatable(method, headers)

        async def attempt(replica: Replica) -> None:
            response = await self._pool(upstream, replica).request(method, target, headers, data, retryable=repeat)
            try:
                await self._relay(response, response.iter_any(), method, send, response_headers, exchange,
                                  upstream.read_timeout)
            finally:
                response.release()

        def classify(exc: BaseException) -> Failure | None:
            if exchange.status:
                return None  # the client has the answer's head: too late for another replica
            if isinstance(exc, (Unreachable, ConnectTimeout)):
                return Failure.UNREACHABLE
            # A read timeout is not retried: the request's time is spent.
            return Failure.MAYBE_SENT if isinstance(exc, BrokenResponse) else None

        await upstream.balancer.call(attempt, classify=classify, repeatable=repeat)

    def _pool(self, upstream: Upstream, replica: Replica) -> UpstreamPool:
        # Per service too: services may share an address, not their timeouts.
        key = (upstream.name, replica.url)
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = UpstreamPool(
                replica.url, host=replica.host, server_name=replica.server_name, limit=_POOL_SIZE,
                connect_timeout=upstream.connect_timeout, read_timeout=upstream.read_timeout,
                keepalive=_KEEPALIVE_SECONDS,
            )
        return pool

    async def _stream(
        self,
        method: str,
        upstream: Upstream,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        data: AsyncIterator[bytes],
        send: Send,
        response_headers: list[tuple[bytes, bytes]],
        exchange: _Exchange,
    ) -> None:
        """A streamed upload, on aiohttp. Its body is not buffered, so it goes to another replica
        only when the first could not be connected to before any of the body was read."""
        assert self.session is not None, "the proxy is started with the app"
        session = self.session
        text_headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]

        async def attempt(replica: Replica) -> None:
            url = URL(replica.url + target.decode("latin-1"), encoded=True)
            addressed = [*text_headers, ("Host", replica.host)] if replica.by_address else text_headers
            response = await session.request(method, url, headers=addressed, data=data, allow_redirects=False,
                                             timeout=upstream.streaming_timeout)
            try:
                await self._relay(response, response.content.iter_any(), method, send, response_headers, exchange,
                                  upstream.read_timeout)
            finally:
                response.release()

        def classify(exc: BaseException) -> Failure | None:
            if isinstance(exc, aiohttp.ClientConnectorError) and not exchange.body_started:
                return Failure.UNREACHABLE
            return None

        await upstream.balancer.call(attempt, classify=classify, repeatable=False)

    async def _relay(
        self,
        response: Response | aiohttp.ClientResponse,
        chunks: AsyncIterator[bytes],
        method: str,
        send: Send,
        extra_headers: list[tuple[bytes, bytes]],
        exchange: _Exchange,
        read_timeout: float,
    ) -> None:
        headers = []
        for name, value in response.raw_headers:
            lowered = name.lower()
            if lowered not in _DROP_RESPONSE:
                headers.append((lowered, value))
        headers.extend(extra_headers)
        exchange.answered = True
        deadline = exchange.deadline
        loop = asyncio.get_running_loop()
        if deadline is not None:
            deadline.reschedule(loop.time() + read_timeout)
        length = response.content_length
        status = response.status
        if method == "HEAD" or status in (204, 304) or (length is not None and length <= SMALL_RESPONSE):
            body = await response.read()
            exchange.status = status
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        exchange.status = status
        await send({"type": "http.response.start", "status": status, "headers": headers})
        async for chunk in chunks:
            if deadline is not None:
                deadline.reschedule(loop.time() + read_timeout)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _failed(
        self,
        exc: Exception,
        scope: Scope,
        receive: Receive,
        send: Send,
        upstream: Upstream,
        exchange: _Exchange,
        response_headers: list[tuple[bytes, bytes]],
    ) -> int:
        if exchange.client_gone:
            return CLIENT_GONE
        if exchange.status:
            # Too late for a problem document: the response is left incomplete, so the server
            # drops the connection and the client sees a broken transfer, not a short body.
            log.warning("%s broke off a response: %r", upstream.name, exc)
            return exchange.status
        if exchange.too_large:
            return await self._too_large(scope, receive, send, response_headers, exchange.body_limit)
        params = {"service": upstream.name}
        if isinstance(exc, (Unreachable, ConnectTimeout, aiohttp.ClientConnectorError)):
            log.warning("%s unreachable: %r", upstream.name, exc)
            return await send_problem(scope, receive, send, 503, UNAVAILABLE, self.default_language,
                                      [*response_headers, (b"retry-after", b"5")], params=params)
        if isinstance(exc, TimeoutError):
            log.warning("%s timed out: %r", upstream.name, exc)
            return await send_problem(scope, receive, send, 504, TIMED_OUT, self.default_language, response_headers,
                                      params=params)
        if isinstance(exc, (BrokenResponse, aiohttp.ClientError)):
            log.warning("%s answered badly: %r", upstream.name, exc)
            return await send_problem(scope, receive, send, 502, BROKEN, self.default_language, response_headers,
                                      params=params)
        log.error("forwarding to %s failed", upstream.name, exc_info=exc)
        return await send_problem(scope, receive, send, 500, FAILED, self.default_language, response_headers)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, headers: list[tuple[bytes, bytes]],
                         limit: int) -> int:
        return await send_problem(scope, receive, send, 413, TOO_LARGE, self.default_language, headers,
                                  params={"limit": limit})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """A small body, whole; None when the client left. Raises _BodyRefused past `limit` (a
    chunked body declares no length to check beforehand)."""
    message: Message = await receive()
    if message["type"] == "http.disconnect":
        return None
    if not message.get("more_body", False):
        return message.get("body", b"")
    chunks = [message.get("body", b"")]
    size = len(chunks[0])
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            raise _BodyRefused("too large")
    return b"".join(chunks)


def streams_files(scope: Scope) -> bool:
    """Files (multipart, PDF, octet-stream) stream through up to `max_body_bytes` to routes that
    bound them further; anything else is parsed whole by a service, so it is held to
    `max_json_bytes` and read before the service is called. A service holds a route that parses
    its body to the same bound whatever type the client declared (simpul.shared.bodylimit)."""
    declared = request_header(scope, b"content-type") or ""
    return declared.partition(";")[0].strip().lower() in FILE_MEDIA_TYPES


def _raw_path(scope: Scope) -> bytes:
    """Path and query as the client sent them, so encoded characters stay encoded."""
    path = scope.get("raw_path") or scope["path"].encode("utf-8")
    if not path.isascii():
        path = quote(path, safe="/%:@!$&'()*+,;=-._~").encode("ascii")
    query = scope.get("query_string")
    return path + b"?" + query if query else path


def _without_nominated(headers: list[tuple[bytes, bytes]], connection: bytes) -> list[tuple[bytes, bytes]]:
    """RFC 9110 §7.6.1: headers named in Connection are for this hop only."""
    named = {token.strip().lower() for token in connection.split(b",")}
    return [(name, value) for name, value in headers if name not in named]
