"""Issue 14 end to end: the three-step procedure (verifier -> reviewer -> signer) through the gateway,
with a disposition, a return and a revision, issued and signed through a CSC server
(certomancer-csc-dummy, one certificate per official's NIP) with the signatures service on the `csc`
backend. The PDF's signature is valid for pyHanko trusting only the CSC test root, made with the
deciding official's certificate, and the official is named on the PDF and on the verify page."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from simpul.signatures import pki
from tests.e2e.signatures.test_csc_e2e import system  # noqa: F401 - the services on the csc backend
from tests.e2e.test_procedure import OFFICIALS, sop, work_three_steps  # noqa: F401 - sop: fixture
from tests.support.api import once_issued
from tests.support.csc import CscServer, Official

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::UserWarning")]
SIGNER_NIP, SIGNER_NAME, SIGNER_POSITION, _roles = OFFICIALS["signer"]


@pytest.fixture(scope="module")
def csc(tmp_path_factory) -> Iterator[CscServer]:
    """Every official of the procedure holds a credential, so only the NIP decides whose key signs."""
    officials = [Official(nip, name) for nip, name, _position, _roles in OFFICIALS.values()]
    server = CscServer.start(tmp_path_factory.mktemp("csc"), officials)
    yield server
    server.stop()


def test_the_procedure_ends_signed_by_the_deciding_official_through_csc(api, sop, csc, tmp_path):
    sid = work_three_steps(sop)
    issued = once_issued(sop["applicant"], sid)
    (document,) = issued["issued_documents"]
    document_id = document["document_id"]

    pdf = sop["applicant"].get(f"/v1/documents/{document_id}/content")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    (embedded,) = PdfFileReader(io.BytesIO(pdf.content)).embedded_signatures
    csc_root = asn1_x509.Certificate.load(pki.der(csc.certificate("root")))
    status = validate_pdf_signature(embedded, ValidationContext(trust_roots=[csc_root], allow_fetching=False))
    assert status.bottom_line and status.intact and status.valid, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    signer_certificate = csc.certificate(f"official-{SIGNER_NIP}")
    assert status.signing_cert.dump() == pki.der(signer_certificate)
    assert [attribute.value for attribute in signer_certificate.subject.get_attributes_for_oid(
        NameOID.SERIAL_NUMBER)] == [SIGNER_NIP]
    # Not a key any other official of the procedure holds at the server.
    others = {pki.der(csc.certificate(f"official-{nip}")) for key, (nip, *_rest) in OFFICIALS.items()
              if key != "signer"}
    assert status.signing_cert.dump() not in others

    path = tmp_path / "issued.pdf"
    path.write_bytes(pdf.content)
    text = " ".join(subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                                   text=True).stdout.split())
    assert f"Disetujui oleh {SIGNER_NAME}, {SIGNER_POSITION} (NIP {SIGNER_NIP})" in text

    public = api.http.get(f"/v1/verify/{document_id}")
    assert public.status_code == 200
    verified = public.json()
    assert verified["valid"] is True and verified["signature"]["level"] == "B-T"
    assert verified["official"] == {"name": SIGNER_NAME, "position": SIGNER_POSITION}
    assert SIGNER_NAME in verified["signature"]["signer"]["subject"]
    page = api.http.get(f"/v1/verify/{document_id}", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"{SIGNER_NAME}, {SIGNER_POSITION}" in page.text
