"""Everything the submissions service holds about one applicant email (the data subject's request
under UU 27/2022): its submissions with form data, history and documents' metadata, complaints,
surveys, and who read any of it when. Recorded as a read itself, by the admin who asked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.shared.identity import Identity
from simpul.submissions.models import documents, history, personal_data_reads, submissions
from simpul.submissions.reads import ReadLog, Resource, Subject, read_view
from simpul.submissions.views import document_view, history_entry_view

# What another sub-domain exports: `export(session, email, submission ids) -> items`.
PartExport = Callable[[Any, str, list[str]], Awaitable[list[dict[str, Any]]]]


def submission_export(row: dict[str, Any], entries: list[dict], files: list[dict]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "tracking_code": row["tracking_code"],
        "status": row["status"],
        "service_code": row["service_code"],
        "service_version": row["service_version"],
        "unit": row["unit"],
        "tenant": row["tenant"],
        "applicant": row["applicant"],
        "data": row["data"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "submitted_at": row["submitted_at"],
        "receipt_number": row["receipt_number"],
        "decision_note": row["decision_note"],
        "issued_documents": row["issued_documents"] or [],
        "erase_after": row["erase_after"],
        "personal_data_erased_at": row["personal_data_erased_at"],
        "history": [history_entry_view(e) for e in entries],
        "documents": [document_view(d) for d in files],
    }


@dataclass(eq=False)
class SubjectExport:
    read_sessions: async_sessionmaker[AsyncSession]
    reads: ReadLog
    clock: Callable[[], datetime]
    parts: dict[str, PartExport]

    async def export(self, identity: Identity, email: str) -> dict[str, Any]:
        email = email.lower()
        async with self.read_sessions() as session:
            rows = [dict(r) for r in (await session.execute(
                select(submissions).where(submissions.c.applicant_email == email).order_by(submissions.c.id)
            )).mappings()]
            ids = [row["id"] for row in rows]
            entries: dict[str, list[dict]] = {i: [] for i in ids}
            files: dict[str, list[dict]] = {i: [] for i in ids}
            if ids:
                for entry in (await session.execute(
                    select(history).where(history.c.submission_id.in_(ids)).order_by(history.c.id)
                )).mappings():
                    entries[entry["submission_id"]].append(dict(entry))
                for document in (await session.execute(
                    select(documents).where(documents.c.submission_id.in_(ids))
                    .order_by(documents.c.uploaded_at, documents.c.id)
                )).mappings():
                    files[document["submission_id"]].append(dict(document))
            parts = {name: await export(session, email, ids) for name, export in self.parts.items()}
            whose = personal_data_reads.c.subject_email == email
            if ids:
                whose = or_(whose, personal_data_reads.c.submission_id.in_(ids))
            reads = [read_view(dict(r)) for r in (await session.execute(
                select(personal_data_reads).where(whose).order_by(personal_data_reads.c.id)
            )).mappings()]
        # The export is a read of all of it; recorded once per submission, or once for the email.
        await self.reads.record(identity, Resource.DATA_SUBJECT_EXPORT,
                                [Subject(email, i) for i in ids] or [Subject(email)])
        return {
            "email": email,
            "submissions": [submission_export(row, entries[row["id"]], files[row["id"]]) for row in rows],
            **parts,
            "reads": reads,
        }
