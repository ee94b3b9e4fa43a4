"""The gateway's entry for every request, as plain ASGI in front of FastAPI.

For `/v1/...` it authenticates the bearer token, applies the rate limit and settles the
traceparent, then either forwards the request to the service that owns the path (no FastAPI
routing or middleware on that hot path; metrics are recorded here) or hands it to the gateway's
own routes with the caller's identity in `scope["state"]["identity"]`. Everything else (health,
metrics, JWKS, OpenAPI, docs, and 404 for /internal/...) goes straight to FastAPI.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simpul.gateway.asgi import send_problem
from simpul.gateway.open311 import BodyTooLarge, Open311Errors, with_api_key_as_bearer
from simpul.gateway.proxy import Proxy, Upstream
from simpul.gateway.ratelimit import RateLimiter
from simpul.gateway.registry import ClientRegistry, ClientView
from simpul.gateway.routing import OPEN311_PREFIX, OPEN311_SERVICE, ROUTES, admin_service_for, has_dot_segment
from simpul.gateway.tokens import AccessTokens, InvalidToken
from simpul.gateway.tracing import new_traceparent, valid_traceparent
from simpul.shared.logs import security_event
from simpul.shared.bodylimit import TOO_LARGE, bounded_body
from simpul.shared.metrics import Metrics
from simpul.shared.problems import Text

if TYPE_CHECKING:
    from simpul.gateway.redis_state import SharedRateLimiter

TOKEN_PATH = "/v1/oauth/token"
VERIFY_SEGMENT = "verify"
# The gateway's own endpoints take small JSON or form bodies.
OWN_BODY_LIMIT = 64 * 1024

INVALID_TOKEN = Text(
    "Token akses tidak valid, kedaluwarsa atau sudah dicabut.",
    "The access token is not valid, has expired or was revoked.",
)
BEARER_ONLY = Text(
    "Header Authorization harus berisi token Bearer.",
    "The Authorization header must carry a Bearer token.",
)
RATE_LIMITED = Text(
    "Terlalu banyak permintaan. Coba lagi dalam {seconds} detik.",
    "Too many requests. Try again in {seconds} seconds.",
)
NOT_FOUND = Text("Alamat ini tidak ada.", "There is nothing at this address.")

_INVALID_TOKEN_CHALLENGE = b'Bearer realm="simpul", error="invalid_token"'
_BEARER_CHALLENGE = b'Bearer realm="simpul", error="invalid_request"'
# The metrics route label of answers the gateway gives itself without forwarding (401, 404, 429, 413).
REFUSED_ROUTE = "gateway:refused"


class _Recorder:
    """Request count and latency per route and status, with the labelled children kept so the
    hot path doesn't pay for prometheus' label lookup each time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._counters: dict[tuple[str, str, int], object] = {}
        self._latencies: dict[tuple[str, str], object] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self._counters[(method, route, status)] = self.metrics.requests.labels(
                self.metrics.service_name, method, route, str(status)
            )
        latency = self._latencies.get((method, route))
        if latency is None:
            latency = self._latencies[(method, route)] = self.metrics.latency.labels(
                self.metrics.service_name, method, route
            )
        counter.inc()
        latency.observe(seconds)


class GatewayFront:
    def __init__(
        self,
        app: ASGIApp,
        *,
        upstreams: dict[str, Upstream],
        proxy: Proxy,
        tokens: AccessTokens,
        registry: ClientRegistry,
        limiter: RateLimiter | SharedRateLimiter,
        metrics: Metrics,
        default_language: str,
        verify_limiter: RateLimiter | SharedRateLimiter | None = None,
        verify_upload_cost: int = 1,
    ) -> None:
        self.app = app
        # Path segment -> upstream, resolved once.
        self.routes = {segment: upstreams[service] for segment, service in ROUTES.items()}
        self.upstreams = upstreams
        self.proxy = proxy
        self.tokens = tokens
        self.registry = registry
        self.limiter = limiter
        self.verify_limiter = verify_limiter
        self.verify_upload_cost = verify_upload_cost
        self.recorder = _Recorder(metrics)
        self.default_language = default_language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        if scope["path"].startswith("/v1/"):
            route, status = await self._v1(scope, receive, send)
        elif scope["path"].startswith(OPEN311_PREFIX):
            route, status = await self._open311(scope, receive, Open311Errors(send))
        else:
            await self.app(scope, receive, send)
            return
        if route is not None:
            self.recorder.record(scope["method"], route, status, time.perf_counter() - started)

    async def _open311(self, scope: Scope, receive: Receive, send: Send) -> tuple[str | None, int]:
        """GeoReport v2's `api_key` becomes the bearer token (gateway/open311.py); then the
        request goes the way of any /v1 one, to the submissions service."""
        try:
            scope, receive = await with_api_key_as_bearer(scope, receive, OWN_BODY_LIMIT)
        except BodyTooLarge:
            return REFUSED_ROUTE, await self._too_large(scope, receive, send, [])
        return await self._v1(scope, receive, send)

    async def _v1(self, scope: Scope, receive: Receive, send: Send) -> tuple[str | None, int]:
        """(metrics route label, status) of what was answered here; no label when the gateway's
        own routes answered (FastAPI's metrics middleware counts those)."""
        path: str = scope["path"]
        authorization = None
        incoming_trace = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"traceparent":
                incoming_trace = value
        trace_continued = incoming_trace is not None and valid_traceparent(incoming_trace)
        traceparent = incoming_trace if trace_continued else new_traceparent()

        view: ClientView | None = self.registry.anonymous
        challenge = None
        if authorization is not None and path != TOKEN_PATH:
            if authorization[:7].lower() == b"bearer ":
                view = await self._authenticate(authorization[7:].strip(), scope)
                challenge = _INVALID_TOKEN_CHALLENGE
            else:
                view, challenge = None, _BEARER_CHALLENGE
                security_event("token_rejected", "not a bearer token", scope)
        client = scope.get("client")
        address = client[0] if client else "-"
        limit_key = "addr:" + address if view is None or view is self.registry.anonymous else view.client_id
        limiter = self.limiter
        allowed, remaining, seconds = await limiter.acquire(limit_key, time.monotonic())
        if allowed and self.verify_limiter is not None and path[4:].partition("/")[0] == VERIFY_SEGMENT:
            # Verification has its own budget per address, an uploaded PDF costing far more than a
            # lookup; its headers are the ones that bind on these routes.
            limiter = self.verify_limiter
            cost = self.verify_upload_cost if scope["method"] == "POST" else 1
            allowed, remaining, seconds = await limiter.acquire("verify:" + address, time.monotonic(), cost)
        headers = limiter.headers(remaining, seconds)
        headers.append((b"traceparent", traceparent))

        if not allowed:
            return REFUSED_ROUTE, await send_problem(
                scope, receive, send, 429, RATE_LIMITED, self.default_language,
                [*headers, (b"retry-after", str(seconds).encode())], slug="rate-limited", params={"seconds": seconds},
            )
        if view is None:
            text = INVALID_TOKEN if challenge is _INVALID_TOKEN_CHALLENGE else BEARER_ONLY
            slug = "invalid-token" if challenge is _INVALID_TOKEN_CHALLENGE else "unauthenticated"
            return REFUSED_ROUTE, await send_problem(scope, receive, send, 401, text, self.default_language,
                                                     [*headers, (b"www-authenticate", challenge)], slug=slug)
        if has_dot_segment(path):
            return REFUSED_ROUTE, await send_problem(scope, receive, send, 404, NOT_FOUND, self.default_language,
                                                     headers)

        if path.startswith(OPEN311_PREFIX):
            upstream = self.upstreams[OPEN311_SERVICE]
        else:
            upstream = self.routes.get(path[4:].partition("/")[0])
        if upstream is None and (audited := admin_service_for(path)) is not None:
            upstream = self.upstreams[audited]
        if upstream is not None:
            # Who the access log names (the gateway's own routes get it in `_own`).
            scope.setdefault("state", {})["identity"] = view.identity
            status = await self.proxy.forward(scope, receive, send, upstream, view, traceparent, trace_continued,
                                              headers)
            return upstream.route_label, status
        return await self._own(scope, receive, send, view, headers)

    async def _authenticate(self, token: bytes, scope: Scope) -> ClientView | None:
        try:
            client_id, official_id = self.tokens.verify(token.decode("ascii"))
        except InvalidToken as exc:
            security_event("token_rejected", str(exc), scope)
            return None
        except UnicodeDecodeError:
            security_event("token_rejected", "not ascii", scope)
            return None
        if official_id is not None:
            view = await self.registry.resolve_acting(client_id, official_id)
            if view is None:
                security_event("token_rejected", "client revoked or official inactive", scope, client=client_id)
            return view
        view = self.registry.get(client_id)
        if view is None:
            view = await self.registry.resolve(client_id)
            if view is None:
                security_event("token_rejected", "client revoked or unknown", scope, client=client_id)
        return view

    async def _own(
        self, scope: Scope, receive: Receive, send: Send, view: ClientView, extra: list[tuple[bytes, bytes]]
    ) -> tuple[str | None, int]:
        """The gateway's own /v1 routes: the identity goes into the scope, the rate-limit and
        trace headers onto the answer, and the body stays small."""
        scope.setdefault("state", {})["identity"] = view.identity
        if scope["path"] == TOKEN_PATH:
            # The token endpoint creates nothing to replay; keeping its answers for idempotency
            # would store access tokens.
            scope["headers"] = [(name, value) for name, value in scope["headers"] if name != b"idempotency-key"]
        length = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value) if value.isdigit() else OWN_BODY_LIMIT + 1
            elif name == b"transfer-encoding":
                chunked = True
        if length is not None and length > OWN_BODY_LIMIT:
            return REFUSED_ROUTE, await self._too_large(scope, receive, send, extra)
        if chunked and length is None:
            bounded = await bounded_body(receive, OWN_BODY_LIMIT)
            if bounded is None:
                return REFUSED_ROUTE, await self._too_large(scope, receive, send, extra)
            receive = bounded

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
        return None, 0

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, headers: list[tuple[bytes, bytes]]) -> int:
        return await send_problem(scope, receive, send, 413, TOO_LARGE, self.default_language, headers,
                                  params={"limit": OWN_BODY_LIMIT})
