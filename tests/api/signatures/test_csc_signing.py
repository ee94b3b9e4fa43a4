"""The csc signing backend against a real CSC server (certomancer-csc-dummy, a child process on
loopback) serving a PKI made here: the document is signed with the deciding official's
credential, chosen by NIP, and pyHanko's validator trusting only the CSC test root accepts it.
Refusals of the CSC server are final (422, recorded), its outages retried (503)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import func, select

from simpul.signatures import pki
from simpul.signatures.app import create_app
from simpul.signatures.models import documents
from simpul.signatures.settings import SignaturesSettings
from tests.api.signatures.conftest import CollectedEvents, Served, admin, internal, issue_body, public, serve
from tests.support.csc import CREDENTIAL_TEMPLATE, CscServer, Official, TimestampServer
from tests.support.processes import free_port

BUDI = Official("198703152010121001", "Budi Santoso, S.H.")
# A credential whose certificate was issued to somebody else: the mapping is wrong.
MISMAPPED = Official("199001012015031002", "Rina Wulandari", certificate_nip="199912312020121009")
# A credential whose key the server does not hold (credentials/info says "disabled").
KEYLESS = Official("198512252011012003", "Sri Rahayu", holds_key=False)
UNKNOWN_NIP = "197001011990031001"


def official(person: Official, position: str = "Kepala Biro Pemerintahan") -> dict[str, str]:
    return {"nip": person.nip, "name": person.name, "position": position}


@pytest.fixture(scope="module")
def csc_server(tmp_path_factory) -> Iterator[CscServer]:
    server = CscServer.start(tmp_path_factory.mktemp("csc"), [BUDI, MISMAPPED, KEYLESS])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def csc_tsa(csc_server) -> Iterator[TimestampServer]:
    server = TimestampServer.of_csc(csc_server)
    yield server
    server.stop()


@pytest.fixture
def csc_root_pem(csc_server, tmp_path) -> bytes:
    root = pki.pem(csc_server.certificate("root"))
    (tmp_path / "csc-roots.pem").write_bytes(root)
    return root


@pytest.fixture
def signatures_overrides(csc_server, csc_tsa, csc_root_pem, tmp_path) -> dict:
    return {"signing_backend": "csc", "csc_url": csc_server.url, "csc_credential_id": CREDENTIAL_TEMPLATE,
            "tsa_url": csc_tsa.url,
            "csc_token": "csc-service-token-3f9a", "csc_trust_roots": tmp_path / "csc-roots.pem"}


def trusting(root_pem: bytes) -> ValidationContext:
    _, _, der = pem.unarmor(root_pem)
    return ValidationContext(trust_roots=[asn1_x509.Certificate.load(der)], allow_fetching=False)


@asynccontextmanager
async def service(settings_for, **overrides) -> AsyncIterator[Served]:
    """A signatures service configured unlike the module's fixture."""
    port = free_port()
    settings = await settings_for(SignaturesSettings, signatures_url=f"http://127.0.0.1:{port}", port=port,
                                  public_url="https://simpul.example.go.id", workers=1,
                                  key_passphrase="test-passphrase", **overrides)
    events = CollectedEvents()
    app = create_app(settings, event_transport=events)
    server, task = await serve(app, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60.0) as client:
            yield Served(client, app, settings, events)
    finally:
        server.should_exit = True
        await task


async def document_rows(app, submission_id: str) -> int:
    async with app.state.read_sessions() as session:
        return (await session.execute(
            select(func.count()).select_from(documents).where(documents.c.submission_id == submission_id))).scalar_one()


@pytest.mark.filterwarnings("ignore::UserWarning")
async def test_the_document_is_signed_by_the_officials_credential_and_valid_with_only_the_csc_root(
        signatures, csc_server, csc_root_pem):
    client = signatures.client
    response = await client.post("/internal/documents", json=issue_body(official=official(BUDI)), headers=internal())
    assert response.status_code == 201, response.text
    document = response.json()
    signer = document["signature"]["signer"]
    assert signer["kind"] == "official" and BUDI.nip in signer["subject"] and "Budi Santoso" in signer["subject"]
    # The timestamp is the configured TSA's; revocation data of the CSC server's CA is not ours.
    assert document["signature"]["level"] == "B-T"

    pdf = await signatures.pdf(document["document_id"])
    (embedded,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    status = await async_validate_pdf_signature(embedded, signer_validation_context=trusting(csc_root_pem))
    assert status.intact and status.valid and status.trusted and status.bottom_line
    official_certificate = csc_server.certificate(BUDI.label)
    assert status.signing_cert.dump() == pki.der(official_certificate)
    assert status.timestamp_validity.intact and status.timestamp_validity.trusted
    assert embedded.sig_object["/Name"] == BUDI.name

    # The unit's own development root does not vouch for it: the official's key signed, not the seal.
    dev_root = (await client.get("/v1/pki/ca", headers=public())).content
    assert not (await async_validate_pdf_signature(embedded, signer_validation_context=trusting(dev_root))).trusted

    # POST /v1/verify trusts the CSC roots it is configured with.
    checked = (await client.post("/v1/verify", headers=public(),
                                 files={"file": ("dokumen.pdf", pdf, "application/pdf")})).json()
    assert checked["valid"] is True, checked
    assert checked["document"]["signature"]["signer"]["subject"] == signer["subject"]


async def test_without_an_official_the_document_is_refused_and_nothing_written(signatures):
    body = issue_body("0190f3a2-7c1e-7b5a-9d3e-0000000000a1")
    response = await signatures.client.post("/internal/documents", json=body, headers=internal())
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert [error["field"] for error in problem["errors"]] == ["official"]
    assert await document_rows(signatures.app, body["submission_id"]) == 0


async def test_a_unit_may_choose_to_seal_documents_without_an_official(settings_for, signatures_overrides):
    async with service(settings_for, **signatures_overrides, csc_without_official="seal") as sealing:
        response = await sealing.client.post("/internal/documents", json=issue_body(), headers=internal())
        assert response.status_code == 201, response.text
        signer = response.json()["signature"]["signer"]
        assert signer["kind"] == "unit" and response.json()["signature"]["level"] == "B-LT"

        with_official = await sealing.client.post(
            "/internal/documents", json=issue_body("0190f3a2-7c1e-7b5a-9d3e-0000000000a2", official=official(BUDI)),
            headers=internal())
        assert with_official.json()["signature"]["signer"]["kind"] == "official"


async def test_an_unreachable_csc_server_is_retried_later(settings_for, signatures_overrides, tmp_path):
    port = free_port()
    closed = f"http://127.0.0.1:{port}"
    async with service(settings_for, **{**signatures_overrides, "csc_url": closed}) as down:
        body = issue_body("0190f3a2-7c1e-7b5a-9d3e-0000000000d1", official=official(BUDI))
        response = await down.client.post("/internal/documents", json=body, headers=internal())
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert response.json()["type"].endswith(":signing-failed")
        assert closed not in response.text and str(port) not in response.text  # no internal host

        back = CscServer.start(tmp_path / "back", [BUDI], port=port)
        try:
            retried = await down.client.post("/internal/documents", json=body, headers=internal())
        finally:
            back.stop()
        assert retried.status_code == 201, retried.text
        assert retried.json()["signature"]["signer"]["kind"] == "official"
        assert await document_rows(down.app, body["submission_id"]) == 1


async def test_a_refusal_at_signing_time_in_the_worker_is_final(settings_for, signatures_overrides, tmp_path):
    """The credential was read (and is kept a minute); then the CSC server stops knowing it: the
    worker's credentials/authorize gets a 404, and that refusal reaches the caller as final."""
    first = CscServer.start(tmp_path / "first", [BUDI])
    port = int(first.url.rsplit(":", 1)[1])
    async with service(settings_for, **{**signatures_overrides, "csc_url": first.url}) as served:
        ok = await served.client.post("/internal/documents", json=issue_body(official=official(BUDI)),
                                      headers=internal())
        assert ok.status_code == 201, ok.text
        first.stop()
        emptied = CscServer.start(tmp_path / "emptied", [MISMAPPED], port=port)
        try:
            body = issue_body("0190f3a2-7c1e-7b5a-9d3e-0000000000e1", official=official(BUDI))
            refused = await served.client.post("/internal/documents", json=body, headers=internal())
        finally:
            emptied.stop()
        assert refused.status_code == 422, refused.text
        assert "credentials/authorize answered 404" in refused.json()["detail"]


async def test_an_unknown_nip_is_refused_for_good_and_recorded(signatures):
    client = signatures.client
    body = issue_body("0190f3a2-7c1e-7b5a-9d3e-0000000000b1",
                      official={"nip": UNKNOWN_NIP, "name": "Tidak Terdaftar", "position": "Kepala Bagian"})
    for _ in range(2):  # the same answer again: nothing to retry
        response = await client.post("/internal/documents", json=body, headers=internal())
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["type"].endswith(":remote-signing-refused")
        assert UNKNOWN_NIP in problem["detail"] and "credentials/info answered 404" in problem["detail"]
    entries = (await client.get("/v1/admin/audit/signatures", params={"limit": 100}, headers=admin())).json()["items"]
    refused = [entry for entry in entries if entry["action"] == "document.signing_refused"]
    assert len(refused) == 2 and refused[0]["details"]["official_nip"] == UNKNOWN_NIP


@pytest.mark.parametrize(("person", "reason"), [(MISMAPPED, "does not name NIP"), (KEYLESS, "key is not enabled")])
async def test_a_credential_that_cannot_sign_for_the_official_is_refused(signatures, person, reason):
    body = issue_body("0190f3a2-7c1e-7b5a-9d3e-0000000000c1", official=official(person))
    response = await signatures.client.post("/internal/documents", json=body, headers=internal())
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]
