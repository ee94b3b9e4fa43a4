"""The catalogue's domain: service standards, their versions, publication and history.

The rules:
- A new service is a draft, version 1. Revising a draft replaces it in place (same version).
- Publishing makes the draft the current published version.
- Revising a published service creates version N+1, published at once; version N is marked
  retired with `superseded_by` N+1 and stays readable, so a submission made under N can still
  show the standard it was made under. Sending the current content again changes nothing
  (PUT is idempotent).
- Retiring a published service is final: it stays readable with status retired, but is
  neither revised nor published again.
- Only admins see drafts; to everyone else a draft-only service does not exist (404).

Every version row stores its response body ready to send (`document`) and its ETag, so the hot
read, GET /v1/services/{code}, is one indexed select and no serialisation; a short-lived cache
(cache.py) spares even that select for repeated reads.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.shared import idempotency
from simpul.shared.db import utcnow
from simpul.shared.identity import Identity
from simpul.shared.pagination import BAD_CURSOR, decode_cursor, encode_cursor
from simpul.shared.problems import Problem, Text

from simpul.catalog.cache import DocumentCache
from simpul.catalog.models import service_history, service_versions, services
from simpul.catalog.schemas import CODE_PATTERN, ServiceCreate, ServiceFields, ServiceRevision
from simpul.catalog.schemas import ServiceStatus as Status

ADMIN_ROLE = "admin"

# Bounds on a form schema: it is compiled by the submissions service for every version, and a
# deeply nested one would exhaust recursion there and here.
MAX_FORM_SCHEMA_BYTES = 64_000
MAX_FORM_SCHEMA_DEPTH = 32
DRAFT_2020_12 = {
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2020-12/schema#",
}
# What Draft202012Validator.check_schema does, but reporting every error rather than the first.
_META_VALIDATOR = Draft202012Validator(
    Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
)

_CODE = re.compile(CODE_PATTERN)

# -- messages ---------------------------------------------------------------------------------------

NOT_FOUND = Text("Layanan '{code}' tidak ada di katalog.", "There is no service '{code}' in the catalogue.")
VERSION_NOT_FOUND = Text(
    "Layanan '{code}' tidak memiliki versi {version}.", "Service '{code}' has no version {version}."
)
EXISTS = Text("Layanan dengan kode '{code}' sudah ada.", "A service with the code '{code}' already exists.")
WRONG_STATE = Text(
    "Layanan '{code}' berstatus {state}; tindakan '{action}' tidak dapat dilakukan.",
    "Service '{code}' is {state}; '{action}' is not possible.",
)
INVALID = Text("Standar layanan tidak valid.", "The service standard is not valid.")
CODE_MISMATCH = Text("harus sama dengan kode di alamat ({code})", "must equal the code in the path ({code})")
DUPLICATE_REQUIREMENT = Text("kode persyaratan '{code}' dipakai lebih dari sekali", "requirement code '{code}' is used more than once")
DUPLICATE_TYPE = Text("jenis berkas '{value}' disebut lebih dari sekali", "content type '{value}' is listed more than once")
STEP_ORDER = Text("langkah harus bernomor urut 1, 2, 3, ...; di sini {expected}", "steps must be numbered 1, 2, 3, ...; here {expected}")
SCHEMA_TOO_LARGE = Text(
    "JSON Schema terlalu besar (paling banyak {limit} bita)", "the JSON Schema is too large (at most {limit} bytes)"
)
SCHEMA_TOO_DEEP = Text(
    "JSON Schema bersarang terlalu dalam (paling dalam {limit})", "the JSON Schema nests too deeply (at most {limit})"
)
SCHEMA_DIALECT = Text("hanya JSON Schema 2020-12 yang didukung", "only JSON Schema 2020-12 is supported")
SCHEMA_INVALID = Text("bukan JSON Schema 2020-12 yang sah: {reason}", "is not valid JSON Schema 2020-12: {reason}")
SCHEMA_NOT_OBJECT = Text(
    "form_schema harus menggambarkan objek (\"type\": \"object\")",
    "form_schema must describe an object (\"type\": \"object\")",
)
SCHEMA_BAD_NUMBER = Text(
    "angka ini tidak dapat disimpan (di luar jangkauan 64 bit atau bukan bilangan terhingga)",
    "this number cannot be stored (outside the 64-bit range or not finite)",
)
SCHEMA_NUL = Text("teks tidak boleh memuat karakter NUL", "text must not contain the NUL character")
SCHEMA_REMOTE_REF = Text(
    "hanya rujukan di dalam skema ini (#...) yang diizinkan", "only references within this schema (#...) are allowed"
)
STATUS_FILTER = Text(
    "Hanya admin yang dapat melihat layanan berstatus {state}.", "Only admins can list services that are {state}."
)
LOGIN_FOR_STATUS = Text("Diperlukan token akses admin.", "An admin access token is required.")


# -- pure rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    field: str
    message: Text
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, language: str) -> dict[str, str]:
        return {"field": self.field, "message": self.message.render(language, **self.params)}


def service_path(code: str) -> str:
    return f"/v1/services/{code}"


def invalid(errors: Iterable[FieldError], language: str) -> Problem:
    return Problem(422, INVALID, errors=[error.render(language) for error in errors])


# action -> (the state it starts from, the state it leads to)
TRANSITIONS: dict[str, tuple[Status, Status]] = {
    "publish": (Status.DRAFT, Status.PUBLISHED),
    "retire": (Status.PUBLISHED, Status.RETIRED),
}


def wrong_state(code: str, state: str, action: str) -> Problem:
    return Problem(
        409, WRONG_STATE, slug="invalid-service-state", params={"code": code, "state": state, "action": action},
        state=state,
    )


def transition(code: str, state: str, action: str) -> Status:
    """The state `action` leads to from `state`; 409 naming the state when it is not allowed."""
    source, target = TRANSITIONS[action]
    if state != source:
        raise wrong_state(code, state, action)
    return target


def revision_makes_new_version(code: str, state: str) -> bool:
    """A draft is replaced in place; a published service gets a new version; a retired one, 409."""
    if state == Status.RETIRED:
        raise wrong_state(code, state, "revise")
    return state == Status.PUBLISHED


def definition_errors(fields: ServiceFields) -> list[FieldError]:
    """What pydantic cannot check field by field: uniqueness, step order, the form schema."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, requirement in enumerate(fields.requirements):
        if requirement.code in seen:
            errors.append(FieldError(f"requirements.{index}.code", DUPLICATE_REQUIREMENT, {"code": requirement.code}))
        seen.add(requirement.code)
        types: set[str] = set()
        for position, content_type in enumerate(requirement.content_types):
            if content_type in types:
                errors.append(
                    FieldError(f"requirements.{index}.content_types.{position}", DUPLICATE_TYPE, {"value": content_type})
                )
            types.add(content_type)
    for index, step in enumerate(fields.procedure):
        if step.step != index + 1:
            errors.append(FieldError(f"procedure.{index}.step", STEP_ORDER, {"expected": index + 1}))
    errors.extend(form_schema_errors(fields.form_schema))
    return errors


def form_schema_errors(schema: dict[str, Any]) -> list[FieldError]:
    """A form schema must be a valid 2020-12 JSON Schema of an object, self-contained, bounded."""
    walked = _walk(schema)
    if walked.depth > MAX_FORM_SCHEMA_DEPTH:
        return [FieldError("form_schema", SCHEMA_TOO_DEEP, {"limit": MAX_FORM_SCHEMA_DEPTH})]
    if walked.unstorable:
        return walked.unstorable
    if len(orjson.dumps(schema)) > MAX_FORM_SCHEMA_BYTES:
        return [FieldError("form_schema", SCHEMA_TOO_LARGE, {"limit": MAX_FORM_SCHEMA_BYTES})]
    declared = schema.get("$schema")
    if declared is not None and declared not in DRAFT_2020_12:
        return [FieldError("form_schema.$schema", SCHEMA_DIALECT)]
    errors = [
        FieldError(_path("form_schema", error.absolute_path), SCHEMA_INVALID, {"reason": error.message})
        for error in sorted(_META_VALIDATOR.iter_errors(schema), key=lambda e: [str(p) for p in e.absolute_path])
    ]
    if schema.get("type") != "object":
        errors.append(FieldError("form_schema.type", SCHEMA_NOT_OBJECT))
    # Remote references would make every validator of submissions fetch URLs (or fail on them).
    errors.extend(FieldError(location, SCHEMA_REMOTE_REF) for location in walked.remote_refs)
    return errors


@dataclass
class _Walked:
    depth: int = 0
    remote_refs: list[str] = field(default_factory=list)
    # Values JSON parsing lets through but that can't be stored faithfully: NaN, huge integers, NUL.
    unstorable: list[FieldError] = field(default_factory=list)


def _walk(schema: dict[str, Any]) -> _Walked:
    """One pass over the schema without recursion (its depth is what is being checked)."""
    walked = _Walked()
    stack: list[tuple[Any, str, int]] = [(schema, "form_schema", 1)]
    while stack:
        node, path, depth = stack.pop()
        walked.depth = max(walked.depth, depth)
        if depth > MAX_FORM_SCHEMA_DEPTH:
            break
        if isinstance(node, dict):
            children = [(f"{path}.{key}", key, value) for key, value in node.items()]
        elif isinstance(node, list):
            children = [(f"{path}.{index}", "", value) for index, value in enumerate(node)]
        else:
            if (isinstance(node, float) and not math.isfinite(node)) or (
                isinstance(node, int) and not -(2**63) <= node < 2**64
            ):
                walked.unstorable.append(FieldError(path, SCHEMA_BAD_NUMBER))
            elif isinstance(node, str) and "\x00" in node:
                walked.unstorable.append(FieldError(path, SCHEMA_NUL))
            continue
        for child_path, key, value in children:
            if "\x00" in key:
                walked.unstorable.append(FieldError(child_path, SCHEMA_NUL))
            elif key in ("$ref", "$dynamicRef") and isinstance(value, str) and not value.startswith("#"):
                walked.remote_refs.append(child_path)
            else:
                stack.append((value, child_path, depth + 1))
    walked.remote_refs.sort()
    walked.unstorable.sort(key=lambda error: error.field)
    return walked


def _path(prefix: str, parts: Iterable[Any]) -> str:
    return ".".join([prefix, *(str(part) for part in parts)])


# -- documents ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionState:
    """What the service's life, not the admin's text, decides about one version."""

    version: int
    status: Status
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    retired_at: datetime | None = None
    superseded_by: int | None = None


# Keys of a document that VersionState sets; every other key (but `code`) is the admin's content.
_STATE_KEYS = ("version", "status", "created_at", "updated_at", "published_at", "retired_at", "superseded_by")


def content_of(fields: ServiceFields) -> dict[str, Any]:
    return fields.model_dump(mode="json", exclude={"code"})


def content_from_document(document: str | bytes) -> dict[str, Any]:
    parsed = orjson.loads(document)
    return {key: value for key, value in parsed.items() if key != "code" and key not in _STATE_KEYS}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def render(code: str, content: dict[str, Any], state: VersionState) -> dict[str, Any]:
    return {
        "code": code,
        "version": state.version,
        "status": str(state.status),
        **content,
        "created_at": _iso(state.created_at),
        "updated_at": _iso(state.updated_at),
        "published_at": _iso(state.published_at),
        "retired_at": _iso(state.retired_at),
        "superseded_by": state.superseded_by,
    }


def summary_of(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": document["code"],
        "version": document["version"],
        "status": document["status"],
        "name": document["name"],
        "name_en": document["name_en"],
        "description": document["description"],
        "unit": document["unit"],
        "category": document["category"],
        "sla_working_days": document["sla_working_days"],
        "fee": {"amount": document["fee"]["amount"], "currency": document["fee"]["currency"]},
        "created_at": document["created_at"],
        "updated_at": document["updated_at"],
        "published_at": document["published_at"],
    }


def search_text(document: dict[str, Any]) -> str:
    parts = (document["code"], document["name"], document["name_en"] or "", document["description"])
    return "\n".join(parts).lower()


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


@dataclass(frozen=True)
class Served:
    """A version document ready to send."""

    body: bytes
    etag: str
    status: str

    @property
    def document(self) -> dict[str, Any]:
        return orjson.loads(self.body)


@dataclass(frozen=True)
class Listing:
    """A page of pre-serialised JSON items."""

    items: list[bytes]
    next_cursor: str | None


# -- the catalogue ------------------------------------------------------------------------------------

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


def sees_drafts(identity: Identity) -> bool:
    return identity.role == ADMIN_ROLE


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
        if status is not None and status != Status.PUBLISHED and not sees_drafts(identity):
            if identity.is_anonymous:
                raise Problem(401, LOGIN_FOR_STATUS, headers={"WWW-Authenticate": "Bearer"})
            raise Problem(403, STATUS_FILTER, params={"state": str(status)})
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
        query = (
            select(*columns)
            .where(service_versions.c.code == code)
            .order_by(service_versions.c.version)
            .limit(limit + 1)
        )
        if cursor:
            query = query.where(service_versions.c.version > _int_cursor(cursor))
        async with self.read_sessions() as session:
            service = await self._visible(session, identity, code)
            rows = (await session.execute(query)).all()
        page = rows[:limit]
        items = [
            orjson.dumps(
                {
                    "version": row.version,
                    "status": row.status,
                    "current": row.version == service.current_version,
                    "created_at": _iso(row.created_at),
                    "updated_at": _iso(row.updated_at),
                    "published_at": _iso(row.published_at),
                    "retired_at": _iso(row.retired_at),
                    "superseded_by": row.superseded_by,
                }
            )
            for row in page
        ]
        return Listing(items, encode_cursor([page[-1].version]) if len(rows) > limit else None)

    async def history(self, identity: Identity, code: str, *, limit: int, cursor: str | None = None) -> Listing:
        query = (
            select(service_history)
            .where(service_history.c.code == code)
            .order_by(service_history.c.id)
            .limit(limit + 1)
        )
        if cursor:
            query = query.where(service_history.c.id > _int_cursor(cursor))
        async with self.read_sessions() as session:
            await self._visible(session, identity, code)
            rows = (await session.execute(query)).all()
        page = rows[:limit]
        items = [
            orjson.dumps(
                {
                    "at": _iso(row.at),
                    "action": row.action,
                    "version": row.version,
                    "from": row.from_status,
                    "to": row.to_status,
                    "actor": {"client_id": row.actor_id, "role": row.actor_role},
                }
            )
            for row in page
        ]
        return Listing(items, encode_cursor([page[-1].id]) if len(rows) > limit else None)

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
        errors = definition_errors(body)
        if body.code is not None and body.code != code:
            errors.insert(0, FieldError("code", CODE_MISMATCH, {"code": code}))
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
                superseded = replace(
                    _state_of(current), status=Status.RETIRED, updated_at=now, retired_at=now,
                    superseded_by=current.version + 1,
                )
                await self._write_version(session, code, content_from_document(current.document), superseded)
                state = VersionState(current.version + 1, Status.PUBLISHED, now, now, published_at=now)
                served, document = await self._write_version(session, code, content, state, new=True)
            else:
                state = replace(_state_of(current), updated_at=now)
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
            state = replace(_state_of(current), status=target, updated_at=now)
            if target == Status.PUBLISHED:
                state = replace(state, published_at=now)
            else:
                state = replace(state, retired_at=now)
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
        status = Status.PUBLISHED if publish else Status.DRAFT
        state = VersionState(1, status, now, now, published_at=now if publish else None)
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
