"""Named officials through the gateway with every service a real process: registered by the
unit's officer, acting through tokens with official=<NIP>, named in the history, on the issued PDF
and on the verify page; a deactivated official's token is refused at once."""

from __future__ import annotations

import subprocess
import uuid

import httpx
import pytest

from tests.e2e.test_foundation import service_body
from tests.e2e.test_submissions import create, upload
from tests.support.api import once_issued

pytestmark = pytest.mark.shared_system  # see tests/e2e/conftest.py

UNIT_NAME = "Direktorat Uji Coba Pejabat, Kementerian Dalam Negeri"
VERIFIER = {"nip": "199001012015011001", "name": "Budi Santoso", "position": "Analis Layanan",
            "roles": ["verifier"]}
SIGNER = {"nip": "198503142010012002", "name": "Siti Rahma, S.H.", "position": "Direktur Uji Coba",
          "roles": ["reviewer", "signer"], "email": "siti@kemendagri.go.id"}


@pytest.fixture(scope="module")
def published(admin) -> dict:
    """A service whose standard gives its unit's full name."""
    code = f"UJI-{uuid.uuid4().hex[:8].upper()}"
    unit = f"E2E-{uuid.uuid4().hex[:6].upper()}"
    body = {**service_body(code, unit), "unit_name": UNIT_NAME}
    assert admin.post("/v1/services", json=body).status_code == 201
    response = admin.post(f"/v1/services/{code}/publish")
    assert response.status_code == 200, response.text
    return response.json()


def acting_as(api, client: dict, nip: str) -> httpx.Response:
    return api.http.post("/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client["client_id"],
        "client_secret": client["client_secret"], "official": nip,
    })


def bearer(api, token: str) -> httpx.Client:
    return httpx.Client(base_url=api.base_url, timeout=30.0, headers={"Authorization": f"Bearer {token}"})


def test_an_official_decides_and_is_named_on_the_document(api, admin, people, published, tmp_path):
    officer_client = api.create_client(admin, "officer", published["unit"])
    officer = api.as_client(officer_client["client_id"], officer_client["client_secret"])
    officials = {}
    for person in (VERIFIER, SIGNER):
        response = officer.post("/v1/officials", json=person, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert response.status_code == 201, response.text
        officials[person["nip"]] = response.json()
    # Another unit's officer sees none of them.
    other = people["other_officer"]
    assert other.get(f"/v1/officials/{officials[SIGNER['nip']]['id']}").status_code == 404
    foreign = acting_as(api, api.create_client(admin, "officer", "KEU-LAIN"), SIGNER["nip"])
    assert foreign.status_code == 400 and foreign.json()["error"] == "invalid_request"

    tokens = {}
    for person in (VERIFIER, SIGNER):
        response = acting_as(api, officer_client, person["nip"])
        assert response.status_code == 200, response.text
        tokens[person["nip"]] = response.json()["access_token"]
    verifier, signer = bearer(api, tokens[VERIFIER["nip"]]), bearer(api, tokens[SIGNER["nip"]])
    assert signer.get("/v1/me").json()["official"]["name"] == SIGNER["name"]

    sid = create(people, published)["id"]
    assert upload(people, sid).status_code == 201
    assert people["applicant"].post(f"/v1/submissions/{sid}/submit").status_code == 200
    assert verifier.post(f"/v1/submissions/{sid}/actions", json={"action": "start_review"}).status_code == 200
    approved = signer.post(f"/v1/submissions/{sid}/actions", json={"action": "approve", "note": "Lengkap"})
    assert approved.status_code == 200, approved.text

    current = once_issued(people["applicant"], sid)
    history = people["applicant"].get(f"/v1/submissions/{sid}/history").json()["items"]
    named = {entry["action"]: entry["official"] for entry in history}
    assert named["start_review"] == {key: VERIFIER[key] for key in ("nip", "name", "position")}
    assert named["approve"] == {key: SIGNER[key] for key in ("nip", "name", "position")}

    document_id = current["issued_documents"][0]["document_id"]
    pdf = people["applicant"].get(f"/v1/documents/{document_id}/content")
    assert pdf.status_code == 200
    path = tmp_path / "issued.pdf"
    path.write_bytes(pdf.content)
    text = " ".join(subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                                   text=True).stdout.split())
    assert f"Disetujui oleh {SIGNER['name']}, {SIGNER['position']} (NIP {SIGNER['nip']})" in text
    assert f"Unit kerja penerbit: {UNIT_NAME}" in text
    assert text.index(f"1. Memulai pemeriksaan {VERIFIER['name']}") < text.index(f"2. Menyetujui {SIGNER['name']}")
    assert officer_client["client_id"] not in text

    status = api.http.get(f"/v1/verify/{document_id}").json()
    assert status["valid"] is True and status["issuer"] == UNIT_NAME
    assert status["official"] == {"name": SIGNER["name"], "position": SIGNER["position"]}
    page = api.http.get(f"/v1/verify/{document_id}", headers={"Accept": "text/html"}).text
    assert f"{SIGNER['name']}, {SIGNER['position']}" in page and UNIT_NAME in page

    # Deactivated: the token acting as the official is refused at once, a new one is not issued.
    official_id = officials[SIGNER["nip"]]["id"]
    assert officer.delete(f"/v1/officials/{official_id}").status_code == 204
    assert signer.get("/v1/me").status_code == 401
    assert acting_as(api, officer_client, SIGNER["nip"]).status_code == 400
    assert verifier.get("/v1/me").status_code == 200
    history = officer.get(f"/v1/officials/{official_id}/history").json()["items"]
    assert [entry["action"] for entry in history] == ["created", "deactivated"]
    for client in (officer, verifier, signer):
        client.close()
