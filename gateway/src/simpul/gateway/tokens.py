"""Access tokens handed to clients and identity assertions handed to the services, both ES256 JWTs
signed with the key ring's current key."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from simpul.gateway.keys import ALGORITHM, KeyRing
from simpul.gateway.registry import ClientView
from simpul.shared.identity import ASSERTION_ISSUER, ASSERTION_LIFETIME_SECONDS, audience_for

ACCESS_TOKEN_AUDIENCE = "simpul-api"
# RFC 9068: the header type of a JWT access token, so an assertion can't pass for one.
ACCESS_TOKEN_TYPE = "at+jwt"
_CLOCK_SKEW_SECONDS = 60
_MAX_TOKEN_CHARS = 4096
_CACHE_LIMIT = 20_000


class InvalidToken(Exception):
    """Why a bearer token was refused (for the log, never for the client)."""


class AccessTokens:
    def __init__(self, issuer: str, lifetime_seconds: int) -> None:
        self.issuer = issuer
        self.lifetime_seconds = lifetime_seconds
        self.keyring: KeyRing | None = None
        # token -> (client_id, official id, exp): a signature is checked once per token, not per request.
        self._verified: dict[str, tuple[str, str | None, float]] = {}

    def issue(self, client_id: str, role: str, tenant: str | None, official_id: str | None = None) -> str:
        """`official_id`: the official an officer's token acts as (its claim `official`)."""
        assert self.keyring is not None, "the key ring is loaded at start-up"
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": ACCESS_TOKEN_AUDIENCE,
            "sub": client_id,
            "client_id": client_id,
            "role": role,
            "tenant": tenant,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + self.lifetime_seconds,
        }
        if official_id is not None:
            claims["official"] = official_id
        key = self.keyring.current
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM,
                          headers={"kid": key.kid, "typ": ACCESS_TOKEN_TYPE})

    def verify(self, token: str) -> tuple[str, str | None]:
        """The client id the token was issued to and the official it acts as (or None);
        InvalidToken when it is forged, expired, addressed elsewhere or not a token at all."""
        cached = self._verified.get(token)
        if cached is not None:
            if cached[2] > time.time():
                return cached[0], cached[1]
            del self._verified[token]
            raise InvalidToken("expired")
        if len(token) > _MAX_TOKEN_CHARS or self.keyring is None:
            raise InvalidToken("too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed") from exc
        if header.get("alg") != ALGORITHM or header.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidToken("not an access token")
        key = self.keyring.public_keys.get(header.get("kid"))
        if key is None:
            raise InvalidToken("unknown key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=ACCESS_TOKEN_AUDIENCE,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        client_id = claims["sub"]
        if not isinstance(client_id, str):
            raise InvalidToken("subject")
        # Signed with our key but living longer than we issue, or issued in the future: not ours
        # to honour (a key that leaked, or a clock far off).
        issued, expires = claims["iat"], claims["exp"]
        if not (isinstance(issued, int | float) and isinstance(expires, int | float)):
            raise InvalidToken("times")
        if expires - issued > self.lifetime_seconds or issued > time.time() + _CLOCK_SKEW_SECONDS:
            raise InvalidToken("lifetime beyond the configured one")
        official_id = claims.get("official")
        if official_id is not None and not isinstance(official_id, str):
            raise InvalidToken("official")
        self._remember(token, client_id, official_id, float(expires))
        return client_id, official_id

    def _remember(self, token: str, client_id: str, official_id: str | None, expires: float) -> None:
        if len(self._verified) >= _CACHE_LIMIT:
            self.prune()
            if len(self._verified) >= _CACHE_LIMIT:
                # Still full of live tokens: drop the oldest half (dicts keep insertion order).
                for stale in list(self._verified)[: _CACHE_LIMIT // 2]:
                    del self._verified[stale]
        self._verified[token] = (client_id, official_id, expires)

    def prune(self) -> None:
        now = time.time()
        for token in [token for token, (_, _, expires) in self._verified.items() if expires <= now]:
            del self._verified[token]


class AssertionMinter:
    """Assertions for the services, kept per client and service and renewed at half-life:
    signing one per request would cost more than the whole proxy hop."""

    def __init__(self, lifetime_seconds: int = ASSERTION_LIFETIME_SECONDS) -> None:
        self.lifetime_seconds = lifetime_seconds
        self.keyring: KeyRing | None = None

    def assertion(self, view: ClientView, service: str) -> str:
        cached = view.assertions.get(service)
        now = time.time()
        if cached is not None and cached[1] > now:
            return cached[0]
        token = self.mint(view, service, int(now))
        view.assertions[service] = (token, now + self.lifetime_seconds / 2)
        return token

    def mint(self, view: ClientView, service: str, now: int) -> str:
        assert self.keyring is not None, "the key ring is loaded at start-up"
        claims: dict[str, Any] = {
            "iss": ASSERTION_ISSUER,
            "aud": audience_for(service),
            **view.identity.claims(),
            "iat": now,
            "exp": now + self.lifetime_seconds,
        }
        key = self.keyring.current
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
