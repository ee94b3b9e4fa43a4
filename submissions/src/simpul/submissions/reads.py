"""Who read whose personal data in this service (simpul.shared.personal_data): submissions, their
history, documents and receipts, complaints. The data subject sees the rows of its submission
(`GET /v1/submissions/{id}/reads`); the admin export gathers them by email.
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
from simpul.shared.personal_data import email_of, read_rows, recorded
from simpul.shared.personal_data import read_view as shared_read_view
from simpul.submissions.access import next_page, oldest_first, visible_submission
from simpul.submissions.models import personal_data_reads

__all__ = ["ReadLog", "Resource", "Subject", "email_of", "read_view"]


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
    """Whose data was read: the applicant's email, and the submission (or complaint)."""

    email: str | None
    submission_id: str | None = None
    complaint_id: str | None = None

    def columns(self) -> dict[str, Any]:
        return {"subject_email": self.email, "submission_id": self.submission_id, "complaint_id": self.complaint_id}


def read_view(row: Any) -> dict[str, Any]:
    return shared_read_view(row, "complaint_id")


@dataclass(eq=False)
class ReadLog:
    sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime]

    async def record(self, identity: Identity, resource: Resource, subjects: Iterable[Subject]) -> None:
        """One row per subject when `identity` is an officer or admin; nothing otherwise."""
        if not recorded(identity):
            return
        rows = read_rows(identity, resource.value, [subject.columns() for subject in subjects], self.clock())
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
