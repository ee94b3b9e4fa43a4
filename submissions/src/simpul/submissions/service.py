"""Submissions: the use cases behind the routes, plain Python over the database.

Every change runs in one transaction that reads the submission with its write lock (FOR UPDATE;
a SQLite write transaction holds the whole database), updates it with an optimistic lock as
well (`WHERE version = <the version read>`), appends to its history and stages its events in
the outbox, so a change, its history entry and its events exist together or not at all.
Drafts and submits that arrive at the same moment share that transaction (`GroupWriter`):
each is checked and written as it would be alone, and a group that fails is written again
request by request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from simpul.shared import audit as audit_log
from simpul.shared import idempotency
from simpul.shared.audit import Audited
from simpul.shared.identity import Identity
from simpul.shared.problems import Problem, Text
from simpul.shared.requestid import current_request_id
from simpul.shared.visibility import Visibility
from simpul.submissions.access import (
    CONTENT_ERASED,
    NOT_FOUND,
    NO_TENANT,
    UseCases,
    by_overdue,
    check_statuses,
    new_id,
    new_tracking_code,
    newest_first,
    next_page,
    normalise_tracking_code,
    oldest_first,
    visible_submission,
)
from simpul.submissions.batching import GroupWriter
from simpul.submissions.calendar import local_date
from simpul.submissions.forms import FormValidators
from simpul.submissions.models import audit, documents, history, issue_jobs, step_visits, submissions
from simpul.submissions.officials import OfficialDirectory, OfficialRecord
from simpul.submissions.reads import Resource, Subject, email_of
from simpul.submissions.schemas import SubmissionCreate
from simpul.submissions.sla import clock_after
from simpul.submissions.statemachine import (
    CREATE,
    EDITABLE,
    NOTE_REQUIRED,
    UPLOAD_DOCUMENT,
    Action,
    RoleNotAllowed,
    Status,
    Transition,
    TransitionNotAllowed,
    transition,
)
from simpul.submissions.steps import (
    REVIEW_ACTIONS,
    BadStepInput,
    OfficialNeeded,
    RoleMissing,
    StepMove,
    StepNotAllowed,
    decide,
    procedure_of,
    step_of_row,
    step_values,
    working_days_taken,
)
from simpul.submissions.store import (
    CURRENT_DOCUMENTS,
    CURRENT_DOCUMENTS_OF,
    END_ISSUE_JOB,
    INSERT_HISTORY,
    INSERT_OUTBOX,
    INSERT_SUBMISSION,
    LOCKED_BY_IDS,
    RECORD_ISSUED,
    TRACKED,
    UPDATE_READ_VERSION,
    Executor,
    audited,
    history_row,
    next_receipt_numbers,
    outbox_rows,
    snapshot,
)
from simpul.submissions.uploads import Incoming, keep_upload, read_upload, stored_file
from simpul.submissions.views import (
    clock_of,
    clock_values,
    document_view,
    history_entry_view,
    submission_view,
    tracking_view,
)

OFFICIAL_NEEDED = Text(
    "Layanan ini dikerjakan langkah demi langkah oleh pejabat unit; mintalah token dengan official=<NIP>.",
    "This service is worked step by step by the unit's officials; ask for a token with official=<NIP>.",
)
STEP_ROLE_MISSING = Text(
    "Langkah {step} hanya dapat dikerjakan pejabat berperan '{role}'.",
    "Step {step} can only be worked by an official with the role '{role}'.",
)
STEP_NOT_ALLOWED = Text(
    "Tindakan '{action}' tidak dapat dilakukan pada langkah {step} dari {last}.",
    "The action '{action}' is not possible at step {step} of {last}.",
)
NO_STEPS = Text(
    "Prosedur layanan ini tidak memiliki langkah berperan; tindakan '{action}' tidak berlaku.",
    "This service's procedure has no steps with roles; the action '{action}' does not apply.",
)
INVALID_FILTER = Text("Penyaring daftar tidak valid.", "A list filter is not valid.")
NOT_AN_OFFICIAL = Text(
    "'me' hanya untuk token yang bertindak sebagai pejabat (official=<NIP>)",
    "'me' is only for a token acting as an official (official=<NIP>)",
)
INVALID_STEP_INPUT = Text("Tindakan tidak valid.", "The action is not valid.")
STEP_INPUT_MESSAGES = {
    "required": Text("wajib diisi untuk tindakan ini", "is required for this action"),
    "earlier_step": Text("harus langkah sebelum langkah saat ini", "must be a step before the current one"),
    "unknown": Text("tidak ada pejabat aktif unit ini dengan id tersebut", "is no official of this unit"),
    "inactive": Text("pejabat ini tidak aktif lagi", "this official is no longer active"),
    "lacks_role": Text("pejabat ini tidak memegang peran langkah saat ini",
                       "this official does not hold the current step's role"),
}
TRACKING_NOT_FOUND = Text("Kode pelacakan tidak dikenal.", "Unknown tracking code.")
DOCUMENT_NOT_FOUND = Text("Dokumen tidak ditemukan.", "There is no such document.")
NO_RECEIPT = Text(
    "Tanda terima baru ada setelah permohonan diajukan.",
    "A receipt exists only once the submission has been submitted.",
)
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
UNKNOWN_REQUIREMENT = Text(
    "Layanan ini tidak memiliki persyaratan '{code}'.", "This service has no requirement '{code}'."
)
UNKNOWN_REQUIREMENT_FIELD = Text("persyaratan tidak dikenal", "is not a requirement of this service")
NO_REQUIREMENTS = Text("Layanan ini tidak memerlukan dokumen.", "This service needs no documents.")
WRONG_TYPE = Text(
    "Berkas bertipe {found} tidak diterima untuk persyaratan ini (diterima: {allowed}).",
    "A file of type {found} is not accepted for this requirement (accepted: {allowed}).",
)


def submission_path(submission_id: str) -> str:
    return f"/v1/submissions/{submission_id}"


def document_path(submission_id: str, document_id: str) -> str:
    return f"{submission_path(submission_id)}/documents/{document_id}"


@dataclass(slots=True)
class StepInput:
    """What an action on a procedure step brings besides its note."""

    to_step: int | None = None
    official_id: str | None = None
    # assign: the official named by official_id, as the registry knows it (None: unknown there).
    assignee: OfficialRecord | None = None


def assignee_entry(record: OfficialRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    official = record.official
    return {"id": official.id, "nip": official.nip, "name": official.name, "position": official.position}


class ChangeHooks(Protocol):
    """What a sub-domain adds to every change of a submission (payments/: the bill): `check`
    refuses an action the row as read does not allow (a Problem); `changed` runs in the change's
    transaction before the row is written, may add columns to `values` and rows of its own, and
    returns the outbox rows of its events; `actions` is what the caller may do next as the
    sub-domain sees it, from what the core allows."""

    def check(self, row: dict[str, Any], action: Action) -> None: ...

    def actions(self, row: dict[str, Any], allowed: list[str]) -> list[str]: ...

    async def changed(self, connection: Executor, row: dict[str, Any], move: Transition, values: dict[str, Any],
                      identity: Identity, now: datetime) -> list[dict[str, Any]]: ...


def takes_receipt(move: Transition) -> bool:
    """A first submission gets the receipt; a resubmission after a revision keeps its own."""
    return move.source is Status.DRAFT and move.target is Status.SUBMITTED


# A job carries its request's Idempotency-Key settlement: the group is written in another task.
@dataclass(slots=True)
class _SubmitJob:
    identity: Identity
    submission_id: str
    language: str
    now: datetime
    settlement: idempotency.Settlement | None
    future: asyncio.Future | None = None
    # The group is written in another request's task: each job keeps its own request's id.
    request_id: str | None = field(default_factory=current_request_id)


@dataclass(slots=True)
class _CreateJob:
    identity: Identity
    row: dict[str, Any]
    now: datetime
    settlement: idempotency.Settlement | None
    future: asyncio.Future | None = None
    # The group is written in another request's task: each job keeps its own request's id.
    request_id: str | None = field(default_factory=current_request_id)


@dataclass(kw_only=True, eq=False)
class SubmissionService(UseCases):
    max_upload_bytes: int
    on_approved: Callable[[], None]
    officials: OfficialDirectory
    hooks: ChangeHooks | None = None

    def __post_init__(self) -> None:
        self.forms = FormValidators()
        self._creates = GroupWriter("drafts", self._create_group, self._create_alone)
        self._submits = GroupWriter(
            "submits", self._submit_group, self._submit_alone, key=lambda job: job.submission_id
        )

    # -- reading ----------------------------------------------------------------------------------

    def _view(self, row: dict[str, Any], identity: Identity, now: datetime, current: list[dict] | None,
              held: set[str] | None = None) -> dict[str, Any]:
        view = submission_view(row, identity, now, self.calendar, current, held)
        if self.hooks:
            view["allowed_actions"] = self.hooks.actions(row, view["allowed_actions"])
        return view

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
            row = await visible_submission(session, identity, submission_id)
            current = await self._current_documents(session, submission_id)
        await self._read(identity, Resource.SUBMISSION, row)
        return self._view(row, identity, self.clock(), current)

    async def _read(self, identity: Identity, resource: Resource, row: dict[str, Any]) -> None:
        await self.reads.record(identity, resource, [Subject(email_of(row["applicant"]), row["id"])])

    async def list(
        self,
        identity: Identity,
        *,
        statuses: list[str],
        service_code: str | None,
        overdue: bool | None,
        limit: int,
        cursor: str | None,
        step_overdue: bool | None = None,
        assigned_to: str | None = None,
        language: str = "id",
    ) -> dict[str, Any]:
        check_statuses(statuses, Status)
        now = self.clock()
        query = select(submissions).where(Visibility.of(identity).where(submissions))
        if statuses:
            query = query.where(
                submissions.c.status == statuses[0] if len(statuses) == 1 else submissions.c.status.in_(statuses)
            )
        if service_code:
            query = query.where(submissions.c.service_code == service_code)
        query = by_overdue(query, submissions.c.overdue_from, overdue, now)
        if step_overdue is not None:
            # A current step exists only under review; its due time is the end of a working day.
            # A step waiting for the applicant's payment (the clock standing) is not late.
            late = (submissions.c.step_due_at < now) & submissions.c.paused_at.is_(None)
            query = query.where(late if step_overdue else ~late)
        if assigned_to is not None:
            query = query.where(submissions.c.step_assigned_to == self._assignee_filter(identity, assigned_to, language))
        query = newest_first(query, submissions.c.id, limit, cursor)
        async with self.read_sessions() as session:
            page, next_cursor = next_page([dict(r) for r in (await session.execute(query)).mappings()], limit)
            held: dict[str, set[str]] = {r["id"]: set() for r in page if r["status"] in EDITABLE}
            if held:
                found = await session.execute(
                    select(documents.c.submission_id, documents.c.requirement_code).where(
                        documents.c.submission_id.in_(list(held)), documents.c.replaced_at.is_(None)
                    )
                )
                for submission_id, code in found:
                    held[submission_id].add(code)
        await self.reads.record(identity, Resource.SUBMISSION_LIST,
                                [Subject(email_of(row["applicant"]), row["id"]) for row in page])
        items = [self._view(row, identity, now, None, held.get(row["id"], set())) for row in page]
        return {"items": items, "next_cursor": next_cursor}

    async def history(
        self, identity: Identity, submission_id: str, *, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        query = select(history).where(history.c.submission_id == submission_id)
        query = oldest_first(query, history.c.id, limit, cursor)
        async with self.read_sessions() as session:
            row = await visible_submission(session, identity, submission_id)
            page, next_cursor = next_page([dict(r) for r in (await session.execute(query)).mappings()], limit)
        await self._read(identity, Resource.HISTORY, row)
        return {"items": [history_entry_view(r) for r in page], "next_cursor": next_cursor}

    async def track(self, raw_code: str) -> dict[str, Any]:
        code = normalise_tracking_code(raw_code)
        if code is None:
            raise Problem(404, TRACKING_NOT_FOUND, slug="tracking-code-not-found")
        async with self.read_sessions() as session:
            row = (await session.execute(TRACKED, {"code": code})).mappings().first()
        if row is None:
            raise Problem(404, TRACKING_NOT_FOUND, slug="tracking-code-not-found")
        return tracking_view(row, self.clock())

    async def documents(self, identity: Identity, submission_id: str, *, include_replaced: bool) -> list[dict]:
        query = select(documents).where(documents.c.submission_id == submission_id)
        if not include_replaced:
            query = query.where(documents.c.replaced_at.is_(None))
        async with self.read_sessions() as session:
            row = await visible_submission(session, identity, submission_id)
            rows = (await session.execute(query.order_by(documents.c.uploaded_at, documents.c.id))).mappings()
            items = [document_view(dict(r)) for r in rows]
        await self._read(identity, Resource.DOCUMENTS, row)
        return items

    async def document(self, identity: Identity, submission_id: str, document_id: str,
                       resource: Resource = Resource.DOCUMENTS) -> dict[str, Any]:
        """One document's metadata; `resource` names the read recorded (its content, for a download)."""
        async with self.read_sessions() as session:
            submission = await visible_submission(session, identity, submission_id)
            row = (
                await session.execute(
                    select(documents).where(documents.c.id == document_id, documents.c.submission_id == submission_id)
                )
            ).mappings().first()
        if row is None:
            raise Problem(404, DOCUMENT_NOT_FOUND, slug="document-not-found")
        if resource is Resource.DOCUMENT_CONTENT and row["content_erased_at"] is not None:
            raise Problem(410, CONTENT_ERASED, slug="personal-data-erased")
        await self._read(identity, resource, submission)
        return document_view(dict(row))

    async def document_content(self, document: dict[str, Any]) -> AsyncIterator[bytes]:
        return await self.store.open(document["sha256"])

    async def receipt_data(self, identity: Identity, submission_id: str) -> dict[str, Any]:
        async with self.read_sessions() as session:
            row = await visible_submission(session, identity, submission_id)
        if row["receipt_number"] is None:
            raise Problem(404, NO_RECEIPT, slug="receipt-not-found")
        await self._read(identity, Resource.RECEIPT, row)
        return row

    # -- changing ---------------------------------------------------------------------------------

    async def create(self, identity: Identity, body: SubmissionCreate, language: str) -> dict[str, Any]:
        row, now = await self._draft(identity, body, language)
        # Written with the drafts created at the same moment, in one transaction (see `GroupWriter`):
        # a new draft locks nothing another request waits for, but each transaction of its own
        # costs four round trips to the database.
        await self._creates(_CreateJob(identity, row, now, idempotency.created(submission_path(row["id"]))))
        return self._view(row, identity, now, [])

    async def create_and_submit(
        self, identity: Identity, body: SubmissionCreate, language: str, *, replay_from: Callable[[str], str]
    ) -> dict[str, Any]:
        """A submission created and submitted in one transaction, both or neither (the Open311
        facade: GeoReport has no drafts), its request's Idempotency-Key settled as a creation whose
        answer the GET of `replay_from(<the new id>)` rebuilds."""
        row, now = await self._draft(identity, body, language)
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            await connection.execute(INSERT_SUBMISSION, row)
            await connection.execute(
                INSERT_HISTORY, history_row(row["id"], now, "create", None, Status.DRAFT, identity)
            )
            submitted, current = await self._change_in(
                session, connection, identity, row["id"], Action.SUBMIT, None, language, now,
                idempotency.created(replay_from(row["id"])), StepInput(),
                earlier=[audited(row["id"], "create", None, Status.DRAFT, identity, service_code=row["service_code"])],
            )
        return self._view(submitted, identity, now, current)

    async def _draft(
        self, identity: Identity, body: SubmissionCreate, language: str
    ) -> tuple[dict[str, Any], datetime]:
        """A new draft's row, checked against the service's current standard; nothing written."""
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
            "applicant_email": body.applicant.email.lower(),
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
            "erase_after": None,
            "personal_data_erased_at": None,
        }
        return row, now

    async def _create_group(self, group: list[_CreateJob]) -> list[None]:
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            await connection.execute(INSERT_SUBMISSION, [job.row for job in group])
            await connection.execute(
                INSERT_HISTORY,
                [
                    history_row(job.row["id"], job.now, CREATE, None, Status.DRAFT, job.identity)
                    for job in group
                ],
            )
            await audit_log.record_all(connection, audit, [
                audited(job.row["id"], CREATE, None, Status.DRAFT, job.identity, request_id=job.request_id,
                        service_code=job.row["service_code"])
                for job in group
            ])
            await idempotency.settle(connection, *(job.settlement for job in group))
        return [None] * len(group)

    async def _create_alone(self, job: _CreateJob) -> None:
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            await connection.execute(INSERT_SUBMISSION, job.row)
            await connection.execute(
                INSERT_HISTORY,
                history_row(job.row["id"], job.now, CREATE, None, Status.DRAFT, job.identity),
            )
            await audit_log.record_all(connection, audit, [
                audited(job.row["id"], CREATE, None, Status.DRAFT, job.identity, request_id=job.request_id,
                        service_code=job.row["service_code"])
            ])
            await idempotency.settle(connection, job.settlement)

    async def upload(self, identity: Identity, submission_id: str, incoming: Incoming) -> dict[str, Any]:
        language = incoming.language
        async with self.read_sessions() as session:
            row = await visible_submission(session, identity, submission_id)
        if row["status"] not in EDITABLE:
            raise self._invalid_state(UPLOAD_DOCUMENT, row["status"])
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

        upload = await read_upload(incoming, store=self.store, limit_for=limit_for)
        requirement = requirements.get(upload.requirement_code)
        if requirement is None:
            await upload.writer.abort()
            raise self._unknown_requirement(upload.requirement_code, language)
        media_type, sha256 = await keep_upload(
            upload, requirement["content_types"], wrong_type=WRONG_TYPE, language=language, limit=limit(requirement)
        )
        now = self.clock()
        document = {
            **stored_file(upload, media_type, sha256, identity, now),
            "submission_id": submission_id,
            "requirement_code": upload.requirement_code,
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
                current = await visible_submission(session, identity, submission_id)
                raise self._invalid_state(UPLOAD_DOCUMENT, current["status"])
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
                history_row(
                    submission_id, now, UPLOAD_DOCUMENT, Status(status), Status(status), identity, document=entry
                ),
            )
            await audit_log.record_all(session, audit, [
                audited(submission_id, UPLOAD_DOCUMENT, Status(status), Status(status), identity,
                        document_id=document["id"], requirement_code=document["requirement_code"], sha256=sha256)
            ])
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
        return self._view(row, identity, job.now, current)

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
                    if row is None or not Visibility.of(job.identity).allows(row):
                        # Outside the caller's tenant or unit looks exactly like not existing at all.
                        raise Problem(404, NOT_FOUND, slug="submission-not-found")
                    current = held[job.submission_id]
                    move, values, _ = self._plan(row, job.identity, Action.SUBMIT, None, job.language, job.now, current)
                except Problem as problem:
                    outcomes[index] = problem
                    continue
                planned.append((index, row, current, move, values))
            if planned:
                await connection.execute(
                    INSERT_HISTORY,
                    [
                        history_row(row["id"], group[index].now, Action.SUBMIT.value, move.source, move.target,
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
                    numbers = await next_receipt_numbers(connection, unit, year, len(positions))
                    for position, number in zip(positions, numbers, strict=True):
                        index, _, _, _, values = planned[position]
                        values.update(receipt_number=number, receipt_issued_at=group[index].now)
                hooked: list[dict[str, Any]] = []
                if self.hooks:
                    for index, row, _, move, values in planned:
                        hooked += await self.hooks.changed(connection, row, move, values, group[index].identity,
                                                           group[index].now)
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
                events.extend(hooked)
                await session.execute(INSERT_OUTBOX, events)
                await idempotency.settle(connection, *(group[index].settlement for index, *_ in planned))
                # Last: the audit log's lock (one for the whole service) is held for the shortest time,
                # and always after the rows' and counters' locks, never before them.
                await audit_log.record_all(connection, audit, [
                    audited(row["id"], Action.SUBMIT.value, move.source, move.target, group[index].identity,
                            request_id=group[index].request_id)
                    for index, row, _, move, _ in planned
                ])
        for index, row, current, _, _ in planned:
            outcomes[index] = (row, current)
        return outcomes

    async def cancel(self, identity: Identity, submission_id: str, note: str | None, language: str) -> dict[str, Any]:
        return await self._change(identity, submission_id, Action.CANCEL, note, language)

    async def act(
        self,
        identity: Identity,
        submission_id: str,
        action: str,
        note: str | None,
        language: str,
        *,
        to_step: int | None = None,
        official_id: str | None = None,
    ) -> dict[str, Any]:
        step_input = StepInput(to_step=to_step, official_id=official_id)
        if Action(action) is Action.ASSIGN and official_id is not None:
            step_input.assignee = await self._assignee(identity, submission_id, official_id)
        return await self._change(identity, submission_id, Action(action), note, language, step_input)

    async def _assignee(self, identity: Identity, submission_id: str, official_id: str) -> OfficialRecord | None:
        """The official a step is to be disposed to, asked of the registry before the transaction
        (no call to another process while rows are locked), and only when the caller may dispose
        the step as it stands: a refusal needs no registry, and a caller who may not act learns
        nothing of officials. The transaction checks everything again on the row it locks."""
        official = identity.official
        if official is None:
            return None
        async with self.read_sessions() as session:
            row = await visible_submission(session, identity, submission_id)
        current = step_of_row(row)
        if row["status"] != Status.IN_REVIEW or current is None or current.role not in official.roles:
            return None
        return await self.officials.get(official_id)

    async def _change(
        self, identity: Identity, submission_id: str, action: Action, note: str | None, language: str,
        step_input: StepInput | None = None,
    ) -> dict[str, Any]:
        now = self.clock()
        settlement = idempotency.changed(submission_path(submission_id))
        row, current = await self._change_row(
            identity, submission_id, action, note, language, now, settlement, step_input
        )
        return self._view(row, identity, now, current)

    async def _change_row(
        self,
        identity: Identity,
        submission_id: str,
        action: Action,
        note: str | None,
        language: str,
        now: datetime,
        settlement: idempotency.Settlement | None,
        step_input: StepInput | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One change in a transaction of its own, with its request's Idempotency-Key settled:
        the row and its documents after it."""
        note = note.strip() if note and note.strip() else None
        step_input = step_input or StepInput()
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            row, current = await self._change_in(
                session, connection, identity, submission_id, action, note, language, now, settlement, step_input
            )
        if action is Action.APPROVE:
            self.on_approved()
        return row, current

    async def _change_in(
        self,
        session: AsyncSession,
        connection: AsyncConnection,
        identity: Identity,
        submission_id: str,
        action: Action,
        note: str | None,
        language: str,
        now: datetime,
        settlement: idempotency.Settlement | None,
        step_input: StepInput,
        *,
        earlier: Sequence[Audited] = (),
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The change, in the caller's transaction; `earlier`: audit rows of what the transaction
        wrote before it, recorded with its own as the last statement."""
        # Core statements on the session's connection (one transaction); only the outbox
        # INSERT goes through the session itself, which is how the relay learns of it. The
        # row is read with its write lock (FOR UPDATE where the database has row locks; a
        # SQLite write transaction holds the whole database), so a concurrent change of the
        # same submission waits and then sees this one's outcome.
        row = await visible_submission(connection, identity, submission_id, lock=True)
        current = await self._current_documents(connection, submission_id, row)
        move, values, steps = self._plan(row, identity, action, note, language, now, current, step_input)
        # The row is locked already (read FOR UPDATE), so the history goes in before the
        # UPDATE and the unit's counter is taken as late as it can be: every submission of the
        # unit queues on the counter's lock until this transaction ends, so the fewer
        # statements follow it, the more submissions a unit takes per second.
        await connection.execute(
            INSERT_HISTORY,
            history_row(submission_id, now, action.value, move.source, move.target, identity, note=note,
                        step=steps.acted_on if steps else None,
                        assignee=assignee_entry(step_input.assignee) if action is Action.ASSIGN else None),
        )
        if takes_receipt(move):
            # A failure from here rolls the number back with everything else: none is skipped.
            (number,) = await next_receipt_numbers(connection, row["unit"], local_date(now).year, 1)
            values.update(receipt_number=number, receipt_issued_at=now)
        hooked = await self.hooks.changed(connection, row, move, values, identity, now) if self.hooks else []
        changed = await connection.execute(
            UPDATE_READ_VERSION, {**values, "match_id": submission_id, "match_version": row["version"]}
        )
        if changed.rowcount != 1:
            # Changed between our read and our write (where the read could not lock it): only
            # one of us wins.
            latest = await visible_submission(connection, identity, submission_id)
            raise Problem(
                409,
                CHANGED_CONCURRENTLY,
                slug="concurrent-change",
                params={"status": latest["status"]},
                current_status=latest["status"],
            )
        row.update(values)
        if steps is not None:
            await self._record_step_visits(connection, row, steps, action, now)
        events = self._change_events(row, move, now, note, steps, step_input) + hooked
        if events:
            await session.execute(INSERT_OUTBOX, events)
        if action is Action.APPROVE:
            await connection.execute(
                insert(issue_jobs).values(submission_id=submission_id, created_at=now, next_attempt_at=now)
            )
        await idempotency.settle(connection, settlement)
        # Last, after the row's and the counter's locks (see `_submit_group`).
        details: dict[str, Any] = {}
        if steps is not None:
            details["step"] = steps.acted_on
            if identity.official is not None:
                details["official"] = identity.official.id
            if action is Action.ASSIGN and step_input.assignee is not None:
                details["assigned_to"] = step_input.assignee.official.id
        await audit_log.record_all(connection, audit, [
            *earlier, audited(submission_id, action.value, move.source, move.target, identity, **details)
        ])
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
        step_input: StepInput | None = None,
    ) -> tuple[Transition, dict[str, Any], StepMove | None]:
        """The move `action` makes from the row as read, the columns it sets (all but the
        receipt) and, for a procedure with roles, the move through its steps; a Problem when it
        is not allowed."""
        steps: StepMove | None = None
        try:
            if action in REVIEW_ACTIONS and row["standard"].get("procedure"):
                steps = self._plan_step(row, identity, action, now, step_input or StepInput(), language)
                move = steps.move
            else:
                move = transition(Status(row["status"]), action, identity.role)
                if move.source is move.target and action is not Action.AWAIT_PAYMENT:
                    # forward, return, assign on a service with the single review step.
                    raise Problem(409, NO_STEPS, slug="no-procedure-steps", params={"action": action.value})
        except RoleNotAllowed as exc:
            raise Problem(403, WRONG_ROLE, params={"action": action.value}) from exc
        except TransitionNotAllowed as exc:
            raise self._invalid_state(action.value, row["status"]) from exc
        if self.hooks:
            self.hooks.check(row, action)
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
        if steps is not None:
            values.update(step_values(steps.current))
        return move, values, steps

    def _plan_step(
        self, row: dict[str, Any], identity: Identity, action: Action, now: datetime, step_input: StepInput,
        language: str,
    ) -> StepMove:
        """The move through the submission's own procedure (steps.decide), refusals as problems."""
        record = step_input.assignee
        # An official of another unit is as unknown as one that does not exist.
        assignee = record.official if record is not None and record.unit == row["unit"] else None
        try:
            steps = decide(
                procedure_of(row["standard"]), Status(row["status"]), step_of_row(row), action, identity.role,
                identity.official, at=now, calendar=self.calendar, to_step=step_input.to_step, assignee=assignee,
            )
        except OfficialNeeded as exc:
            raise Problem(403, OFFICIAL_NEEDED, slug="official-required") from exc
        except RoleMissing as exc:
            raise Problem(403, STEP_ROLE_MISSING, slug="step-role-required",
                          params={"role": exc.role, "step": exc.step}, role=exc.role, step=exc.step) from exc
        except StepNotAllowed as exc:
            raise Problem(409, STEP_NOT_ALLOWED, slug="invalid-step",
                          params={"action": action.value, "step": exc.step, "last": exc.last},
                          current_step=exc.step) from exc
        except BadStepInput as exc:
            missing = exc.field == "official_id" and step_input.official_id is None
            raise self._bad_step_input(exc.field, "required" if missing else exc.reason, language) from exc
        if action is Action.ASSIGN and record is not None and not record.active:
            raise self._bad_step_input("official_id", "inactive", language)
        return steps

    @staticmethod
    def _assignee_filter(identity: Identity, assigned_to: str, language: str) -> str:
        if assigned_to != "me":
            return assigned_to
        if identity.official is None:
            raise Problem(422, INVALID_FILTER, errors=[
                {"field": "assigned_to", "message": NOT_AN_OFFICIAL.render(language)}])
        return identity.official.id

    @staticmethod
    def _bad_step_input(field: str, reason: str, language: str) -> Problem:
        return Problem(422, INVALID_STEP_INPUT, slug="invalid-step-input",
                       errors=[{"field": field, "message": STEP_INPUT_MESSAGES[reason].render(language)}])

    async def _record_step_visits(
        self,
        connection: Executor, row: dict[str, Any], steps: StepMove, action: Action, now: datetime
    ) -> None:
        """The end of the step visited until now, and the beginning of the next, for the per-step
        report and the overdue watch."""
        if action is Action.AWAIT_PAYMENT:
            return
        open_visit = (step_visits.c.submission_id == row["id"]) & step_visits.c.ended_at.is_(None)
        if action is Action.ASSIGN:
            assert steps.current is not None
            await connection.execute(update(step_visits).where(open_visit).values(assigned_to=steps.current.assigned_to))
            return
        if steps.ended is not None:
            await connection.execute(update(step_visits).where(open_visit).values(
                ended_at=now, ended_by=action.value, on_time=now <= steps.ended.due_at,
                working_days_taken=working_days_taken(self.calendar, steps.ended.started_at, now),
            ))
        if steps.current is not None:
            await connection.execute(insert(step_visits).values(
                id=new_id(), submission_id=row["id"], service_code=row["service_code"], unit=row["unit"],
                step=steps.current.step, title=steps.current.title, role=steps.current.role,
                started_at=steps.current.started_at, due_at=steps.current.due_at,
            ))

    def _change_events(
        self, row: dict[str, Any], move: Transition, at: datetime, note: str | None,
        steps: StepMove | None = None, step_input: StepInput | None = None,
    ) -> list[dict[str, Any]]:
        """The outbox rows of one change, `row` as it is after it. A move between steps is the
        unit's business, not the applicant's: only a disposition is announced (to the assignee).
        Awaiting a payment is the payments hook's to announce."""
        if move.action is Action.AWAIT_PAYMENT:
            return []
        if steps is not None and move.source is move.target:
            if move.action is not Action.ASSIGN or step_input is None or step_input.assignee is None:
                return []
            record = step_input.assignee
            return outbox_rows(row, move.source, move.target, at, note, ["submission.step_assigned"], {
                "step": steps.current.wire_json() if steps.current else None,
                "assignee": {**assignee_entry(record), "email": record.email},
            })
        extra: dict[str, Any] = {}
        if row["receipt_number"] and move.target is Status.SUBMITTED:
            extra["receipt"] = {"number": row["receipt_number"], "fee": row["standard"]["fee"]}
        types = ["submission.status_changed"]
        if move.target is Status.SUBMITTED:
            types.append("submission.submitted")
        return outbox_rows(row, move.source, move.target, at, note, types, extra)

    async def record_issued(self, submission_id: str, issued: list[dict[str, Any]], actor: Identity) -> bool:
        """Approved -> issued once the output document exists; False if it was already recorded."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            row = (
                await connection.execute(
                    RECORD_ISSUED,
                    {"match_id": submission_id, "now": now, "issued_documents": issued},
                )
            ).mappings().first()
            await connection.execute(END_ISSUE_JOB, {"match_id": submission_id, "now": now})
            if row is None:
                return False
            await connection.execute(
                INSERT_HISTORY,
                history_row(submission_id, now, Action.ISSUE.value, Status.APPROVED, Status.ISSUED, actor),
            )
            await audit_log.record_all(connection, audit, [
                audited(submission_id, Action.ISSUE.value, Status.APPROVED, Status.ISSUED, actor,
                        documents=[document["document_id"] for document in issued])
            ])
            # Through the session, which is how the relay learns of it.
            await session.execute(
                INSERT_OUTBOX,
                outbox_rows(
                    dict(row), Status.APPROVED, Status.ISSUED, now, None,
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
