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
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.shared import audit as audit_log
from simpul.shared import idempotency
from simpul.shared.identity import Identity
from simpul.signatures import pki
from simpul.signatures.models import audit, certificates, crls
from simpul.signatures.jobs import SignerMaterial, ValidationMaterial
from simpul.signatures.tsa import TimestampAuthority

log = logging.getLogger("simpul.signatures.keystore")

ROOT, ISSUING_CA, TSA, UNIT = "root", "issuing_ca", "tsa", "unit"
# A loaded signer is looked up again after this long, so a revocation made by another instance
# takes effect here too.
SIGNER_CACHE_SECONDS = 60.0


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


async def insert_certificate(session: AsyncSession, row: dict[str, Any], *, replaces: Any | None = None) -> None:
    """A certificate's row and its audit row (the service made or recorded it; never the key)."""
    await session.execute(insert(certificates).values(row))
    details = {"kind": row["kind"], "unit": row["unit"], "serial": row["serial"], "fingerprint": row["fingerprint"]}
    if replaces is not None:
        details["replaces"] = replaces["id"]
    await audit_log.record(session, audit, audit_log.SYSTEM, "certificate.created", "certificate", row["id"],
                           details=details)


class DevelopmentKeystore:
    """The development PKI: created on first start, kept in the service's database."""

    production = False

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, passphrase: bytes, public_url: str,
                 data_dir: Path, crl_validity: timedelta, clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._passphrase = passphrase
        self._urls = pki.urls_for(public_url)
        self._data_dir = data_dir
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
        self._issuing_key = await anyio.to_thread.run_sync(pki.decrypt_key, rows[ISSUING_CA]["private_key"],
                                                           self._passphrase)
        tsa_row = rows.get(TSA)
        if tsa_row is None or tsa_row["not_after"] - self._clock() < pki.RENEW_BEFORE:
            tsa_row = await self._replace_tsa(tsa_row)
        self.tsa_certificate = x509.load_der_x509_certificate(tsa_row["certificate"])
        tsa_key = await anyio.to_thread.run_sync(pki.decrypt_key, tsa_row["private_key"], self._passphrase)
        self.tsa = TimestampAuthority(tsa_row["certificate"], tsa_key, chain=(pki.der(self.issuing),))
        await self.crl()

    async def _active(self, roles: set[str]) -> dict[str, Any]:
        async with self._sessions() as session:
            result = await session.execute(select(certificates).where(certificates.c.active_role.in_(roles)))
            return {row["active_role"]: row for row in result.mappings()}

    async def _create_authorities(self) -> None:
        now = self._clock()

        def generate():
            root_key, root = pki.make_root(now)
            issuing_key, issuing = pki.make_issuing_ca(root_key, root, now)
            tsa_key, tsa = pki.make_tsa(issuing_key, issuing, self._urls, now)
            crl = pki.make_crl(issuing_key, issuing, 1, [], now, self._crl_validity)
            return root_key, root, issuing_key, issuing, tsa_key, tsa, crl

        root_key, root, issuing_key, issuing, tsa_key, tsa, crl = await anyio.to_thread.run_sync(generate)
        encrypt = self._encrypt
        # The root key leaves the service: written once, encrypted, for the operator to move offline.
        key_file = self._data_dir / "pki" / f"root-ca-{pki.fingerprint(root)[:16]}.key.pem"
        await anyio.to_thread.run_sync(_write_private, key_file, encrypt(root_key))
        try:
            async with self._sessions() as session, session.begin():
                await insert_certificate(session, certificate_row(root, kind=ROOT, unit=None, role=ROOT,
                                                                  private_key=None, now=now))
                await insert_certificate(session, certificate_row(issuing, kind=ISSUING_CA, unit=None, role=ISSUING_CA,
                                                                  private_key=encrypt(issuing_key), now=now))
                await insert_certificate(session, certificate_row(tsa, kind=TSA, unit=None, role=TSA,
                                                                  private_key=encrypt(tsa_key), now=now))
                await session.execute(insert(crls).values(
                    number=1, this_update=crl.last_update_utc, next_update=crl.next_update_utc,
                    der=pki.crl_der(crl)))
        except IntegrityError:
            # Another instance created the PKI at the same moment; use theirs.
            key_file.unlink(missing_ok=True)
            return
        log.warning("created a development PKI; the offline root key is in %s", key_file)

    async def _replace_tsa(self, old: Any | None) -> Any:
        now = self._clock()
        key, certificate = await anyio.to_thread.run_sync(pki.make_tsa, self._issuing_key, self.issuing, self._urls, now)
        row = certificate_row(certificate, kind=TSA, unit=None, role=TSA, private_key=self._encrypt(key), now=now)
        try:
            async with self._sessions() as session, session.begin():
                if old is not None:
                    await session.execute(update(certificates).where(certificates.c.id == old["id"])
                                          .values(active_role=None, status="replaced"))
                await insert_certificate(session, row, replaces=old)
        except IntegrityError:
            pass
        return (await self._active({TSA}))[TSA]

    def _encrypt(self, key) -> bytes:
        return pki.encrypt_key(key, self._passphrase)

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
                row = await self._new_unit_signer(unit, row)
            key = await anyio.to_thread.run_sync(pki.decrypt_key, row["private_key"], self._passphrase)
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

    async def _new_unit_signer(self, unit: str, old: Any | None) -> Any:
        now = self._clock()
        key, certificate = await anyio.to_thread.run_sync(
            pki.make_unit_signer, self._issuing_key, self.issuing, unit, self._urls, now)
        row = certificate_row(certificate, kind=UNIT, unit=unit, role=unit_role(unit),
                              private_key=self._encrypt(key), now=now)
        try:
            async with self._sessions() as session, session.begin():
                if old is not None:
                    await session.execute(update(certificates).where(certificates.c.id == old["id"])
                                          .values(active_role=None, status="replaced"))
                await insert_certificate(session, row, replaces=old)
        except IntegrityError:
            pass  # another instance made this unit's signer first
        return (await self._active({unit_role(unit)}))[unit_role(unit)]

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
                await audit_log.record(session, audit, revoked_by, "certificate.revoked", "certificate",
                                       certificate_id, details={"reason": reason})
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
        """The certificate's row, inserted the first time it is seen (no private key: that stays
        in its PKCS#12 file)."""
        fingerprint = pki.fingerprint(certificate)
        async with self._sessions() as session:
            row = (await session.execute(select(certificates).where(certificates.c.fingerprint == fingerprint))).mappings().first()
        if row is not None:
            return row
        try:
            async with self._sessions() as session, session.begin():
                await insert_certificate(session, certificate_row(certificate, kind=kind, unit=unit, role=None,
                                                                  private_key=None, now=self._clock()))
        except IntegrityError:
            pass  # recorded by another instance meanwhile
        async with self._sessions() as session:
            return (await session.execute(select(certificates).where(certificates.c.fingerprint == fingerprint))).mappings().one()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o600)
