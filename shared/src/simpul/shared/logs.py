"""Logging of every Simpul process: the access log (`simpul.access`, one JSON line per request),
the security log (`simpul.security`, one JSON line per refusal, with its reason) and the rest
(text by default, JSON lines with SIMPUL_LOG_FORMAT=json).

What never goes into either log: query strings, secrets, tokens, Authorization headers, names and
emails. Callers pass ids, roles, rules and reasons only.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from ipaddress import ip_address, ip_network
from typing import TYPE_CHECKING

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simpul.shared.metrics import route_template
from simpul.shared.requestid import current_request_id, current_request_scope

if TYPE_CHECKING:
    from simpul.shared.identity import Identity

ACCESS_LOGGER = "simpul.access"
SECURITY_LOGGER = "simpul.security"
access_log = logging.getLogger(ACCESS_LOGGER)
security_log = logging.getLogger(SECURITY_LOGGER)

# Libraries that narrate every connection or font at INFO; their warnings still show.
QUIET_LOGGERS = (
    "httpx", "httpcore", "aiohttp.access", "aio_pika", "aiormq", "pamqp", "pyhanko", "pyhanko_certvalidator",
    "fontTools", "weasyprint", "PIL", "asyncio", "multipart", "python_multipart", "uvicorn.access",
    "sqlalchemy.engine", "alembic.runtime.plugins", "botocore", "boto3", "urllib3",
)
# A service's answer names its route template for the gateway's access line; the gateway takes
# it off before the client sees it.
ROUTE_HEADER = b"x-simpul-route"
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Attacker-chosen values (a client_id at the token endpoint) are cut to this length.
MAX_FIELD_CHARS = 128


def utc_timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for SIMPUL_LOG_FORMAT=json."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(level: str, log_format: str = "text") -> None:
    """The process's logging, in one place. The access and security loggers write their JSON
    lines as they are, whatever the format of the rest."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    lines = logging.StreamHandler(sys.stderr)
    lines.setFormatter(logging.Formatter("%(message)s"))
    for name in (ACCESS_LOGGER, SECURITY_LOGGER):
        logger = logging.getLogger(name)
        logger.handlers[:] = [lines]
        logger.propagate = False
        # A security event is a warning, an access line information: both show at the default level.
        logger.setLevel(logging.INFO)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # uvicorn's own lines follow the process's level, whatever an earlier uvicorn.Config set.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def _clip(value: str | None) -> str | None:
    return value if value is None or len(value) <= MAX_FIELD_CHARS else value[:MAX_FIELD_CHARS] + "…"


def caller_fields(scope: Scope) -> dict[str, str | None]:
    """Who is calling, as the log shows it: client id, role, tenant or unit, address."""
    identity: Identity | None = scope.get("state", {}).get("identity")
    client = scope.get("client")
    fields: dict[str, str | None] = {"address": client[0] if client else None}
    if identity is not None:
        fields.update(client=identity.subject, role=identity.role, tenant=identity.tenant)
    return fields


def security_event(event: str, reason: str, scope: Scope | None = None, **fields: str | int | None) -> None:
    """A refusal on the security log: `event` says what was refused, `reason` why (a rule or a
    verifier's message, never the credential itself). The caller comes from `scope`, by default
    the request being answered."""
    if not security_log.isEnabledFor(logging.WARNING):
        return
    scope = scope if scope is not None else current_request_scope()
    entry: dict[str, object] = {"time": utc_timestamp(), "event": event, "reason": reason,
                                "request_id": current_request_id()}
    if scope is not None:
        entry["method"] = scope.get("method")
        route = route_template(scope)
        # Refused before routing: the access line of the same request_id names its route.
        if route != "unmatched":
            entry["route"] = route
        entry.update(caller_fields(scope))
    entry.update({name: _clip(value) if isinstance(value, str) else value for name, value in fields.items()})
    security_log.warning(orjson.dumps(entry).decode())


class TrustedProxies:
    """The caller's address from X-Forwarded-For, believed only when the peer is a trusted proxy
    (nginx in front of the gateway): the rightmost address no trusted proxy added is the caller."""

    def __init__(self, networks: list[str]) -> None:
        self.networks = [ip_network(network, strict=False) for network in networks]

    def trusts(self, address: str) -> bool:
        try:
            parsed = ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self.networks)

    def caller(self, peer: str, forwarded_for: str | None) -> str:
        if forwarded_for is None or not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else peer


class ForwardedCallerMiddleware:
    """The caller's address from a trusted proxy's X-Forwarded-For replaces the peer's in the
    scope, so everything after (access log, rate limit, forwarded headers) sees the caller."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("client"):
            forwarded = [value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"]
            if forwarded:
                peer, port = scope["client"]
                scope["client"] = (self.proxies.caller(peer, ",".join(forwarded)), port)
        await self.app(scope, receive, send)


class AccessLogMiddleware:
    """One `simpul.access` JSON line per request, written when the answer is finished (or the
    app failed). Pure ASGI, one orjson.dumps per request: it runs on the gateway's hot path.

    `announce_route` (services): the answer carries its route template in ROUTE_HEADER.
    `fallback_route` (gateway): the route logged when no template is known, e.g. for a refusal."""

    def __init__(self, app: ASGIApp, *, service: str, announce_route: bool = False,
                 fallback_route: Callable[[Scope], str] | None = None) -> None:
        self.app = app
        self.service = service
        self.announce_route = announce_route
        self.fallback_route = fallback_route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        sent = 0
        route: str | None = None

        async def logged_send(message: Message) -> None:
            nonlocal status, sent, route
            if message["type"] == "http.response.start":
                status = message["status"]
                route = self._route_of(message, scope)
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            # Probes (every 2 s from each caller's balancer, and from the orchestrator) would
            # drown the log: only their failures are written.
            if (status >= 400 or scope["path"] not in PROBE_PATHS) and access_log.isEnabledFor(logging.INFO):
                self._write(scope, route, status, sent, started)

    def _write(self, scope: Scope, route: str | None, status: int, sent: int, started: float) -> None:
        entry = {
            "time": utc_timestamp(),
            "service": self.service,
            "request_id": current_request_id(),
            "method": scope["method"],
            "route": route or self._known_route(scope),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "bytes_out": sent,
            **caller_fields(scope),
        }
        # A record made here skips logging's search of the stack for the caller (a third of the
        # line's cost); orjson makes the line in a tenth of json.dumps' time.
        access_log.handle(logging.LogRecord(ACCESS_LOGGER, logging.INFO, __file__, 0, orjson.dumps(entry).decode(),
                                            None, None))

    def _route_of(self, message: Message, scope: Scope) -> str | None:
        """The route template at the start of the answer: announced by the service (and taken off
        the answer) or known here."""
        headers = message.get("headers") or []
        if self.announce_route:
            message["headers"] = [*headers, (ROUTE_HEADER, self._known_route(scope).encode("latin-1"))]
            return None
        for index, (name, value) in enumerate(headers):
            if name == ROUTE_HEADER:
                message["headers"] = [*headers[:index], *headers[index + 1:]]
                return value.decode("latin-1")
        return None

    def _known_route(self, scope: Scope) -> str:
        route = route_template(scope)
        if route == "unmatched" and self.fallback_route is not None:
            return self.fallback_route(scope)
        return route
