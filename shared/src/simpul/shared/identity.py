"""Identity assertions: how a service knows who called it.

The gateway authenticates clients and forwards a short-lived ES256 JWT (`X-Simpul-Assertion`)
addressed to one service. Services call each other with an HS256 token made from the internal
secret, carrying the role `service`. A service answers 401 to anything else, so its port is
useless without the gateway.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from simpul.shared.logs import security_event
from simpul.shared.problems import Problem, Text, negotiate_language, problem_response

ASSERTION_HEADER = "x-simpul-assertion"
ASSERTION_HEADER_BYTES = ASSERTION_HEADER.encode()
ASSERTION_ISSUER = "simpul-gateway"
SERVICE_ROLE = "service"
ANONYMOUS_ROLE = "anonymous"
CLIENT_ROLES = ("applicant", "officer", "admin")
ASSERTION_LIFETIME_SECONDS = 60
_LEEWAY_SECONDS = 5
_JWKS_REFRESH_INTERVAL = 5.0


def audience_for(service_name: str) -> str:
    return f"simpul:{service_name}"


OFFICIAL_ROLES = ("verifier", "reviewer", "signer", "treasurer")


@dataclass(frozen=True)
class Official:
    """A named official of a unit an officer token acts as (the gateway vouches for it)."""

    id: str
    nip: str
    name: str
    position: str
    roles: tuple[str, ...] = ()

    def claims(self) -> dict[str, Any]:
        return {"id": self.id, "nip": self.nip, "name": self.name, "position": self.position,
                "roles": list(self.roles)}

    @classmethod
    def from_claims(cls, claims: Any) -> Official:
        if not isinstance(claims, dict):
            raise AssertionRefused("malformed official")
        try:
            roles = tuple(str(role) for role in claims.get("roles", ()))
            return cls(id=str(claims["id"]), nip=str(claims["nip"]), name=str(claims["name"]),
                       position=str(claims["position"]), roles=roles)
        except (KeyError, TypeError) as exc:
            raise AssertionRefused("malformed official") from exc


@dataclass(frozen=True)
class Identity:
    subject: str
    role: str
    tenant: str | None = None
    name: str | None = None
    official: Official | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.role == ANONYMOUS_ROLE

    def claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {"sub": self.subject, "role": self.role}
        if self.tenant is not None:
            claims["tenant"] = self.tenant
        if self.name is not None:
            claims["name"] = self.name
        if self.official is not None:
            claims["official"] = self.official.claims()
        return claims


ANONYMOUS = Identity(subject="anonymous", role=ANONYMOUS_ROLE)


class AssertionRefused(Exception):
    """Why an assertion was refused (kept out of responses)."""


def mint_service_token(secret: str, caller: str, target_service: str) -> str:
    """A token one service sends another on internal calls."""
    now = int(time.time())
    return jwt.encode(
        {
            "iss": f"simpul:{caller}",
            "aud": audience_for(target_service),
            "sub": f"service:{caller}",
            "role": SERVICE_ROLE,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
        },
        secret,
        algorithm="HS256",
    )


class AssertionVerifier:
    def __init__(
        self,
        service_name: str,
        *,
        internal_secret: str,
        jwks_json: str | None = None,
        jwks_url: str | None = None,
        jwks_urls: list[str] | None = None,
    ) -> None:
        self.audience = audience_for(service_name)
        self._internal_secret = internal_secret
        # Several when the gateway runs as replicas: tried in turn until one answers.
        self._jwks_urls = jwks_urls or ([jwks_url] if jwks_url else [])
        self._keys: dict[str, Any] = {}
        self._last_fetch = 0.0
        # Concurrent requests with a key not seen yet wait for one fetch of the JWKS instead of
        # being refused while it is in flight.
        self._refresh_lock = asyncio.Lock()
        self._verified: OrderedDict[str, tuple[Identity, float]] = OrderedDict()
        if jwks_json:
            self._load_jwks(json.loads(jwks_json))

    def _load_jwks(self, document: dict[str, Any]) -> None:
        keys = {}
        for entry in document.get("keys", []):
            kid = entry.get("kid")
            if kid:
                keys[kid] = jwt.PyJWK(entry).key
        self._keys.update(keys)

    async def _refresh(self) -> None:
        if not self._jwks_urls or time.monotonic() - self._last_fetch < _JWKS_REFRESH_INTERVAL:
            return
        self._last_fetch = time.monotonic()
        async with httpx.AsyncClient(timeout=3.0) as client:
            for url in self._jwks_urls:
                try:
                    response = await client.get(url)
                    response.raise_for_status()
                    self._load_jwks(response.json())
                    return
                except (httpx.HTTPError, ValueError, jwt.PyJWTError):
                    continue

    async def verify(self, token: str) -> Identity:
        cached = self._verified.get(token)
        now = time.time()
        if cached and cached[1] > now:
            return cached[0]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AssertionRefused("malformed") from exc
        algorithm = header.get("alg")
        if algorithm == "ES256":
            kid = header.get("kid")
            if kid not in self._keys:
                async with self._refresh_lock:
                    if kid not in self._keys:
                        await self._refresh()
            key = self._keys.get(kid)
            if key is None:
                raise AssertionRefused("unknown key")
            claims = self._decode(token, key, "ES256", issuer=ASSERTION_ISSUER)
            if claims.get("role") not in (*CLIENT_ROLES, ANONYMOUS_ROLE):
                raise AssertionRefused("bad role")
        elif algorithm == "HS256":
            claims = self._decode(token, self._internal_secret, "HS256", issuer=None)
            if claims.get("role") != SERVICE_ROLE:
                raise AssertionRefused("bad role")
        else:
            raise AssertionRefused("algorithm")
        identity = Identity(
            subject=str(claims["sub"]),
            role=claims["role"],
            tenant=claims.get("tenant"),
            name=claims.get("name"),
            official=Official.from_claims(claims["official"]) if claims.get("official") is not None else None,
        )
        self._verified[token] = (identity, float(claims["exp"]))
        if len(self._verified) > 4096:
            self._verified.popitem(last=False)
        return identity

    def _decode(self, token: str, key: Any, algorithm: str, issuer: str | None) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise AssertionRefused(str(exc)) from exc


UNAUTHENTICATED = Text(
    "Panggilan ini harus melalui gateway Simpul.",
    "This call must come through the Simpul gateway.",
)


class IdentityMiddleware:
    """Refuses every request without a valid assertion, except the operational endpoints."""

    def __init__(
        self,
        app: ASGIApp,
        verifier: AssertionVerifier,
        *,
        open_paths: tuple[str, ...] = ("/healthz", "/readyz", "/metrics"),
        default_language: str = "id",
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.open_paths = open_paths
        self.default_language = default_language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        token = None
        language_header = None
        for name, value in scope["headers"]:
            if name == ASSERTION_HEADER_BYTES:
                token = value.decode("latin-1")
            elif name == b"accept-language":
                language_header = value.decode("latin-1")
        identity = None
        if token:
            try:
                identity = await self.verifier.verify(token)
            except AssertionRefused as exc:
                security_event("assertion_refused", str(exc), scope)
        else:
            security_event("assertion_refused", "no assertion", scope)
        if identity is None:
            language = negotiate_language(language_header, self.default_language)
            response = problem_response(401, UNAUTHENTICATED.render(language), language, slug="unauthenticated")
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["identity"] = identity
        await self.app(scope, receive, send)


def current_identity(request: Request) -> Identity:
    return getattr(request.state, "identity", ANONYMOUS)


NOT_ALLOWED = Text("Peran Anda tidak boleh melakukan ini.", "Your role may not do this.")
LOGIN_REQUIRED = Text("Diperlukan token akses.", "An access token is required.")


def require_roles(*roles: str):
    """FastAPI dependency: the caller must hold one of `roles` (401 when anonymous, else 403)."""

    def dependency(request: Request) -> Identity:
        identity = current_identity(request)
        if identity.role in roles:
            return identity
        if identity.is_anonymous:
            raise Problem(401, LOGIN_REQUIRED, headers={"WWW-Authenticate": "Bearer"})
        raise Problem(403, NOT_ALLOWED)

    dependency.simpul_roles = roles  # read by `declare_roles` for the OpenAPI document
    return dependency


def declare_roles(app: Any) -> None:
    """Make `app.openapi()` declare who may call each operation: a route depending on
    `require_roles` gets `security: [{"bearerAuth": [<roles>]}]` (OpenAPI 3.1 lets a requirement of
    a non-OAuth scheme list role names); any other is explicitly anonymous (`security: []`) unless
    the route declares its own (simpul.shared.openapi.OPTIONAL_TOKEN where a token changes what is
    seen). Clients read it, and the attack suite derives its isolation matrix from it."""
    # Included routers are flattened the way FastAPI's own document generator does it.
    from fastapi.routing import APIRoute, iter_route_contexts  # noqa: PLC0415 - only when the document is made

    plain = app.openapi

    def openapi() -> dict[str, Any]:
        document = plain()
        paths = document.get("paths", {})
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if not isinstance(route, APIRoute) or context.path_format not in paths:
                continue
            roles = sorted(_required_roles(route.dependant))
            for method in route.methods:
                operation = paths[context.path_format].get(method.lower())
                if operation is None:
                    continue
                if roles:
                    operation["security"] = [{"bearerAuth": roles}]
                else:
                    operation.setdefault("security", [])
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes.setdefault("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
        return document

    app.openapi = openapi


def _required_roles(dependant: Any) -> set[str]:
    roles: set[str] = set()
    for dependency in dependant.dependencies:
        roles.update(getattr(dependency.call, "simpul_roles", ()))
        roles.update(_required_roles(dependency))
    return roles
