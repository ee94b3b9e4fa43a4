"""API clients: creation, listing, revocation, secret checks, the bootstrap admin, and the audit
history of each change. Plain Python over the database; the routes only translate HTTP."""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.gateway.hashing import MAX_SECRET_CHARS, decoy_hash, hash_secret, new_secret, verify_secret
from simpul.gateway.models import audit, client_events, clients, revocation_notices
from simpul.shared import audit as audit_log
from simpul.shared import idempotency
from simpul.shared.db import utcnow
from simpul.shared.identity import CLIENT_ROLES, Identity
from simpul.shared.logs import security_event
from simpul.shared.pagination import BAD_CURSOR, decode_cursor, encode_cursor
from simpul.shared.problems import Problem, Text

BOOTSTRAP_ACTOR = "system:bootstrap"
BOOTSTRAP = Identity(subject=BOOTSTRAP_ACTOR, role="system")

# Region codes of Kepmendagri: province `31`, regency/city `16.71`, district `32.73.01`,
# village `32.73.01.1001`.
REGION_CODE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")
# A ministry unit code such as `KDN-BH` or `DITJEN.OTDA`.
UNIT_CODE = re.compile(r"^[A-Z0-9][A-Z0-9.-]{1,31}$")

TENANT_RULES = {
    "applicant": Text(
        "wajib berupa kode wilayah, misalnya 31, 16.71 atau 32.73.01",
        "must be a region code such as 31, 16.71 or 32.73.01",
    ),
    "officer": Text(
        "wajib berupa kode unit (huruf besar, angka, titik, tanda hubung), misalnya KDN-BH",
        "must be a unit code (capitals, digits, dots, hyphens) such as KDN-BH",
    ),
    "admin": Text("harus kosong untuk admin", "must be empty for admins"),
}
BLANK_NAME = Text("tidak boleh kosong", "must not be blank")
UNKNOWN_ROLE = Text("harus applicant, officer atau admin", "must be applicant, officer or admin")
INVALID_CLIENT = Text("Data klien tidak valid.", "The client data is not valid.")
CLIENT_NOT_FOUND = Text("Klien {client_id} tidak ditemukan.", "Client {client_id} was not found.")
BOOTSTRAP_PROTECTED = Text(
    "Admin awal tidak dapat dicabut; ganti SIMPUL_ADMIN_CLIENT_SECRET lalu mulai ulang gateway.",
    "The bootstrap admin cannot be revoked; change SIMPUL_ADMIN_CLIENT_SECRET and restart the gateway.",
)


def tenant_is_valid(role: str, tenant: str | None) -> bool:
    if role == "applicant":
        return tenant is not None and REGION_CODE.fullmatch(tenant) is not None
    if role == "officer":
        return tenant is not None and UNIT_CODE.fullmatch(tenant) is not None
    return role == "admin" and tenant is None


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    name: str
    role: str
    tenant: str | None
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class ClientEvent:
    id: int
    client_id: str
    action: str
    actor: str
    request_id: str | None
    at: datetime


_RECORD_COLUMNS = (
    clients.c.client_id,
    clients.c.name,
    clients.c.role,
    clients.c.tenant,
    clients.c.created_at,
    clients.c.created_by,
    clients.c.revoked_at,
    clients.c.revoked_by,
)


def _record(row) -> ClientRecord:
    return ClientRecord(
        client_id=row.client_id,
        name=row.name,
        role=row.role,
        tenant=row.tenant,
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )


def new_client_id() -> str:
    return "cli_" + secrets.token_hex(10)


class ClientService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        read_sessions: async_sessionmaker[AsyncSession],
        *,
        protected_client_id: str,
    ) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions
        self.protected_client_id = protected_client_id

    async def create(
        self, *, name: str, role: str, tenant: str | None, actor: str, request_id: str | None, language: str = "en"
    ) -> tuple[ClientRecord, str]:
        """A new client and its secret; the secret is returned this once and stored as a hash."""
        name = name.strip()
        errors = []
        if not name:
            errors.append({"field": "name", "message": BLANK_NAME.render(language)})
        if role not in CLIENT_ROLES:
            errors.append({"field": "role", "message": UNKNOWN_ROLE.render(language)})
        elif not tenant_is_valid(role, tenant):
            errors.append({"field": "tenant", "message": TENANT_RULES[role].render(language)})
        if errors:
            raise Problem(422, INVALID_CLIENT, errors=errors)
        secret = new_secret()
        secret_hash = await asyncio.to_thread(hash_secret, secret)
        now = utcnow()
        record = ClientRecord(new_client_id(), name, role, tenant, now, actor, None, None)
        async with self.sessions.begin() as session:
            await session.execute(
                insert(clients).values(
                    client_id=record.client_id, name=name, role=role, tenant=tenant,
                    secret_hash=secret_hash, created_at=now, created_by=actor,
                )
            )
            await _audit(session, record.client_id, "created", actor, request_id, now,
                         details={"role": role, "tenant": tenant})
            # The answer shows the secret once: a retry after a crash is told the key was used.
            await idempotency.settle(session, idempotency.not_replayable())
        return record, secret

    async def get(self, client_id: str) -> ClientRecord:
        record = await self.find(client_id)
        if record is None:
            raise Problem(404, CLIENT_NOT_FOUND, slug="client-not-found", params={"client_id": client_id})
        return record

    async def find(self, client_id: str) -> ClientRecord | None:
        async with self.read_sessions() as session:
            row = (await session.execute(select(*_RECORD_COLUMNS).where(clients.c.client_id == client_id))).first()
        return _record(row) if row else None

    async def list(
        self, *, limit: int, cursor: str | None, role: str | None = None, revoked: bool | None = None
    ) -> tuple[list[ClientRecord], str | None]:
        query = select(*_RECORD_COLUMNS).order_by(clients.c.created_at, clients.c.client_id).limit(limit + 1)
        if role is not None:
            query = query.where(clients.c.role == role)
        if revoked is not None:
            query = query.where(clients.c.revoked_at.is_not(None) if revoked else clients.c.revoked_at.is_(None))
        if cursor:
            created_text, last_id = decode_cursor(cursor, 2)
            try:
                created = datetime.fromisoformat(created_text)
            except (TypeError, ValueError) as exc:
                raise _bad_cursor() from exc
            query = query.where(
                or_(clients.c.created_at > created, and_(clients.c.created_at == created, clients.c.client_id > last_id))
            )
        async with self.read_sessions() as session:
            rows = (await session.execute(query)).all()
        records = [_record(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = records[-1]
            next_cursor = encode_cursor([last.created_at.isoformat(), last.client_id])
        return records, next_cursor

    async def revoke(self, client_id: str, *, actor: str, request_id: str | None) -> ClientRecord:
        """Revoked from now on; revoking a revoked client changes nothing."""
        if client_id == self.protected_client_id:
            raise Problem(409, BOOTSTRAP_PROTECTED, slug="bootstrap-admin")
        now = utcnow()
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(clients)
                .where(clients.c.client_id == client_id, clients.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_by=actor)
            )
            if result.rowcount == 1:
                # Told to notifications after the commit (revocations.py), until it answers.
                await session.execute(insert(revocation_notices).values(
                    client_id=client_id, revoked_at=now, revoked_by=actor, request_id=request_id))
                await _audit(session, client_id, "revoked", actor, request_id, now,
                             details={"webhooks": "to be disabled by notifications"})
            row = (await session.execute(select(*_RECORD_COLUMNS).where(clients.c.client_id == client_id))).first()
        if row is None:
            raise Problem(404, CLIENT_NOT_FOUND, slug="client-not-found", params={"client_id": client_id})
        return _record(row)

    async def history(self, client_id: str, *, limit: int, cursor: str | None) -> tuple[list[ClientEvent], str | None]:
        await self.get(client_id)
        query = (
            select(client_events)
            .where(client_events.c.client_id == client_id)
            .order_by(client_events.c.id)
            .limit(limit + 1)
        )
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            if not isinstance(after, int):
                raise _bad_cursor()
            query = query.where(client_events.c.id > after)
        async with self.read_sessions() as session:
            rows = (await session.execute(query)).all()
        events = [
            ClientEvent(row.id, row.client_id, row.action, row.actor, row.request_id, row.at) for row in rows[:limit]
        ]
        return events, encode_cursor([events[-1].id]) if len(rows) > limit else None

    async def authenticate(self, client_id: str, secret: str) -> ClientRecord | None:
        """The active client these credentials belong to, or None. An unknown id costs the same
        scrypt run as a wrong secret, so timing does not tell which client ids exist."""
        row = None
        if len(client_id) <= 64 and len(secret) <= MAX_SECRET_CHARS:
            async with self.read_sessions() as session:
                row = (
                    await session.execute(
                        select(*_RECORD_COLUMNS, clients.c.secret_hash).where(clients.c.client_id == client_id)
                    )
                ).first()
        stored = row.secret_hash if row is not None else decoy_hash()
        matches = await asyncio.to_thread(verify_secret, secret[:MAX_SECRET_CHARS], stored)
        if row is None or not matches or row.revoked_at is not None:
            reason = "unknown client" if row is None else "bad secret" if not matches else "client revoked"
            security_event("token_refused", reason, client_id=client_id)
            return None
        return _record(row)

    async def ensure_bootstrap_admin(self, client_id: str, secret: str) -> str:
        """The configured admin exists with the configured secret: `created`, `rotated` or `unchanged`."""
        async with self.read_sessions() as session:
            row = (
                await session.execute(
                    select(clients.c.role, clients.c.secret_hash).where(clients.c.client_id == client_id)
                )
            ).first()
        if row is not None:
            if row.role != "admin":
                raise RuntimeError(f"SIMPUL_ADMIN_CLIENT_ID {client_id!r} names an existing {row.role} client")
            if await asyncio.to_thread(verify_secret, secret, row.secret_hash):
                return "unchanged"
        secret_hash = await asyncio.to_thread(hash_secret, secret)
        now = utcnow()
        try:
            async with self.sessions.begin() as session:
                if row is None:
                    await session.execute(
                        insert(clients).values(
                            client_id=client_id, name="Bootstrap admin", role="admin", tenant=None,
                            secret_hash=secret_hash, created_at=now, created_by=BOOTSTRAP_ACTOR,
                        )
                    )
                    await _audit(session, client_id, "created", BOOTSTRAP_ACTOR, None, now)
                    return "created"
                await session.execute(
                    update(clients)
                    .where(clients.c.client_id == client_id)
                    .values(secret_hash=secret_hash, revoked_at=None, revoked_by=None)
                )
                await _audit(session, client_id, "secret_rotated", BOOTSTRAP_ACTOR, None, now)
                return "rotated"
        except IntegrityError:
            # Another gateway process created it in the meantime, with the same configuration.
            return "unchanged"

    async def active_clients(self) -> list[ClientRecord]:
        async with self.read_sessions() as session:
            rows = (await session.execute(select(*_RECORD_COLUMNS).where(clients.c.revoked_at.is_(None)))).all()
        return [_record(row) for row in rows]

    async def revoked_since(self, since: datetime) -> list[str]:
        async with self.read_sessions() as session:
            rows = (
                await session.execute(select(clients.c.client_id).where(clients.c.revoked_at >= since))
            ).all()
        return [row.client_id for row in rows]


def _bad_cursor() -> Problem:
    return Problem(400, BAD_CURSOR, slug="invalid-cursor", errors=[{"field": "cursor", "message": "invalid"}])


async def _audit(
    session: AsyncSession, client_id: str, action: str, actor: str, request_id: str | None, at: datetime,
    details: dict[str, str | None] | None = None,
) -> None:
    await session.execute(
        insert(client_events).values(client_id=client_id, action=action, actor=actor, request_id=request_id, at=at)
    )
    # Clients are changed by admins (the routes require the role) and by the bootstrap only.
    who = BOOTSTRAP if actor == BOOTSTRAP_ACTOR else Identity(subject=actor, role="admin")
    await audit_log.record(session, audit, who, f"client.{action}", "client", client_id, details=details)
