"""The overdue watch: a step of a procedure with roles still open after its due time raises
`submission.step_overdue`, once per late step (a visit; a step returned to and late again raises
it again).

Replicas: every replica may read the same late visits; the visit's `overdue_at` is set with a
compare-and-set (`WHERE overdue_at IS NULL AND ended_at IS NULL`) in the transaction that stages
the event, so exactly one of them stages it, and a step ended meanwhile raises nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.shared import audit as audit_log
from simpul.shared.audit import Audited
from simpul.shared.identity import Identity
from simpul.shared.worker import Worker, each
from simpul.submissions.models import audit, step_visits, submissions
from simpul.submissions.statemachine import Status
from simpul.submissions.store import INSERT_OUTBOX, outbox_rows

log = logging.getLogger("simpul.submissions.step_overdue")

WATCH = Identity(subject="service:submissions", role="service")
BATCH = 100


@dataclass(kw_only=True, eq=False)
class StepOverdueWatch:
    sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime]

    async def late_visits(self) -> list[dict[str, Any]]:
        """Up to a batch of open step visits past their due time, not yet announced; not while
        the decision waits for the applicant's payment (the clock stands, payments/)."""
        query = (
            select(step_visits)
            .join(submissions, submissions.c.id == step_visits.c.submission_id)
            .where(step_visits.c.overdue_at.is_(None), step_visits.c.ended_at.is_(None),
                   step_visits.c.due_at < self.clock(), submissions.c.paused_at.is_(None))
            .order_by(step_visits.c.due_at)
            .limit(BATCH)
        )
        async with self.read_sessions() as session:
            return [dict(r) for r in (await session.execute(query)).mappings()]

    async def announce(self, visit: dict[str, Any]) -> bool:
        """Stage `submission.step_overdue` for a late visit; False when another replica did, or
        the step ended in the meantime."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            marked = await session.execute(
                update(step_visits)
                .where(step_visits.c.id == visit["id"], step_visits.c.overdue_at.is_(None),
                       step_visits.c.ended_at.is_(None))
                .values(overdue_at=now)
            )
            if marked.rowcount != 1:
                return False
            row = dict((await session.execute(
                select(submissions).where(submissions.c.id == visit["submission_id"])
            )).mappings().one())
            step = {"step": visit["step"], "title": visit["title"], "role": visit["role"],
                    "started_at": visit["started_at"].isoformat(), "due_at": visit["due_at"].isoformat(),
                    "assigned_to": visit["assigned_to"]}
            status = Status(row["status"])
            await session.execute(
                INSERT_OUTBOX, outbox_rows(row, status, status, now, None, ["submission.step_overdue"], {"step": step})
            )
            await audit_log.record_all(session, audit, [Audited(
                WATCH, "submission.step_overdue", "submission", row["id"],
                {"step": visit["step"], "due_at": visit["due_at"].isoformat()},
            )])
        return True

    async def run_once(self) -> int:
        return sum([await self.announce(visit) for visit in await self.late_visits()])

    def worker(self, poll_seconds: float) -> Worker:
        return Worker("simpul-submissions-step-overdue", claim=self.late_visits, process=each(self.announce),
                      poll_seconds=poll_seconds, batch_size=BATCH, logger=log)
