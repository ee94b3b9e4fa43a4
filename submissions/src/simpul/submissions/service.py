"""Submissions: the use cases behind the routes, plain Python over the database.

Every change runs in one transaction that reads the submission with its write lock (FOR UPDATE;
a SQLite write transaction holds the whole database), updates it with an optimistic lock as
well (`WHERE version = <the version read>`), appends to its history and stages its events in
the outbox, so a change, its history entry and its events exist together or not at all.
Drafts and submits that arrive at the same moment share that transaction (`_GroupWriter`):
each is checked and written as it would be alone, and a group that fails is written again
request by request.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
import unicodedata
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, false, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from simpul.shared import idempotency
from simpul.shared.events import envelope
from simpul.shared.identity import Identity
from simpul.shared.pagination import decode_cursor, encode_cursor
from simpul.shared.problems import Problem, Text
from simpul.submissions.calendar import WorkingCalendar, local_date
from simpul.submissions.catalog import CatalogClient
from simpul.submissions.forms import FormValidators
from simpul.submissions.models import documents, history, issue_jobs, outbox, receipt_counters, submissions
from simpul.submissions.schemas import SubmissionCreate
from simpul.submissions.sla import SlaClock, clock_after
from simpul.submissions.statemachine import (
    EDITABLE,
    NOTE_REQUIRED,
    Action,
    RoleNotAllowed,
    Status,
    Transition,
    TransitionNotAllowed,
    allowed_actions,
    transition,
)
from simpul.submissions.storage import BlobStore
from simpul.submissions.uploads import keep_upload, read_upload

log = logging.getLogger("simpul.submissions")

Clock = Callable[[], datetime]
# Where statements run: the session, or its connection (Core statements, without the ORM layer).
Executor = AsyncSession | AsyncConnection

EVENT_SOURCE = "simpul/submissions"
# 30 symbols without 0/O, 1/I/L and U (read as V): 12 of them carry 58.9 bits of randomness.
TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
TRACKING_LENGTH = 12
# The most requests written in one transaction (see `_GroupWriter`).
MAX_GROUP = 64

NOT_FOUND = Text("Permohonan tidak ditemukan.", "There is no such submission.")
TRACKING_NOT_FOUND = Text("Kode pelacakan tidak dikenal.", "Unknown tracking code.")
DOCUMENT_NOT_FOUND = Text("Dokumen tidak ditemukan.", "There is no such document.")
NO_RECEIPT = Text(
    "Tanda terima baru ada setelah permohonan diajukan.",
    "A receipt exists only once the submission has been submitted.",
)
NO_TENANT = Text("Klien ini tidak terikat pada wilayah mana pun.", "This client is not bound to any region.")
NOT_OPEN = Text(
    "Layanan '{code}' tidak menerima permohonan (status {status}).",
    "The service '{code}' does not accept submissions (status {status}).",
)
INVALID_DATA = Text(
    "Data permohonan tidak sesuai dengan formulir layanan.",
    "The submission data does not match the service's form.",
)
INVALID_STATE = Text(
    "Tindakan '{action}' tidak dapat dilakukan saat permohonan berstatus '{status}'.",
    "The action '{action}' is not allowed while the submission is '{status}'.",
)
WRONG_ROLE = Text("Peran Anda tidak boleh melakukan tindakan '{action}'.", "Your role may not take the action '{action}'.")
CHANGED_CONCURRENTLY = Text(
    "Permohonan baru saja diubah oleh pihak lain (status kini '{status}'); muat ulang lalu coba lagi.",
    "The submission was changed at the same moment (it is now '{status}'); reload and try again.",
)
NOTE_MISSING = Text("Catatan wajib diisi untuk tindakan ini.", "A note is required for this action.")
DOCUMENTS_MISSING = Text("Dokumen wajib belum lengkap.", "Required documents are missing.")
DOCUMENT_MISSING = Text("dokumen wajib '{name}' belum diunggah", "the required document '{name}' has not been uploaded")
NOT_EDITABLE = Text(
    "Dokumen hanya dapat diunggah saat permohonan berstatus draft atau revision_requested (kini '{status}').",
    "Documents can be uploaded only while the submission is draft or revision_requested (it is '{status}').",
)
UNKNOWN_REQUIREMENT = Text(
    "Layanan ini tidak memiliki persyaratan '{code}'.", "This service has no requirement '{code}'."
)
UNKNOWN_REQUIREMENT_FIELD = Text("persyaratan tidak dikenal", "is not a requirement of this service")
NO_REQUIREMENTS = Text("Layanan ini tidak memerlukan dokumen.", "This service needs no documents.")
WRONG_TYPE = Text(
    "Berkas bertipe {found} tidak diterima untuk persyaratan ini (diterima: {allowed}).",
    "A file of type {found} is not accepted for this requirement (accepted: {allowed}).",
)
BAD_FILTER = Text("Filter tidak valid.", "Invalid filter.")
UNKNOWN_STATUS = Text("status tidak dikenal", "is not a known status")


# The statements of the write path, built once: each execution then passes only its parameters,
# and SQLAlchemy finds the compiled form in its cache by a short key instead of building and
# hashing a new expression (one bound parameter per column) for every request.
INSERT_SUBMISSION = insert(submissions)
INSERT_HISTORY = insert(history)
INSERT_OUTBOX = insert(outbox)
# Only the row read at the start may be changed: `match_version` is the version that was read.
UPDATE_READ_VERSION = update(submissions).where(
    submissions.c.id == bindparam("match_id"), submissions.c.version == bindparam("match_version")
)
BUMP_RECEIPT_COUNTER = (
    update(receipt_counters)
    .where(receipt_counters.c.unit == bindparam("match_unit"), receipt_counters.c.year == bindparam("match_year"))
    .values(last_number=receipt_counters.c.last_number + bindparam("count"))
    .returning(receipt_counters.c.last_number)
)
INSERT_RECEIPT_COUNTER = insert(receipt_counters)
_BY_ID = select(submissions).where(submissions.c.id == bindparam("submission_id"))
# One submission as each role may see it (see `SubmissionService.scope`).
VISIBLE_TO = {
    "admin": _BY_ID,
    "applicant": _BY_ID.where(submissions.c.tenant == bindparam("scope_tenant")),
    "officer": _BY_ID.where(submissions.c.unit == bindparam("scope_tenant")),
}
LOCKED_VISIBLE_TO = {role: query.with_for_update() for role, query in VISIBLE_TO.items()}
# A group of submissions, each with its write lock (see `SubmissionService.submit`).
LOCKED_BY_IDS = select(submissions).where(submissions.c.id.in_(bindparam("ids", expanding=True))).with_for_update()
CURRENT_DOCUMENTS_OF = (
    select(documents)
    .where(documents.c.submission_id.in_(bindparam("ids", expanding=True)), documents.c.replaced_at.is_(None))
    .order_by(documents.c.submission_id, documents.c.requirement_code)
)
CURRENT_DOCUMENTS = (
    select(documents)
    .where(documents.c.submission_id == bindparam("submission_id"), documents.c.replaced_at.is_(None))
    .order_by(documents.c.requirement_code)
)


def tenant_scope(identity: Identity, table: Table):
    """The rows of `table` (submissions, complaints: both carry `tenant` and `unit`) that
    `identity` may see: its region's (applicant), its unit's (officer), all (admin: None)."""
    if identity.role == "admin":
        return None
    if identity.tenant is None:
        return false()
    if identity.role == "applicant":
        return table.c.tenant == identity.tenant
    if identity.role == "officer":
        return table.c.unit == identity.tenant
    return false()


def visible_to(identity: Identity, row: dict[str, Any]) -> bool:
    """Whether `identity` may see the submission `row`: the rule of `VISIBLE_TO` and `tenant_scope`."""
    if identity.role == "admin":
        return True
    if identity.tenant is None:
        return False
    if identity.role == "applicant":
        return row["tenant"] == identity.tenant
    if identity.role == "officer":
        return row["unit"] == identity.tenant
    return False


def submission_path(submission_id: str) -> str:
    return f"/v1/submissions/{submission_id}"


def document_path(submission_id: str, document_id: str) -> str:
    return f"{submission_path(submission_id)}/documents/{document_id}"


def takes_receipt(move: Transition) -> bool:
    """A first submission gets the receipt; a resubmission after a revision keeps its own."""
    return move.source is Status.DRAFT and move.target is Status.SUBMITTED


def new_id() -> str:
    """A UUIDv7: 48 bits of Unix milliseconds, then randomness, so ids sort by creation time."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))


def new_tracking_code() -> str:
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_LENGTH))


def normalise_tracking_code(raw: str) -> str | None:
    """People type codes with spaces, dashes or in lower case; anything else is not a code."""
    code = re.sub(r"[\s\-]", "", raw).upper()
    if len(code) != TRACKING_LENGTH or any(c not in TRACKING_ALPHABET for c in code):
        return None
    return code


def safe_filename(name: str | None) -> str | None:
    """The client's file name without any path, control characters or excess length."""
    if not name:
        return None
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C")
    return name.strip()[:255] or None


def snapshot(standard: dict[str, Any]) -> dict[str, Any]:
    """What a submission keeps of its service's version, so later revisions don't change it."""
    fee = standard.get("fee") or {}
    return {
        "name": standard.get("name", standard["code"]),
        "name_en": standard.get("name_en"),
        "unit": standard["unit"],
        "requirements": [
            {
                "code": r["code"],
                "name": r.get("name", r["code"]),
                "required": bool(r.get("required", True)),
                "content_types": list(r.get("content_types") or []),
                "max_bytes": int(r.get("max_bytes") or 0),
            }
            for r in standard.get("requirements") or []
        ],
        "form_schema": standard.get("form_schema") or {},
        "sla_working_days": int(standard.get("sla_working_days") or 0),
        "fee": {
            "amount": int(fee.get("amount") or 0),
            "currency": fee.get("currency") or "IDR",
            "legal_basis": fee.get("legal_basis"),
        },
        "output": standard.get("output"),
    }


def clock_of(row: dict[str, Any]) -> SlaClock | None:
    if row["submitted_at"] is None:
        return None
    return SlaClock(
        working_days=row["sla_working_days"],
        submitted_at=row["submitted_at"],
        due_at=row["due_at"],
        paused_at=row["paused_at"],
        paused_working_days=row["paused_working_days"],
        stopped_at=row["stopped_at"],
    )


def clock_values(clock: SlaClock | None) -> dict[str, Any]:
    if clock is None:
        return {}
    return {
        "submitted_at": clock.submitted_at,
        "due_at": clock.due_at,
        "paused_at": clock.paused_at,
        "paused_working_days": clock.paused_working_days,
        "stopped_at": clock.stopped_at,
        "overdue_from": clock.overdue_from(),
    }


def document_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "requirement_code": row["requirement_code"],
        "sha256": row["sha256"],
        "size": row["size"],
        "content_type": row["content_type"],
        "filename": row["filename"],
        "uploaded_at": row["uploaded_at"],
        "replaced_at": row["replaced_at"],
        "replaced_by": row["replaced_by"],
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# A job carries its request's Idempotency-Key settlement: the group is written in another task.
@dataclass(slots=True)
class _SubmitJob:
    identity: Identity
    submission_id: str
    language: str
    now: datetime
    settlement: idempotency.Settlement | None
    future: asyncio.Future | None = None


@dataclass(slots=True)
class _CreateJob:
    identity: Identity
    row: dict[str, Any]
    now: datetime
    settlement: idempotency.Settlement | None
    future: asyncio.Future | None = None


class _GroupWriter:
    """Writes the requests that queued up while it wrote the previous group, as the next group.

    `write(group)` writes a group in one transaction and returns each request's outcome (a
    value, or the exception to raise, e.g. a Problem), in order; if it raises, nothing was
    written and each request is written again by `alone(job)`. Requests with the same
    `key` never share a group: the second goes to the next one, and sees the outcome of the
    first as it would one transaction later. One task writes at a time, so each group holds at
    most one transaction's locks and connection.
    """

    def __init__(
        self,
        name: str,
        write: Callable[[list[Any]], Awaitable[list[Any]]],
        alone: Callable[[Any], Awaitable[Any]],
        key: Callable[[Any], Any] | None = None,
    ) -> None:
        self._name = name
        self._write = write
        self._alone = alone
        self._key = key
        self._queue: deque[Any] = deque()
        self._task: asyncio.Task | None = None

    async def __call__(self, job: Any) -> Any:
        job.future = asyncio.get_running_loop().create_future()
        self._queue.append(job)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"submissions:{self._name}-groups")
        return await job.future

    def _next_group(self) -> list[Any]:
        group: list[Any] = []
        later: list[Any] = []
        seen: set[Any] = set()
        while self._queue and len(group) < MAX_GROUP:
            job = self._queue.popleft()
            if self._key is None:
                group.append(job)
                continue
            key = self._key(job)
            (later if key in seen else group).append(job)
            seen.add(key)
        self._queue.extendleft(reversed(later))
        return group

    async def _run(self) -> None:
        while self._queue:
            group = self._next_group()
            try:
                try:
                    outcomes = await self._write(group)
                except Exception:
                    log.warning(
                        "a group of %d %s failed; each is retried alone", len(group), self._name, exc_info=True
                    )
                    outcomes = []
                    for job in group:
                        try:
                            outcomes.append(await self._alone(job))
                        except Exception as exc:  # the request's own answer: a Problem, or its failure
                            outcomes.append(exc)
                for job, outcome in zip(group, outcomes, strict=True):
                    if job.future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        job.future.set_exception(outcome)
                    else:
                        job.future.set_result(outcome)
            finally:
                # Cancelled (the process stopping): nobody waits for an answer that won't come.
                for job in group:
                    if not job.future.done():
                        job.future.set_exception(RuntimeError(f"the {self._name} were not written"))


class SubmissionService:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        read_sessions: async_sessionmaker[AsyncSession],
        catalog: CatalogClient,
        store: BlobStore,
        calendar: WorkingCalendar,
        clock: Clock,
        max_upload_bytes: int,
        on_approved: Callable[[], None],
    ) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions
        self.catalog = catalog
        self.store = store
        self.calendar = calendar
        self.clock = clock
        self.max_upload_bytes = max_upload_bytes
        self.on_approved = on_approved
        self.forms = FormValidators()
        self._creates = _GroupWriter("drafts", self._create_group, self._create_alone)
        self._submits = _GroupWriter(
            "submits", self._submit_group, self._submit_alone, key=lambda job: job.submission_id
        )

    # -- who sees what ---------------------------------------------------------------------------

    @staticmethod
    def scope(identity: Identity):
        """The submissions `identity` may see (see `tenant_scope`)."""
        return tenant_scope(identity, submissions)

    async def _visible(
        self, session: Executor, identity: Identity, submission_id: str, *, lock: bool = False
    ) -> dict[str, Any]:
        """The submission as `identity` may see it (the same rows as `scope`), or 404; with
        `lock`, read with the row's write lock for the rest of the transaction."""
        visible = LOCKED_VISIBLE_TO if lock else VISIBLE_TO
        query = visible.get(identity.role) if identity.role == "admin" or identity.tenant is not None else None
        row = None
        if query is not None:
            found = await session.execute(query, {"submission_id": submission_id, "scope_tenant": identity.tenant})
            row = found.mappings().first()
        if row is None:
            # Outside the caller's tenant or unit looks exactly like not existing at all.
            raise Problem(404, NOT_FOUND, slug="submission-not-found")
        return dict(row)

    # -- reading ----------------------------------------------------------------------------------

    def render(
        self,
        row: dict[str, Any],
        identity: Identity,
        now: datetime,
        current_documents: list[dict] | None,
        held: set[str] | None = None,
    ) -> dict[str, Any]:
        """The wire form; `held` (requirement codes with a current document) stands in for the
        documents themselves in lists."""
        standard = row["standard"]
        status = Status(row["status"])
        clock = clock_of(row)
        sla = None
        if clock is not None:
            report = clock.report(self.calendar, now)
            sla = {
                "working_days": report.working_days,
                "used": report.used,
                "remaining": report.remaining,
                "paused": report.paused,
                "overdue": report.overdue,
                "due_at": clock.due_at,
            }
        missing: list[str] = []
        if held is None and current_documents is not None:
            held = {d["requirement_code"] for d in current_documents}
        if held is not None and status in EDITABLE:
            missing = [r["code"] for r in standard["requirements"] if r["required"] and r["code"] not in held]
        receipt = None
        if row["receipt_number"]:
            receipt = {
                "number": row["receipt_number"],
                "fee": standard["fee"],
                "issued_at": row["receipt_issued_at"],
                "pdf_url": f"/v1/submissions/{row['id']}/receipt.pdf",
            }
        return {
            "id": row["id"],
            "tracking_code": row["tracking_code"],
            "status": status.value,
            "version": row["version"],
            "service_code": row["service_code"],
            "service_name": row["service_name"],
            "service_version": row["service_version"],
            "unit": row["unit"],
            "tenant": row["tenant"],
            "applicant": row["applicant"],
            "data": row["data"],
            "fee": standard["fee"],
            "requirements": standard["requirements"],
            "missing_documents": missing,
            "documents": [document_view(d) for d in current_documents] if current_documents is not None else None,
            "allowed_actions": [a.value for a in allowed_actions(status, identity.role)],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "submitted_at": row["submitted_at"],
            "due_at": row["due_at"],
            "sla": sla,
            "receipt": receipt,
            "approved_at": row["approved_at"],
            "issued_documents": row["issued_documents"] or [],
            # Only when issuing failed for good: v1 answers stay as they were.
            **({"issuing": row["issuing"]} if row.get("issuing") else {}),
        }

    async def _current_documents(
        self, session: Executor, submission_id: str, row: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The documents in force, by requirement. Given the submission's `row`, a submission
        whose frozen standard lists no requirements is known to have none without asking: an
        upload is accepted only for one of those requirements (`upload`), and the standard a
        submission keeps never changes."""
        if row is not None and not row["standard"]["requirements"]:
            return []
        rows = await session.execute(CURRENT_DOCUMENTS, {"submission_id": submission_id})
        return [dict(r) for r in rows.mappings()]

    async def get(self, identity: Identity, submission_id: str) -> dict[str, Any]:
        async with self.read_sessions() as session:
            row = await self._visible(session, identity, submission_id)
            current = await self._current_documents(session, submission_id)
        return self.render(row, identity, self.clock(), current)

    async def list(
        self,
        identity: Identity,
        *,
        statuses: list[str],
        service_code: str | None,
        overdue: bool | None,
        limit: int,
        cursor: str | None,
    ) -> dict[str, Any]:
        unknown = [s for s in statuses if s not in Status.__members__.values()]
        if unknown:
            raise Problem(422, BAD_FILTER, errors=[{"field": "status", "message": UNKNOWN_STATUS.en}])
        now = self.clock()
        query = select(submissions)
        scope = self.scope(identity)
        if scope is not None:
            query = query.where(scope)
        if statuses:
            query = query.where(
                submissions.c.status == statuses[0] if len(statuses) == 1 else submissions.c.status.in_(statuses)
            )
        if service_code:
            query = query.where(submissions.c.service_code == service_code)
        if overdue is True:
            query = query.where(submissions.c.overdue_from < now)
        elif overdue is False:
            query = query.where(or_(submissions.c.overdue_from.is_(None), submissions.c.overdue_from >= now))
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            query = query.where(submissions.c.id < str(after))
        query = query.order_by(submissions.c.id.desc()).limit(limit + 1)
        async with self.read_sessions() as session:
            rows = [dict(r) for r in (await session.execute(query)).mappings()]
            page = rows[:limit]
            held: dict[str, set[str]] = {r["id"]: set() for r in page if r["status"] in EDITABLE}
            if held:
                found = await session.execute(
                    select(documents.c.submission_id, documents.c.requirement_code).where(
                        documents.c.submission_id.in_(list(held)), documents.c.replaced_at.is_(None)
                    )
                )
                for submission_id, code in found:
                    held[submission_id].add(code)
        items = [self.render(row, identity, now, None, held.get(row["id"], set())) for row in page]
        next_cursor = encode_cursor([page[-1]["id"]]) if len(rows) > limit else None
        return {"items": items, "next_cursor": next_cursor}

    async def history(
        self, identity: Identity, submission_id: str, *, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        query = select(history).where(history.c.submission_id == submission_id)
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            if not isinstance(after, int):
                raise Problem(400, BAD_FILTER, slug="invalid-cursor")
            query = query.where(history.c.id > after)
        query = query.order_by(history.c.id).limit(limit + 1)
        async with self.read_sessions() as session:
            await self._visible(session, identity, submission_id)
            rows = [dict(r) for r in (await session.execute(query)).mappings()]
        page = rows[:limit]
        items = [
            {
                "id": r["id"],
                "at": r["at"],
                "action": r["action"],
                "from": r["from_status"],
                "to": r["to_status"],
                "actor": {"client_id": r["actor_id"], "role": r["actor_role"]},
                "note": r["note"],
                "document": r["document"],
            }
            for r in page
        ]
        return {"items": items, "next_cursor": encode_cursor([page[-1]["id"]]) if len(rows) > limit else None}

    async def track(self, raw_code: str) -> dict[str, Any]:
        code = normalise_tracking_code(raw_code)
        if code is None:
            raise Problem(404, TRACKING_NOT_FOUND, slug="tracking-code-not-found")
        columns = [
            submissions.c[name]
            for name in (
                "tracking_code", "status", "service_code", "service_name", "updated_at", "sla_working_days",
                "submitted_at", "due_at", "paused_at", "paused_working_days", "stopped_at",
            )
        ]
        async with self.read_sessions() as session:
            row = (await session.execute(select(*columns).where(submissions.c.tracking_code == code))).mappings().first()
        if row is None:
            raise Problem(404, TRACKING_NOT_FOUND, slug="tracking-code-not-found")
        clock = clock_of(row)
        now = self.clock()
        return {
            "tracking_code": row["tracking_code"],
            "status": row["status"],
            "service_code": row["service_code"],
            "service_name": row["service_name"],
            "submitted_at": row["submitted_at"],
            "due_at": row["due_at"],
            "updated_at": row["updated_at"],
            "overdue": clock.is_overdue(now) if clock else False,
            "paused": clock.paused if clock else False,
        }

    async def documents(self, identity: Identity, submission_id: str, *, include_replaced: bool) -> list[dict]:
        query = select(documents).where(documents.c.submission_id == submission_id)
        if not include_replaced:
            query = query.where(documents.c.replaced_at.is_(None))
        async with self.read_sessions() as session:
            await self._visible(session, identity, submission_id)
            rows = (await session.execute(query.order_by(documents.c.uploaded_at, documents.c.id))).mappings()
            return [document_view(dict(r)) for r in rows]

    async def document(self, identity: Identity, submission_id: str, document_id: str) -> dict[str, Any]:
        async with self.read_sessions() as session:
            await self._visible(session, identity, submission_id)
            row = (
                await session.execute(
                    select(documents).where(documents.c.id == document_id, documents.c.submission_id == submission_id)
                )
            ).mappings().first()
        if row is None:
            raise Problem(404, DOCUMENT_NOT_FOUND, slug="document-not-found")
        return document_view(dict(row))

    def document_content(self, document: dict[str, Any]) -> AsyncIterator[bytes]:
        return self.store.read(document["sha256"])

    async def receipt_data(self, identity: Identity, submission_id: str) -> dict[str, Any]:
        async with self.read_sessions() as session:
            row = await self._visible(session, identity, submission_id)
        if row["receipt_number"] is None:
            raise Problem(404, NO_RECEIPT, slug="receipt-not-found")
        return row

    # -- changing ---------------------------------------------------------------------------------

    async def create(self, identity: Identity, body: SubmissionCreate, language: str) -> dict[str, Any]:
        if not identity.tenant:
            raise Problem(403, NO_TENANT, slug="no-tenant")
        standard = await self.catalog.current(body.service_code)
        status = standard.get("status")
        if status != "published":
            raise Problem(
                422,
                NOT_OPEN,
                slug="service-not-open",
                params={"code": body.service_code, "status": status},
                errors=[{"field": "service_code", "message": NOT_OPEN.render(language, code=body.service_code, status=status)}],
            )
        kept = snapshot(standard)
        version = int(standard["version"])
        errors = self.forms.errors((standard["code"], version), kept["form_schema"], body.data, language)
        if errors:
            raise Problem(422, INVALID_DATA, errors=errors)
        now = self.clock()
        row = {
            "id": new_id(),
            "tracking_code": new_tracking_code(),
            "status": Status.DRAFT.value,
            "version": 1,
            "tenant": identity.tenant,
            "unit": kept["unit"],
            "service_code": standard["code"],
            "service_version": version,
            "service_name": kept["name"],
            "standard": kept,
            "applicant": body.applicant.model_dump(),
            "data": body.data,
            "created_by": identity.subject,
            "created_at": now,
            "updated_at": now,
            "sla_working_days": kept["sla_working_days"],
            "submitted_at": None,
            "due_at": None,
            "paused_at": None,
            "paused_working_days": 0,
            "stopped_at": None,
            "overdue_from": None,
            "receipt_number": None,
            "receipt_issued_at": None,
            "approved_at": None,
            "approved_by": None,
            "decision_note": None,
            "issued_documents": None,
        }
        # Written with the drafts created at the same moment, in one transaction (see `_GroupWriter`):
        # a new draft locks nothing another request waits for, but each transaction of its own
        # costs four round trips to the database.
        await self._creates(_CreateJob(identity, row, now, idempotency.created(submission_path(row["id"]))))
        return self.render(row, identity, now, [])

    async def _create_group(self, group: list[_CreateJob]) -> list[None]:
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            await connection.execute(INSERT_SUBMISSION, [job.row for job in group])
            await connection.execute(
                INSERT_HISTORY,
                [
                    self._history_row(job.row["id"], job.now, "create", None, Status.DRAFT, job.identity)
                    for job in group
                ],
            )
            await idempotency.settle(connection, *(job.settlement for job in group))
        return [None] * len(group)

    async def _create_alone(self, job: _CreateJob) -> None:
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            await connection.execute(INSERT_SUBMISSION, job.row)
            await connection.execute(
                INSERT_HISTORY,
                self._history_row(job.row["id"], job.now, "create", None, Status.DRAFT, job.identity),
            )
            await idempotency.settle(connection, job.settlement)

    async def upload(
        self,
        identity: Identity,
        submission_id: str,
        stream: AsyncIterator[bytes],
        *,
        content_type: str | None,
        content_length: int | None,
        language: str,
    ) -> dict[str, Any]:
        async with self.read_sessions() as session:
            row = await self._visible(session, identity, submission_id)
        if row["status"] not in EDITABLE:
            raise self._invalid_state("upload_document", row["status"])
        requirements = {r["code"]: r for r in row["standard"]["requirements"]}
        if not requirements:
            raise Problem(422, NO_REQUIREMENTS, slug="no-documents-needed")

        def limit(requirement: dict[str, Any]) -> int:
            return min(requirement["max_bytes"] or self.max_upload_bytes, self.max_upload_bytes)

        ceiling = max(limit(r) for r in requirements.values())

        def limit_for(code: str | None) -> int:
            if code is None:
                return ceiling
            if code not in requirements:
                raise self._unknown_requirement(code, language)
            return limit(requirements[code])

        upload = await read_upload(
            stream, content_type, store=self.store, limit_for=limit_for, language=language,
            content_length=content_length,
        )
        requirement = requirements.get(upload.requirement_code)
        if requirement is None:
            await upload.writer.abort()
            raise self._unknown_requirement(upload.requirement_code, language)
        media_type, sha256 = await keep_upload(
            upload, requirement["content_types"], wrong_type=WRONG_TYPE, language=language, limit=limit(requirement)
        )
        now = self.clock()
        document = {
            "id": new_id(),
            "submission_id": submission_id,
            "requirement_code": upload.requirement_code,
            "sha256": sha256,
            "size": upload.writer.size,
            "content_type": media_type,
            "filename": safe_filename(upload.filename),
            "uploaded_at": now,
            "uploaded_by": identity.subject,
            "replaced_at": None,
            "replaced_by": None,
        }
        async with self.sessions() as session, session.begin():
            # The conditional update both checks the state and takes the row's write lock, so two
            # uploads for one requirement queue and the second sees the first as the one it replaces.
            locked = await session.execute(
                update(submissions)
                .where(submissions.c.id == submission_id, submissions.c.status.in_([s.value for s in EDITABLE]))
                .values(version=submissions.c.version + 1, updated_at=now)
                .returning(submissions.c.status)
            )
            status = locked.scalar_one_or_none()
            if status is None:
                current = await self._visible(session, identity, submission_id)
                raise self._invalid_state("upload_document", current["status"])
            previous = (
                await session.execute(
                    select(documents.c.id).where(
                        documents.c.submission_id == submission_id,
                        documents.c.requirement_code == upload.requirement_code,
                        documents.c.replaced_at.is_(None),
                    )
                )
            ).scalar_one_or_none()
            if previous is not None:
                await session.execute(
                    update(documents).where(documents.c.id == previous).values(replaced_at=now, replaced_by=document["id"])
                )
            await session.execute(insert(documents).values(**document))
            entry = {
                "id": document["id"],
                "requirement_code": document["requirement_code"],
                "sha256": sha256,
                "size": document["size"],
                "content_type": media_type,
                "filename": document["filename"],
                "replaces": previous,
            }
            await session.execute(
                INSERT_HISTORY,
                self._history_row(
                    submission_id, now, "upload_document", Status(status), Status(status), identity, document=entry
                ),
            )
            await idempotency.settle(session, idempotency.created(document_path(submission_id, document["id"])))
        return document_view(document)

    async def submit(self, identity: Identity, submission_id: str, language: str) -> dict[str, Any]:
        """Submit (or resubmit): joins the next group of submits this process writes together.

        Every first submission of a unit takes the unit's receipt counter and holds its lock until
        its transaction ends, so one at a time per unit and year, however many arrive together.
        Submits that arrive while a group is being written are therefore written as the next
        group, in one transaction that takes each unit's counter once for all of its receipts.
        Each submit in it is checked and written exactly as alone (its row read with its write
        lock, the same UPDATE, history row and events), one is refused alone, and if the group's
        transaction fails, each submit of it is retried in a transaction of its own.
        """
        settlement = idempotency.changed(submission_path(submission_id))
        job = _SubmitJob(identity, submission_id, language, self.clock(), settlement)
        row, current = await self._submits(job)
        return self.render(row, identity, job.now, current)

    async def _submit_alone(self, job: _SubmitJob) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return await self._change_row(
            job.identity, job.submission_id, Action.SUBMIT, None, job.language, job.now, job.settlement
        )

    async def _submit_group(self, group: list[_SubmitJob]) -> list[Any]:
        """Write the submits of `group` (distinct submissions) in one transaction; for each, in
        order, its row and documents after it or its Problem. Anything else raised means nothing
        was written."""
        outcomes: list[Any] = [None] * len(group)
        planned: list[tuple[int, dict[str, Any], list[dict[str, Any]], Transition, dict[str, Any]]] = []
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            # One statement per step for the whole group, however large: this task shares the event
            # loop with every request, and each of its round trips waits for its turn there.
            ids = sorted({job.submission_id for job in group})
            found = await connection.execute(LOCKED_BY_IDS, {"ids": ids})
            rows = {row["id"]: dict(row) for row in found.mappings()}
            with_requirements = [i for i, row in rows.items() if row["standard"]["requirements"]]
            held: dict[str, list[dict[str, Any]]] = {i: [] for i in rows}
            if with_requirements:
                for document in (await connection.execute(CURRENT_DOCUMENTS_OF, {"ids": with_requirements})).mappings():
                    held[document["submission_id"]].append(dict(document))
            for index, job in enumerate(group):
                row = rows.get(job.submission_id)
                try:
                    if row is None or not visible_to(job.identity, row):
                        # Outside the caller's tenant or unit looks exactly like not existing at all.
                        raise Problem(404, NOT_FOUND, slug="submission-not-found")
                    current = held[job.submission_id]
                    move, values = self._plan(row, job.identity, Action.SUBMIT, None, job.language, job.now, current)
                except Problem as problem:
                    outcomes[index] = problem
                    continue
                planned.append((index, row, current, move, values))
            if planned:
                await connection.execute(
                    INSERT_HISTORY,
                    [
                        self._history_row(row["id"], group[index].now, Action.SUBMIT.value, move.source, move.target,
                                          group[index].identity)
                        for index, row, _, move, _ in planned
                    ],
                )
                # The counters last, each once, in (unit, year) order; numbers in arrival order.
                receipts: dict[tuple[str, int], list[int]] = {}
                for position, (index, row, _, move, _) in enumerate(planned):
                    if takes_receipt(move):
                        receipts.setdefault((row["unit"], local_date(group[index].now).year), []).append(position)
                for (unit, year), positions in sorted(receipts.items()):
                    positions.sort(key=lambda position: planned[position][0])
                    numbers = await self._next_receipt_numbers(connection, unit, year, len(positions))
                    for position, number in zip(positions, numbers, strict=True):
                        index, _, _, _, values = planned[position]
                        values.update(receipt_number=number, receipt_issued_at=group[index].now)
                shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
                for _, row, _, _, values in planned:
                    shapes.setdefault(tuple(values), []).append(
                        {**values, "match_id": row["id"], "match_version": row["version"]}
                    )
                for parameters in shapes.values():
                    changed = await connection.execute(UPDATE_READ_VERSION, parameters)
                    # Each row was read with its write lock in this transaction: its version holds.
                    if changed.rowcount not in (-1, len(parameters)):
                        raise RuntimeError("a locked submission changed under its lock")
                events: list[dict[str, Any]] = []
                for index, row, current, move, values in planned:
                    row.update(values)
                    events.extend(self._change_events(row, move, group[index].now, None))
                await session.execute(INSERT_OUTBOX, events)
                await idempotency.settle(connection, *(group[index].settlement for index, *_ in planned))
        for index, row, current, _, _ in planned:
            outcomes[index] = (row, current)
        return outcomes

    async def cancel(self, identity: Identity, submission_id: str, note: str | None, language: str) -> dict[str, Any]:
        return await self._change(identity, submission_id, Action.CANCEL, note, language)

    async def act(
        self, identity: Identity, submission_id: str, action: str, note: str | None, language: str
    ) -> dict[str, Any]:
        return await self._change(identity, submission_id, Action(action), note, language)

    async def _change(
        self, identity: Identity, submission_id: str, action: Action, note: str | None, language: str
    ) -> dict[str, Any]:
        now = self.clock()
        settlement = idempotency.changed(submission_path(submission_id))
        row, current = await self._change_row(identity, submission_id, action, note, language, now, settlement)
        return self.render(row, identity, now, current)

    async def _change_row(
        self,
        identity: Identity,
        submission_id: str,
        action: Action,
        note: str | None,
        language: str,
        now: datetime,
        settlement: idempotency.Settlement | None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One change in a transaction of its own, with its request's Idempotency-Key settled:
        the row and its documents after it."""
        note = note.strip() if note and note.strip() else None
        async with self.sessions() as session, session.begin():
            # Core statements on the session's connection (one transaction); only the outbox
            # INSERT goes through the session itself, which is how the relay learns of it. The
            # row is read with its write lock (FOR UPDATE where the database has row locks; a
            # SQLite write transaction holds the whole database), so a concurrent change of the
            # same submission waits and then sees this one's outcome.
            connection = await session.connection()
            row = await self._visible(connection, identity, submission_id, lock=True)
            current = await self._current_documents(connection, submission_id, row)
            move, values = self._plan(row, identity, action, note, language, now, current)
            # The row is locked already (read FOR UPDATE), so the history goes in before the
            # UPDATE and the unit's counter is taken as late as it can be: every submission of the
            # unit queues on the counter's lock until this transaction ends, so the fewer
            # statements follow it, the more submissions a unit takes per second.
            await connection.execute(
                INSERT_HISTORY,
                self._history_row(submission_id, now, action.value, move.source, move.target, identity, note=note),
            )
            if takes_receipt(move):
                # A failure from here rolls the number back with everything else: none is skipped.
                (number,) = await self._next_receipt_numbers(connection, row["unit"], local_date(now).year, 1)
                values.update(receipt_number=number, receipt_issued_at=now)
            changed = await connection.execute(
                UPDATE_READ_VERSION, {**values, "match_id": submission_id, "match_version": row["version"]}
            )
            if changed.rowcount != 1:
                # Changed between our read and our write (where the read could not lock it): only
                # one of us wins.
                latest = await self._visible(connection, identity, submission_id)
                raise Problem(
                    409,
                    CHANGED_CONCURRENTLY,
                    slug="concurrent-change",
                    params={"status": latest["status"]},
                    current_status=latest["status"],
                )
            row.update(values)
            await session.execute(INSERT_OUTBOX, self._change_events(row, move, now, note))
            if action is Action.APPROVE:
                await connection.execute(
                    insert(issue_jobs).values(submission_id=submission_id, created_at=now, next_attempt_at=now)
                )
            await idempotency.settle(connection, settlement)
        if action is Action.APPROVE:
            self.on_approved()
        return row, current

    def _plan(
        self,
        row: dict[str, Any],
        identity: Identity,
        action: Action,
        note: str | None,
        language: str,
        now: datetime,
        current: list[dict[str, Any]],
    ) -> tuple[Transition, dict[str, Any]]:
        """The move `action` makes from the row as read and the columns it sets (all but the
        receipt); a Problem when it is not allowed."""
        try:
            move = transition(Status(row["status"]), action, identity.role)
        except RoleNotAllowed as exc:
            raise Problem(403, WRONG_ROLE, params={"action": action.value}) from exc
        except TransitionNotAllowed as exc:
            raise self._invalid_state(action.value, row["status"]) from exc
        if action in NOTE_REQUIRED and note is None:
            raise Problem(422, NOTE_MISSING, errors=[{"field": "note", "message": NOTE_MISSING.render(language)}])
        if move.target is Status.SUBMITTED:
            self._check_documents(row, current, language)
        clock = clock_after(move, clock_of(row), calendar=self.calendar, at=now, working_days=row["sla_working_days"])
        values: dict[str, Any] = {
            "status": move.target.value,
            "version": row["version"] + 1,
            "updated_at": now,
            **clock_values(clock),
        }
        if action is Action.APPROVE:
            values.update(approved_at=now, approved_by=identity.subject, decision_note=note)
        elif action is Action.REJECT:
            values.update(decision_note=note)
        if move.target in (Status.APPROVED, Status.REJECTED) and clock is not None:
            # The working days it took as the SLA clock counts them, so reports aggregate in SQL.
            values["decided_working_days"] = clock.report(self.calendar, now).used
        return move, values

    def _change_events(
        self, row: dict[str, Any], move: Transition, at: datetime, note: str | None
    ) -> list[dict[str, Any]]:
        """The outbox rows of one change, `row` as it is after it."""
        extra: dict[str, Any] = {}
        if row["receipt_number"] and move.target is Status.SUBMITTED:
            extra["receipt"] = {"number": row["receipt_number"], "fee": row["standard"]["fee"]}
        types = ["submission.status_changed"]
        if move.target is Status.SUBMITTED:
            types.append("submission.submitted")
        return self._outbox_rows(row, move.source, move.target, at, note, types, extra)

    async def record_issued(self, submission_id: str, issued: list[dict[str, Any]], actor: Identity) -> bool:
        """Approved -> issued once the output document exists; False if it was already recorded."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            changed = await session.execute(
                update(submissions)
                .where(submissions.c.id == submission_id, submissions.c.status == Status.APPROVED.value)
                .values(
                    status=Status.ISSUED.value,
                    version=submissions.c.version + 1,
                    updated_at=now,
                    issued_documents=issued,
                )
            )
            await session.execute(
                update(issue_jobs).where(issue_jobs.c.submission_id == submission_id).values(done_at=now, last_error=None)
            )
            if changed.rowcount != 1:
                return False
            row = dict((await session.execute(select(submissions).where(submissions.c.id == submission_id))).mappings().one())
            await session.execute(
                INSERT_HISTORY,
                self._history_row(submission_id, now, Action.ISSUE.value, Status.APPROVED, Status.ISSUED, actor),
            )
            await session.execute(
                INSERT_OUTBOX,
                self._outbox_rows(
                    row, Status.APPROVED, Status.ISSUED, now, None,
                    ["submission.status_changed", "submission.issued"], {"issued_documents": issued},
                ),
            )
        return True

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _invalid_state(action: str, status: str) -> Problem:
        return Problem(409, INVALID_STATE, slug="invalid-state", params={"action": action, "status": status}, current_status=status)

    @staticmethod
    def _unknown_requirement(code: str, language: str) -> Problem:
        return Problem(
            422,
            UNKNOWN_REQUIREMENT,
            slug="unknown-requirement",
            params={"code": code},
            errors=[{"field": "requirement_code", "message": UNKNOWN_REQUIREMENT_FIELD.render(language)}],
        )

    @staticmethod
    def _check_documents(row: dict[str, Any], current: list[dict[str, Any]], language: str) -> None:
        have = {d["requirement_code"] for d in current}
        missing = [r for r in row["standard"]["requirements"] if r["required"] and r["code"] not in have]
        if missing:
            raise Problem(
                422,
                DOCUMENTS_MISSING,
                slug="documents-missing",
                errors=[
                    {"field": f"documents.{r['code']}", "message": DOCUMENT_MISSING.render(language, name=r["name"])}
                    for r in missing
                ],
            )

    @staticmethod
    def _history_row(
        submission_id: str,
        at: datetime,
        action: str,
        source: Status | None,
        target: Status,
        actor: Identity,
        *,
        note: str | None = None,
        document: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "submission_id": submission_id,
            "at": at,
            "action": action,
            "from_status": source.value if source else None,
            "to_status": target.value,
            "actor_id": actor.subject,
            "actor_role": actor.role,
            "note": note,
            "document": document,
        }

    @staticmethod
    def _outbox_rows(
        row: dict[str, Any],
        source: Status,
        target: Status,
        at: datetime,
        note: str | None,
        types: list[str],
        extra: dict[str, Any],
    ) -> list[dict[str, Any]]:
        """The outbox rows of the events of one change, in `types` order."""
        applicant = row["applicant"]
        data = {
            "submission_id": row["id"],
            "tracking_code": row["tracking_code"],
            "service_code": row["service_code"],
            "service_name": row["service_name"],
            "service_name_en": row["standard"].get("name_en"),
            "service_version": row["service_version"],
            "unit": row["unit"],
            "tenant": row["tenant"],
            "applicant": {
                "name": applicant["name"],
                "email": applicant["email"],
                "language": applicant.get("language", "id"),
            },
            "from": source.value,
            "to": target.value,
            "note": note,
            "at": at.isoformat(),
            "due_at": _iso(row["due_at"]),
            **extra,
        }
        subject = f"submissions/{row['id']}"
        staged = [envelope(type=t, source=EVENT_SOURCE, subject=subject, data=data) for t in types]
        return [
            {
                "id": event["id"],
                "type": event["type"],
                "source": event["source"],
                "subject": event["subject"],
                "occurred_at": at,
                "data": event["data"],
            }
            for event in staged
        ]

    @staticmethod
    async def _next_receipt_numbers(session: Executor, unit: str, year: int, count: int) -> list[str]:
        """The next `count` numbers of the unit's receipts this year: no gaps between committed
        ones, no repeats.

        The counter row is updated in the submitting transaction, so its write lock (PostgreSQL
        row lock; SQLite database lock) keeps two transactions from taking the same numbers.
        Only the first receipts of a unit's year create the row (in a savepoint, as two may race).
        """
        key = {"match_unit": unit, "match_year": year, "count": count}
        last = (await session.execute(BUMP_RECEIPT_COUNTER, key)).scalar_one_or_none()
        if last is None:
            try:
                async with session.begin_nested():
                    await session.execute(INSERT_RECEIPT_COUNTER, {"unit": unit, "year": year, "last_number": count})
                last = count
            except IntegrityError:
                # Another transaction created this year's counter first; take the next from it.
                last = (await session.execute(BUMP_RECEIPT_COUNTER, key)).scalar_one()
        return [f"{unit}/{year}/{number:06d}" for number in range(last - count + 1, last + 1)]
