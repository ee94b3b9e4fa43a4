"""The csc signing backend with every service a real process and the CSC server
(certomancer-csc-dummy) too. A document naming the deciding official, asked for the way
submissions' issuer asks, is signed with the official's credential; the applicant's world sees
it through the gateway (the PDF valid for pyHanko trusting only the CSC root, the public status
naming the official). An approval that names no official (an officer client on a standard
without roles) is refused by signatures for good, and submissions records why instead of
asking again. The whole procedure signed this way, the official filled in by submissions from
the approving official, is tests/e2e/test_sop_signed_by_official.py."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from simpul.shared.identity import ASSERTION_HEADER, mint_service_token
from simpul.signatures import pki
from tests.e2e.conftest import start_system
from tests.e2e.test_submissions import approved
from tests.support.csc import CREDENTIAL_TEMPLATE, CscServer, Official, TimestampServer
from tests.support.processes import System

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::UserWarning")]
OFFICIAL = Official("198703152010121001", "Budi Santoso")


@pytest.fixture(scope="module")
def csc(tmp_path_factory) -> Iterator[CscServer]:
    server = CscServer.start(tmp_path_factory.mktemp("csc"), [OFFICIAL])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def csc_root(csc) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(pki.der(csc.certificate("root")))


@pytest.fixture(scope="module")
def system(tmp_path_factory, csc) -> Iterator[System]:
    directory = tmp_path_factory.mktemp("csc-system")
    tsa = TimestampServer.of_csc(csc)
    roots = directory / "csc-roots.pem"
    roots.write_bytes(pki.pem(csc.certificate("root")))
    try:
        running, databases = start_system(directory, extra_env={
            "SIMPUL_SIGNATURES_SIGNING_BACKEND": "csc",
            "SIMPUL_SIGNATURES_CSC_URL": csc.url,
            "SIMPUL_SIGNATURES_CSC_CREDENTIAL_ID": CREDENTIAL_TEMPLATE,
            "SIMPUL_SIGNATURES_CSC_TRUST_ROOTS": str(roots),
            "SIMPUL_SIGNATURES_TSA_URL": tsa.url,
        })
        try:
            yield running
        finally:
            running.stop()
            asyncio.run(databases.drop_all())
    finally:
        tsa.stop()


def test_an_approval_without_an_official_is_refused_for_good_and_shown(people, published):
    sid = approved(people, published)
    deadline = time.monotonic() + 30
    while "issuing" not in (current := people["officer"].get(f"/v1/submissions/{sid}").json()):
        assert time.monotonic() < deadline, current
        time.sleep(0.2)
    assert current["status"] == "approved" and current["issued_documents"] == []
    assert current["issuing"]["status"] == "failed", current["issuing"]
    assert "422" in current["issuing"]["reason"] and "official" in current["issuing"]["reason"]


def test_a_document_naming_the_official_is_signed_with_the_officials_credential(system, csc, admin, csc_root):
    body = {
        "submission_id": str(uuid.uuid4()),
        "tracking_code": "SPL-CSC1-E2E1",
        "service_code": "IZIN-LN-KDH",
        "service_version": 1,
        "service_name": "Izin Perjalanan ke Luar Negeri",
        "output": {"name": "Surat Izin Perjalanan ke Luar Negeri"},
        "unit": "KDN-PFK",
        "tenant": "31",
        "applicant": {"name": "Pemerintah Provinsi DKI Jakarta"},
        "approved_at": datetime.now(UTC).isoformat(),
        "official": {"nip": OFFICIAL.nip, "name": OFFICIAL.name, "position": "Kepala Biro Pemerintahan"},
    }
    token = mint_service_token(system.internal_secret, "submissions", "signatures")
    response = httpx.post(f"http://127.0.0.1:{system.ports['signatures']}/internal/documents", json=body,
                          headers={ASSERTION_HEADER: token}, timeout=60)
    assert response.status_code == 201, response.text
    document_id = response.json()["document_id"]

    pdf = admin.get(f"/v1/documents/{document_id}/content")
    assert pdf.status_code == 200
    (embedded,) = PdfFileReader(io.BytesIO(pdf.content)).embedded_signatures
    status = validate_pdf_signature(embedded, ValidationContext(trust_roots=[csc_root], allow_fetching=False))
    assert status.bottom_line and status.timestamp_validity.trusted
    assert status.signing_cert.dump() == pki.der(csc.certificate(OFFICIAL.label))

    public = httpx.get(f"{system.gateway_url}/v1/verify/{document_id}", timeout=10).json()
    assert public["valid"] is True and public["signature"]["level"] == "B-T"
    assert OFFICIAL.name in public["signature"]["signer"]["subject"]
