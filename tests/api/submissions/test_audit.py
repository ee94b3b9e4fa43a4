"""The submissions service's audit log: every state change, document, decision, issue and
complaint step appends a chained row with its actor and request id."""

from __future__ import annotations

from tests.api.submissions.conftest import UNIT, admin, applicant, officer
from tests.api.submissions.test_complaints import file, respond
from tests.api.submissions.test_issuing import approved
from tests.support.audit import assert_admins_only, assert_tampering_found, audit_entries


async def test_a_submission_from_draft_to_issued_is_audited_step_by_step(harness):
    sid = await approved(harness)
    assert (await harness.wait_for_status(sid, "issued"))["status"] == "issued"

    entries = [entry for entry in await audit_entries(harness.client, "submissions", admin())
               if entry["object"] == {"type": "submission", "id": sid}]
    assert [(entry["action"], entry["actor"]["role"]) for entry in entries] == [
        ("submission.create", "applicant"),
        ("submission.upload_document", "applicant"),
        ("submission.upload_document", "applicant"),
        ("submission.submit", "applicant"),
        ("submission.start_review", "officer"),
        ("submission.approve", "officer"),
        ("submission.issue", "service"),
    ]
    assert entries[5]["details"] == {"from": "in_review", "to": "approved"}
    assert entries[0]["details"]["service_code"] == "IZIN-USAHA"
    assert entries[-1]["details"]["documents"]
    # No applicant's name or email in the log.
    assert "Siti" not in str(entries) and "@" not in str(entries)


async def test_an_officers_decision_carries_the_request_id(harness):
    submitted = await harness.submitted()
    started = await harness.client.post(f"/v1/submissions/{submitted['id']}/actions", json={"action": "start_review"},
                                        headers={**officer(UNIT, subject="officer-9"), "X-Request-Id": "req-77"})
    assert started.status_code == 200, started.text
    last = (await audit_entries(harness.client, "submissions", admin()))[-1]
    assert (last["action"], last["actor"]["id"], last["request_id"]) == ("submission.start_review", "officer-9", "req-77")


async def test_complaint_handling_is_audited_without_its_text(harness):
    submitted = await harness.submitted()
    complaint = (await file(harness, submission_id=submitted["id"])).json()
    assert (await respond(harness, complaint["id"], officer(submitted["unit"]), text="Rahasia")).status_code == 201
    entries = [entry for entry in await audit_entries(harness.client, "submissions", admin())
               if entry["object"]["type"] == "complaint"]
    assert [(entry["action"], entry["object"]["id"]) for entry in entries] == [
        ("complaint.file", complaint["id"]), ("complaint.respond", complaint["id"]),
    ]
    assert "Rahasia" not in str(entries)


async def test_tampering_is_found_and_only_admins_read(harness):
    await harness.submitted()
    await assert_tampering_found(harness.client, harness.app, "submissions", admin(), seq=2)
    await assert_admins_only(harness.client, "submissions", applicant())
