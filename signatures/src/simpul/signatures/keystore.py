"""Where signing keys come from: the development PKI kept in the database, or production PKCS#12
files. Both hand out `SignerMaterial` for the worker processes and know which roots to trust.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_der_private_key, pkcs12
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.shared import audit as audit_log
from simpul.shared import idempotency
from simpul.shared.envelope import KeyEncryptionKeys, ReloadingKeys
from simpul.shared.locks import hold_for_transaction
from simpul.shared.identity import Identity
from simpul.signatures import pki
from simpul.signatures.models import audit, certificate_events, certificates, crls
from simpul.signatures.jobs import SignerMaterial, ValidationMaterial
from simpul.signatures.tsa import TimestampAuthority

log = logging.getLogger("simpul.signatures.keystore")

ROOT, ISSUING_CA, TSA, UNIT = "root", "issuing_ca", "tsa", "unit"
# A loaded signer is looked up again after this long, so a revocation made by another instance
# takes effect here too.
SIGNER_CACHE_SECONDS = 60.0
SYSTEM_ACTOR = audit_log.SYSTEM


def seal_context(fingerprint: str) -> bytes:
    """Binds a sealed private key to its certificate."""
    return f"simpul signatures key {fingerprint}".encode()


def unit_role(unit: str) -> str:
    return f"unit:{unit}"


def new_id() -> str:
    """A UUIDv7: ids sort by creation time."""
    value = (time.time_ns() // 1_000_000) << 80 | uuid.uuid4().int >> 48
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return str(uuid.UUID(int=value))


class NoSigner(Exception):
    """No signing key is configured for this unit."""


@dataclass
class _Kept:
    material: SignerMaterial
    not_after: datetime
    loaded_at: float


def certificate_row(certificate: x509.Certificate, *, kind: str, unit: str | None, role: str | None,
                    private_key: bytes | None, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "kind": kind,
        "unit": unit,
        "active_role": role,
        "subject": certificate.subject.rfc4514_string(),
        "serial": pki.serial_hex(certificate),
        "fingerprint": pki.fingerprint(certificate),
        "not_before": certificate.not_valid_before_utc,
        "not_after": certificate.not_valid_after_utc,
        "certificate": pki.der(certificate),
        "private_key": private_key,
        "status": "active",
        "created_at": now,
    }


async def record(session: AsyncSession, row: dict[str, Any] | Any, action: str, actor: Identity, at: datetime,
                 details: dict[str, Any] | None = None) -> None:
    """The certificates' history (created, replaced, revoked, rewrapped) and its row in the
    chained audit log (never the key)."""
    await session.execute(insert(certificate_events).values(
        certificate_id=row["id"], action=action, actor=actor.subject, at=at))
    if details is None and "fingerprint" in row:
        details = {"kind": row["kind"], "unit": row["unit"], "serial": row["serial"], "fingerprint": row["fingerprint"]}
    await audit_log.record(session, audit, actor, f"certificate.{action}", "certificate", row["id"], details=details)


class DevelopmentKeystore:
    """The development PKI: created once (under a lock every replica takes) and kept in the
    service's database, every private key sealed (simpul.shared.envelope), the root's too, so
    that no key lives on one replica's disk only."""

    production = False

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, keks: ReloadingKeys, public_url: str,
                 crl_validity: timedelta, clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._keks = keks
        self._urls = pki.urls_for(public_url)
        self._crl_validity = crl_validity
        self._clock = clock
        self._signers: dict[str, _Kept] = {}
        self._unit_locks: dict[str, asyncio.Lock] = {}
        self._crl_lock = asyncio.Lock()
        self.root: x509.Certificate
        self.issuing: x509.Certificate
        self._issuing_key: Any
        self.tsa_certificate: x509.Certificate
        self.tsa: TimestampAuthority
        self._crl: tuple[int, datetime, bytes] | None = None

    # -- start-up ---------------------------------------------------------------------------------

    async def start(self) -> None:
        rows = await self._active({ROOT, ISSUING_CA, TSA})
        if ROOT not in rows or ISSUING_CA not in rows:
            await self._create_authorities()
            rows = await self._active({ROOT, ISSUING_CA, TSA})
        self.root = x509.load_der_x509_certificate(rows[ROOT]["certificate"])
        self.issuing = x509.load_der_x509_certificate(rows[ISSUING_CA]["certificate"])
        self._issuing_key = self._open(rows[ISSUING_CA])
        tsa_row = rows.get(TSA)
        if tsa_row is None or tsa_row["not_after"] - self._clock() < pki.RENEW_BEFORE:
            tsa_row = await self._replace_tsa(tsa_row)
        self.tsa_certificate = x509.load_der_x509_certificate(tsa_row["certificate"])
        tsa_key = self._open(tsa_row)
        self.tsa = TimestampAuthority(tsa_row["certificate"], tsa_key, chain=(pki.der(self.issuing),))
        await self.crl()

    async def _active(self, roles: set[str]) -> dict[str, Any]:
        async with self._sessions() as session:
            result = await session.execute(select(certificates).where(certificates.c.active_role.in_(roles)))
            return {row["active_role"]: row for row in result.mappings()}

    async def _create_authorities(self) -> None:
        """Root, issuing CA, TSA and first CRL, made by whichever replica takes the lock first;
        the others find them made once they get it."""
        async with self._sessions() as session, session.begin():
            await hold_for_transaction(session, "signatures pki")
            existing = await session.execute(select(certificates.c.id).where(certificates.c.active_role == ROOT))
            if existing.first() is not None:
                return
            now = self._clock()

            def generate():
                root_key, root = pki.make_root(now)
                issuing_key, issuing = pki.make_issuing_ca(root_key, root, now)
                tsa_key, tsa = pki.make_tsa(issuing_key, issuing, self._urls, now)
                crl = pki.make_crl(issuing_key, issuing, 1, [], now, self._crl_validity)
                return root_key, root, issuing_key, issuing, tsa_key, tsa, crl

            root_key, root, issuing_key, issuing, tsa_key, tsa, crl = await anyio.to_thread.run_sync(generate)
            for kind, certificate, key in ((ROOT, root, root_key), (ISSUING_CA, issuing, issuing_key), (TSA, tsa, tsa_key)):
                row = certificate_row(certificate, kind=kind, unit=None, role=kind,
                                      private_key=self._seal(key, certificate), now=now)
                await session.execute(insert(certificates).values(row))
                await record(session, row, "created", SYSTEM_ACTOR, now)
            await session.execute(insert(crls).values(
                number=1, this_update=crl.last_update_utc, next_update=crl.next_update_utc, der=pki.crl_der(crl)))
        log.warning("created a development PKI (root %s); its keys are sealed in the database",
                    pki.fingerprint(root)[:16])

    async def _replace_tsa(self, old: Any | None) -> Any:
        return await self._replace(TSA, old, lambda now: pki.make_tsa(self._issuing_key, self.issuing, self._urls, now),
                                   kind=TSA, unit=None)

    async def _replace(self, role: str, old: Any | None, make, *, kind: str, unit: str | None) -> Any:
        """A new certificate for `role` (first, or replacing `old`), stored once across replicas:
        made outside the lock (so other writes don't wait for the key generation), kept only if
        no other replica stored one meanwhile."""
        now = self._clock()
        key, certificate = await anyio.to_thread.run_sync(make, now)
        row = certificate_row(certificate, kind=kind, unit=unit, role=role,
                              private_key=self._seal(key, certificate), now=now)
        async with self._sessions() as session, session.begin():
            await hold_for_transaction(session, f"signatures pki {role}")
            current = (await session.execute(select(certificates).where(certificates.c.active_role == role))).mappings().first()
            stored = current["id"] if current is not None else None
            if stored == (old["id"] if old is not None else None):
                if current is not None:
                    await session.execute(update(certificates).where(certificates.c.id == current["id"])
                                          .values(active_role=None, status="replaced"))
                    await record(session, current, "replaced", SYSTEM_ACTOR, now)
                await session.execute(insert(certificates).values(row))
                await record(session, row, "created", SYSTEM_ACTOR, now)
        return (await self._active({role}))[role]

    def _seal(self, key, certificate: x509.Certificate) -> bytes:
        return self._keks.seal(pki.plain_pkcs8(key), seal_context(pki.fingerprint(certificate)))

    def _open(self, row: Any):
        return load_der_private_key(self._keks.open(row["private_key"], seal_context(row["fingerprint"])), password=None)

    async def rewrap(self, keks: KeyEncryptionKeys, actor: str) -> int:
        """Every sealed private key re-wrapped under the current key of `keks`."""
        async with self._sessions() as session, session.begin():
            await hold_for_transaction(session, "signatures pki")
            rows = (await session.execute(select(certificates.c.id, certificates.c.private_key)
                                          .where(certificates.c.private_key.is_not(None)))).mappings().all()
            stale = [row for row in rows if not keks.is_current(row["private_key"])]
            for row in stale:
                await session.execute(update(certificates).where(certificates.c.id == row["id"])
                                      .values(private_key=keks.rewrap(row["private_key"])))
                await record(session, row, "rewrapped", Identity(subject=actor, role="operator"), self._clock())
        return len(stale)

    # -- what the service asks for ----------------------------------------------------------------

    def trust_roots(self) -> list[x509.Certificate]:
        return [self.root]

    def chain(self) -> tuple[bytes, ...]:
        return (pki.der(self.issuing), pki.der(self.root))

    async def validation_material(self, signer: SignerMaterial) -> ValidationMaterial:
        _, _, crl = await self.crl()
        return ValidationMaterial(
            certificates=(signer.certificate, *self.chain(), pki.der(self.tsa_certificate)),
            crls=(crl,),
        )

    async def signer_for(self, unit: str) -> SignerMaterial:
        kept = self._signers.get(unit)
        if kept and self._fresh(kept):
            return kept.material
        lock = self._unit_locks.setdefault(unit, asyncio.Lock())
        async with lock:
            kept = self._signers.get(unit)
            if kept and self._fresh(kept):
                return kept.material
            row = (await self._active({unit_role(unit)})).get(unit_role(unit))
            if row is None or row["not_after"] - self._clock() < pki.RENEW_BEFORE:
                row = await self._replace(
                    unit_role(unit), row,
                    lambda now: pki.make_unit_signer(self._issuing_key, self.issuing, unit, self._urls, now),
                    kind=UNIT, unit=unit)
            key = self._open(row)
            certificate = x509.load_der_x509_certificate(row["certificate"])
            material = SignerMaterial(
                id=row["id"],
                name=pki.common_name(certificate),
                private_key=pki.plain_pkcs8(key),
                certificate=row["certificate"],
                chain=self.chain(),
            )
            self._signers[unit] = _Kept(material, row["not_after"], time.monotonic())
            return material

    def _fresh(self, kept: _Kept) -> bool:
        return (time.monotonic() - kept.loaded_at < SIGNER_CACHE_SECONDS
                and kept.not_after - self._clock() >= pki.RENEW_BEFORE)

    # -- revocation -------------------------------------------------------------------------------

    async def crl(self) -> tuple[int, datetime, bytes]:
        """The current CRL (number, next update, DER); a new one is made at half its validity."""
        now = self._clock()
        if self._crl is not None and not self._crl_due(self._crl, now):
            return self._crl
        async with self._crl_lock:
            async with self._sessions() as session:
                row = (await session.execute(select(crls).order_by(crls.c.number.desc()).limit(1))).first()
            current = (row.number, row.next_update, row.der) if row else None
            if current is None or self._crl_due(current, now):
                async with self._sessions() as session, session.begin():
                    current = await self._issue_crl(session, (current[0] if current else 0) + 1)
            self._crl = current
            return current

    def _crl_due(self, current: tuple[int, datetime, bytes], now: datetime) -> bool:
        return current[1] - now < self._crl_validity / 2

    async def _issue_crl(self, session: AsyncSession, number: int) -> tuple[int, datetime, bytes]:
        """Make and store CRL `number` from the revoked certificates seen by `session`."""
        revoked = [
            pki.RevokedEntry(int(row.serial, 16), row.revoked_at, row.revocation_reason)
            for row in await session.execute(
                select(certificates.c.serial, certificates.c.revoked_at, certificates.c.revocation_reason)
                .where(certificates.c.status == "revoked")
            )
        ]
        now = self._clock()
        crl = pki.make_crl(self._issuing_key, self.issuing, number, revoked, now, self._crl_validity)
        der = pki.crl_der(crl)
        await session.execute(insert(crls).values(number=number, this_update=crl.last_update_utc,
                                                  next_update=crl.next_update_utc, der=der))
        return number, crl.next_update_utc, der

    async def revoke_certificate(
        self, certificate_id: str, reason: str, revoked_by: Identity, settlement: idempotency.Settlement | None = None
    ) -> Any | None:
        """Revoke a unit's signer (its key is compromised or the unit is gone): a new CRL lists it
        at once, and the unit's next document gets a new certificate. None when there is no such
        certificate left to revoke. `settlement` (the request's Idempotency-Key) commits with it."""
        now = self._clock()
        async with self._crl_lock:
            async with self._sessions() as session, session.begin():
                result = await session.execute(
                    update(certificates)
                    .where(certificates.c.id == certificate_id, certificates.c.kind == UNIT,
                           certificates.c.status != "revoked")
                    .values(status="revoked", active_role=None, revoked_at=now, revocation_reason=reason,
                            revoked_by=revoked_by.subject)
                )
                if result.rowcount != 1:
                    return None
                await record(session, {"id": certificate_id}, "revoked", revoked_by, now, details={"reason": reason})
                # Before the new CRL is made current in memory: a refusal here changes nothing.
                await idempotency.settle(session, settlement)
                number = (await session.execute(select(func.max(crls.c.number)))).scalar_one() or 0
                self._crl = await self._issue_crl(session, number + 1)
                row = (await session.execute(select(certificates).where(certificates.c.id == certificate_id))).mappings().one()
        self._signers = {unit: kept for unit, kept in self._signers.items() if kept.material.id != certificate_id}
        return row


class ProductionKeystore:
    """One PKCS#12 file per unit (`<unit>.p12`), issued by a real CA; nothing is created here.
    Its certificates are recorded in the database like the development ones, so documents refer
    to them and admins see them at /v1/signers."""

    production = True

    def __init__(self, sessions: async_sessionmaker[AsyncSession], directory: Path, passphrase: bytes | None,
                 trust_roots_file: Path | None, clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._directory = directory
        self._passphrase = passphrase
        self._trust_roots_file = trust_roots_file
        self._clock = clock
        self._roots: list[x509.Certificate] = []
        self._signers: dict[str, SignerMaterial] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        if self._trust_roots_file is None:
            raise RuntimeError("SIMPUL_SIGNATURES_TRUST_ROOTS must name the roots the PKCS#12 signers chain to")
        data = await anyio.Path(self._trust_roots_file).read_bytes()
        self._roots = x509.load_pem_x509_certificates(data)
        for root in self._roots:
            await self._record(root, kind=ROOT, unit=None)

    def trust_roots(self) -> list[x509.Certificate]:
        return list(self._roots)

    async def validation_material(self, signer: SignerMaterial) -> None:
        # Revocation data of a real CA is not ours to know; signatures are B-T (or B-B).
        return None

    async def signer_for(self, unit: str) -> SignerMaterial:
        material = self._signers.get(unit)
        if material is not None:
            return material
        async with self._lock:
            if unit not in self._signers:
                key, certificate, others = await anyio.to_thread.run_sync(self._load, unit)
                row = await self._record(certificate, kind=UNIT, unit=unit)
                self._signers[unit] = SignerMaterial(
                    id=row["id"],
                    name=pki.common_name(certificate),
                    private_key=pki.plain_pkcs8(key),
                    certificate=pki.der(certificate),
                    chain=tuple(pki.der(item) for item in others),
                )
            return self._signers[unit]

    def _load(self, unit: str):
        path = self._directory / f"{unit}.p12"
        if not path.is_file():
            raise NoSigner(unit)
        key, certificate, others = pkcs12.load_key_and_certificates(path.read_bytes(), self._passphrase)
        if key is None or certificate is None:
            raise NoSigner(unit)
        return key, certificate, others

    async def _record(self, certificate: x509.Certificate, *, kind: str, unit: str | None) -> Any:
        return await record_certificate(self._sessions, certificate, kind=kind, unit=unit, now=self._clock())


async def record_certificate(sessions: async_sessionmaker[AsyncSession], certificate: x509.Certificate, *,
                             kind: str, unit: str | None, now: datetime) -> Any:
    """The row of a certificate whose key lives elsewhere (a PKCS#12 file, a remote signing
    service), inserted the first time it is seen, with no private key."""
    fingerprint = pki.fingerprint(certificate)
    async with sessions() as session:
        row = (await session.execute(select(certificates).where(certificates.c.fingerprint == fingerprint))).mappings().first()
    if row is not None:
        return row
    try:
        async with sessions() as session, session.begin():
            row = certificate_row(certificate, kind=kind, unit=unit, role=None, private_key=None, now=now)
            await session.execute(insert(certificates).values(row))
            await record(session, row, "created", SYSTEM_ACTOR, row["created_at"])
    except IntegrityError:
        pass  # recorded by another instance meanwhile
    async with sessions() as session:
        return (await session.execute(select(certificates).where(certificates.c.fingerprint == fingerprint))).mappings().one()
