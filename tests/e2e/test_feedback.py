"""Surveys, the IKM, complaints and the performance report through the gateway, every service a
real process: the complaint's events reach the notifications inbox over the outbox relay."""

from __future__ import annotations

import csv
import io
import time
import uuid
from email import message_from_bytes, policy

import pytest

pytestmark = pytest.mark.shared_system  # see tests/e2e/conftest.py

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
SCORES = {"requirements": 4, "procedure": 3, "timeliness": 3, "cost": 4, "product": 3, "competence": 4,
          "behaviour": 4, "complaint_handling": 3, "facilities": 3}  # 31 / 9 = 3.4444 -> 86.11, B


@pytest.fixture(scope="module")
def rejected(people, published) -> dict:
    applicant, officer = people["applicant"], people["officer"]
    created = applicant.post("/v1/submissions", json={
        "service_code": published["code"],
        "applicant": {"name": "Budi Santoso", "email": "budi@example.go.id", "language": "en"},
        "data": {"perihal": "Permohonan keterangan"},
    })
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    upload = applicant.post(f"/v1/submissions/{sid}/documents", data={"requirement_code": "SURAT"},
                            files={"file": ("surat.pdf", PDF, "application/pdf")})
    assert upload.status_code == 201, upload.text
    assert applicant.post(f"/v1/submissions/{sid}/submit").status_code == 200
    assert officer.post(f"/v1/submissions/{sid}/actions", json={"action": "start_review"}).status_code == 200
    done = officer.post(f"/v1/submissions/{sid}/actions", json={"action": "reject", "note": "Bukan kewenangan"})
    assert done.status_code == 200, done.text
    return done.json()


def test_survey_and_ikm(api, people, published, rejected):
    sid = rejected["id"]
    key = {"Idempotency-Key": uuid.uuid4().hex}
    given = people["applicant"].post(f"/v1/submissions/{sid}/survey", json=SCORES, headers=key)
    assert given.status_code == 201, given.text
    replay = people["applicant"].post(f"/v1/submissions/{sid}/survey", json=SCORES, headers=key)
    assert replay.status_code == 201 and replay.json()["id"] == given.json()["id"]
    again = people["applicant"].post(f"/v1/submissions/{sid}/survey", json=SCORES)
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    assert people["other_applicant"].post(f"/v1/submissions/{sid}/survey", json=SCORES).status_code == 404
    bad = people["applicant"].post(f"/v1/submissions/{sid}/survey", json={**SCORES, "cost": 7})
    assert bad.status_code == 422 and bad.json()["errors"]

    report = api.http.get("/v1/reports/ikm", params={"service_code": published["code"]})
    assert report.status_code == 200, report.text
    body = report.json()
    # One respondent is below the default minimum (5): the count only, never that person's scores.
    assert (body["respondents"], body["minimum_respondents"]) == (1, 5)
    assert (body["ikm"], body["grade"], body["quality"], body["elements"]) == (None, None, None, None)
    assert "Budi" not in report.text


def test_complaint_answered_and_notified(api, system, people, published, rejected):
    applicant, officer = people["applicant"], people["officer"]
    filed = applicant.post("/v1/complaints", json={
        "submission_id": rejected["id"], "category": "procedure", "text": "Alasan penolakan kurang jelas.",
    }, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert filed.status_code == 201, filed.text
    complaint = filed.json()
    cid = complaint["id"]
    assert complaint["status"] == "open" and complaint["unit"] == published["unit"]
    attached = applicant.post(f"/v1/complaints/{cid}/attachments", files={"file": ("bukti.pdf", PDF, "application/pdf")})
    assert attached.status_code == 201, attached.text
    for outsider in ("other_applicant", "other_officer"):
        assert people[outsider].get(f"/v1/complaints/{cid}").status_code == 404
    assert cid in {c["id"] for c in officer.get("/v1/complaints", params={"status": "open"}).json()["items"]}

    answered = officer.post(f"/v1/complaints/{cid}/responses",
                            json={"text": "Layanan ini kewenangan provinsi.", "resolve": True})
    assert answered.status_code == 201, answered.text
    assert answered.json()["status"] == "resolved"
    mine = applicant.get(f"/v1/complaints/{cid}").json()
    assert mine["status"] == "resolved" and [r["text"] for r in mine["responses"]] == ["Layanan ini kewenangan provinsi."]
    content = officer.get(f"/v1/complaints/{cid}/attachments/{attached.json()['id']}/content")
    assert content.status_code == 200 and content.content == PDF

    mailbox = system.directory / "var" / "mailbox"

    def answers() -> list:
        mails = [message_from_bytes(path.read_bytes(), policy=policy.default) for path in mailbox.glob("*.eml")]
        return [m for m in mails if m["Subject"] == "Your complaint: resolved" and m["To"] == "budi@example.go.id"]

    deadline = time.monotonic() + 30
    while True:
        items = applicant.get("/v1/notifications", params={"event_type": "complaint.updated"}).json()["items"]
        ours = [item for item in items if item["complaint_id"] == cid]
        if (len(ours) == 2 and answers()) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(ours) == 2, items
    # The applicant asked for English mail; the unit's answer is in it.
    (answer,) = answers()
    assert "Layanan ini kewenangan provinsi." in answer.get_body(("plain",)).get_content()
    assert people["other_applicant"].get("/v1/notifications", params={"event_type": "complaint.updated"}).json()[
        "items"] == []


def test_performance_report(api, published, rejected):
    report = api.http.get("/v1/reports/performance", params={"service_code": published["code"]})
    assert report.status_code == 200, report.text
    (row,) = report.json()["services"]
    assert (row["received"], row["completed"], row["rejected"], row["completed_within_sla"]) == (1, 1, 1, 1)
    assert row["ikm"]["respondents"] in (0, 1)  # 1 once the survey test ran
    as_csv = api.http.get("/v1/reports/performance", params={"service_code": published["code"]},
                          headers={"Accept": "text/csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["scope"] for r in rows] == ["service", "total"] and rows[0]["service_code"] == published["code"]
