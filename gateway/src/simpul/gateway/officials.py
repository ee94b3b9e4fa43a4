"""A unit's officials: who may act for it (NIP, name, position, roles). Registered by the unit's
officer clients (or an admin), changed, deactivated, never deleted; each change kept in
`official_events` and in the audit log. Plain Python over the database; routes translate HTTP."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from simpul.gateway.clients import UNIT_CODE
from simpul.gateway.models import audit, official_events, officials
from simpul.gateway.nip import nip_problem
from simpul.shared import audit as audit_log
from simpul.shared import idempotency
from simpul.shared.db import utcnow
from simpul.shared.identity import Identity, Official
from simpul.shared.pagination import BAD_CURSOR, decode_cursor, encode_cursor
from simpul.shared.problems import Problem, Text

INVALID_OFFICIAL = Text("Data pejabat tidak valid.", "The official's data is not valid.")
NOT_FOUND = Text("Pejabat {official_id} tidak ditemukan.", "Official {official_id} was not found.")
DUPLICATE_NIP = Text(
    "NIP ini sudah terdaftar untuk pejabat aktif di unit ini.",
    "This NIP is already registered to an active official of this unit.",
)
DUPLICATE_NIP_FIELD = Text("sudah dipakai pejabat aktif unit ini", "already held by an active official of this unit")
DEACTIVATED = Text("Pejabat {official_id} sudah dinonaktifkan.", "Official {official_id} has been deactivated.")
FOREIGN_UNIT = Text("Petugas hanya dapat mengelola pejabat unitnya sendiri.", "An officer manages its own unit's officials only.")
FOREIGN_UNIT_FIELD = Text("harus unit Anda sendiri ({unit}) atau dikosongkan", "must be your own unit ({unit}) or left out")
UNIT_REQUIRED = Text("wajib diisi oleh admin: kode unit, misalnya KDN-BH", "required for admins: a unit code such as KDN-BH")
UNIT_MALFORMED = Text("harus kode unit, misalnya KDN-BH", "must be a unit code such as KDN-BH")
NOT_ALLOWED = Text("Hanya petugas unit atau admin yang mengelola pejabat.", "Only a unit's officers or admins manage officials.")

EDITABLE = ("name", "position", "roles", "email")


@dataclass(frozen=True)
class OfficialRecord:
    id: str
    unit: str
    nip: str
    name: str
    position: str
    roles: tuple[str, ...]
    email: str | None
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    deactivated_at: datetime | None
    deactivated_by: str | None

    @property
    def active(self) -> bool:
        return self.deactivated_at is None

    def official(self) -> Official:
        """What an assertion says of it."""
        return Official(id=self.id, nip=self.nip, name=self.name, position=self.position, roles=self.roles)


@dataclass(frozen=True)
class OfficialEvent:
    id: int
    action: str
    actor: str
    actor_role: str
    request_id: str | None
    at: datetime
    changes: dict[str, Any]


def _record(row: Any) -> OfficialRecord:
    return OfficialRecord(
        id=row.id, unit=row.unit, nip=row.nip, name=row.name, position=row.position, roles=tuple(row.roles),
        email=row.email, version=row.version, created_at=row.created_at, created_by=row.created_by,
        updated_at=row.updated_at, deactivated_at=row.deactivated_at, deactivated_by=row.deactivated_by,
    )


def new_official_id() -> str:
    return "off_" + secrets.token_hex(10)


def managing_unit(identity: Identity, requested: str | None, language: str) -> str:
    """The unit a registration is for: an officer's own (naming another is refused), or the
    one an admin names."""
    if identity.role == "officer":
        if requested is not None and requested != identity.tenant:
            message = FOREIGN_UNIT_FIELD.render(language, unit=identity.tenant)
            raise Problem(403, FOREIGN_UNIT, slug="foreign-unit", errors=[{"field": "unit", "message": message}])
        assert identity.tenant is not None, "officer clients always have a unit"
        return identity.tenant
    if identity.role == "admin":
        if requested is None:
            raise _invalid("unit", UNIT_REQUIRED, language)
        if not UNIT_CODE.fullmatch(requested):
            raise _invalid("unit", UNIT_MALFORMED, language)
        return requested
    raise Problem(403, NOT_ALLOWED)


def _invalid(field: str, message: Text, language: str) -> Problem:
    return Problem(422, INVALID_OFFICIAL, errors=[{"field": field, "message": message.render(language)}])


def _bad_cursor() -> Problem:
    return Problem(400, BAD_CURSOR, slug="invalid-cursor", errors=[{"field": "cursor", "message": "invalid"}])


def _duplicate(language: str) -> Problem:
    return Problem(409, DUPLICATE_NIP, slug="duplicate-nip",
                   errors=[{"field": "nip", "message": DUPLICATE_NIP_FIELD.render(language)}])


class OfficialService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], read_sessions: async_sessionmaker[AsyncSession],
                 *, clock=utcnow) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions
        self.clock = clock

    async def register(self, identity: Identity, *, unit: str | None, nip: str, name: str, position: str,
                       roles: list[str], email: str | None, request_id: str | None, language: str) -> OfficialRecord:
        unit = managing_unit(identity, unit, language)
        now = self.clock()
        problem = nip_problem(nip, now.date())
        if problem is not None:
            raise _invalid("nip", problem, language)
        record = OfficialRecord(
            id=new_official_id(), unit=unit, nip=nip, name=name.strip(), position=position.strip(),
            roles=tuple(dict.fromkeys(roles)), email=email, version=1, created_at=now, created_by=identity.subject,
            updated_at=now, deactivated_at=None, deactivated_by=None,
        )
        try:
            async with self.sessions.begin() as session:
                if await self._active_nip_taken(session, unit, nip):
                    raise _duplicate(language)
                await session.execute(insert(officials).values(
                    id=record.id, unit=unit, nip=nip, name=record.name, position=record.position,
                    roles=list(record.roles), email=email, version=1, created_at=now, created_by=identity.subject,
                    updated_at=now, active_nip=nip,
                ))
                changes = {field: {"from": None, "to": _wire(getattr(record, field))}
                           for field in ("unit", "nip", *EDITABLE)}
                await self._event(session, record, "created", identity, request_id, now, changes)
                await idempotency.settle(session, idempotency.created(f"/v1/officials/{record.id}"))
        except IntegrityError as exc:
            # Registered by a concurrent request between the check and the insert.
            raise _duplicate(language) from exc
        return record

    async def get(self, identity: Identity, official_id: str) -> OfficialRecord:
        async with self.read_sessions() as session:
            return await self._visible(session, identity, official_id)

    async def find(self, official_id: str) -> OfficialRecord | None:
        """Any official by id, whatever the caller (the token endpoint and internal reads)."""
        async with self.read_sessions() as session:
            row = (await session.execute(select(officials).where(officials.c.id == official_id))).first()
        return _record(row) if row else None

    async def active_by_nip(self, unit: str, nip: str) -> OfficialRecord | None:
        async with self.read_sessions() as session:
            row = (await session.execute(
                select(officials).where(officials.c.unit == unit, officials.c.active_nip == nip)
            )).first()
        return _record(row) if row else None

    async def list(self, identity: Identity, *, unit: str | None, active: bool | None, limit: int,
                   cursor: str | None) -> tuple[list[OfficialRecord], str | None]:
        if identity.role == "officer":
            # An officer sees its own unit only, whatever it asks for: another unit's list is empty.
            unit = identity.tenant if unit in (None, identity.tenant) else None
            if unit is None:
                return [], None
        elif identity.role != "admin":
            raise Problem(403, NOT_ALLOWED)
        query = select(officials).order_by(officials.c.created_at, officials.c.id).limit(limit + 1)
        if unit is not None:
            query = query.where(officials.c.unit == unit)
        if active is not None:
            query = query.where(officials.c.deactivated_at.is_(None) if active
                                else officials.c.deactivated_at.is_not(None))
        if cursor:
            created_text, last_id = decode_cursor(cursor, 2)
            try:
                created = datetime.fromisoformat(created_text)
            except (TypeError, ValueError) as exc:
                raise _bad_cursor() from exc
            if not isinstance(last_id, str):
                raise _bad_cursor()
            query = query.where(or_(officials.c.created_at > created,
                                    and_(officials.c.created_at == created, officials.c.id > last_id)))
        async with self.read_sessions() as session:
            rows = (await session.execute(query)).all()
        records = [_record(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor([records[-1].created_at.isoformat(), records[-1].id])
        return records, next_cursor

    async def change(self, identity: Identity, official_id: str, fields: dict[str, Any], *,
                     request_id: str | None) -> OfficialRecord:
        """Only the fields given change; nothing given or nothing different writes nothing."""
        now = self.clock()
        async with self.sessions.begin() as session:
            record = await self._visible(session, identity, official_id, lock=True)
            if not record.active:
                raise Problem(409, DEACTIVATED, slug="official-deactivated", params={"official_id": official_id})
            if "roles" in fields:
                fields["roles"] = tuple(dict.fromkeys(fields["roles"]))
            for text_field in ("name", "position"):
                if text_field in fields:
                    fields[text_field] = fields[text_field].strip()
            changes = {field: {"from": _wire(getattr(record, field)), "to": _wire(value)}
                       for field, value in fields.items() if getattr(record, field) != value}
            if not changes:
                return record
            values = {field: list(value) if field == "roles" else value for field, value in fields.items()
                      if field in changes}
            await session.execute(update(officials).where(officials.c.id == official_id).values(
                **values, version=record.version + 1, updated_at=now))
            changed = OfficialRecord(**{**record.__dict__, **{f: fields[f] for f in changes},
                                        "version": record.version + 1, "updated_at": now})
            await self._event(session, changed, "updated", identity, request_id, now, changes)
        return changed

    async def deactivate(self, identity: Identity, official_id: str, *, request_id: str | None) -> OfficialRecord:
        """Inactive from now on (its tokens stop working); deactivating again changes nothing."""
        now = self.clock()
        async with self.sessions.begin() as session:
            record = await self._visible(session, identity, official_id, lock=True)
            if not record.active:
                return record
            await session.execute(update(officials).where(officials.c.id == official_id).values(
                deactivated_at=now, deactivated_by=identity.subject, active_nip=None,
                version=record.version + 1, updated_at=now))
            changed = OfficialRecord(**{**record.__dict__, "deactivated_at": now, "deactivated_by": identity.subject,
                                        "version": record.version + 1, "updated_at": now})
            await self._event(session, changed, "deactivated", identity, request_id, now,
                              {"active": {"from": True, "to": False}})
        return changed

    async def history(self, identity: Identity, official_id: str, *, limit: int,
                      cursor: str | None) -> tuple[list[OfficialEvent], str | None]:
        query = (select(official_events).where(official_events.c.official_id == official_id)
                 .order_by(official_events.c.id).limit(limit + 1))
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            # Within a 64-bit integer: the database would refuse a larger one.
            if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 2**63:
                raise _bad_cursor()
            query = query.where(official_events.c.id > after)
        async with self.read_sessions() as session:
            await self._visible(session, identity, official_id)
            rows = (await session.execute(query)).all()
        events = [OfficialEvent(row.id, row.action, row.actor, row.actor_role, row.request_id, row.at, row.changes)
                  for row in rows[:limit]]
        return events, encode_cursor([events[-1].id]) if len(rows) > limit else None

    async def all_active(self) -> list[OfficialRecord]:
        async with self.read_sessions() as session:
            rows = (await session.execute(select(officials).where(officials.c.deactivated_at.is_(None)))).all()
        return [_record(row) for row in rows]

    async def changed_since(self, since: datetime) -> list[OfficialRecord]:
        async with self.read_sessions() as session:
            rows = (await session.execute(select(officials).where(officials.c.updated_at >= since))).all()
        return [_record(row) for row in rows]

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    async def _active_nip_taken(session: AsyncSession, unit: str, nip: str) -> bool:
        found = await session.execute(
            select(officials.c.id).where(officials.c.unit == unit, officials.c.active_nip == nip))
        return found.first() is not None

    @staticmethod
    async def _visible(session: AsyncSession | AsyncConnection, identity: Identity, official_id: str,
                       *, lock: bool = False) -> OfficialRecord:
        """The official if the caller may see it; 404 otherwise (another unit's officials are not
        there for an officer, so ids leak nothing)."""
        if identity.role not in ("officer", "admin"):
            raise Problem(403, NOT_ALLOWED)
        query = select(officials).where(officials.c.id == official_id)
        if identity.role == "officer":
            query = query.where(officials.c.unit == identity.tenant)
        if lock:
            query = query.with_for_update()
        row = (await session.execute(query)).first()
        if row is None:
            raise Problem(404, NOT_FOUND, slug="official-not-found", params={"official_id": official_id})
        return _record(row)

    @staticmethod
    async def _event(session: AsyncSession, record: OfficialRecord, action: str, identity: Identity,
                     request_id: str | None, at: datetime, changes: dict[str, Any]) -> None:
        await session.execute(insert(official_events).values(
            official_id=record.id, action=action, actor=identity.subject, actor_role=identity.role,
            request_id=request_id, at=at, changes=changes))
        # Ids, the unit and which fields changed: names and e-mail addresses stay in the history.
        await audit_log.record(session, audit, identity, f"official.{action}", "official", record.id,
                               details={"unit": record.unit, "fields": sorted(changes), "roles": list(record.roles)})


def _wire(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
