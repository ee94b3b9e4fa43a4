"""ES256 signing keys: one key set for every gateway replica, kept in the gateway's database with
the private keys sealed (simpul.shared.envelope), published as JWKS.

The same key signs access tokens and the identity assertions sent to the services. A rotation adds
a key that signs once every replica and service has had time to see it (`signs_from`); the older
keys keep verifying until the last token they signed has expired (`retired_at`), then are dropped.
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
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.gateway.models import signing_key_events, signing_keys
from simpul.shared.db import utcnow
from simpul.shared.envelope import KeyEncryptionKeys, ReloadingKeys
from simpul.shared.locks import hold_for_transaction

log = logging.getLogger("simpul.gateway.keys")

ALGORITHM = "ES256"
# A new key is published this long before it signs: every replica reloads its key set each
# second and the services fetch the JWKS again on an unknown kid, so none sees a kid it lacks.
PROPAGATION = timedelta(seconds=5)
SYSTEM_ACTOR = "system"


def seal_context(kid: str) -> bytes:
    """Binds a sealed private key to its row."""
    return f"simpul gateway signing key {kid}".encode()


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

    def private_der(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @classmethod
    def generate(cls) -> SigningKey:
        private_key = ec.generate_private_key(ec.SECP256R1())
        return cls(thumbprint(private_key.public_key()), private_key)

    @classmethod
    def from_der(cls, kid: str, der: bytes) -> SigningKey:
        private_key = serialization.load_der_private_key(der, password=None)
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

    def __init__(self, keys: list[SigningKey], current: SigningKey) -> None:
        self.current = current
        self.kids = frozenset(key.kid for key in keys)
        self.public_keys = {key.kid: key.public_key for key in keys}
        self.jwks = orjson.dumps({"keys": [key.public_jwk() for key in keys]})


class SigningKeys:
    """The key set in the database: made once, rotated, re-wrapped, loaded by every replica."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], keks: ReloadingKeys, *,
                 verify_for: timedelta) -> None:
        self.sessions = sessions
        self.keks = keks
        # The longest a token signed by a key stays valid: how long a replaced key still verifies.
        self.verify_for = verify_for
        self._opened: dict[str, SigningKey] = {}

    async def ensure(self) -> None:
        """Make the first key, exactly once however many replicas start at the same moment."""
        if await self._count() == 0:
            async with self.sessions.begin() as session:
                await hold_for_transaction(session, "gateway signing keys")
                if (await session.execute(select(func.count()).select_from(signing_keys))).scalar_one() == 0:
                    key = await self._add(session, utcnow(), SYSTEM_ACTOR)
                    log.info("generated the token signing key %s", key.kid)

    async def rotate(self, actor: str) -> tuple[str, datetime]:
        """A new key, signing from a few seconds on; the keys it replaces keep verifying until
        the tokens they signed have expired. (kid, when it starts signing)"""
        async with self.sessions.begin() as session:
            await hold_for_transaction(session, "gateway signing keys")
            signs_from = utcnow() + PROPAGATION
            retire_at = signs_from + self.verify_for + PROPAGATION
            replaced = (await session.execute(
                update(signing_keys)
                .where(signing_keys.c.retired_at.is_(None))
                .values(retired_at=retire_at)
                .returning(signing_keys.c.kid)
            )).scalars().all()
            for kid in replaced:
                await _audit(session, kid, "retiring", actor, retire_at)
            key = await self._add(session, signs_from, actor)
        log.info("rotated the token signing key: %s signs from %s; %d older key(s) verify until %s",
                 key.kid, signs_from.isoformat(), len(replaced), retire_at.isoformat())
        return key.kid, signs_from

    async def rewrap(self, keks: KeyEncryptionKeys, actor: str) -> int:
        """Every sealed private key re-wrapped under the current key of `keks`."""
        async with self.sessions.begin() as session:
            await hold_for_transaction(session, "gateway signing keys")
            rows = (await session.execute(select(signing_keys.c.kid, signing_keys.c.sealed_private_key))).all()
            stale = [row for row in rows if not keks.is_current(row.sealed_private_key)]
            for row in stale:
                await session.execute(update(signing_keys).where(signing_keys.c.kid == row.kid)
                                      .values(sealed_private_key=keks.rewrap(row.sealed_private_key)))
                await _audit(session, row.kid, "rewrapped", actor, utcnow())
        return len(stale)

    async def drop_expired(self) -> list[str]:
        """Delete the keys no token can still need. Any replica may do it; each row goes once."""
        now = utcnow()
        async with self.sessions.begin() as session:
            dropped = (await session.execute(
                delete(signing_keys).where(signing_keys.c.retired_at <= now).returning(signing_keys.c.kid)
            )).scalars().all()
            for kid in dropped:
                await _audit(session, kid, "dropped", SYSTEM_ACTOR, now)
        for kid in dropped:
            self._opened.pop(kid, None)
        return list(dropped)

    async def load(self) -> KeyRing:
        """The keys that still verify, the newest one whose time has come signing."""
        now = utcnow()
        async with self.sessions() as session:
            rows = (await session.execute(
                select(signing_keys.c.kid, signing_keys.c.sealed_private_key, signing_keys.c.signs_from)
                .where(or_(signing_keys.c.retired_at.is_(None), signing_keys.c.retired_at > now))
                .order_by(signing_keys.c.signs_from, signing_keys.c.kid)
            )).all()
        if not rows:
            raise LookupError("no token signing key in the database")
        keys = [self._open(row.kid, row.sealed_private_key) for row in rows]
        signing = [key for key, row in zip(keys, rows, strict=True) if row.signs_from <= now]
        # Right after the very first key is made with a future start, there is no other to use.
        return KeyRing(keys, signing[-1] if signing else keys[0])

    def _open(self, kid: str, sealed: bytes) -> SigningKey:
        key = self._opened.get(kid)
        if key is None:
            der = self.keks.open(sealed, seal_context(kid))
            key = self._opened[kid] = SigningKey.from_der(kid, der)
        return key

    async def _add(self, session: AsyncSession, signs_from: datetime, actor: str) -> SigningKey:
        key = SigningKey.generate()
        now = utcnow()
        await session.execute(insert(signing_keys).values(
            kid=key.kid, algorithm=ALGORITHM, sealed_private_key=self.keks.seal(key.private_der(), seal_context(key.kid)),
            created_at=now, signs_from=signs_from,
        ))
        await _audit(session, key.kid, "created", actor, now)
        return key

    async def _count(self) -> int:
        async with self.sessions() as session:
            return (await session.execute(select(func.count()).select_from(signing_keys))).scalar_one()


async def _audit(session: AsyncSession, kid: str, action: str, actor: str, at: datetime) -> None:
    await session.execute(insert(signing_key_events).values(kid=kid, action=action, actor=actor, at=at))
