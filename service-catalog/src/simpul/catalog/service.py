"""The catalogue's use cases: reading, listing, creating, revising, publishing and retiring
service standards, over the catalogue's tables. The rules they apply are in rules.py, the
documents they store and send in documents.py.

Every version row stores its response body ready to send (`document`) and its ETag, so the hot
read, GET /v1/services/{code}, is one indexed select and no serialisation; a short-lived cache
(cache.py) spares even that select for repeated reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Column, Row, and_, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.shared import audit as audit_log
from simpul.shared import idempotency
from simpul.shared.db import utcnow
from simpul.shared.identity import Identity
from simpul.shared.pagination import BAD_CURSOR, decode_cursor, encode_cursor
from simpul.shared.problems import Problem, Text

from simpul.catalog.cache import DocumentCache
from simpul.catalog.documents import (
    Listing,
    Served,
    VersionState,
    content_from_document,
    content_of,
    etag_of,
    history_entry,
    render,
    search_text,
    service_path,
    summary_of,
    version_entry,
)
from simpul.catalog.models import audit, service_history, service_versions, services
from simpul.catalog.rules import (
    check_status_filter,
    definition_errors,
    entered,
    first_version,
    invalid,
    revised_in_place,
    revision_errors,
    revision_makes_new_version,
    sees_drafts,
    superseded,
    transition,
)
from simpul.catalog.schemas import CODE_PATTERN, ServiceCreate, ServiceRevision
from simpul.catalog.schemas import ServiceStatus as Status

_CODE = re.compile(CODE_PATTERN)

NOT_FOUND = Text("Layanan '{code}' tidak ada di katalog.", "There is no service '{code}' in the catalogue.")
VERSION_NOT_FOUND = Text(
    "Layanan '{code}' tidak memiliki versi {version}.", "Service '{code}' has no version {version}."
)
EXISTS = Text("Layanan dengan kode '{code}' sudah ada.", "A service with the code '{code}' already exists.")


_CURRENT = (
    select(services.c.status, service_versions.c.document, service_versions.c.etag)
    .join_from(
        services,
        service_versions,
        and_(service_versions.c.code == services.c.code, service_versions.c.version == services.c.current_version),
    )
    .where(services.c.code == bindparam("code"))
)

_VERSION = (
    select(services.c.status, service_versions.c.document, service_versions.c.etag)
    .join_from(services, service_versions, service_versions.c.code == services.c.code)
    .where(services.c.code == bindparam("code"), service_versions.c.version == bindparam("version"))
)


class Catalogue:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        read_sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime] = utcnow,
        cache: DocumentCache[Served] | None = None,
    ) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions
        self.clock = clock
        self.cache: DocumentCache[Served] = cache if cache is not None else DocumentCache(0)

    # -- reading -------------------------------------------------------------------------------------

    async def current(self, identity: Identity, code: str) -> Served:
        if not _CODE.match(code):
            raise _not_found(code)
        served = self.cache.get(code)
        if served is None:
            served = await self.cache.load(code, lambda: self._load_current(code))
            if served is None:
                raise _not_found(code)
        if served.status == Status.DRAFT and not sees_drafts(identity):
            raise _not_found(code)
        return served

    async def _load_current(self, code: str) -> Served | None:
        async with self.read_sessions() as session:
            # A Core select on the session's connection: the ORM execution layer adds nothing here.
            connection = await session.connection()
            row = (await connection.execute(_CURRENT, {"code": code})).first()
        return None if row is None else Served(row.document.encode(), row.etag, row.status)

    async def version(self, identity: Identity, code: str, version: int) -> Served:
        if not _CODE.match(code):
            raise _not_found(code)
        async with self.read_sessions() as session:
            connection = await session.connection()
            row = (await connection.execute(_VERSION, {"code": code, "version": version})).first()
            if row is None:
                await self._visible(session, identity, code)
                raise Problem(404, VERSION_NOT_FOUND, params={"code": code, "version": version})
        if row.status == Status.DRAFT and not sees_drafts(identity):
            raise _not_found(code)
        return Served(row.document.encode(), row.etag, row.status)

    async def list_services(
        self,
        identity: Identity,
        *,
        limit: int,
        cursor: str | None = None,
        unit: str | None = None,
        category: str | None = None,
        q: str | None = None,
        status: Status | None = None,
    ) -> Listing:
        query = select(services.c.code, services.c.summary).order_by(services.c.code).limit(limit + 1)
        check_status_filter(identity, status)
        if status is not None:
            query = query.where(services.c.status == str(status))
        elif not sees_drafts(identity):
            query = query.where(services.c.status == str(Status.PUBLISHED))
        if unit:
            query = query.where(services.c.unit == unit)
        if category:
            query = query.where(services.c.category == category)
        if q and q.strip():
            query = query.where(services.c.search_text.contains(q.strip().lower(), autoescape=True))
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            if not isinstance(after, str) or not _CODE.match(after):
                raise _bad_cursor()
            query = query.where(services.c.code > after)
        async with self.read_sessions() as session:
            rows = (await session.execute(query)).all()
        page = rows[:limit]
        next_cursor = encode_cursor([page[-1].code]) if len(rows) > limit else None
        return Listing([row.summary.encode() for row in page], next_cursor)

    async def list_versions(self, identity: Identity, code: str, *, limit: int, cursor: str | None = None) -> Listing:
        columns = [column for column in service_versions.c if column.name != "document"]
        service, page, next_cursor = await self._page_of_one_service(
            identity, code, service_versions.c.version, columns, limit=limit, cursor=cursor
        )
        items = [version_entry(row, current=row.version == service.current_version) for row in page]
        return Listing(items, next_cursor)

    async def history(self, identity: Identity, code: str, *, limit: int, cursor: str | None = None) -> Listing:
        _, page, next_cursor = await self._page_of_one_service(
            identity, code, service_history.c.id, list(service_history.c), limit=limit, cursor=cursor
        )
        return Listing([history_entry(row) for row in page], next_cursor)

    async def _page_of_one_service(
        self, identity: Identity, code: str, key: Column[int], columns: list[Column], *, limit: int, cursor: str | None
    ) -> tuple[Row, list[Row], str | None]:
        """The service's row (404 unless `identity` sees it) and a page of the rows of `key`'s table
        that belong to it, in the order of `key`, an integer column."""
        query = select(*columns).where(key.table.c.code == code).order_by(key).limit(limit + 1)
        if cursor:
            query = query.where(key > _int_cursor(cursor))
        async with self.read_sessions() as session:
            service = await self._visible(session, identity, code)
            rows = (await session.execute(query)).all()
        page = rows[:limit]
        return service, page, encode_cursor([getattr(page[-1], key.name)]) if len(rows) > limit else None

    # -- changing ------------------------------------------------------------------------------------

    async def create(self, actor: Identity, body: ServiceCreate, language: str) -> Served:
        errors = definition_errors(body)
        if errors:
            raise invalid(errors, language)
        now = self.clock()
        try:
            async with self.sessions() as session, session.begin():
                exists = (await session.execute(select(services.c.code).where(services.c.code == body.code))).first()
                if exists is not None:
                    raise _exists(body.code)
                served = await self._insert_new(session, actor, body, now, publish=False)
                await idempotency.settle(session, idempotency.created(service_path(body.code)))
        except IntegrityError as exc:
            # Another request created the same code between our check and our insert.
            raise _exists(body.code) from exc
        self.cache.evict(body.code)
        return served

    async def revise(self, actor: Identity, code: str, body: ServiceRevision, language: str) -> Served:
        errors = revision_errors(code, body)
        if errors:
            raise invalid(errors, language)
        content = content_of(body)
        now = self.clock()
        async with self.sessions() as session, session.begin():
            service = await self._locked(session, code)
            new_version = revision_makes_new_version(code, service.status)
            current = await self._version_row(session, code, service.current_version)
            if content_from_document(current.document) == content:
                return Served(current.document.encode(), current.etag, current.status)
            if new_version:
                retired, state = superseded(_state_of(current), now)
                await self._write_version(session, code, content_from_document(current.document), retired)
                served, document = await self._write_version(session, code, content, state, new=True)
            else:
                state = revised_in_place(_state_of(current), now)
                served, document = await self._write_version(session, code, content, state)
            await self._write_service(session, document, now)
            await self._log(session, code, "revised", state.version, service.status, service.status, actor, now)
        self.cache.evict(code)
        return served

    async def publish(self, actor: Identity, code: str) -> Served:
        return await self._change_state(actor, code, "publish", "published")

    async def retire(self, actor: Identity, code: str) -> Served:
        return await self._change_state(actor, code, "retire", "retired")

    async def seed(self, actor: Identity, definitions: Iterable[ServiceCreate]) -> list[str]:
        """Create and publish each service that does not exist yet; never touch existing ones."""
        created = []
        for body in definitions:
            now = self.clock()
            try:
                async with self.sessions() as session, session.begin():
                    exists = (await session.execute(select(services.c.code).where(services.c.code == body.code))).first()
                    if exists is not None:
                        continue
                    await self._insert_new(session, actor, body, now, publish=True)
            except IntegrityError:
                # Another process seeded it at the same moment: it exists, which is all we want.
                continue
            self.cache.evict(body.code)
            created.append(body.code)
        return created

    # -- internals -----------------------------------------------------------------------------------

    async def _change_state(self, actor: Identity, code: str, action: str, history_action: str) -> Served:
        now = self.clock()
        async with self.sessions() as session, session.begin():
            service = await self._locked(session, code)
            target = transition(code, service.status, action)
            current = await self._version_row(session, code, service.current_version)
            state = entered(_state_of(current), target, now)
            served, document = await self._write_version(
                session, code, content_from_document(current.document), state
            )
            await self._write_service(session, document, now)
            await self._log(session, code, history_action, current.version, service.status, target, actor, now)
            await idempotency.settle(session, idempotency.changed(service_path(code)))
        self.cache.evict(code)
        return served

    async def _insert_new(
        self, session: AsyncSession, actor: Identity, body: ServiceCreate, now: datetime, *, publish: bool
    ) -> Served:
        state = first_version(now, published=publish)
        document = render(body.code, content_of(body), state)
        # The service row first: the version row's foreign key points at it.
        await session.execute(insert(services).values(**_service_values(document, now), created_at=now))
        served, _ = await self._write_version(session, body.code, content_of(body), state, new=True)
        await self._log(session, body.code, "created", 1, None, Status.DRAFT, actor, now)
        if publish:
            await self._log(session, body.code, "published", 1, Status.DRAFT, Status.PUBLISHED, actor, now)
        return served

    async def _write_version(
        self, session: AsyncSession, code: str, content: dict[str, Any], state: VersionState, *, new: bool = False
    ) -> tuple[Served, dict[str, Any]]:
        document = render(code, content, state)
        body = orjson.dumps(document)
        etag = etag_of(body)
        values = {
            "status": str(state.status),
            "document": body.decode(),
            "etag": etag,
            "updated_at": state.updated_at,
            "published_at": state.published_at,
            "retired_at": state.retired_at,
            "superseded_by": state.superseded_by,
        }
        if new:
            await session.execute(
                insert(service_versions).values(code=code, version=state.version, created_at=state.created_at, **values)
            )
        else:
            await session.execute(
                update(service_versions)
                .where(service_versions.c.code == code, service_versions.c.version == state.version)
                .values(**values)
            )
        return Served(body, etag, str(state.status)), document

    async def _write_service(self, session: AsyncSession, document: dict[str, Any], now: datetime) -> None:
        await session.execute(
            update(services).where(services.c.code == document["code"]).values(**_service_values(document, now))
        )

    async def _log(
        self,
        session: AsyncSession,
        code: str,
        action: str,
        version: int,
        source: Status | None,
        target: Status,
        actor: Identity,
        now: datetime,
    ) -> None:
        await session.execute(
            insert(service_history).values(
                code=code,
                action=action,
                version=version,
                from_status=None if source is None else str(source),
                to_status=str(target),
                actor_id=actor.subject,
                actor_role=actor.role,
                at=now,
            )
        )
        await audit_log.record(session, audit, actor, f"service.{action}", "service", code, details={
            "version": version, "from": None if source is None else str(source), "to": str(target),
        })

    async def _locked(self, session: AsyncSession, code: str):
        if not _CODE.match(code):
            raise _not_found(code)
        # FOR UPDATE serialises concurrent writers of one service on PostgreSQL; SQLite writers are
        # already serialised by BEGIN IMMEDIATE and SQLAlchemy leaves the clause out there.
        row = (
            await session.execute(select(services).where(services.c.code == code).with_for_update())
        ).first()
        if row is None:
            raise _not_found(code)
        return row

    async def _visible(self, session: AsyncSession, identity: Identity, code: str):
        if not _CODE.match(code):
            raise _not_found(code)
        row = (
            await session.execute(
                select(services.c.status, services.c.current_version).where(services.c.code == code)
            )
        ).first()
        if row is None or (row.status == Status.DRAFT and not sees_drafts(identity)):
            raise _not_found(code)
        return row

    async def _version_row(self, session: AsyncSession, code: str, version: int):
        return (
            await session.execute(
                select(service_versions).where(service_versions.c.code == code, service_versions.c.version == version)
            )
        ).one()


def _state_of(row) -> VersionState:
    return VersionState(
        version=row.version,
        status=Status(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        published_at=row.published_at,
        retired_at=row.retired_at,
        superseded_by=row.superseded_by,
    )


def _service_values(document: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "code": document["code"],
        "unit": document["unit"],
        "category": document["category"],
        "status": document["status"],
        "current_version": document["version"],
        "search_text": search_text(document),
        "summary": orjson.dumps(summary_of(document)).decode(),
        "updated_at": now,
    }


def _not_found(code: str) -> Problem:
    # Echo at most what a valid code can be: the path may hold anything.
    return Problem(404, NOT_FOUND, slug="service-not-found", params={"code": code[:40]})


def _exists(code: str) -> Problem:
    return Problem(409, EXISTS, slug="service-exists", params={"code": code})


def _int_cursor(cursor: str) -> int:
    (after,) = decode_cursor(cursor, 1)
    # Within the integer columns' range, so a forged cursor is a 400, not a database error.
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 2**31:
        raise _bad_cursor()
    return after


def _bad_cursor() -> Problem:
    return Problem(400, BAD_CURSOR, slug="invalid-cursor", errors=[{"field": "cursor", "message": "invalid"}])
