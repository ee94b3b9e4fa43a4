"""Complaints (pengaduan), handled the LAPOR! way.

An applicant files a complaint, about one of its submissions, a service, or in general. The unit
that owns the service answers; the first answer verifies it (`open` -> `in_progress`) and must
come within the verification deadline, the resolution within the follow-up deadline, both in
working days of the SLA calendar. After resolution the applicant may reply for a while, which
reopens it; after that period the complaint is closed (at once for every reader; a worker
records the closing). Every step is an entry of its append-only history and a
`complaint.updated` event in the outbox, in the transaction of the change.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from simpul.shared import audit as audit_log
from simpul.shared import idempotency
from simpul.shared.events import stage_event
from simpul.shared.identity import Identity
from simpul.shared.problems import Problem, Text
from simpul.shared.visibility import Visibility
from simpul.shared.worker import Worker, each
from simpul.submissions.access import (
    CONTENT_ERASED,
    NOT_FOUND,
    NO_TENANT,
    UseCases,
    by_overdue,
    check_statuses,
    first_or_404,
    new_id,
    newest_first,
    next_page,
    oldest_first,
)
from simpul.submissions.calendar import WorkingCalendar, end_of_day, local_date
from simpul.submissions.feedback.models import complaint_attachments, complaint_entries, complaints
from simpul.submissions.feedback.schemas import ComplaintCreate, ComplaintResponseIn
from simpul.submissions.models import audit, outbox, submissions
from simpul.submissions.reads import Resource, Subject, email_of
from simpul.submissions.store import EVENT_SOURCE
from simpul.submissions.uploads import EVIDENCE_TYPES, Incoming, keep_upload, read_upload, stored_file
from simpul.submissions.views import step_view

log = logging.getLogger("simpul.submissions.complaints")

# Who closes a complaint once its reopening period is over: this service itself.
CLOSER = Identity(subject="service:submissions", role="service")
CLOSE_BATCH = 100

COMPLAINT_NOT_FOUND = Text("Pengaduan tidak ditemukan.", "There is no such complaint.")
ATTACHMENT_NOT_FOUND = Text("Lampiran tidak ditemukan.", "There is no such attachment.")
CLOSED = Text(
    "Pengaduan ini sudah ditutup; ajukan pengaduan baru bila masalahnya berlanjut.",
    "This complaint is closed; file a new complaint if the problem goes on.",
)
ALREADY_RESOLVED = Text(
    "Pengaduan ini sudah selesai; pemohon dapat membukanya kembali dengan membalas.",
    "This complaint is resolved; the applicant may reopen it by replying.",
)
ONLY_HANDLERS_RESOLVE = Text(
    "Hanya petugas unit yang dapat menyelesaikan pengaduan.", "Only the unit's officers can resolve a complaint."
)
CHANGED_CONCURRENTLY = Text(
    "Pengaduan baru saja diubah oleh pihak lain; muat ulang lalu coba lagi.",
    "The complaint was changed at the same moment; reload and try again.",
)
SERVICE_MISMATCH = Text(
    "Kode layanan tidak sesuai dengan layanan permohonan.", "The service code is not the submission's service."
)
SERVICE_MISMATCH_FIELD = Text("bukan layanan permohonan ini", "is not the service of this submission")
SUBMISSION_FIELD = Text("permohonan tidak ditemukan", "there is no such submission")
TOO_MANY = Text("Pengaduan ini sudah memiliki {limit} lampiran.", "This complaint already has {limit} attachments.")
WRONG_TYPE = Text(
    "Berkas bertipe {found} tidak diterima sebagai lampiran (diterima: {allowed}).",
    "A file of type {found} is not accepted as an attachment (accepted: {allowed}).",
)

HANDLER_ROLES = frozenset({"officer", "admin"})


class ComplaintStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"


class ComplaintAction(StrEnum):
    FILE = "file"
    RESPOND = "respond"
    RESOLVE = "resolve"
    REPLY = "reply"
    REOPEN = "reopen"
    ATTACH = "attach"
    CLOSE = "close"


class ComplaintClosed(Exception):
    pass


class AlreadyResolved(Exception):
    pass


class ResolveNotAllowed(Exception):
    pass


@dataclass(frozen=True)
class Step:
    action: ComplaintAction
    source: ComplaintStatus
    target: ComplaintStatus


def step(status: ComplaintStatus, role: str, *, resolve: bool, closed: bool) -> Step:
    """What a response or reply does: officers (and admins) answer, the applicant replies."""
    if role in HANDLER_ROLES:
        if closed:
            raise ComplaintClosed
        if status is ComplaintStatus.RESOLVED:
            raise AlreadyResolved
        if resolve:
            return Step(ComplaintAction.RESOLVE, status, ComplaintStatus.RESOLVED)
        return Step(ComplaintAction.RESPOND, status, ComplaintStatus.IN_PROGRESS)
    if resolve:
        raise ResolveNotAllowed
    if closed:
        raise ComplaintClosed
    if status is ComplaintStatus.RESOLVED:
        return Step(ComplaintAction.REOPEN, status, ComplaintStatus.IN_PROGRESS)
    return Step(ComplaintAction.REPLY, status, status)


@dataclass(frozen=True)
class ComplaintPolicy:
    verification_working_days: int
    follow_up_working_days: int
    reopen_working_days: int

    @staticmethod
    def deadline(calendar: WorkingCalendar, at: datetime, working_days: int) -> datetime:
        """End (Asia/Jakarta) of the `working_days`-th working day after the day of `at`."""
        return end_of_day(calendar.add_working_days(local_date(at), working_days))


def awaited_deadline(row: dict[str, Any]) -> datetime | None:
    """The deadline of the step the complaint waits for: the first answer, then the resolution."""
    if row["status"] == ComplaintStatus.RESOLVED:
        return None
    if row["first_response_at"] is None:
        return row["verification_due_at"]
    return row["follow_up_due_at"]


def is_closed(row: dict[str, Any], now: datetime) -> bool:
    if row["closed_at"] is not None:
        return True
    return row["status"] == ComplaintStatus.RESOLVED and row["reopen_until"] is not None and now > row["reopen_until"]


def allowed_actions(row: dict[str, Any], role: str, now: datetime) -> list[str]:
    if is_closed(row, now):
        return []
    status = ComplaintStatus(row["status"])
    if role in HANDLER_ROLES:
        if status is ComplaintStatus.RESOLVED:
            return []
        return [ComplaintAction.RESPOND.value, ComplaintAction.RESOLVE.value, ComplaintAction.ATTACH.value]
    if role == "applicant":
        if status is ComplaintStatus.RESOLVED:
            return [ComplaintAction.REOPEN.value]
        return [ComplaintAction.REPLY.value, ComplaintAction.ATTACH.value]
    return []


def complaint_path(complaint_id: str) -> str:
    return f"/v1/complaints/{complaint_id}"


def entry_view(row: dict[str, Any]) -> dict[str, Any]:
    return {**step_view(row), "text": row["text"], "attachment": row["attachment"]}


def attachment_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "sha256": row["sha256"],
        "size": row["size"],
        "content_type": row["content_type"],
        "filename": row["filename"],
        "uploaded_at": row["uploaded_at"],
        "uploaded_by": {"client_id": row["uploaded_by"], "role": row["uploaded_role"]},
    }


# The export is rendered as an admin sees a complaint.
SUBJECT_EXPORT_READER = Identity(subject="data-subject-export", role="admin")


@dataclass(frozen=True)
class ErasedComplaints:
    complaint_ids: list[str]
    files: list[str]


def complaint_subject(row: dict[str, Any]) -> Subject:
    return Subject(email_of(row["complainant"]), row["submission_id"], row["id"])


@dataclass(kw_only=True, eq=False)
class ComplaintService(UseCases):
    policy: ComplaintPolicy
    max_attachments: int
    attachment_max_bytes: int

    # -- who sees what: the rule of submissions (`Visibility`) -------------------------------------

    async def _visible(self, session: AsyncSession, identity: Identity, complaint_id: str) -> dict[str, Any]:
        query = select(complaints).where(complaints.c.id == complaint_id, Visibility.of(identity).where(complaints))
        return await first_or_404(session, query, COMPLAINT_NOT_FOUND, "complaint-not-found")

    # -- reading ---------------------------------------------------------------------------------

    def render(
        self,
        row: dict[str, Any],
        identity: Identity,
        now: datetime,
        entries: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        due = awaited_deadline(row)
        closed = is_closed(row, now)
        return {
            "id": row["id"],
            "status": row["status"],
            "closed": closed,
            "closed_at": row["closed_at"] or (row["reopen_until"] if closed else None),
            "version": row["version"],
            "category": row["category"],
            "text": row["text"],
            "submission_id": row["submission_id"],
            "service_code": row["service_code"],
            "unit": row["unit"],
            "tenant": row["tenant"],
            "complainant": row["complainant"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "deadlines": {
                "verification_due_at": row["verification_due_at"],
                "follow_up_due_at": row["follow_up_due_at"],
            },
            "response_due_at": due,
            "overdue": due is not None and now > due,
            "first_response_at": row["first_response_at"],
            "resolved_at": row["resolved_at"],
            "reopen_until": row["reopen_until"],
            "reopened_count": row["reopened_count"],
            "allowed_actions": allowed_actions(row, identity.role, now),
            "responses": (
                [entry_view(e) for e in entries if e["text"] is not None and e["action"] != ComplaintAction.FILE]
                if entries is not None else None
            ),
            "attachments": [attachment_view(a) for a in attachments] if attachments is not None else None,
        }

    async def _details(self, session: AsyncSession, complaint_id: str) -> tuple[list[dict], list[dict]]:
        entries = await session.execute(
            select(complaint_entries).where(complaint_entries.c.complaint_id == complaint_id).order_by(complaint_entries.c.id)
        )
        attachments = await session.execute(
            select(complaint_attachments)
            .where(complaint_attachments.c.complaint_id == complaint_id)
            .order_by(complaint_attachments.c.id)
        )
        return [dict(e) for e in entries.mappings()], [dict(a) for a in attachments.mappings()]

    async def get(self, identity: Identity, complaint_id: str) -> dict[str, Any]:
        async with self.read_sessions() as session:
            row = await self._visible(session, identity, complaint_id)
            entries, attachments = await self._details(session, complaint_id)
        await self.reads.record(identity, Resource.COMPLAINT, [complaint_subject(row)])
        return self.render(row, identity, self.clock(), entries, attachments)

    # -- personal data (UU 27/2022): the hooks of the privacy sub-domain -------------------------

    async def erase_personal_data(self, connection: Any, submission_id: str, complainant: dict[str, Any],
                                  now: datetime) -> ErasedComplaints:
        """In the erasing transaction: the complaints about `submission_id` get the pseudonymised
        `complainant`, their attachments are marked deleted; which complaints and files."""
        ids = [r.id for r in await connection.execute(
            select(complaints.c.id).where(complaints.c.submission_id == submission_id))]
        if not ids:
            return ErasedComplaints([], [])
        await connection.execute(update(complaints).where(complaints.c.id.in_(ids), complaints.c.complainant.is_not(None))
                                 .values(complainant=complainant))
        files = [r.sha256 for r in await connection.execute(
            select(complaint_attachments.c.sha256).where(complaint_attachments.c.complaint_id.in_(ids),
                                                         complaint_attachments.c.content_erased_at.is_(None)))]
        await connection.execute(update(complaint_attachments).where(
            complaint_attachments.c.complaint_id.in_(ids), complaint_attachments.c.content_erased_at.is_(None))
            .values(content_erased_at=now, filename=None))
        return ErasedComplaints(ids, files)

    async def files_in_use(self, connection: Any, hashes: list[str]) -> set[str]:
        """Which of `hashes` an attachment still holds (one not erased)."""
        if not hashes:
            return set()
        found = await connection.execute(select(complaint_attachments.c.sha256).where(
            complaint_attachments.c.sha256.in_(hashes), complaint_attachments.c.content_erased_at.is_(None)))
        return {r.sha256 for r in found}

    async def subject_export(self, session: Any, email: str, submission_ids: list[str]) -> list[dict[str, Any]]:
        """Every complaint about those submissions or filed with that email, with its history and
        attachments' metadata, as an admin sees it."""
        about = complaints.c.submission_id.in_(submission_ids) if submission_ids else None
        # A scan of the complaints' JSON: rare (a data subject's request), and standalone complaints
        # have no other key to the person.
        by_email = func.lower(complaints.c.complainant["email"].as_string()) == email
        query = select(complaints).where(by_email if about is None else or_(about, by_email)).order_by(complaints.c.id)
        rows = [dict(r) for r in (await session.execute(query)).mappings()]
        exported = []
        for row in rows:
            entries, attachments = await self._details(session, row["id"])
            exported.append({
                **self.render(row, SUBJECT_EXPORT_READER, self.clock(), entries, attachments),
                "history": [entry_view(e) for e in entries],
            })
        return exported

    async def list(
        self,
        identity: Identity,
        *,
        statuses: list[str],
        overdue: bool | None,
        submission_id: str | None,
        category: str | None,
        limit: int,
        cursor: str | None,
    ) -> dict[str, Any]:
        check_statuses(statuses, ComplaintStatus)
        now = self.clock()
        query = select(complaints).where(Visibility.of(identity).where(complaints))
        if statuses:
            query = query.where(complaints.c.status.in_(statuses))
        if submission_id:
            query = query.where(complaints.c.submission_id == submission_id)
        if category:
            query = query.where(complaints.c.category == category)
        query = by_overdue(query, complaints.c.overdue_from, overdue, now)
        query = newest_first(query, complaints.c.id, limit, cursor)
        async with self.read_sessions() as session:
            page, next_cursor = next_page([dict(r) for r in (await session.execute(query)).mappings()], limit)
        await self.reads.record(identity, Resource.COMPLAINT_LIST, [complaint_subject(row) for row in page])
        return {"items": [self.render(row, identity, now) for row in page], "next_cursor": next_cursor}

    async def history(self, identity: Identity, complaint_id: str, *, limit: int, cursor: str | None) -> dict[str, Any]:
        query = select(complaint_entries).where(complaint_entries.c.complaint_id == complaint_id)
        query = oldest_first(query, complaint_entries.c.id, limit, cursor)
        async with self.read_sessions() as session:
            complaint = await self._visible(session, identity, complaint_id)
            page, next_cursor = next_page([dict(r) for r in (await session.execute(query)).mappings()], limit)
        await self.reads.record(identity, Resource.COMPLAINT, [complaint_subject(complaint)])
        return {"items": [entry_view(r) for r in page], "next_cursor": next_cursor}

    async def attachment(self, identity: Identity, complaint_id: str, attachment_id: str,
                         content: bool = False) -> dict[str, Any]:
        """An attachment's metadata; with `content`, for a download (recorded as a read; 410 once erased)."""
        async with self.read_sessions() as session:
            complaint = await self._visible(session, identity, complaint_id)
            row = (
                await session.execute(
                    select(complaint_attachments).where(
                        complaint_attachments.c.id == attachment_id, complaint_attachments.c.complaint_id == complaint_id
                    )
                )
            ).mappings().first()
        if row is None:
            raise Problem(404, ATTACHMENT_NOT_FOUND, slug="attachment-not-found")
        if content:
            if row["content_erased_at"] is not None:
                raise Problem(410, CONTENT_ERASED, slug="personal-data-erased")
            await self.reads.record(identity, Resource.COMPLAINT_ATTACHMENT, [complaint_subject(complaint)])
        return attachment_view(dict(row))

    async def attachment_content(self, attachment: dict[str, Any]) -> AsyncIterator[bytes]:
        return await self.store.open(attachment["sha256"])

    # -- changing --------------------------------------------------------------------------------

    async def file(self, identity: Identity, body: ComplaintCreate, language: str) -> dict[str, Any]:
        if not identity.tenant:
            raise Problem(403, NO_TENANT, slug="no-tenant")
        now = self.clock()
        unit = service_code = None
        complainant = body.complainant.model_dump() if body.complainant else None
        if body.submission_id:
            async with self.read_sessions() as session:
                target = (
                    await session.execute(
                        select(submissions.c.unit, submissions.c.service_code, submissions.c.applicant).where(
                            submissions.c.id == body.submission_id, Visibility.of(identity).where(submissions)
                        )
                    )
                ).mappings().first()
            if target is None:
                raise Problem(404, NOT_FOUND, slug="submission-not-found",
                              errors=[{"field": "submission_id", "message": SUBMISSION_FIELD.render(language)}])
            if body.service_code and body.service_code != target["service_code"]:
                raise Problem(422, SERVICE_MISMATCH, slug="service-mismatch",
                              errors=[{"field": "service_code", "message": SERVICE_MISMATCH_FIELD.render(language)}])
            unit, service_code = target["unit"], target["service_code"]
            if complainant is None:
                applicant = target["applicant"]
                complainant = {"name": applicant["name"], "email": applicant["email"],
                               "language": applicant.get("language", "id")}
        elif body.service_code:
            standard = await self.catalog.current(body.service_code)
            unit, service_code = standard["unit"], standard["code"]
        row = {
            "id": new_id(),
            "status": ComplaintStatus.OPEN.value,
            "version": 1,
            "tenant": identity.tenant,
            "unit": unit,
            "submission_id": body.submission_id,
            "service_code": service_code,
            "category": body.category,
            "text": body.text,
            "complainant": complainant,
            "created_by": identity.subject,
            "created_at": now,
            "updated_at": now,
            "verification_due_at": self.policy.deadline(self.calendar, now, self.policy.verification_working_days),
            "follow_up_due_at": self.policy.deadline(self.calendar, now, self.policy.follow_up_working_days),
            "first_response_at": None,
            "resolved_at": None,
            "reopen_until": None,
            "reopened_count": 0,
            "closed_at": None,
        }
        row["overdue_from"] = awaited_deadline(row)
        async with self.sessions() as session, session.begin():
            await session.execute(insert(complaints).values(**row))
            await self._record(session, row, now, ComplaintAction.FILE, None, identity)
            await idempotency.settle(session, idempotency.created(complaint_path(row["id"])))
        return self.render(row, identity, now, [], [])

    async def respond(
        self, identity: Identity, complaint_id: str, body: ComplaintResponseIn, language: str
    ) -> dict[str, Any]:
        now = self.clock()
        async with self.sessions() as session, session.begin():
            row = await self._visible(session, identity, complaint_id)
            try:
                move = step(ComplaintStatus(row["status"]), identity.role, resolve=body.resolve, closed=is_closed(row, now))
            except ComplaintClosed as exc:
                raise Problem(409, CLOSED, slug="complaint-closed", current_status=row["status"]) from exc
            except AlreadyResolved as exc:
                raise Problem(409, ALREADY_RESOLVED, slug="complaint-resolved", current_status=row["status"]) from exc
            except ResolveNotAllowed as exc:
                raise Problem(403, ONLY_HANDLERS_RESOLVE, slug="resolve-not-allowed") from exc
            values: dict[str, Any] = {"status": move.target.value, "version": row["version"] + 1, "updated_at": now}
            if identity.role in HANDLER_ROLES and row["first_response_at"] is None:
                values["first_response_at"] = now
            if move.action is ComplaintAction.RESOLVE:
                values["resolved_at"] = now
                values["reopen_until"] = self.policy.deadline(self.calendar, now, self.policy.reopen_working_days)
            elif move.action is ComplaintAction.REOPEN:
                values.update(
                    resolved_at=None,
                    reopen_until=None,
                    reopened_count=row["reopened_count"] + 1,
                    follow_up_due_at=self.policy.deadline(self.calendar, now, self.policy.follow_up_working_days),
                )
            values["overdue_from"] = awaited_deadline({**row, **values})
            await self._locked_update(session, row, values)
            row.update(values)
            await self._record(session, row, now, move.action, move.source, identity, text=body.text)
            await idempotency.settle(session, idempotency.created(complaint_path(complaint_id)))
            entries, attachments = await self._details(session, complaint_id)
        return self.render(row, identity, now, entries, attachments)

    async def attach(self, identity: Identity, complaint_id: str, incoming: Incoming) -> dict[str, Any]:
        now = self.clock()
        async with self.read_sessions() as session:
            row = await self._visible(session, identity, complaint_id)
        self._check_open_for_attachments(row, now)
        limit = self.attachment_max_bytes
        upload = await read_upload(incoming, store=self.store, limit_for=lambda _: limit, code_field=None)
        media_type, sha256 = await keep_upload(upload, EVIDENCE_TYPES, wrong_type=WRONG_TYPE, language=incoming.language)
        attachment = {
            **stored_file(upload, media_type, sha256, identity, now),
            "complaint_id": complaint_id,
            "uploaded_role": identity.role,
        }
        async with self.sessions() as session, session.begin():
            row = await self._visible(session, identity, complaint_id)
            self._check_open_for_attachments(row, now)
            count = (
                await session.execute(
                    select(func.count()).select_from(complaint_attachments).where(
                        complaint_attachments.c.complaint_id == complaint_id
                    )
                )
            ).scalar_one()
            if count >= self.max_attachments:
                raise Problem(409, TOO_MANY, slug="too-many-attachments", params={"limit": self.max_attachments})
            # The version bump serialises attachments of one complaint, so the count above holds.
            await self._locked_update(session, row, {"version": row["version"] + 1, "updated_at": now})
            await session.execute(insert(complaint_attachments).values(**attachment))
            entry = {k: attachment[k] for k in ("id", "sha256", "size", "content_type", "filename")}
            await self._record(session, row, now, ComplaintAction.ATTACH, ComplaintStatus(row["status"]), identity,
                               attachment=entry, publish=False)
            location = f"{complaint_path(complaint_id)}/attachments/{attachment['id']}"
            await idempotency.settle(session, idempotency.created(location))
        return attachment_view(attachment)

    async def close_due(self) -> int:
        """Record the closing of resolved complaints whose reopening period is over; how many."""
        return sum([await self.record_closing(row) for row in await self.due_for_closing()])

    async def due_for_closing(self) -> list[dict[str, Any]]:
        """Up to a batch of resolved complaints whose reopening period is over, closing not yet
        recorded. Several processes may read the same ones; `record_closing` lets one win."""
        query = (
            select(complaints)
            .where(complaints.c.status == ComplaintStatus.RESOLVED.value, complaints.c.closed_at.is_(None),
                   complaints.c.reopen_until < self.clock())
            .order_by(complaints.c.reopen_until)
            .limit(CLOSE_BATCH)
        )
        async with self.read_sessions() as session:
            return [dict(r) for r in (await session.execute(query)).mappings()]

    async def record_closing(self, row: dict[str, Any]) -> bool:
        """Record the closing of a complaint as read; False when another process closed it, or
        the applicant's reply won the race."""
        now = self.clock()
        values = {"closed_at": row["reopen_until"], "version": row["version"] + 1, "updated_at": now}
        async with self.sessions() as session, session.begin():
            if not await self._try_update(session, row, values):
                return False
            row.update(values)
            await self._record(session, row, now, ComplaintAction.CLOSE, ComplaintStatus.RESOLVED, CLOSER)
        return True

    def closing_worker(self, poll_seconds: float) -> Worker:
        """The background worker that records closings as their time comes."""
        return Worker("simpul-submissions-complaint-closer", claim=self.due_for_closing,
                      process=each(self.record_closing), poll_seconds=poll_seconds, batch_size=CLOSE_BATCH,
                      logger=log)

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _check_open_for_attachments(row: dict[str, Any], now: datetime) -> None:
        if is_closed(row, now):
            raise Problem(409, CLOSED, slug="complaint-closed", current_status=row["status"])

    @staticmethod
    async def _try_update(session: AsyncSession, row: dict[str, Any], values: dict[str, Any]) -> bool:
        """Change the complaint as read (optimistic lock on `version`); False if another change won."""
        changed = await session.execute(
            update(complaints).where(complaints.c.id == row["id"], complaints.c.version == row["version"]).values(**values)
        )
        return changed.rowcount == 1

    async def _locked_update(self, session: AsyncSession, row: dict[str, Any], values: dict[str, Any]) -> None:
        if not await self._try_update(session, row, values):
            raise Problem(409, CHANGED_CONCURRENTLY, slug="concurrent-change")

    async def _record(
        self,
        session: AsyncSession,
        row: dict[str, Any],
        at: datetime,
        action: ComplaintAction,
        source: ComplaintStatus | None,
        actor: Identity,
        *,
        text: str | None = None,
        attachment: dict[str, Any] | None = None,
        publish: bool = True,
    ) -> None:
        """The history entry of a change and, unless it changed nothing others follow, its event."""
        await session.execute(
            insert(complaint_entries).values(
                complaint_id=row["id"],
                at=at,
                action=action.value,
                from_status=source.value if source else None,
                to_status=row["status"],
                actor_id=actor.subject,
                actor_role=actor.role,
                text=text,
                attachment=attachment,
            )
        )
        # The text stays in the complaint's own history: the audit row has ids only.
        details = {"from": source.value if source else None, "to": row["status"]}
        if attachment is not None:
            details["attachment_id"] = attachment["id"]
        await audit_log.record(session, audit, actor, f"complaint.{action.value}", "complaint", row["id"],
                               details=details)
        if not publish:
            return
        due = awaited_deadline(row)
        await stage_event(
            session,
            outbox,
            type="complaint.updated",
            source=EVENT_SOURCE,
            subject=f"complaints/{row['id']}",
            data={
                "complaint_id": row["id"],
                "submission_id": row["submission_id"],
                "service_code": row["service_code"],
                "tenant": row["tenant"],
                "unit": row["unit"],
                "category": row["category"],
                "action": action.value,
                "from": source.value if source else None,
                "status": row["status"],
                "closed": is_closed(row, at),
                "text": text,
                "applicant": row["complainant"],
                "response_due_at": due.isoformat() if due is not None else None,
                "at": at.isoformat(),
            },
        )
