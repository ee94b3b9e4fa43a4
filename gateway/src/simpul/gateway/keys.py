"""ES256 signing keys: made at the first start, kept in the gateway's database, published as JWKS.

The same key signs access tokens and the identity assertions sent to the services.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.gateway.models import signing_keys
from simpul.shared.db import utcnow

log = logging.getLogger("simpul.gateway.keys")

ALGORITHM = "ES256"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        return {**_public_members(self.public_key), "kid": self.kid, "use": "sig", "alg": ALGORITHM}

    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")

    @classmethod
    def generate(cls) -> SigningKey:
        private_key = ec.generate_private_key(ec.SECP256R1())
        return cls(thumbprint(private_key.public_key()), private_key)

    @classmethod
    def from_pem(cls, kid: str, pem: str) -> SigningKey:
        private_key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        if not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"signing key {kid} is not an EC key")
        return cls(kid, private_key)


def _public_members(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }


def thumbprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 JWK thumbprint: a kid that names the key itself."""
    canonical = json.dumps(_public_members(public_key), sort_keys=True, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode("ascii")).digest())


class KeyRing:
    """The key that signs now and every key whose signatures are still accepted."""

    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self.current = keys[0]
        self.public_keys = {key.kid: key.public_key for key in keys}
        self.jwks = orjson.dumps({"keys": [key.public_jwk() for key in keys]})


async def load_keyring(sessions: async_sessionmaker[AsyncSession]) -> KeyRing:
    """The active keys, oldest first; the first start makes one. Two processes starting at once
    may both make one: both keys are published, and both processes sign with the older."""
    keys = await _active_keys(sessions)
    if not keys:
        key = SigningKey.generate()
        async with sessions.begin() as session:
            await session.execute(
                insert(signing_keys).values(
                    kid=key.kid, algorithm=ALGORITHM, private_key_pem=key.private_pem(), created_at=utcnow()
                )
            )
        log.info("generated the token signing key %s", key.kid)
        keys = await _active_keys(sessions)
    return KeyRing(keys)


async def _active_keys(sessions: async_sessionmaker[AsyncSession]) -> list[SigningKey]:
    async with sessions() as session:
        rows = (
            await session.execute(
                select(signing_keys.c.kid, signing_keys.c.private_key_pem)
                .where(signing_keys.c.retired_at.is_(None))
                .order_by(signing_keys.c.created_at, signing_keys.c.kid)
            )
        ).all()
    return [SigningKey.from_pem(row.kid, row.private_key_pem) for row in rows]
