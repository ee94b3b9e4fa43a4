"""The procedure as the workflow through the API: a service whose steps have roles is reviewed
step by step by the unit's officials (forward, return, assign, and the decision at the last step
by a signer), each step due on the working-day calendar; refusals name the role or the field and
write nothing; a service without roles keeps its single review step."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from simpul.shared.identity import Official
from simpul.submissions.models import outbox
from simpul.submissions.step_overdue import StepOverdueWatch
from tests.api.submissions.conftest import JPEG, PDF, admin, applicant, officer
from tests.api.submissions.fakes import OTHER_UNIT, UNIT, standard
from tests.support.identity import anonymous, as_role

WIB = timedelta(hours=7)
SOP = "IZIN-SOP"
STEPS = [
    {"step": 1, "title": "Verifikasi berkas", "actor": "Verifikator", "role": "verifier", "working_days": 2},
    {"step": 2, "title": "Telaah dan paraf", "actor": "Kepala Bagian", "role": "reviewer", "working_days": 2},
    {"step": 3, "title": "Penandatanganan", "actor": "Kepala Biro", "role": "signer", "working_days": 1},
]


def official(id: str, nip_end: str, name: str, *roles: str) -> Official:
    return Official(id=id, nip=f"1985033020100110{nip_end}", name=name, position="Pejabat uji", roles=roles)


VERIFIER = official("off-verifier", "01", "Ani Verifikator", "verifier")
REVIEWER = official("off-reviewer", "02", "Budi Penelaah", "reviewer")
SECOND_REVIEWER = official("off-reviewer-2", "03", "Citra Penelaah", "reviewer")
SIGNER = official("off-signer", "04", "Dedi Kepala Biro", "signer")
RETIRED = official("off-retired", "05", "Eko Pensiun", "reviewer")
FOREIGN = official("off-foreign", "06", "Fajar Unit Lain", "reviewer")


def wib(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC) - WIB


def as_official(who: Official, unit: str = UNIT) -> dict[str, str]:
    return as_role("submissions", "officer", unit, subject="cli-officer", official=who)


@pytest.fixture
def sop(harness):
    harness.catalog.services[SOP] = standard(SOP)
    harness.catalog.services[SOP].update(procedure=STEPS, sla_working_days=5)
    for who in (VERIFIER, REVIEWER, SIGNER):
        harness.officials.add(who)
    harness.officials.add(SECOND_REVIEWER, email="citra@kemendagri.go.id")
    harness.officials.add(RETIRED, active=False)
    harness.officials.add(FOREIGN, OTHER_UNIT)
    return harness


async def step(harness, submission_id: str, action: str, who: Official | None, *, expect: int = 200, **fields):
    headers = as_official(who) if who is not None else officer()
    response = await harness.client.post(f"/v1/submissions/{submission_id}/actions",
                                         json={"action": action, **fields}, headers=headers)
    assert response.status_code == expect, response.text
    return response.json()


async def history(harness, submission_id: str) -> list[dict]:
    return (await harness.client.get(f"/v1/submissions/{submission_id}/history?limit=200", headers=admin())).json()["items"]


async def ids(harness, query: str, headers: dict) -> list[str]:
    response = await harness.client.get(f"/v1/submissions{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_three_steps_with_a_disposition_a_return_and_a_revision_end_issued(sop):
    harness = sop
    harness.clock.set(wib(3, 2))  # Monday 2 March 2026
    submitted = await harness.submitted(service_code=SOP)
    sid = submitted["id"]
    assert submitted["current_step"] is None

    started = await step(harness, sid, "start_review", VERIFIER)
    assert started["current_step"].pop("started_at").startswith("2026-03-02T03:00:")  # the clock runs on
    assert started["current_step"] == {
        "step": 1, "title": "Verifikasi berkas", "role": "verifier",
        # Two working days after Monday: Wednesday, 23:59:59 in Jakarta.
        "due_at": "2026-03-04T16:59:59+00:00", "assigned_to": None,
    }
    assert started["allowed_actions"] == ["forward", "assign", "request_revision", "reject"]

    harness.clock.set(wib(3, 3))
    forwarded = await step(harness, sid, "forward", VERIFIER)
    assert (forwarded["current_step"]["step"], forwarded["current_step"]["due_at"]) == (2, "2026-03-05T16:59:59+00:00")

    # Disposition to one reviewer, then re-assigned to another: both kept in history.
    assigned = await step(harness, sid, "assign", REVIEWER, official_id=SECOND_REVIEWER.id,
                          note="Mohon ditelaah kelengkapan NIB.")
    assert assigned["current_step"]["assigned_to"] == SECOND_REVIEWER.id
    assert assigned["current_step"]["due_at"] == forwarded["current_step"]["due_at"]
    assert await ids(harness, "?assigned_to=me", as_official(SECOND_REVIEWER)) == [sid]
    assert await ids(harness, f"?assigned_to={SECOND_REVIEWER.id}", officer()) == [sid]
    assert await ids(harness, "?assigned_to=me", as_official(REVIEWER)) == []
    await step(harness, sid, "assign", SECOND_REVIEWER, official_id=REVIEWER.id, note="Dikembalikan ke Pak Budi.")
    assert await ids(harness, "?assigned_to=me", as_official(REVIEWER)) == [sid]
    assert await ids(harness, "?assigned_to=me", as_official(SECOND_REVIEWER)) == []

    # The assignee is told: an event for the notifications service (mail when it has an address).
    assigned_events = [e for e in await published_events(harness) if e["type"] == "submission.step_assigned"]
    assert [(e["data"]["assignee"]["id"], e["data"]["assignee"]["email"], e["data"]["note"]) for e in assigned_events] == [
        (SECOND_REVIEWER.id, "citra@kemendagri.go.id", "Mohon ditelaah kelengkapan NIB."),
        (REVIEWER.id, None, "Dikembalikan ke Pak Budi."),
    ]
    assert assigned_events[0]["data"]["step"]["step"] == 2

    returned = await step(harness, sid, "return", REVIEWER, to_step=1, note="Cek ulang domisili.")
    assert (returned["current_step"]["step"], returned["current_step"]["assigned_to"]) == (1, None)
    revision = await step(harness, sid, "request_revision", VERIFIER, note="Domisili kedaluwarsa.")
    assert (revision["status"], revision["current_step"]) == ("revision_requested", None)

    harness.clock.set(wib(3, 4))
    assert (await harness.upload(sid, "domicile", PDF)).status_code == 201
    resubmitted = await harness.client.post(f"/v1/submissions/{sid}/submit", headers=applicant())
    assert resubmitted.status_code == 200, resubmitted.text
    again = await step(harness, sid, "start_review", VERIFIER)
    assert again["current_step"]["step"] == 1
    await step(harness, sid, "forward", VERIFIER)
    at_last = await step(harness, sid, "forward", REVIEWER)
    assert at_last["current_step"]["role"] == "signer"
    assert at_last["allowed_actions"] == []  # the officer token names no official
    signer_view = (await harness.client.get(f"/v1/submissions/{sid}", headers=as_official(SIGNER))).json()
    assert signer_view["allowed_actions"] == ["return", "assign", "request_revision", "reject", "approve"]
    approved = await step(harness, sid, "approve", SIGNER, note="Disetujui.")
    assert (approved["status"], approved["current_step"]) == ("approved", None)
    assert (await harness.wait_for_status(sid, "issued"))["status"] == "issued"

    entries = await history(harness, sid)
    assert [(e["action"], e["step"]) for e in entries] == [
        ("create", None), ("upload_document", None), ("upload_document", None), ("submit", None),
        ("start_review", 1), ("forward", 1), ("assign", 2), ("assign", 2), ("return", 2),
        ("request_revision", 1), ("upload_document", None), ("submit", None), ("start_review", 1),
        ("forward", 1), ("forward", 2), ("approve", 3), ("issue", None),
    ]
    dispositions = [e for e in entries if e["action"] == "assign"]
    assert [d["assignee"]["nip"] for d in dispositions] == [SECOND_REVIEWER.nip, REVIEWER.nip]
    assert dispositions[0]["assignee"]["name"] == "Citra Penelaah"


async def published_events(harness) -> list[dict]:
    """The events staged in the outbox, in order (the relay takes them from there)."""
    async with harness.app.state.read_sessions() as session:
        rows = await session.execute(select(outbox.c.type, outbox.c.data).order_by(outbox.c.position))
        return [{"type": r.type, "data": r.data} for r in rows]


async def in_review_at_step_two(harness) -> str:
    submitted = await harness.submitted(service_code=SOP)
    await step(harness, submitted["id"], "start_review", VERIFIER)
    await step(harness, submitted["id"], "forward", VERIFIER)
    return submitted["id"]


async def test_refusals_name_the_role_or_the_field_and_write_nothing(sop):
    harness = sop
    sid = await in_review_at_step_two(harness)
    before = (await harness.client.get(f"/v1/submissions/{sid}", headers=admin())).json()
    entries = await history(harness, sid)

    no_official = await step(harness, sid, "forward", None, expect=403)
    assert no_official["type"].endswith("official-required") and "official=<NIP>" in no_official["detail"]
    wrong_role = await step(harness, sid, "forward", VERIFIER, expect=403)
    assert (wrong_role["role"], wrong_role["step"]) == ("reviewer", 2) and "'reviewer'" in wrong_role["detail"]
    assert (await step(harness, sid, "approve", REVIEWER, expect=409))["type"].endswith("invalid-step")
    assert (await step(harness, sid, "approve", SIGNER, expect=403))["role"] == "reviewer"

    def field_of(problem):
        return [error["field"] for error in problem["errors"]]

    assert field_of(await step(harness, sid, "return", REVIEWER, expect=422, to_step=1)) == ["note"]
    assert field_of(await step(harness, sid, "return", REVIEWER, expect=422, to_step=2, note="x")) == ["to_step"]
    assert field_of(await step(harness, sid, "return", REVIEWER, expect=422, note="x")) == ["to_step"]
    for who in (RETIRED, FOREIGN, VERIFIER):
        problem = await step(harness, sid, "assign", REVIEWER, expect=422, official_id=who.id, note="Telaah")
        assert field_of(problem) == ["official_id"], who
    unknown = await step(harness, sid, "assign", REVIEWER, expect=422, official_id="off-nobody", note="Telaah")
    assert field_of(unknown) == ["official_id"]
    assert field_of(await step(harness, sid, "assign", REVIEWER, expect=422, official_id=REVIEWER.id)) == ["note"]
    missing = await harness.client.post(f"/v1/submissions/{sid}/actions", json={"action": "assign", "note": "Telaah"},
                                        headers={**as_official(REVIEWER), "Accept-Language": "en"})
    assert missing.json()["errors"] == [{"field": "official_id", "message": "is required for this action"}]
    # An official of another unit does not see the submission at all.
    foreign = await harness.client.post(f"/v1/submissions/{sid}/actions", json={"action": "forward"},
                                        headers=as_official(FOREIGN, OTHER_UNIT))
    assert foreign.status_code == 404
    # An applicant may not act, whatever the body says.
    assert (await harness.client.post(f"/v1/submissions/{sid}/actions", json={"action": "forward"},
                                      headers=applicant())).status_code == 403

    assert (await harness.client.get(f"/v1/submissions/{sid}", headers=admin())).json() == before
    assert await history(harness, sid) == entries
    # A refused caller made no call to the registry; those who could dispose did.
    assert {call.url.path for call in harness.officials.calls} <= {
        f"/internal/officials/{who}" for who in (RETIRED.id, FOREIGN.id, VERIFIER.id, "off-nobody", REVIEWER.id)}


async def test_wrong_state_is_409(sop):
    harness = sop
    submitted = await harness.submitted(service_code=SOP)
    assert (await step(harness, submitted["id"], "forward", VERIFIER, expect=409))["type"].endswith("invalid-state")
    assert (await step(harness, submitted["id"], "start_review", REVIEWER, expect=403))["role"] == "verifier"
    await step(harness, submitted["id"], "start_review", VERIFIER)
    assert (await step(harness, submitted["id"], "start_review", VERIFIER, expect=409))["type"].endswith("invalid-state")


async def test_a_service_without_roles_keeps_its_single_review_step(sop):
    harness = sop
    submitted = await harness.submitted()
    reviewed = await step(harness, submitted["id"], "start_review", None)
    assert reviewed["current_step"] is None
    assert reviewed["allowed_actions"] == ["request_revision", "approve", "reject"]  # as before
    refused = await step(harness, submitted["id"], "forward", None, expect=409)
    assert refused["type"].endswith("no-procedure-steps")
    # Acting as an official changes nothing for such a service.
    await step(harness, submitted["id"], "approve", SIGNER)


async def test_the_version_a_submission_was_made_under_decides_its_procedure(sop):
    harness = sop
    made_with_steps = await harness.submitted(service_code=SOP)
    harness.catalog.publish(SOP, procedure=[{"step": 1, "title": "Verifikasi", "actor": "Petugas"}])
    made_without = await harness.submitted(service_code=SOP)
    assert (await step(harness, made_with_steps["id"], "start_review", None, expect=403))["type"].endswith(
        "official-required")
    await step(harness, made_with_steps["id"], "start_review", VERIFIER)
    assert (await step(harness, made_without["id"], "start_review", None))["current_step"] is None


async def test_a_late_step_raises_one_event_and_shows_in_the_list(sop):
    harness = sop
    harness.clock.set(wib(3, 2))
    sid = await in_review_at_step_two(harness)  # step 2 due Wednesday 4 March
    on_time = await harness.submitted(service_code=SOP)
    watch = harness.app.state.step_overdue
    assert await watch.run_once() == 0
    assert await ids(harness, "?step_overdue=true", officer()) == []
    harness.clock.set(wib(3, 5))
    await step(harness, on_time["id"], "start_review", VERIFIER)  # due Monday 9 March
    assert await ids(harness, "?step_overdue=true", officer()) == [sid]
    assert await ids(harness, "?step_overdue=false", officer()) == [on_time["id"]]
    # Two replicas see the same late step at once: one announces it.
    other_replica = StepOverdueWatch(sessions=harness.app.state.sessions,
                                     read_sessions=harness.app.state.read_sessions, clock=harness.clock)
    (visit,) = await watch.late_visits()
    assert sorted(await asyncio.gather(watch.announce(dict(visit)), other_replica.announce(dict(visit)))) == [
        False, True]
    assert await watch.run_once() == 0  # once per late step
    late = [e for e in await published_events(harness) if e["type"] == "submission.step_overdue"]
    assert [(e["data"]["submission_id"], e["data"]["step"]["step"], e["data"]["step"]["role"]) for e in late] == [
        (sid, 2, "reviewer")]
    # Returned and late again: a new late step, a new event.
    await step(harness, sid, "return", REVIEWER, to_step=1, note="Ulang")
    harness.clock.set(wib(3, 12))
    assert await watch.run_once() == 2


async def test_the_performance_report_has_per_step_figures(sop):
    harness = sop
    harness.clock.set(wib(3, 2))
    fast = await harness.submitted(service_code=SOP)
    slow = await harness.submitted(service_code=SOP)
    for sid in (fast["id"], slow["id"]):
        await step(harness, sid, "start_review", VERIFIER)
    harness.clock.set(wib(3, 3))
    await step(harness, fast["id"], "forward", VERIFIER)  # 1 working day, on time
    harness.clock.set(wib(3, 6))
    await step(harness, slow["id"], "forward", VERIFIER)  # 4 working days, due the 4th: late
    await step(harness, fast["id"], "forward", REVIEWER)  # 3 working days, due the 5th: late
    await step(harness, fast["id"], "approve", SIGNER, note="Ok")  # same day, on time

    report = (await harness.client.get("/v1/reports/performance?from=2026-03-01&to=2026-03-31",
                                       headers=anonymous("submissions"))).json()
    row = next(r for r in report["services"] if r["service_code"] == SOP)
    assert row["steps"] == [
        {"step": 1, "role": "verifier", "title": "Verifikasi berkas", "completed": 2, "median_working_days": 2.5,
         "on_time": 1, "on_time_share": 0.5},
        {"step": 2, "role": "reviewer", "title": "Telaah dan paraf", "completed": 1, "median_working_days": 3,
         "on_time": 0, "on_time_share": 0.0},
        {"step": 3, "role": "signer", "title": "Penandatanganan", "completed": 1, "median_working_days": 0,
         "on_time": 1, "on_time_share": 1.0},
    ]
    assert report["total"]["steps"] == []
    assert row["completed"] == 1  # the existing figures are unchanged

    text = (await harness.client.get("/v1/reports/performance?from=2026-03-01&to=2026-03-31",
                                     headers={**anonymous("submissions"), "Accept": "text/csv"})).text
    rows = list(csv.DictReader(io.StringIO(text)))
    steps = [(r["service_code"], r["step"], r["step_role"], r["steps_completed"], r["step_median_working_days"],
              r["steps_on_time_share"]) for r in rows if r["scope"] == "step"]
    assert steps == [(SOP, "1", "verifier", "2", "2.5", "0.5"), (SOP, "2", "reviewer", "1", "3.0", "0.0"),
                     (SOP, "3", "signer", "1", "0.0", "1.0")]
    service_row = next(r for r in rows if r["scope"] == "service" and r["service_code"] == SOP)
    assert service_row["completed"] == "1" and service_row["step"] == ""
