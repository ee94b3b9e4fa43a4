"""The statements of the write path, built once, and the rows a change writes besides the
submission itself: its history entry, its events in the outbox, the unit's receipt numbers.

Built once: each execution then passes only its parameters, and SQLAlchemy finds the compiled
form in its cache by a short key instead of building and hashing a new expression (one bound
parameter per column) for every request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from simpul.shared.audit import Audited
from simpul.shared.events import envelope
from simpul.shared.identity import Identity
from simpul.submissions.models import documents, history, issue_jobs, outbox, receipt_counters, submissions
from simpul.submissions.statemachine import Status
from simpul.submissions.steps import frozen_procedure

# Where statements run: the session, or its connection (Core statements, without the ORM layer).
Executor = AsyncSession | AsyncConnection

EVENT_SOURCE = "simpul/submissions"

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
# One submission as a caller may see it, by what the caller is matched on (`Visibility.key`;
# None: admins, who see all). See `access.visible_submission`.
VISIBLE = {
    None: _BY_ID,
    "tenant": _BY_ID.where(submissions.c.tenant == bindparam("scope_value")),
    "unit": _BY_ID.where(submissions.c.unit == bindparam("scope_value")),
}
LOCKED_VISIBLE = {key: query.with_for_update() for key, query in VISIBLE.items()}
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


def snapshot(standard: dict[str, Any]) -> dict[str, Any]:
    """What a submission keeps of its service's version, so later revisions don't change it (a
    procedure with roles among it: the version a submission was made under decides its steps)."""
    fee = standard.get("fee") or {}
    procedure = frozen_procedure(standard.get("procedure"))
    return {
        **({"procedure": procedure} if procedure else {}),
        "name": standard.get("name", standard["code"]),
        "name_en": standard.get("name_en"),
        "unit": standard["unit"],
        # The unit's full name, for the issued document (None: the standard doesn't give it).
        "unit_name": standard.get("unit_name"),
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
            # Where payment is awaited and whether it is refunded (payments/ bills on these); only
            # when Simpul collects the fee, so a submission's fee reads as before otherwise.
            **({"payment_stage": fee["payment_stage"], "refundable": bool(fee.get("refundable", False))}
               if fee.get("payment_stage", "none") != "none" else {}),
        },
        "output": standard.get("output"),
        # None: the service-wide default applies (the retention worker reads it when the submission closes).
        "personal_data_retention_days": standard.get("personal_data_retention_days"),
    }


def history_row(
    submission_id: str,
    at: datetime,
    action: str,
    source: Status | None,
    target: Status,
    actor: Identity,
    *,
    note: str | None = None,
    document: dict[str, Any] | None = None,
    step: int | None = None,
    assignee: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "step": step,
        "assignee": assignee,
        "submission_id": submission_id,
        "at": at,
        "action": action,
        "from_status": source.value if source else None,
        "to_status": target.value,
        "actor_id": actor.subject,
        "actor_role": actor.role,
        "note": note,
        "document": document,
        "official": named_official(actor),
    }


def named_official(actor: Identity) -> dict[str, str] | None:
    """Who acted, as the history and the issued document name them: only what the assertion says."""
    official = actor.official
    if official is None:
        return None
    return {"nip": official.nip, "name": official.name, "position": official.position}


def audited(submission_id: str, action: str, source: Status | None, target: Status, actor: Identity, *,
            request_id: str | None = None, **details: Any) -> Audited:
    """The audit row beside a history entry: the move and the ids involved, never the note."""
    return Audited(actor, f"submission.{action}", "submission", submission_id,
                   {"from": source.value if source else None, "to": target.value, **details}, request_id=request_id)


def outbox_rows(
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


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def next_receipt_numbers(session: Executor, unit: str, year: int, count: int) -> list[str]:
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


# Approved -> issued (`SubmissionService.record_issued`): the row as it is after the change comes
# back with it, for the events, instead of being read again.
RECORD_ISSUED = (
    update(submissions)
    .where(submissions.c.id == bindparam("match_id"), submissions.c.status == Status.APPROVED.value)
    .values(status=Status.ISSUED.value, version=submissions.c.version + 1, updated_at=bindparam("now"),
            issued_documents=bindparam("issued_documents"))
    .returning(*submissions.c)
)
END_ISSUE_JOB = (
    update(issue_jobs)
    .where(issue_jobs.c.submission_id == bindparam("match_id"))
    .values(done_at=bindparam("now"), last_error=None)
)
# The public tracking page's columns of one submission (`SubmissionService.track`, polled by
# applicants): built once, so a poll does not build and key the statement again.
TRACKED = select(
    *(
        submissions.c[name]
        for name in (
            "tracking_code", "status", "service_code", "service_name", "updated_at", "sla_working_days",
            "submitted_at", "due_at", "paused_at", "paused_working_days", "stopped_at", "unit", "created_at",
        )
    )
).where(submissions.c.tracking_code == bindparam("code"))
