"""Signing, checked by independent validators: pyHanko's validator trusting only the root, and
poppler's pdfsig. One flipped byte in the signed range must make both say invalid."""

from __future__ import annotations

import io
import re
import subprocess

import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from simpul.signatures import pki
from simpul.signatures.document import render
from simpul.signatures.jobs import SignJob, TsaTarget
from simpul.signatures.signing import sign_job, sign_rendered
from tests.support.pdf import page_images, words

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def root_only(test_pki, **extra) -> ValidationContext:
    return ValidationContext(trust_roots=[asn1_x509.Certificate.load(pki.der(test_pki.root))],
                             allow_fetching=False, **extra)


def pyhanko_status(pdf: bytes, context: ValidationContext):
    reader = PdfFileReader(io.BytesIO(pdf))
    (signature,) = reader.embedded_signatures
    return validate_pdf_signature(signature, signer_validation_context=context)


def pdfsig(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout


def flip_in_signed_range(pdf: bytes) -> bytes:
    """Flip one byte of page content, well inside the first signed range."""
    position = pdf.index(b"stream\n", pdf.index(b"/Contents ")) + 40
    damaged = bytearray(pdf)
    damaged[position] ^= 0x01
    return bytes(damaged)


@pytest.fixture(scope="module")
def signed_lt(request):
    test_pki = request.getfixturevalue("test_pki")
    tsa_url = request.getfixturevalue("tsa_url")
    content = request.getfixturevalue("make_content")()
    return sign_job(SignJob(content, test_pki.material(), TsaTarget(tsa_url), test_pki.validation()))


def test_b_lt_is_intact_trusted_and_timestamped_for_pyhanko(signed_lt, test_pki):
    assert signed_lt.pades_level == "B-LT"
    status = pyhanko_status(signed_lt.pdf, root_only(test_pki))
    assert status.intact and status.valid and status.trusted
    assert status.bottom_line
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact and status.timestamp_validity.valid and status.timestamp_validity.trusted
    assert status.coverage.name == "ENTIRE_FILE"
    assert status.signing_cert.subject.native["organizational_unit_name"] == "KDN-PFK"


def test_b_lt_carries_its_own_revocation_data(signed_lt, test_pki):
    reader = PdfFileReader(io.BytesIO(signed_lt.pdf))
    dss = DocumentSecurityStore.read_dss(reader)
    certificates = {certificate.dump() for certificate in dss.load_certs()}
    assert {pki.der(test_pki.signer), pki.der(test_pki.issuing), pki.der(test_pki.tsa)} <= certificates
    assert len(dss.crls) == 1
    # With revocation checks mandatory and nothing fetched, the DSS alone must do.
    context = dss.as_validation_context({
        "trust_roots": [asn1_x509.Certificate.load(pki.der(test_pki.root))],
        "allow_fetching": False,
        "revocation_mode": "hard-fail",
    })
    status = pyhanko_status(signed_lt.pdf, context)
    assert status.intact and status.trusted and status.revocation_details is None


def test_pdfsig_says_valid(signed_lt, tmp_path):
    report = pdfsig(signed_lt.pdf, tmp_path)
    assert "Signature Validation: Signature is Valid." in report
    assert "Total document signed" in report
    assert "ETSI.CAdES.detached" in report


def test_one_flipped_byte_breaks_both_validators(signed_lt, test_pki, tmp_path):
    damaged = flip_in_signed_range(signed_lt.pdf)
    status = pyhanko_status(damaged, root_only(test_pki))
    assert not status.intact and not status.bottom_line
    report = pdfsig(damaged, tmp_path)
    assert "Signature Validation: Signature is Valid." not in report
    assert "Signature Validation:" in report


def test_another_pki_is_not_trusted(other_pki, make_content, test_pki):
    forged = sign_job(SignJob(make_content(), other_pki.material(), None, None))
    status = pyhanko_status(forged.pdf, root_only(test_pki))
    assert status.intact and status.valid and not status.trusted


def test_levels_without_tsa_or_validation_data(test_pki, tsa, make_content):
    rendered = render(make_content())
    b_b = sign_rendered(rendered, SignJob(make_content(), test_pki.material(), None, None))
    b_t = sign_rendered(rendered, SignJob(make_content(), test_pki.material(), tsa, None))
    assert (b_b.pades_level, b_t.pades_level) == ("B-B", "B-T")
    plain = pyhanko_status(b_b.pdf, root_only(test_pki))
    assert plain.trusted and plain.timestamp_validity is None
    stamped = pyhanko_status(b_t.pdf, root_only(test_pki))
    assert stamped.trusted and stamped.timestamp_validity.trusted


def test_signature_is_visible_on_the_last_page(signed_lt, tmp_path):
    reader = PdfFileReader(io.BytesIO(signed_lt.pdf))
    (signature,) = reader.embedded_signatures
    widget = signature.sig_field
    left, bottom, right, top = (float(value) for value in widget["/Rect"])
    assert right - left > 100 and top - bottom > 40
    assert "/AP" in widget  # an appearance stream: the visible stamp
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed_lt.pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    assert "Ditandatangani secara elektronik oleh" in text


def test_the_signed_page_names_the_signer_once_and_keeps_to_wib(signed_lt, tmp_path_factory):
    """The stamp adds the signing time in WIB; the signer's line is the document's, not repeated."""
    folder = tmp_path_factory.mktemp("signed-pages")
    text = words(signed_lt.pdf, folder, "signed")
    assert text.count("Ditandatangani secara elektronik oleh Simpul KDN-PFK") == 1
    assert "Tanda tangan elektronik" in text
    assert re.search(r"Waktu: \d{1,2} [A-Z][a-z]+ \d{4} pukul \d\d\.\d\d WIB", text)
    assert "UTC" not in text and "+00" not in text
    assert page_images(signed_lt.pdf, folder, "signed")
