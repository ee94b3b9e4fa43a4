"""Personal data (UU 27/2022) end to end through the gateway, every service a real process: an
officer's read shown to the applicant, the admin's export of everything about one email, and the
erasure once the standard's retention period (0 days here) has passed, after which the issued
document still verifies. The retention worker polls hourly here; restarting submissions runs its
first round, which is how this test moves past the period without a clock of its own."""

from __future__ import annotations

import asyncio
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import start_system
from tests.e2e.test_foundation import service_body
from tests.support.processes import ADMIN_CLIENT_ID, System
from tests.support.api import PublicApi

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
SURVEY = {"requirements": 4, "procedure": 3, "timeliness": 3, "cost": 4, "product": 3, "competence": 4,
          "behaviour": 4, "complaint_handling": 3, "facilities": 3}


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> Iterator[System]:
    running, databases = start_system(
        tmp_path_factory.mktemp("personal-data"),
        service_env={"submissions": {"SIMPUL_SUBMISSIONS_RETENTION_POLL_SECONDS": "3600"}},
    )
    yield running
    running.stop()
    asyncio.run(databases.drop_all())


def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"timed out waiting for {what}"
            return value
        time.sleep(0.2)


def private(path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_reads_export_and_erasure_through_the_gateway(system, api: PublicApi, admin: httpx.Client):
    code = f"UJI-PD-{uuid.uuid4().hex[:6].upper()}"
    unit = f"E2E-{uuid.uuid4().hex[:6].upper()}"
    standard = {**service_body(code, unit), "personal_data_retention_days": 0}
    assert admin.post("/v1/services", json=standard).status_code == 201
    assert admin.post(f"/v1/services/{code}/publish").status_code == 200
    applicant = api.client_for(admin, "applicant", "31")
    officer = api.client_for(admin, "officer", unit)
    email = f"warga-{uuid.uuid4().hex[:8]}@example.go.id"

    created = applicant.post("/v1/submissions", json={
        "service_code": code, "applicant": {"name": "Sri Wahyuni", "email": email, "phone": "+62 711 5550101",
                                            "agency": "Bagian Hukum"},
        "data": {"perihal": "Permohonan keterangan"}})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    uploaded = applicant.post(f"/v1/submissions/{sid}/documents", data={"requirement_code": "SURAT"},
                              files={"file": ("surat.pdf", PDF + email.encode(), "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    assert applicant.post(f"/v1/submissions/{sid}/submit").status_code == 200

    # The officer reads the submission; the applicant sees who did.
    assert officer.get(f"/v1/submissions/{sid}").status_code == 200
    reads = applicant.get(f"/v1/submissions/{sid}/reads")
    assert reads.status_code == 200 and reads.headers["cache-control"] == "no-store"
    (read,) = reads.json()["items"]
    assert read["resource"] == "submission" and read["reader"]["role"] == "officer"
    assert read["reader"]["unit"] == unit and read["request_id"]
    officer_client = read["reader"]["client_id"]

    assert officer.post(f"/v1/submissions/{sid}/actions", json={"action": "start_review"}).status_code == 200
    assert officer.post(f"/v1/submissions/{sid}/actions", json={"action": "approve"}).status_code == 200
    issued = eventually(lambda: (body := applicant.get(f"/v1/submissions/{sid}").json())["status"] == "issued"
                        and body, "the document to be issued")
    document_id = issued["issued_documents"][0]["document_id"]
    assert applicant.post(f"/v1/submissions/{sid}/survey", json=SURVEY).status_code == 201
    complaint = applicant.post("/v1/complaints", json={"submission_id": sid, "category": "timeliness",
                                                       "text": "Nama pada surat perlu diperiksa."})
    assert complaint.status_code == 201, complaint.text

    # The mails to the applicant are in the mailbox, like the upload readable by this user alone.
    var = system.directory / "var"
    mailbox = var / "mailbox"
    eventually(lambda: [p for p in mailbox.glob("*.eml") if email in p.read_text(errors="replace")], "the mails")
    mails = [p for p in mailbox.glob("*.eml") if email in p.read_text(errors="replace")]
    uploads = [p for p in (var / "submissions-files").rglob("*") if p.is_file()]
    exposed = [str(p) for p in [mailbox, *mails, var / "submissions-files", *uploads,
                                *[d for d in (var / "submissions-files").rglob("*") if d.is_dir()]] if not private(p)]
    assert exposed == []

    def export() -> dict:
        response = admin.get(f"/v1/admin/data-subjects/{email}")
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        return response.json()

    def mailed(body: dict) -> bool:
        return len([d for d in body["deliveries"] if d["channel"] == "email"]) >= len(mails)

    everything = eventually(lambda: mailed(body := export()) and body, "every mail in the export")
    assert everything["email"] == email
    (submission,) = everything["submissions"]
    assert submission["id"] == sid and submission["applicant"]["phone"] == "+62 711 5550101"
    assert submission["data"] == {"perihal": "Permohonan keterangan"}
    assert [e["to"] for e in submission["history"]][-3:] == ["in_review", "approved", "issued"]
    assert [d["requirement_code"] for d in submission["documents"]] == ["SURAT"]
    assert [c["id"] for c in everything["complaints"]] == [complaint.json()["id"]]
    assert [s["submission_id"] for s in everything["surveys"]] == [sid]
    assert [d["document_id"] for d in everything["issued_documents"]] == [document_id]
    assert everything["issued_documents"][0]["applicant"]["name"] == "Sri Wahyuni"
    assert {n["submission_id"] for n in everything["notifications"]} == {sid}
    assert {d["recipient"] for d in everything["deliveries"] if d["channel"] == "email"} == {email}
    assert (officer_client, "submission") in {(r["reader"]["client_id"], r["resource"]) for r in everything["reads"]}
    # The export is a read too, and the applicant sees it.
    exports = [r for r in applicant.get(f"/v1/submissions/{sid}/reads").json()["items"]
               if r["resource"] == "data_subject_export"]
    assert exports and exports[-1]["reader"]["client_id"] == ADMIN_CLIENT_ID

    unknown = admin.get(f"/v1/admin/data-subjects/nobody-{uuid.uuid4().hex[:6]}@example.go.id")
    assert unknown.status_code == 200 and unknown.json()["submissions"] == [] and unknown.json()["deliveries"] == []
    garbage = admin.get("/v1/admin/data-subjects/not-an-email")
    assert garbage.status_code == 422 and garbage.json()["errors"][0]["field"] == "email"
    assert officer.get(f"/v1/admin/data-subjects/{email}").status_code == 403
    assert applicant.get(f"/v1/admin/data-subjects/{email}").status_code == 403

    # Past the retention period: the worker's round at start erases it.
    system["submissions"].restart()
    erased = eventually(lambda: (body := applicant.get(f"/v1/submissions/{sid}").json()).get(
        "personal_data_erased_at") and body, "the erasure", timeout=60)
    assert erased["applicant"]["email"].endswith("@erased.invalid") and erased["applicant"]["phone"] is None
    assert erased["data"] == {} and erased["status"] == "issued"
    assert erased["issued_documents"][0]["document_id"] == document_id
    verified = api.http.get(f"/v1/verify/{document_id}")
    assert verified.status_code == 200 and verified.json()["valid"] is True
    content = applicant.get(f"/v1/submissions/{sid}/documents/{uploaded.json()['id']}/content")
    assert content.status_code == 410
    eventually(lambda: not any(p.exists() for p in mails), "the mailbox files to be deleted")
    after = eventually(lambda: not (body := export())["deliveries"] and body, "the mails to be erased")
    assert after["submissions"] == [] and after["complaints"] == [] and after["issued_documents"] == []
    assert after["notifications"] == []
    inbox = applicant.get("/v1/notifications", params={"submission_id": sid}).json()["items"]
    assert inbox and all(item["data"].get("personal_data_erased") for item in inbox)
    assert email not in str(inbox)
    audit, cursor = [], None
    while True:
        page = admin.get("/v1/admin/audit/submissions", params={"limit": 200, **({"cursor": cursor} if cursor else {})})
        audit += page.json()["items"]
        if not (cursor := page.json()["next_cursor"]):
            break
    assert [e for e in audit if e["action"] == "submission.personal_data_erased" and e["object"]["id"] == sid]
    assert admin.get("/v1/admin/audit/submissions/verify").json()["valid"] is True
    for client in (applicant, officer):
        client.close()


def test_an_export_that_cannot_ask_every_service_is_refused_not_given_incomplete(system, admin: httpx.Client):
    system["notifications"].stop()
    try:
        response = admin.get("/v1/admin/data-subjects/someone@example.go.id", headers={"Accept-Language": "en"})
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "notifications" in response.json()["detail"] and "127.0.0.1" not in response.text
    finally:
        system["notifications"].start()
        system["notifications"].wait_ready()
    assert admin.get("/v1/admin/data-subjects/someone@example.go.id").status_code == 200
