"""One OpenAPI document for the whole public API: the gateway's own paths and every service's
public /v1 paths, fetched from the services with a service token and cached for a short while.
A service that can't be reached is left out and named in `x-simpul-missing`."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from simpul.gateway.open311 import error_answer as open311_error
from simpul.gateway.routing import OPEN311_PREFIX, ROUTES, service_for
from simpul.shared.balance import Balancer, Failure, Replica
from simpul.shared.identity import ASSERTION_HEADER, mint_service_token
from simpul.shared.openapi import PROBLEM_SCHEMA, problem

log = logging.getLogger("simpul.gateway.openapi")

CACHE_SECONDS = 30.0
# A document with a service missing is fetched again sooner.
INCOMPLETE_CACHE_SECONDS = 5.0
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=5.0, sock_connect=2.0)

SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from POST /v1/oauth/token (the oauth2 scheme's flow). "
        "Requirements list the roles that may call.",
    },
    # GeoReport v2's key: the same access token, which the gateway moves into Authorization
    # (gateway/open311.py); offered on the Open311 operations that need a token.
    "open311ApiKey": {
        "type": "apiKey",
        "in": "query",
        "name": "api_key",
        "description": "Open311's api_key: an access token from POST /v1/oauth/token (also accepted as a form "
        "field of POST /open311/v2/requests.json). Requirements list the roles that may call.",
    },
    "oauth2": {
        "type": "oauth2",
        "description": "OAuth 2.0 client credentials (RFC 6749 §4.4): POST the client's id and secret to the "
        "token URL (form fields, or HTTP Basic); send the access token as bearerAuth.",
        "flows": {"clientCredentials": {"tokenUrl": "/v1/oauth/token", "scopes": {}}},
    },
}

# The sub-domains operations are tagged with, in the order a reader meets them.
TAGS = {
    "identity": "Access tokens (OAuth 2.0 client credentials), the keys that verify them, and who a token is",
    "catalogue": "Service standards (PermenPANRB 15/2014): forms, requirements, cost, time, versions",
    "submissions": "Applications for a service: draft, documents, submit, review, issue, receipt",
    "tracking": "Following a submission by its tracking code, without a token",
    "surveys": "The community satisfaction survey (SKM) of a finished submission",
    "complaints": "Complaints (pengaduan) and their answers",
    "reports": "Public performance and satisfaction (IKM) reports",
    "documents": "Signed documents issued for approved submissions",
    "verification": "Anyone checks an issued document: by id or by uploading the PDF",
    "pki": "The certificates and revocation lists documents chain to",
    "notifications": "What was sent to whom, and the dead letters",
    "webhooks": "Webhook subscriptions of API clients and their deliveries",
    "templates": "The message templates of each event and language",
    "officials": "Officials (pejabat) of each unit, who sign and act",
    "payments": "Bills with a billing code, payments by providers and treasurers, kuitansi, revenue",
    "admin": "API clients, data subjects and audit logs, for admins",
    "open311": "Open311 GeoReport v2 (/open311/v2): the published services and service requests in the "
    "standard's own format, its errors as [{code, description}]; api_key is an access token from POST /v1/oauth/token",
}

# The gateway's rate limiter (ratelimit.py) stamps these on what it lets through and on its 429.
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": {"description": "The bucket's capacity", "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Requests left in the bucket after this one", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Seconds until the bucket is full again", "schema": {"type": "integer"}},
}
RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}

# What the gateway itself may answer on any /v1 path, before or instead of the service.
# 401: a token that is not valid (expired, revoked) is refused even where none is needed.
GATEWAY_ANSWERS = (401, 429)
FORWARDING_ANSWERS = (502, 503, 504)


def merge(own: dict[str, Any], services: dict[str, dict[str, Any] | None], *, server_url: str) -> dict[str, Any]:
    """The gateway's document plus each service's public paths (only those the gateway routes to
    that service), with component name clashes renamed `<service>_<Name>`."""
    document: dict[str, Any] = {
        "openapi": own.get("openapi", "3.1.0"),
        "info": {
            "title": "Simpul API",
            "version": own.get("info", {}).get("version", "1.0.0"),
            "description": "The public API of Simpul, the integrated administrative service backend. "
            "Every path is served by the gateway.",
        },
        "servers": [{"url": server_url}],
        "paths": {},
        "components": {},
    }
    operation_ids: set[str] = set()
    _add(document, copy.deepcopy(own), None, operation_ids)
    missing = []
    for name in sorted(services):
        service_document = services[name]
        if service_document is None:
            missing.append(name)
            continue
        _add(document, copy.deepcopy(service_document), name, operation_ids)
    document["components"].setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    # The gateway's own answers (429, 502-504) refer to it whichever services answered.
    document["components"].setdefault("schemas", {}).setdefault("Problem", PROBLEM_SCHEMA)
    document["tags"] = [{"name": name, "description": description} for name, description in TAGS.items()
                        if any(name in operation.get("tags", ()) for operation in _operations(document))]
    if missing:
        document["x-simpul-missing"] = missing
    return document


def _add(document: dict[str, Any], source: dict[str, Any], service: str | None, operation_ids: set[str]) -> None:
    paths = {
        path: item
        for path, item in source.get("paths", {}).items()
        if (service is None and not path.startswith("/internal")) or (service is not None and service_for(path) == service)
    }
    components = source.get("components", {})
    renames: dict[str, str] = {}
    for kind, entries in components.items():
        if kind == "securitySchemes":
            continue
        merged = document["components"].setdefault(kind, {})
        for name, value in entries.items():
            if name in merged and merged[name] != value:
                renames[f"#/components/{kind}/{name}"] = f"#/components/{kind}/{service}_{name}"
    if renames:
        paths = _rewrite_refs(paths, renames)
        components = _rewrite_refs(components, renames)
    for kind, entries in components.items():
        if kind == "securitySchemes":
            continue
        merged = document["components"][kind]
        for name, value in entries.items():
            target = renames.get(f"#/components/{kind}/{name}", f"#/components/{kind}/{name}").rsplit("/", 1)[1]
            merged.setdefault(target, value)
    for path, item in paths.items():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            operation_id = operation.get("operationId")
            if operation_id is not None:
                if operation_id in operation_ids and service is not None:
                    operation_id = operation["operationId"] = f"{service}_{operation_id}"
                operation_ids.add(operation_id)
            if service is not None:
                operation.setdefault("tags", [service])
            if path.startswith("/v1/"):
                _document_gateway_answers(operation, forwarded=service is not None)
            elif path.startswith(OPEN311_PREFIX):
                # Open311 requests pass the same gateway checks; their refusals are GeoReport errors.
                _document_gateway_answers(operation, forwarded=True, error=open311_error)
                operation["security"] = [*operation.get("security", []), *(
                    {"open311ApiKey": requirement["bearerAuth"]}
                    for requirement in operation.get("security", []) if "bearerAuth" in requirement)]
        document["paths"][path] = item


def _document_gateway_answers(
    operation: dict[str, Any], *, forwarded: bool,
    error: Callable[[int], dict[str, Any]] = lambda status: problem(status=status),
) -> None:
    responses = operation.setdefault("responses", {})
    answers = [*GATEWAY_ANSWERS, *(FORWARDING_ANSWERS if forwarded else ())]
    if "requestBody" in operation:
        answers.append(413)
    for status in answers:
        responses.setdefault(str(status), error(status))
    for status, response in responses.items():
        if status.startswith("2") or status == "429":
            response.setdefault("headers", {}).update(RATE_LIMIT_HEADERS)
        if status == "429":
            response["headers"].update(RETRY_AFTER_HEADER)


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [operation for item in document["paths"].values() for operation in item.values()
            if isinstance(operation, dict)]


def _rewrite_refs(value: Any, renames: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            key: renames.get(item, item) if key == "$ref" and isinstance(item, str) else _rewrite_refs(item, renames)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_rewrite_refs(item, renames) for item in value]
    return value


class OpenApiAggregator:
    def __init__(
        self,
        own: Callable[[], dict[str, Any]],
        balancers: dict[str, Balancer],
        *,
        internal_secret: str,
        server_url: str,
        session: Callable[[], aiohttp.ClientSession | None],
    ) -> None:
        self.own = own
        # Only the services some public path is routed to.
        self.balancers = {name: balancer for name, balancer in balancers.items() if name in ROUTES.values()}
        self.internal_secret = internal_secret
        self.server_url = server_url
        self.session = session
        self._cached: tuple[bytes, float] | None = None
        self._lock = asyncio.Lock()

    async def document(self) -> bytes:
        cached = self._cached
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with self._lock:
            cached = self._cached
            if cached is not None and cached[1] > time.monotonic():
                return cached[0]
            names = sorted(self.balancers)
            fetched = await asyncio.gather(*(self._fetch(name) for name in names))
            merged = merge(self.own(), dict(zip(names, fetched, strict=True)), server_url=self.server_url)
            body = orjson.dumps(merged)
            ttl = INCOMPLETE_CACHE_SECONDS if "x-simpul-missing" in merged else CACHE_SECONDS
            self._cached = (body, time.monotonic() + ttl)
            return body

    async def _fetch(self, name: str) -> dict[str, Any] | None:
        session = self.session()
        if session is None:
            return None
        headers = {ASSERTION_HEADER: mint_service_token(self.internal_secret, "gateway", name)}

        async def fetch(replica: Replica) -> Any:
            async with session.get(f"{replica.url}/openapi.json", headers=replica.with_host(headers),
                                   timeout=FETCH_TIMEOUT) as response:
                if response.status != 200:
                    raise _NotServed(f"HTTP {response.status}")
                return orjson.loads(await response.read())

        try:
            document = await self.balancers[name].call(fetch, classify=_classify, repeatable=True)
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, _NotServed) as exc:
            log.warning("the %s service's OpenAPI document is unavailable: %r", name, exc)
            return None
        return document if isinstance(document, dict) else None


class _NotServed(Exception):
    """A replica answered something other than its document."""


def _classify(exc: BaseException) -> Failure | None:
    # A replica that answered (even with an error) is not asked again; the document is fetched
    # anew within INCOMPLETE_CACHE_SECONDS.
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Failure.UNREACHABLE
    return Failure.MAYBE_SENT if isinstance(exc, aiohttp.ClientError) else None
