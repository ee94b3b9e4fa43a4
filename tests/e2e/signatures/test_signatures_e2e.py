"""The signed document as people meet it: every service a real process, everything through the
gateway. Approve -> issued; the applicant downloads the PDF; pyHanko trusting only the root
published at /v1/pki/ca accepts it; its QR code leads to a public page; revocation shows."""

from __future__ import annotations

import io
import subprocess
import uuid

import httpx
import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from tests.support.api import once_issued


pytestmark = [pytest.mark.e2e, pytest.mark.shared_system, pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture(scope="module")
def issued(people, published) -> dict:
    applicant, officer = people["applicant"], people["officer"]
    created = applicant.post(
        "/v1/submissions",
        json={"service_code": published["code"],
              "applicant": {"name": "Pemerintah Kota Palembang", "email": "setda@palembang.go.id"},
              "data": {"perihal": "Permohonan keterangan untuk Dinas Pendidikan — tahap II"}},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    uploaded = applicant.post(f"/v1/submissions/{sid}/documents", data={"requirement_code": "SURAT"},
                              files={"file": ("surat.pdf", b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n",
                                              "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    assert applicant.post(f"/v1/submissions/{sid}/submit").status_code == 200
    assert officer.post(f"/v1/submissions/{sid}/actions", json={"action": "start_review"}).status_code == 200
    assert officer.post(f"/v1/submissions/{sid}/actions", json={"action": "approve", "note": "Lengkap"}).status_code == 200
    current = once_issued(applicant, sid)
    return current["issued_documents"][0]


def test_applicant_gets_a_pdf_that_pyhanko_trusts_with_only_the_published_root(api, people, issued, system):
    applicant = people["applicant"]
    document = applicant.get(f"/v1/documents/{issued['document_id']}")
    assert document.status_code == 200, document.text
    assert document.json()["verify_url"] == f"{system.gateway_url}/v1/verify/{issued['document_id']}"
    pdf = applicant.get(f"/v1/documents/{issued['document_id']}/content").content
    assert people["other_applicant"].get(f"/v1/documents/{issued['document_id']}").status_code == 404

    _, _, root_der = pem.unarmor(api.http.get("/v1/pki/ca").content)
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(root_der)], allow_fetching=False)
    (signature,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    status = validate_pdf_signature(signature, signer_validation_context=context)
    assert status.bottom_line and status.timestamp_validity.trusted

    checked = api.http.post("/v1/verify", files={"file": ("dokumen.pdf", pdf, "application/pdf")})
    assert checked.status_code == 200 and checked.json()["valid"] is True, checked.text


def test_the_qr_code_leads_to_the_public_page_and_revocation_shows(api, people, issued, tmp_path):
    pdf = people["applicant"].get(f"/v1/documents/{issued['document_id']}/content").content
    (tmp_path / "document.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(tmp_path / "document.pdf"), str(tmp_path / "page")],
                   check=True)
    decoded = {
        subprocess.run(["zbarimg", "-q", "--raw", str(page)], capture_output=True, text=True).stdout.strip()
        for page in tmp_path.glob("page*.png")
    } - {""}
    assert decoded == {issued["verify_url"]}

    page = httpx.get(issued["verify_url"], headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and 'data-state="valid"' in page.text

    revoked = people["officer"].post(f"/v1/documents/{issued['document_id']}/revoke",
                                     json={"reason": "Diterbitkan dengan data yang keliru."})
    assert revoked.status_code == 200, revoked.text
    status = httpx.get(issued["verify_url"], timeout=30).json()
    assert status["valid"] is False and status["revoked"] is True
    page = httpx.get(issued["verify_url"], headers={"Accept": "text/html", "Accept-Language": "en"}, timeout=30)
    assert 'data-state="revoked"' in page.text and "Revoked document" in page.text
