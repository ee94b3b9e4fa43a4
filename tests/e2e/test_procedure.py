"""The procedure as the workflow through the gateway, every service a real process: a three-step
standard (verifier -> reviewer -> signer), worked by named officials whose tokens the gateway mints
(`official=<NIP>`), with a disposition, a return and a revision, ending approved and issued.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.test_foundation import service_body
from tests.support.api import once_issued
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET

pytestmark = pytest.mark.shared_system  # see tests/e2e/conftest.py

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
STEPS = [
    {"step": 1, "title": "Verifikasi berkas", "actor": "Verifikator", "role": "verifier", "working_days": 2},
    {"step": 2, "title": "Telaah dan paraf", "actor": "Kepala Bagian", "role": "reviewer", "working_days": 2},
    {"step": 3, "title": "Penandatanganan", "actor": "Kepala Biro", "role": "signer", "working_days": 1},
]
OFFICIALS = {
    "verifier": ("198503302010011001", "Ani Verifikator", "Analis Hukum", ["verifier"]),
    "reviewer": ("198503302010011002", "Budi Penelaah", "Kepala Bagian Perundang-undangan", ["reviewer"]),
    "reviewer_2": ("198503302010011003", "Citra Penelaah", "Kepala Subbagian Telaah", ["reviewer"]),
    "signer": ("198503302010011004", "Dedi Santoso", "Kepala Biro Hukum", ["signer"]),
}


@pytest.fixture(scope="module")
def sop(api, system):
    """The unit's service with a three-step procedure, its officer client, and a client per official."""
    admin = api.as_client(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    unit = f"E2E-{uuid.uuid4().hex[:6].upper()}"
    code = f"SOP-{uuid.uuid4().hex[:8].upper()}"
    body = service_body(code, unit)
    body.update(procedure=STEPS, sla_working_days=5)
    assert admin.post("/v1/services", json=body).status_code == 201
    assert admin.post(f"/v1/services/{code}/publish").status_code == 200
    officer = api.create_client(admin, "officer", unit)
    officer_client = api.as_client(officer["client_id"], officer["client_secret"])
    registered = {}
    for key, (nip, name, position, roles) in OFFICIALS.items():
        response = officer_client.post("/v1/officials", json={"nip": nip, "name": name, "position": position,
                                                               "roles": roles})
        assert response.status_code == 201, response.text
        registered[key] = response.json()
    tokens = {}
    for key, (nip, *_rest) in OFFICIALS.items():
        answer = api.http.post("/v1/oauth/token", data={
            "grant_type": "client_credentials", "client_id": officer["client_id"],
            "client_secret": officer["client_secret"], "official": nip})
        assert answer.status_code == 200, answer.text
        tokens[key] = httpx.Client(base_url=api.base_url, timeout=30.0,
                                   headers={"Authorization": f"Bearer {answer.json()['access_token']}"})
    applicant = api.client_for(admin, "applicant", "31")
    yield {"code": code, "unit": unit, "officer": officer_client, "officials": registered, "as": tokens,
           "applicant": applicant}
    for client in [admin, officer_client, applicant, *tokens.values()]:
        client.close()


def act(client: httpx.Client, sid: str, action: str, expect: int = 200, **fields) -> dict:
    response = client.post(f"/v1/submissions/{sid}/actions", json={"action": action, **fields})
    assert response.status_code == expect, response.text
    return response.json()


def upload_and_submit(applicant: httpx.Client, sid: str) -> None:
    uploaded = applicant.post(f"/v1/submissions/{sid}/documents", data={"requirement_code": "SURAT"},
                              files={"file": ("surat.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    submitted = applicant.post(f"/v1/submissions/{sid}/submit")
    assert submitted.status_code == 200, submitted.text


def work_three_steps(sop: dict) -> str:
    """A submission through the three steps with a disposition, a return and a revision, approved by
    the signer: its id."""
    applicant, by = sop["applicant"], sop["as"]
    created = applicant.post("/v1/submissions", json={
        "service_code": sop["code"], "applicant": {"name": "Budi Santoso", "email": "budi@example.go.id"},
        "data": {"perihal": "Permohonan keterangan"}}, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    upload_and_submit(applicant, sid)

    # The officer client without an official cannot work the steps; the wrong official neither.
    refused = act(sop["officer"], sid, "start_review", 403)
    assert "official" in refused["detail"]
    assert act(by["reviewer"], sid, "start_review", 403)["role"] == "verifier"

    assert act(by["verifier"], sid, "start_review")["current_step"]["role"] == "verifier"
    assert act(by["verifier"], sid, "forward")["current_step"]["step"] == 2
    reviewer_2 = sop["officials"]["reviewer_2"]["id"]
    assigned = act(by["reviewer"], sid, "assign", official_id=reviewer_2, note="Mohon ditelaah.")
    assert assigned["current_step"]["assigned_to"] == reviewer_2
    queue = by["reviewer_2"].get("/v1/submissions?assigned_to=me").json()["items"]
    assert [item["id"] for item in queue] == [sid]
    assert act(by["reviewer_2"], sid, "return", to_step=1, note="Domisili belum sah.")["current_step"]["step"] == 1
    assert act(by["verifier"], sid, "request_revision", note="Unggah domisili terbaru.")["status"] == "revision_requested"

    upload_and_submit(applicant, sid)
    act(by["verifier"], sid, "start_review")
    act(by["verifier"], sid, "forward")
    act(by["reviewer"], sid, "forward")
    assert act(by["reviewer"], sid, "approve", 403)["role"] == "signer"
    assert act(by["signer"], sid, "approve", note="Disetujui.")["status"] == "approved"
    return sid


def test_three_steps_with_a_disposition_a_return_and_a_revision_end_issued(api, sop):
    sid = work_three_steps(sop)
    current = once_issued(sop["applicant"], sid)
    verified = api.http.get(f"/v1/verify/{current['issued_documents'][0]['document_id']}")
    assert verified.status_code == 200 and verified.json()["valid"] is True

    history = sop["officer"].get(f"/v1/submissions/{sid}/history?limit=200").json()["items"]
    worked = [(entry["action"], entry["step"], entry["official"]["nip"]) for entry in history if entry["step"]]
    nip = {key: value[0] for key, value in OFFICIALS.items()}
    assert worked == [
        ("start_review", 1, nip["verifier"]), ("forward", 1, nip["verifier"]), ("assign", 2, nip["reviewer"]),
        ("return", 2, nip["reviewer_2"]), ("request_revision", 1, nip["verifier"]),
        ("start_review", 1, nip["verifier"]), ("forward", 1, nip["verifier"]), ("forward", 2, nip["reviewer"]),
        ("approve", 3, nip["signer"]),
    ]
    disposition = next(entry for entry in history if entry["action"] == "assign")
    assert disposition["assignee"]["name"] == "Citra Penelaah"
