"""Submissions through the gateway with every service a real process: catalogue lookups, uploads,
review, the issue worker calling the real signatures service, public tracking and isolation."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.support.api import once_issued

pytestmark = pytest.mark.shared_system  # see tests/e2e/conftest.py

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def create(people, published, name: str = "Budi Santoso", perihal: str = "Permohonan keterangan") -> dict:
    response = people["applicant"].post(
        "/v1/submissions",
        json={
            "service_code": published["code"],
            "applicant": {"name": name, "email": "budi@example.go.id", "language": "en"},
            "data": {"perihal": perihal},
        },
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    return response.json()


def upload(people, submission_id: str, content: bytes = PDF) -> httpx.Response:
    return people["applicant"].post(
        f"/v1/submissions/{submission_id}/documents",
        data={"requirement_code": "SURAT"},
        files={"file": ("surat.pdf", content, "application/pdf")},
    )


def approved(people, published, name: str = "Budi Santoso", perihal: str = "Permohonan keterangan") -> str:
    """A submission with its document, submitted, reviewed and approved: its id."""
    sid = create(people, published, name=name, perihal=perihal)["id"]
    assert upload(people, sid).status_code == 201
    assert people["applicant"].post(f"/v1/submissions/{sid}/submit").status_code == 200
    officer = people["officer"]
    assert officer.post(f"/v1/submissions/{sid}/actions", json={"action": "start_review"}).status_code == 200
    assert officer.post(f"/v1/submissions/{sid}/actions", json={"action": "approve"}).status_code == 200
    return sid


def test_form_is_checked_against_the_published_version(people, published):
    response = people["applicant"].post(
        "/v1/submissions",
        json={"service_code": published["code"], "applicant": {"name": "B", "email": "b@example.go.id"}, "data": {}},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "data.perihal", "message": "is required"}]
    unknown = people["applicant"].post(
        "/v1/submissions",
        json={"service_code": "TIDAK-ADA", "applicant": {"name": "B", "email": "b@example.go.id"}, "data": {}},
    )
    assert unknown.status_code == 404


def test_from_draft_to_issued_document(api, people, published):
    created = create(people, published)
    assert created["status"] == "draft" and created["service_version"] == published["version"]
    sid = created["id"]
    document = upload(people, sid)
    assert document.status_code == 201, document.text
    assert document.json()["content_type"] == "application/pdf"
    submitted = people["applicant"].post(f"/v1/submissions/{sid}/submit")
    assert submitted.status_code == 200, submitted.text
    receipt = submitted.json()["receipt"]
    assert receipt["number"].startswith(f"{published['unit']}/")
    pdf = people["applicant"].get(receipt["pdf_url"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")

    tracked = api.http.get(f"/v1/track/{created['tracking_code']}")
    assert tracked.status_code == 200, tracked.text
    assert tracked.json()["status"] == "submitted"
    assert "Budi" not in tracked.text

    officer = people["officer"]
    assert officer.post(f"/v1/submissions/{sid}/actions", json={"action": "start_review"}).status_code == 200
    approved = officer.post(f"/v1/submissions/{sid}/actions", json={"action": "approve", "note": "Lengkap"})
    assert approved.status_code == 200, approved.text

    current = once_issued(people["applicant"], sid)
    issued = current["issued_documents"][0]
    verified = api.http.get(f"/v1/verify/{issued['document_id']}")
    assert verified.status_code == 200, verified.text
    assert verified.json()["valid"] is True
    assert verified.json()["service_code"] == published["code"]

    history = people["officer"].get(f"/v1/submissions/{sid}/history").json()["items"]
    assert [entry["to"] for entry in history][-3:] == ["in_review", "approved", "issued"]


def test_isolation_through_the_gateway(people, published):
    created = create(people, published)
    sid = created["id"]
    for outsider in ("other_applicant", "other_officer"):
        assert people[outsider].get(f"/v1/submissions/{sid}").status_code == 404
        listed = people[outsider].get("/v1/submissions").json()["items"]
        assert sid not in {item["id"] for item in listed}
    assert people["officer"].get(f"/v1/submissions/{sid}").status_code == 200
    refused = people["officer"].post(f"/v1/submissions/{sid}/cancel")
    assert refused.status_code == 403


def test_upload_limits_through_the_gateway(people, published):
    created = create(people, published)
    wrong = upload(people, created["id"], b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert wrong.status_code == 415
    too_big = upload(people, created["id"], PDF + b"0" * 5_000_001)
    assert too_big.status_code == 413


def test_a_document_signatures_refuses_is_not_asked_for_again(people, published):
    # A NUL byte in a name is refused at the door now, naming the field.
    refused = people["applicant"].post("/v1/submissions", json={
        "service_code": published["code"], "applicant": {"name": "Budi\x00Santoso", "email": "budi@example.go.id"},
        "data": {"perihal": "Permohonan keterangan"}})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "applicant.name"
    # Signatures draws at most 64 KiB of form data into a document and refuses more with 422,
    # which submissions (bound by its form schema) lets through: the job ends and the
    # submission says why.
    sid = approved(people, published, perihal="x" * 70_000)

    deadline = time.monotonic() + 30
    while True:
        current = people["applicant"].get(f"/v1/submissions/{sid}").json()
        if "issuing" in current or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert current["status"] == "approved"
    assert current["issuing"]["status"] == "failed" and "422" in current["issuing"]["reason"], current["issuing"]

    # The unit is told (its inbox and webhooks, and the operators' mail when configured); the
    # applicant is not.
    query = {"event_type": "submission.issue_failed", "submission_id": sid}
    deadline = time.monotonic() + 15
    while not (told := people["officer"].get("/v1/notifications", params=query).json()["items"]):
        assert time.monotonic() < deadline, "the unit was not told"
        time.sleep(0.2)
    assert told[0]["data"]["reason"] == current["issuing"]["reason"]
    assert people["applicant"].get("/v1/notifications", params=query).json()["items"] == []


def test_public_pages_through_the_gateway(api, people, published):
    """A browser (Accept: text/html) gets the pages at the public GETs; API clients still get JSON."""
    created = create(people, published)
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Language": "en-US,en;q=0.9"}
    for path, words in (
        ("/v1/services", ("Service catalogue", published["code"])),
        (f"/v1/services/{published['code']}", ("Requirements", "Legal basis")),
        (f"/v1/track/{created['tracking_code']}", ("Application status", "Draft")),
        ("/v1/reports/performance", ("Service performance",)),
        ("/v1/reports/ikm", ("Public Satisfaction Index",)),
    ):
        page = api.http.get(path, headers=browser)
        assert page.status_code == 200, (path, page.text)
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert '<html lang="en">' in page.text and all(word in page.text for word in words), path
        assert "Budi" not in page.text
        assert api.http.get(path).headers["content-type"].startswith("application/json")
    missing = api.http.get("/v1/track/AAAAAAAAAAAA", headers={**browser, "Accept-Language": "id"})
    assert missing.status_code == 404 and "Halaman tidak ditemukan" in missing.text
