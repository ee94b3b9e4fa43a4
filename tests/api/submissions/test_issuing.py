"""Approve -> issued under load and refusal: jobs attempted at once up to the bound, never one job
twice at a time by two workers, a refusal for good ends the job and shows on the submission."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from simpul.shared.internal import InternalClient
from simpul.submissions.issuer import Issuer
from simpul.submissions.models import issue_jobs
from tests.api.submissions.conftest import JPEG, PDF, admin, applicant
from tests.api.submissions.test_lifecycle import events_of
from tests.support.identity import TEST_INTERNAL_SECRET

BOUND = 4


@pytest.fixture
def harness_overrides() -> dict:
    return {"issue_concurrency": BOUND}


async def approved(harness, **overrides) -> str:
    """A submission created (with `overrides` to its body), submitted and approved."""
    sid = (await harness.create(**overrides))["id"]
    for code, content in (("ktp", JPEG), ("domicile", PDF)):
        assert (await harness.upload(sid, code, content)).status_code == 201
    assert (await harness.client.post(f"/v1/submissions/{sid}/submit", headers=applicant())).status_code == 200
    assert (await harness.act(sid, "start_review")).status_code == 200
    assert (await harness.act(sid, "approve")).status_code == 200
    return sid


async def all_issued(harness, ids: list[str], timeout: float = 10.0) -> None:
    for sid in ids:
        assert (await harness.wait_for_status(sid, "issued", timeout))["status"] == "issued", sid


async def job(harness, sid: str):
    async with harness.app.state.read_sessions() as session:
        return (await session.execute(select(issue_jobs).where(issue_jobs.c.submission_id == sid))).one()


def second_issuer(harness, **options) -> Issuer:
    """Another worker on the same database, as in a second replica."""
    client = InternalClient(caller="submissions", target="signatures", base_url="http://signatures.test",
                            secret=TEST_INTERNAL_SECRET, transport=harness.signatures.transport())
    values = {"poll_seconds": 0.05, "retry_base_seconds": 0.01, "retry_max_seconds": 0.05, "concurrency": BOUND}
    values.update(options)
    return Issuer(harness.app.state.submissions, client, **values)


async def test_due_jobs_are_attempted_at_once_up_to_the_bound(harness):
    await harness.app.state.issuer.worker.stop()
    ids = [await approved(harness) for _ in range(BOUND * 2 + 1)]
    # Long enough that a batch's calls overlap however slowly a loaded machine starts them.
    harness.signatures.latency = 0.5
    harness.app.state.issuer.worker.start()
    await all_issued(harness, ids)
    assert harness.signatures.max_in_flight == BOUND
    assert len(harness.signatures.requests) == len(ids) == len(harness.signatures.documents)


async def test_two_workers_never_attempt_one_job_at_the_same_time(harness):
    await harness.app.state.issuer.worker.stop()
    ids = [await approved(harness) for _ in range(BOUND * 3)]
    harness.signatures.latency = 0.05
    first, other = harness.app.state.issuer, second_issuer(harness)
    rounds = []
    try:
        while len(rounds) < 10:
            rounds.append(await asyncio.gather(first.run_once(), other.run_once()))
            if rounds[-1] == [0, 0]:
                break
    finally:
        await other.client.aclose()
    # Both claimed at once, took different jobs, and each job was attempted once and issued once.
    assert rounds[0] == [BOUND, BOUND]
    assert sum(map(sum, rounds)) == len(ids)
    assert harness.signatures.overlapping == []
    assert sorted(r["submission_id"] for r in harness.signatures.requests) == sorted(ids)
    for sid in ids:
        body = (await harness.client.get(f"/v1/submissions/{sid}", headers=admin())).json()
        assert body["status"] == "issued" and len(body["issued_documents"]) == 1
        assert [e["type"] for e in await events_of(harness, sid)].count("submission.issued") == 1


async def test_a_job_claimed_by_a_replica_that_died_is_issued_once_its_lease_runs_out(harness):
    await harness.app.state.issuer.worker.stop()
    sid = await approved(harness)
    dead = second_issuer(harness)
    try:
        assert [claim.submission_id for claim in await dead._claim_due()] == [sid]  # then it died
    finally:
        await dead.client.aclose()
    issuer = harness.app.state.issuer
    assert await issuer.run_once() == 0  # leased to the dead replica
    harness.clock.advance(timedelta(seconds=issuer.lease_seconds + 1))
    assert await issuer.run_once() == 1
    await all_issued(harness, [sid])
    assert [request["submission_id"] for request in harness.signatures.requests] == [sid]


# Short enough to run out several times during one slow signing in a test.
SHORT_LEASE = 0.6


async def test_a_dead_claimers_job_is_taken_over_after_the_short_lease(harness):
    await harness.app.state.issuer.worker.stop()
    sid = await approved(harness)
    dead, heir = second_issuer(harness, lease_seconds=SHORT_LEASE), second_issuer(harness, lease_seconds=SHORT_LEASE)
    try:
        assert [claim.submission_id for claim in await dead._claim_due()] == [sid]  # then it died: no heartbeat
        assert await heir.run_once() == 0
        await asyncio.sleep(SHORT_LEASE + 0.1)
        assert await heir.run_once() == 1
    finally:
        await dead.client.aclose()
        await heir.client.aclose()
    await all_issued(harness, [sid])
    assert [request["submission_id"] for request in harness.signatures.requests] == [sid]


async def test_a_live_claimers_job_is_never_taken_over_while_signing_outlasts_the_lease(harness):
    await harness.app.state.issuer.worker.stop()
    ids = [await approved(harness) for _ in range(2)]
    harness.signatures.latency = SHORT_LEASE * 4
    holder, rival = second_issuer(harness, lease_seconds=SHORT_LEASE), second_issuer(harness, lease_seconds=SHORT_LEASE)
    try:
        holding = asyncio.create_task(holder.run_once())
        while len(harness.signatures.in_flight) < len(ids):
            await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        ends = loop.time() + SHORT_LEASE * 3
        while loop.time() < ends:
            assert await rival.run_once() == 0, "took over a job whose holder is alive"
            await asyncio.sleep(0.05)
        assert await holding == 2
        await asyncio.sleep(SHORT_LEASE)  # the heartbeat has stopped with the jobs
        assert await rival.run_once() == 0
    finally:
        await holder.client.aclose()
        await rival.client.aclose()
    await all_issued(harness, ids)
    assert sorted(request["submission_id"] for request in harness.signatures.requests) == sorted(ids)
    assert harness.signatures.overlapping == []
    for sid in ids:
        assert [e["type"] for e in await events_of(harness, sid)].count("submission.issued") == 1
        assert (await job(harness, sid)).attempts == 1


async def test_a_claimer_that_lost_its_job_does_not_record_its_outcome_over_the_new_holders(harness):
    await harness.app.state.issuer.worker.stop()
    harness.signatures.refuse_with = 422
    harness.signatures.latency = SHORT_LEASE * 2
    sid = await approved(harness)
    loser = second_issuer(harness, lease_seconds=SHORT_LEASE)
    try:
        attempt = asyncio.create_task(loser.run_once())
        while not harness.signatures.in_flight:
            await asyncio.sleep(0.01)
        async with harness.app.state.sessions() as session, session.begin():  # another replica took it over
            await session.execute(update(issue_jobs).where(issue_jobs.c.submission_id == sid)
                                  .values(claim="another-replica"))
        assert await attempt == 0
    finally:
        await loser.client.aclose()
    taken = await job(harness, sid)
    assert taken.claim == "another-replica" and taken.done_at is None and taken.failed_at is None
    assert "issuing" not in (await harness.client.get(f"/v1/submissions/{sid}", headers=admin())).json()


async def test_a_refusal_ends_the_job_and_shows_on_the_submission(harness, caplog):
    plain = await approved(harness)
    await all_issued(harness, [plain])
    assert "issuing" not in (await harness.client.get(f"/v1/submissions/{plain}", headers=admin())).json()

    harness.signatures.refuse_with = 422
    sid = await approved(harness)
    before = (await harness.client.get(f"/v1/submissions/{sid}", headers=admin())).json()
    for _ in range(250):
        if (await job(harness, sid)).done_at is not None:
            break
        await asyncio.sleep(0.02)
    ended = await job(harness, sid)
    assert ended.failed_at is not None and ended.done_at is not None and ended.attempts == 1
    assert "422" in ended.last_error

    for headers in (applicant(), admin()):
        shown = (await harness.client.get(f"/v1/submissions/{sid}", headers=headers)).json()
        assert shown["status"] == "approved"
        assert shown["version"] == before["version"] + 1
        assert shown["issuing"]["status"] == "failed"
        assert "422" in shown["issuing"]["reason"] and "applicant.name" in shown["issuing"]["reason"]
        assert shown["issuing"]["failed_at"].endswith("+00:00")
    listed = (await harness.client.get("/v1/submissions", headers=admin())).json()["items"]
    assert [s["issuing"]["status"] for s in listed if s["id"] == sid] == ["failed"]

    failed = [e for e in await events_of(harness, sid) if e["type"] == "submission.issue_failed"]
    assert len(failed) == 1
    assert failed[0]["data"]["submission_id"] == sid and "422" in failed[0]["data"]["reason"]
    assert failed[0]["data"]["unit"] == before["unit"] and failed[0]["data"]["attempts"] == 1
    assert any("refused for good" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)

    # Never tried again.
    await asyncio.sleep(0.2)
    assert await harness.app.state.issuer.run_once() == 0
    assert [r["submission_id"] for r in harness.signatures.requests].count(sid) == 1


async def test_unavailable_signatures_is_retried_with_backoff(harness):
    await harness.app.state.issuer.worker.stop()
    sid = await approved(harness)
    issuer = second_issuer(harness, retry_base_seconds=30, retry_max_seconds=300)
    harness.signatures.fail_next = 1
    try:
        assert await issuer.run_once() == 0
        waiting = await job(harness, sid)
        assert waiting.done_at is None and waiting.failed_at is None and waiting.claim is None
        assert waiting.attempts == 1 and "503" in waiting.last_error
        # Jittered around the base: at least half of it away.
        assert waiting.next_attempt_at >= harness.clock() + timedelta(seconds=14)
        assert await issuer.run_once() == 0
        assert len(harness.signatures.requests) == 1  # not due yet

        harness.clock.advance(timedelta(seconds=31))
        assert await issuer.run_once() == 1
    finally:
        await issuer.client.aclose()
    assert len(harness.signatures.requests) == 2
    assert (await job(harness, sid)).attempts == 2
    issued = (await harness.client.get(f"/v1/submissions/{sid}", headers=admin())).json()
    assert issued["status"] == "issued" and "issuing" not in issued


async def test_a_refused_credential_is_retried_not_a_refusal_for_good(harness):
    """401/403 say the services' shared secret or keys disagree: an operator's fix, not the
    request's fault, so the job waits with backoff instead of ending."""
    await harness.app.state.issuer.worker.stop()
    sid = await approved(harness)
    issuer = second_issuer(harness, retry_base_seconds=30, retry_max_seconds=300)
    harness.signatures.refuse_with = 401
    try:
        assert await issuer.run_once() == 0
        waiting = await job(harness, sid)
        assert waiting.done_at is None and waiting.failed_at is None and "401" in waiting.last_error
        harness.signatures.refuse_with = None
        harness.clock.advance(timedelta(seconds=31))
        assert await issuer.run_once() == 1
    finally:
        await issuer.client.aclose()
