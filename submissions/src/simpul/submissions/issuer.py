"""Approve -> issued: a background worker asks the signatures service for the output document.

Approving writes a row in `issue_jobs` in the same transaction. This worker claims due jobs,
calls `POST /internal/documents` on the signatures service (idempotent on submission_id, so a
retry after a lost answer returns the same document instead of a second one), and records the
result. Up to `concurrency` jobs are attempted at once: signatures signs in a pool of processes
and is only used to capacity by several requests in flight. Jobs live in the database, so a
restart picks up whatever was left.

A job is claimed under a token with a short lease (`next_attempt_at` moved `lease_seconds`
ahead), in one transaction that on PostgreSQL skips rows another claimer has locked. While jobs
are attempted, a heartbeat extends the leases of all of them every lease/3 in one UPDATE, so a
signing slower than the lease keeps its job, and a replica that dies loses its jobs to another
within one lease. A renewal that finds a job's claim gone (the lease ran out anyway, say the
database was unreachable) stops renewing it. Only the holder of the claim records a retry or a
failure; recording an issued document is idempotent whoever does it, and signatures makes one
document per submission however many times it is asked.
Refusals for good (`simpul.shared.internal.refused_for_good`: the request itself is wrong, say
a NUL byte in a name) end the job: the submission shows why (`issuing`) and
`submission.issue_failed` tells the admins. Anything else (5xx, timeouts, no connection) is retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from collections.abc import Awaitable
from typing import Any

import httpx
from sqlalchemy import Integer, bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from simpul.shared import audit as audit_log
from simpul.shared.events import stage_event
from simpul.shared.balance import IDEMPOTENCY_HEADER
from simpul.shared.identity import Identity
from simpul.shared.internal import InternalClient, refused_for_good
from simpul.shared.worker import Worker, backoff_delay, each
from simpul.submissions.models import audit, history, issue_jobs, outbox, submissions
from simpul.submissions.service import SubmissionService
from simpul.submissions.store import EVENT_SOURCE
from simpul.submissions.statemachine import Action, Status

log = logging.getLogger("simpul.submissions.issuer")

# Signatures' own identity in the submission's history: it made the document.
SIGNATURES_ACTOR = Identity(subject="service:signatures", role="service")
# Default of `SIMPUL_SUBMISSIONS_ISSUE_LEASE_SECONDS`: how long a claimed job is left alone after
# its last renewal before another worker may take it over, i.e. the takeover delay after a crash.
LEASE_SECONDS = 10.0


class IssueFailed(Exception):
    """An attempt failed in a way that may pass: try again later."""


class IssueRefused(Exception):
    """Signatures refused the request for good: trying again would get the same answer."""


@dataclass(frozen=True)
class Claim:
    submission_id: str
    attempt: int
    token: str
    body: dict[str, Any]  # the request to signatures


# Due jobs, oldest first, read with their submissions in the claiming transaction (no read per
# job). SKIP LOCKED: PostgreSQL claimers pass over each other's jobs instead of waiting; only the
# job rows are locked, the submissions stay free for readers and writers. SQLite ignores it: its
# claiming transaction is the only writer anyway.
DUE_JOBS = (
    select(
        issue_jobs.c.submission_id, issue_jobs.c.attempts, submissions.c.tracking_code, submissions.c.service_code,
        submissions.c.service_version, submissions.c.service_name, submissions.c.standard, submissions.c.unit,
        submissions.c.tenant, submissions.c.applicant, submissions.c.data, submissions.c.approved_at,
        submissions.c.approved_by, submissions.c.decision_note,
    )
    .join(submissions, submissions.c.id == issue_jobs.c.submission_id)
    .where(issue_jobs.c.done_at.is_(None), issue_jobs.c.next_attempt_at <= bindparam("now"))
    .order_by(issue_jobs.c.next_attempt_at)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True, of=issue_jobs)
)


class Issuer:
    """The issuing worker (`self.worker`, a `simpul.shared.worker.Worker`): a round claims up to
    `concurrency` due jobs and attempts them all at once."""

    def __init__(
        self,
        service: SubmissionService,
        client: InternalClient,
        *,
        poll_seconds: float,
        retry_base_seconds: float,
        retry_max_seconds: float,
        concurrency: int,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.service = service
        self.client = client
        self.lease_seconds = lease_seconds
        # Claim token of every job being attempted now, by submission: what the heartbeat renews.
        self._held: dict[str, str] = {}
        self._heartbeat: asyncio.Task | None = None
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        self.concurrency = concurrency
        # A full batch means more may be due: the worker claims again at once.
        self.worker = Worker("simpul-submissions-issuer", claim=self._claim_due,
                             process=each(self._attempt, concurrency=concurrency),
                             poll_seconds=poll_seconds, batch_size=concurrency, logger=log)

    async def run_once(self) -> int:
        """One round: claim up to `concurrency` due jobs and attempt them; how many were issued."""
        return sum(await asyncio.gather(*(self._attempt(claim) for claim in await self._claim_due())))

    async def _claim_due(self) -> list[Claim]:
        """Take up to `concurrency` due jobs, each leased for `lease_seconds` under one token, with
        what their requests need from their submissions; a crashed worker's jobs are due again
        when their lease runs out."""
        now = self.service.clock()
        token = str(uuid.uuid4())
        async with self.service.sessions() as session, session.begin():
            due = (await session.execute(DUE_JOBS, {"now": now, "limit": self.concurrency})).mappings().all()
            if not due:
                return []
            await session.execute(
                update(issue_jobs)
                .where(issue_jobs.c.submission_id.in_([row["submission_id"] for row in due]))
                .values(claim=token, next_attempt_at=now + timedelta(seconds=self.lease_seconds),
                        attempts=issue_jobs.c.attempts + 1)
            )
            acts = await _acts_of_officials(session, [row["submission_id"] for row in due])
        return [Claim(row["submission_id"], row["attempts"] + 1, token,
                      _request_body(row, acts.get(row["submission_id"], []))) for row in due]

    async def _attempt(self, claim: Claim) -> int:
        """Attempt one claimed job and record the outcome; 1 if it was issued now."""
        try:
            issued = await self._renewed_while(claim, self._call_signatures(claim.body))
        except IssueRefused as exc:
            await self._record_refusal(claim, str(exc))
            return 0
        except (IssueFailed, httpx.HTTPError) as exc:
            await self._record_retry(claim, f"{type(exc).__name__}: {exc}")
            return 0
        return int(await self.service.record_issued(claim.submission_id, [issued], SIGNATURES_ACTOR))

    async def _renewed_while(self, claim: Claim, call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        """Await `call` with the job's lease renewed by the heartbeat until it ends."""
        self._held[claim.submission_id] = claim.token
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._renew_leases(), name="simpul-submissions-issue-heartbeat")
        try:
            return await call
        finally:
            self._held.pop(claim.submission_id, None)
            if not self._held and self._heartbeat is not None:
                self._heartbeat.cancel()
                self._heartbeat = None

    async def _renew_leases(self) -> None:
        """Every lease/3, move the lease of every held job forward in one UPDATE; a job whose
        claim is gone is dropped (its outcome is then recorded only if its holder's token allows)."""
        while self._held:
            await asyncio.sleep(self.lease_seconds / 3)
            held = dict(self._held)
            if not held:
                return
            try:
                async with self.service.sessions() as session, session.begin():
                    renewed = set((await session.execute(
                        update(issue_jobs)
                        .where(issue_jobs.c.claim.in_(sorted(set(held.values()))), issue_jobs.c.done_at.is_(None),
                               issue_jobs.c.submission_id.in_(sorted(held)))
                        .values(next_attempt_at=self.service.clock() + timedelta(seconds=self.lease_seconds))
                        .returning(issue_jobs.c.submission_id)
                    )).scalars())
            except (SQLAlchemyError, OSError):  # a missed renewal only shortens the lease: keep beating
                log.warning("renewing the leases of %d issuing jobs failed", len(held), exc_info=True)
                continue
            for submission_id in held.keys() - renewed:
                if self._held.get(submission_id) == held[submission_id]:
                    log.warning("the issuing job of %s was taken over by another worker; not renewing it",
                                submission_id)
                    del self._held[submission_id]

    async def _record_retry(self, claim: Claim, error: str) -> None:
        delay = backoff_delay(claim.attempt, base=self.retry_base_seconds, cap=self.retry_max_seconds)
        log.warning("issuing the document of %s failed (attempt %d, next in %.1fs): %s",
                    claim.submission_id, claim.attempt, delay, error)
        async with self.service.sessions() as session, session.begin():
            await session.execute(
                update(issue_jobs)
                .where(issue_jobs.c.submission_id == claim.submission_id, issue_jobs.c.claim == claim.token,
                       issue_jobs.c.done_at.is_(None))
                .values(next_attempt_at=self.service.clock() + timedelta(seconds=delay), claim=None,
                        last_error=error[:2000])
            )

    async def _record_refusal(self, claim: Claim, reason: str) -> None:
        """End the job; on the submission, still approved, the reason and the event for admins."""
        now = self.service.clock()
        async with self.service.sessions() as session, session.begin():
            ended = await session.execute(
                update(issue_jobs)
                .where(issue_jobs.c.submission_id == claim.submission_id, issue_jobs.c.claim == claim.token,
                       issue_jobs.c.done_at.is_(None))
                .values(done_at=now, failed_at=now, claim=None, last_error=reason[:2000])
            )
            if ended.rowcount != 1:
                return  # the lease ran out and another attempt holds the job now
            issuing = {"status": "failed", "reason": reason[:500], "failed_at": now.isoformat()}
            shown = (
                await session.execute(
                    update(submissions)
                    .where(submissions.c.id == claim.submission_id, submissions.c.status == Status.APPROVED.value)
                    .values(issuing=issuing, version=submissions.c.version + 1, updated_at=now)
                    .returning(submissions.c.tracking_code, submissions.c.service_code,
                               submissions.c.service_version, submissions.c.unit, submissions.c.tenant)
                )
            ).mappings().first()
            if shown is not None:
                await stage_event(
                    session, outbox, type="submission.issue_failed", source=EVENT_SOURCE,
                    subject=f"submissions/{claim.submission_id}",
                    data={"submission_id": claim.submission_id, **shown, "attempts": claim.attempt, **issuing},
                )
            # Last, after the submission's row lock: the audit log's lock is never held while waiting for it.
            await audit_log.record(session, audit, audit_log.SYSTEM, "submission.issue_failed", "submission",
                                   claim.submission_id, outcome=audit_log.FAILED, details={"attempts": claim.attempt})
        log.warning("issuing the document of %s refused for good (attempt %d): %s",
                    claim.submission_id, claim.attempt, reason)

    async def _call_signatures(self, body: dict[str, Any]) -> dict[str, Any]:
        # Signatures makes one document per submission: the key lets the client send the request
        # again to another replica when the first may have received it.
        response = await self.client.request("POST", "/internal/documents", json=body,
                                             headers={IDEMPOTENCY_HEADER: f"issue-{body['submission_id']}"})
        if refused_for_good(response.status_code):
            raise IssueRefused(_refusal(response))
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


async def _acts_of_officials(session: AsyncSession, submission_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each submission's history entries made by a named official, oldest first."""
    rows = (await session.execute(
        select(history).where(history.c.submission_id.in_(submission_ids), history.c.official.is_not(None))
        .order_by(history.c.id)
    )).mappings().all()
    acts: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        acts.setdefault(row["submission_id"], []).append(dict(row))
    return acts


def approvals_of(acts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The initials chain (paraf) the document prints: every act of a named official, in order."""
    return [
        {**entry["official"], "action": entry["action"], "step": entry.get("step"), "at": entry["at"].isoformat()}
        for entry in acts
    ]


def deciding_official(acts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The official of the last approval, if the approving token acted as one."""
    approvals = [entry["official"] for entry in acts if entry["action"] == Action.APPROVE.value]
    return approvals[-1] if approvals else None


def _request_body(row: Any, acts: list[dict[str, Any]]) -> dict[str, Any]:
    """What signatures needs to make the document, from a claimed job's submission and the acts
    of its officials."""
    applicant = {"name": row["applicant"]["name"], "email": row["applicant"]["email"]}
    if row["applicant"].get("agency"):
        applicant["agency"] = row["applicant"]["agency"]
    body = {
        "submission_id": row["submission_id"],
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
    # Optional fields of the request: absent, signatures words the document as before.
    if row["standard"].get("unit_name"):
        body["unit_name"] = row["standard"]["unit_name"]
    if row["standard"].get("form_schema"):
        body["form_schema"] = row["standard"]["form_schema"]
    official = deciding_official(acts)
    if official is not None:
        body["official"] = official
    if acts:
        body["approvals"] = approvals_of(acts)
    return body


def _refusal(response: httpx.Response) -> str:
    """Why signatures refused, from its problem+json: the detail and the fields it names."""
    reason = f"signatures refused the document ({response.status_code})"
    try:
        problem = response.json()
    except ValueError:
        return reason
    if not isinstance(problem, dict):
        return reason
    if isinstance(problem.get("detail"), str):
        reason += f": {problem['detail']}"
    errors = problem.get("errors")
    if isinstance(errors, list):
        fields = [f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
        if fields:
            reason += f" ({'; '.join(fields)})"
    return reason
