"""Approve -> issued: a background worker asks the signatures service for the output document.

Approving writes a row in `issue_jobs` in the same transaction. This worker claims due jobs,
calls `POST /internal/documents` on the signatures service (idempotent on submission_id, so a
retry after a lost answer returns the same document instead of a second one), and records the
result; failures are retried with exponential backoff. Jobs live in the database, so a restart
picks up whatever was left.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from simpul.shared.identity import Identity
from simpul.shared.internal import InternalClient
from simpul.shared.worker import Worker, each
from simpul.submissions.models import issue_jobs, submissions
from simpul.submissions.service import SubmissionService

log = logging.getLogger("simpul.submissions.issuer")

# Signatures' own identity in the submission's history: it made the document.
SIGNATURES_ACTOR = Identity(subject="service:signatures", role="service")
# How long claimed jobs are left alone before another attempt may take them over: the claim
# covers a whole batch, attempted one after another.
CLAIM_SECONDS = 120
BATCH = 20


class IssueFailed(Exception):
    pass


class Issuer:
    """The issuing worker (`self.worker`, a `simpul.shared.worker.Worker`): a round claims up to a
    batch of due jobs and attempts them one by one."""

    def __init__(
        self,
        service: SubmissionService,
        client: InternalClient,
        *,
        poll_seconds: float,
        retry_base_seconds: float,
        retry_max_seconds: float,
    ) -> None:
        self.service = service
        self.client = client
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        self.worker = Worker("simpul-submissions-issuer", claim=self._claim_due, process=each(self._attempt),
                             poll_seconds=poll_seconds, logger=log)

    async def run_once(self) -> int:
        """Try every due job once; how many were issued."""
        return sum([await self._attempt(job) for job in await self._claim_due()])

    async def _claim_due(self) -> list[tuple[str, int]]:
        """Take up to a batch of due jobs, each for CLAIM_SECONDS (a compare-and-set on the due
        time read, so two processes never take the same job, and a crashed one's jobs are due
        again when the claim runs out); each job's id and the number of its attempt."""
        now = self.service.clock()
        async with self.service.read_sessions() as session:
            due = (
                await session.execute(
                    select(issue_jobs.c.submission_id, issue_jobs.c.next_attempt_at, issue_jobs.c.attempts)
                    .where(issue_jobs.c.done_at.is_(None), issue_jobs.c.next_attempt_at <= now)
                    .order_by(issue_jobs.c.next_attempt_at)
                    .limit(BATCH)
                )
            ).all()
        if not due:
            return []
        claimed_until = self.service.clock() + timedelta(seconds=CLAIM_SECONDS)
        claimed = []
        for submission_id, seen_next_attempt, attempts in due:
            # One short transaction a job: no claimer holds a batch of rows locked while others wait.
            async with self.service.sessions() as session, session.begin():
                result = await session.execute(
                    update(issue_jobs)
                    .where(
                        issue_jobs.c.submission_id == submission_id,
                        issue_jobs.c.done_at.is_(None),
                        issue_jobs.c.next_attempt_at == seen_next_attempt,
                    )
                    .values(next_attempt_at=claimed_until, attempts=attempts + 1)
                )
            if result.rowcount == 1:
                claimed.append((submission_id, attempts + 1))
        return claimed

    async def _attempt(self, job: tuple[str, int]) -> int:
        submission_id, attempt = job
        try:
            body = await self._request_body(submission_id)
            issued = await self._call_signatures(body)
        except (IssueFailed, httpx.HTTPError) as exc:
            delay = min(self.retry_max_seconds, self.retry_base_seconds * 2 ** (attempt - 1))
            delay *= random.uniform(0.8, 1.2)
            log.warning("issuing the document of %s failed (attempt %d, next in %.1fs): %s",
                        submission_id, attempt, delay, exc)
            async with self.service.sessions() as session, session.begin():
                await session.execute(
                    update(issue_jobs)
                    .where(issue_jobs.c.submission_id == submission_id)
                    .values(
                        next_attempt_at=self.service.clock() + timedelta(seconds=delay),
                        last_error=f"{type(exc).__name__}: {exc}"[:2000],
                    )
                )
            return 0
        return int(await self.service.record_issued(submission_id, [issued], SIGNATURES_ACTOR))

    async def _request_body(self, submission_id: str) -> dict[str, Any]:
        async with self.service.read_sessions() as session:
            row = (await session.execute(select(submissions).where(submissions.c.id == submission_id))).mappings().one()
        applicant = {"name": row["applicant"]["name"], "email": row["applicant"]["email"]}
        if row["applicant"].get("agency"):
            applicant["agency"] = row["applicant"]["agency"]
        body = {
            "submission_id": row["id"],
            "tracking_code": row["tracking_code"],
            "service_code": row["service_code"],
            "service_version": row["service_version"],
            "service_name": row["service_name"],
            "output": row["standard"].get("output") or {},
            "unit": row["unit"],
            "tenant": row["tenant"],
            "applicant": applicant,
            "data": row["data"],
            "approved_at": row["approved_at"].isoformat(),
            "approved_by": row["approved_by"],
        }
        if row["decision_note"]:
            body["note"] = row["decision_note"]
        return body

    async def _call_signatures(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.request("POST", "/internal/documents", json=body)
        if response.status_code not in (200, 201):
            raise IssueFailed(f"signatures answered {response.status_code}")
        try:
            document = response.json()
            issued = {"document_id": str(document["document_id"]), "verify_url": str(document["verify_url"])}
        except (ValueError, KeyError, TypeError) as exc:
            raise IssueFailed("signatures answered without document_id / verify_url") from exc
        for optional in ("number", "sha256", "issued_at"):
            if document.get(optional) is not None:
                issued[optional] = document[optional]
        return issued
