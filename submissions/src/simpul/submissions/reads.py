"""Who read whose personal data (UU 27/2022): every read of an applicant's data by an officer or
an admin is one row of `personal_data_reads`, written before the answer goes out, so a read that
cannot be recorded is not served. Applicants reading their own region's data, the services and
the public (tracking) are not recorded: only officials and admins read someone else's data.

The data subject sees the rows of its submission (`GET /v1/submissions/{id}/reads`); the admin
export gathers them by email.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.shared.identity import Identity
from simpul.shared.requestid import current_request_id
from simpul.submissions.access import next_page, oldest_first, visible_submission
from simpul.submissions.models import personal_data_reads

RECORDED_ROLES = frozenset({"officer", "admin"})


class Resource(StrEnum):
    SUBMISSION = "submission"
    SUBMISSION_LIST = "submission_list"
    HISTORY = "history"
    DOCUMENTS = "documents"
    DOCUMENT_CONTENT = "document_content"
    RECEIPT = "receipt"
    COMPLAINT = "complaint"
    COMPLAINT_LIST = "complaint_list"
    COMPLAINT_ATTACHMENT = "complaint_attachment"
    DATA_SUBJECT_EXPORT = "data_subject_export"


@dataclass(frozen=True, slots=True)
class Subject:
    """Whose data was read: the submission (or complaint) and the applicant's email."""

    email: str | None
    submission_id: str | None = None
    complaint_id: str | None = None


def recorded(identity: Identity) -> bool:
    return identity.role in RECORDED_ROLES


def email_of(applicant: dict[str, Any] | None) -> str | None:
    email = (applicant or {}).get("email")
    return str(email).lower() if email else None


def read_rows(identity: Identity, resource: Resource, subjects: Iterable[Subject], at: datetime) -> list[dict]:
    official = identity.official
    request_id = current_request_id()
    return [
        {
            "at": at,
            "reader": identity.subject,
            "reader_role": identity.role,
            "reader_tenant": identity.tenant,
            "official": {"nip": official.nip, "name": official.name, "position": official.position}
            if official is not None else None,
            "resource": resource.value,
            "submission_id": subject.submission_id,
            "complaint_id": subject.complaint_id,
            "subject_email": subject.email,
            "request_id": request_id,
        }
        for subject in subjects
    ]


def read_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": row["at"],
        "reader": {
            "client_id": row["reader"],
            "role": row["reader_role"],
            "unit": row["reader_tenant"] if row["reader_role"] == "officer" else None,
            "official": row["official"],
        },
        "resource": row["resource"],
        "submission_id": row["submission_id"],
        "complaint_id": row["complaint_id"],
        "request_id": row["request_id"],
    }


@dataclass(eq=False)
class ReadLog:
    sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime]

    async def record(self, identity: Identity, resource: Resource, subjects: Iterable[Subject]) -> None:
        """One row per subject when `identity` is an officer or admin; nothing otherwise."""
        if not recorded(identity):
            return
        rows = read_rows(identity, resource, subjects, self.clock())
        if not rows:
            return
        async with self.sessions() as session, session.begin():
            await session.execute(insert(personal_data_reads), rows)

    async def of_submission(
        self, identity: Identity, submission_id: str, *, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        """The reads of one submission's data, oldest first, for whoever may see the submission."""
        query = select(personal_data_reads).where(personal_data_reads.c.submission_id == submission_id)
        query = oldest_first(query, personal_data_reads.c.id, limit, cursor)
        async with self.read_sessions() as session:
            await visible_submission(session, identity, submission_id)
            page, next_cursor = next_page([dict(r) for r in (await session.execute(query)).mappings()], limit)
        return {"items": [read_view(row) for row in page], "next_cursor": next_cursor}
