"""The retention worker: closed submissions' personal data erased once their period is over.

A round first schedules: each closed submission without an erasure date gets one, its closing
time (the last change of a closed submission is its closing) plus the period of the standard it
was made under, or the service-wide default. Then it erases what is due, each submission in a
transaction of its own that reads it FOR UPDATE SKIP LOCKED, so replicas pass over each other's
work and the `personal_data_erased_at` check makes a second pass a no-op.

Erasing replaces the applicant by a pseudonym in the submission, its complaints and the reads
log, empties the form data, deletes the uploaded files (those no other live record holds) and
stages `submission.personal_data_erased`, on which notifications erases the mails and inbox
entries of that submission. The record itself, its history, receipt number and the issued
documents' ids and hashes stay: the signatures service verifies from its own records.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.shared import audit as audit_log
from simpul.shared.audit import SYSTEM
from simpul.shared.events import stage_event
from simpul.shared.storage import BlobStore
from simpul.shared.worker import Worker, each
from simpul.submissions.models import audit, documents, outbox, personal_data_reads, submissions
from simpul.submissions.privacy.retention import (
    CLOSED_STATES,
    erase_after,
    new_pseudonym,
    pseudonymised_applicant,
    pseudonymous_email,
)
from simpul.submissions.store import EVENT_SOURCE

log = logging.getLogger(__name__)

ERASED_EVENT = "submission.personal_data_erased"
BATCH = 100


class ErasedPart(Protocol):
    complaint_ids: list[str]
    files: list[str]


@dataclass(frozen=True)
class PartHooks:
    """What another sub-domain erases in the same transaction (complaints): `erase(connection,
    submission_id, pseudonymised applicant, now)` and `files_in_use(connection, hashes)`."""

    erase: Callable[[Any, str, dict[str, Any], datetime], Awaitable[ErasedPart]]
    files_in_use: Callable[[Any, list[str]], Awaitable[set[str]]]


@dataclass(eq=False)
class Eraser:
    sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]
    store: BlobStore
    clock: Callable[[], datetime]
    default_retention_days: int
    parts: PartHooks

    async def schedule(self) -> int:
        """Give closed submissions without one their erasure date; how many."""
        query = (
            select(submissions.c.id, submissions.c.standard, submissions.c.updated_at)
            .where(submissions.c.status.in_(CLOSED_STATES), submissions.c.erase_after.is_(None),
                   submissions.c.personal_data_erased_at.is_(None))
            .limit(BATCH)
        )
        async with self.read_sessions() as session:
            rows = (await session.execute(query)).all()
        if not rows:
            return 0
        async with self.sessions() as session, session.begin():
            for row in rows:
                # Only if still unset: another replica computes the same date anyway.
                await session.execute(
                    update(submissions).where(submissions.c.id == row.id, submissions.c.erase_after.is_(None))
                    .values(erase_after=erase_after(row.updated_at, row.standard, self.default_retention_days))
                )
        return len(rows)

    async def due(self) -> list[str]:
        """Scheduled first, then up to a batch of submissions whose erasure is due."""
        while await self.schedule() == BATCH:
            pass
        query = (
            select(submissions.c.id)
            .where(submissions.c.erase_after <= self.clock(), submissions.c.personal_data_erased_at.is_(None))
            .order_by(submissions.c.erase_after)
            .limit(BATCH)
        )
        async with self.read_sessions() as session:
            return [row.id for row in await session.execute(query)]

    async def erase_due(self) -> int:
        """One round as the worker runs it; how many submissions were erased."""
        return sum([await self.erase(submission_id) for submission_id in await self.due()])

    async def erase(self, submission_id: str) -> bool:
        """Erase one submission's personal data if it is (still) due; False when another replica
        holds or did it."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            row = (
                await connection.execute(
                    select(submissions)
                    .where(submissions.c.id == submission_id, submissions.c.erase_after <= now,
                           submissions.c.personal_data_erased_at.is_(None))
                    .with_for_update(skip_locked=True)
                )
            ).mappings().first()
            if row is None:
                return False
            pseudonym = new_pseudonym()
            applicant = pseudonymised_applicant(row["applicant"], pseudonym)
            await connection.execute(
                update(submissions).where(submissions.c.id == submission_id).values(
                    applicant=applicant, applicant_email=applicant["email"], data={},
                    personal_data_erased_at=now, version=row["version"] + 1,
                )
            )
            uploads = [r.sha256 for r in await connection.execute(
                select(documents.c.sha256).where(documents.c.submission_id == submission_id,
                                                 documents.c.content_erased_at.is_(None)))]
            await connection.execute(
                update(documents).where(documents.c.submission_id == submission_id,
                                        documents.c.content_erased_at.is_(None))
                .values(content_erased_at=now, filename=None)
            )
            erased = await self.parts.erase(connection, submission_id, applicant, now)
            reads = update(personal_data_reads).where(personal_data_reads.c.submission_id == submission_id)
            await connection.execute(reads.values(subject_email=pseudonymous_email(pseudonym)))
            files = sorted(set(uploads) | set(erased.files))
            # Files are kept by content hash: one another live record holds stays.
            kept = await self._files_in_use(connection, files) | await self.parts.files_in_use(connection, files)
            deleted = [sha256 for sha256 in files if sha256 not in kept]
            # Inside the transaction: if it then fails, the next round deletes again (a no-op) and
            # commits; the other order could leave files of a submission recorded as erased.
            for sha256 in deleted:
                await self.store.delete(sha256)
            await stage_event(
                session, outbox, type=ERASED_EVENT, source=EVENT_SOURCE, subject=f"submissions/{submission_id}",
                data={"submission_id": submission_id, "complaint_ids": erased.complaint_ids,
                      "tenant": row["tenant"], "unit": row["unit"], "at": now.isoformat()},
            )
            await audit_log.record(
                session, audit, SYSTEM, ERASED_EVENT, "submission", submission_id,
                details={"retention_ended_at": row["erase_after"].isoformat(), "files_deleted": len(deleted),
                         "documents": len(uploads), "complaints": len(erased.complaint_ids)},
            )
        log.info("personal data of submission %s erased (%d files deleted)", submission_id, len(deleted))
        return True

    @staticmethod
    async def _files_in_use(connection: Any, hashes: list[str]) -> set[str]:
        if not hashes:
            return set()
        found = await connection.execute(select(documents.c.sha256).where(
            documents.c.sha256.in_(hashes), documents.c.content_erased_at.is_(None)))
        return {r.sha256 for r in found}

    def worker(self, poll_seconds: float) -> Worker[str]:
        return Worker("simpul-submissions-retention", claim=self.due, process=each(self.erase),
                      poll_seconds=poll_seconds, batch_size=BATCH, logger=log)
