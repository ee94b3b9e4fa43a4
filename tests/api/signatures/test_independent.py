"""Independent judges of what the service issues: pyHanko's validator trusting nothing but the
root certificate published at /v1/pki/ca, poppler's pdfsig, and headless Chromium showing the
verification page."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from tests.api.signatures.conftest import admin, public

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


async def pyhanko_status(pdf: bytes, root_pem: bytes):
    _, _, der = pem.unarmor(root_pem)
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(der)], allow_fetching=False)
    (signature,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    return await async_validate_pdf_signature(signature, signer_validation_context=context)


def pdfsig(pdf: bytes, directory) -> str:
    path = directory / "document.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout


@pytest.mark.filterwarnings("ignore::UserWarning")
async def test_pyhanko_and_pdfsig_accept_the_document_and_refuse_a_flipped_byte(signatures, tmp_path):
    document = await signatures.issue()
    pdf = await signatures.pdf(document["document_id"])
    root_pem = (await signatures.client.get("/v1/pki/ca", headers=public())).content

    status = await pyhanko_status(pdf, root_pem)
    assert status.intact and status.valid and status.trusted and status.bottom_line
    assert status.timestamp_validity.trusted and status.timestamp_validity.intact
    assert "Signature Validation: Signature is Valid." in pdfsig(pdf, tmp_path)

    flipped = bytearray(pdf)
    flipped[pdf.index(b"stream\n", pdf.index(b"/Contents ")) + 40] ^= 0x01
    assert not (await pyhanko_status(bytes(flipped), root_pem)).intact
    report = pdfsig(bytes(flipped), tmp_path)
    assert "Signature Validation:" in report and "Signature is Valid." not in report


def chromium_dom(html: str, directory) -> str:
    page = directory / "page.html"
    page.write_text(html, encoding="utf-8")
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-dev-shm-usage", "--no-first-run", f"--user-data-dir={directory / 'profile'}",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


async def test_chromium_shows_the_state_of_the_document(signatures, tmp_path):
    client = signatures.client
    document = await signatures.issue()
    path = f"/v1/verify/{document['document_id']}"
    html = {"Accept": "text/html"}

    valid = chromium_dom((await client.get(path, headers={**public(), **html})).text, tmp_path)
    assert 'data-state="valid"' in valid and "Dokumen sah" in valid and document["number"] in valid

    await client.post(f"/v1/documents/{document['document_id']}/revoke", json={"reason": "Uji pencabutan."},
                      headers=admin())
    revoked = chromium_dom((await client.get(path, headers={**public(), **html, "Accept-Language": "en"})).text,
                           tmp_path)
    assert 'data-state="revoked"' in revoked and "Revoked document" in revoked

    unknown = chromium_dom((await client.get("/v1/verify/00000000-0000-4000-8000-000000000000",
                                             headers={**public(), **html})).text, tmp_path)
    assert 'data-state="unknown"' in unknown and "Dokumen tidak dikenal" in unknown
