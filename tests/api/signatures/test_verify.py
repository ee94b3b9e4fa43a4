"""Public verification: the status behind a QR code (JSON and a page), and checks of uploaded
files that answer valid:false with reasons, or a 4xx, but never a 5xx."""

from __future__ import annotations

import io
import uuid

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer

from tests.api.signatures.conftest import admin, public


def upload(pdf: bytes, name: str = "dokumen.pdf") -> dict:
    return {"files": {"file": (name, pdf, "application/pdf")}}


async def test_status_json_and_pages(signatures):
    client = signatures.client
    document = await signatures.issue()
    path = f"/v1/verify/{document['document_id']}"

    status = await client.get(path, headers=public())
    assert status.status_code == 200
    body = status.json()
    assert body["valid"] is True and body["revoked"] is False and body["state"] == "valid"
    assert body["issued_at"] == document["issued_at"] and body["sha256"] == document["sha256"]
    assert body["issuer"] == "KDN-PFK" and body["service_code"] == "IZIN-LN-KDH"
    assert "applicant" not in body and "tenant" not in body  # public: no personal data

    page = await client.get(path, headers={**public(), "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="id">' in page.text and "Dokumen sah" in page.text
    assert document["number"] in page.text and "<script" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    english = await client.get(path, headers={**public(), "Accept": "text/html", "Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in english.text and "Valid document" in english.text

    unknown = f"/v1/verify/{uuid.uuid4()}"
    missing = await client.get(unknown, headers=public())
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    missing_page = await client.get(unknown, headers={**public(), "Accept": "text/html"})
    assert missing_page.status_code == 404 and "Dokumen tidak dikenal" in missing_page.text


async def test_page_escapes_what_came_from_requests(signatures):
    document = await signatures.issue(output={"name": "<script>alert(1)</script> Surat", "description": "x"})
    page = await signatures.client.get(f"/v1/verify/{document['document_id']}",
                                       headers={**public(), "Accept": "text/html"})
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Surat" in page.text


async def test_uploaded_genuine_copy_is_valid_until_revoked(signatures):
    client = signatures.client
    document = await signatures.issue()
    pdf = await signatures.pdf(document["document_id"])

    result = (await client.post("/v1/verify", headers=public(), **upload(pdf))).json()
    assert result["valid"] is True and result["reasons"] == []
    assert result["document"]["document_id"] == document["document_id"]
    (signature,) = result["signatures"]
    assert signature["intact"] and signature["trusted"] and signature["timestamp"]["valid"]
    assert signature["signer"]["fingerprint_sha256"] == document["signature"]["signer"]["fingerprint_sha256"]

    page = await client.post("/v1/verify", headers={**public(), "Accept": "text/html"}, **upload(pdf))
    assert page.status_code == 200 and "Berkas sah" in page.text

    await client.post(f"/v1/documents/{document['document_id']}/revoke", json={"reason": "Dicabut untuk uji."},
                      headers=admin())
    revoked = (await client.post("/v1/verify", headers=public(), **upload(pdf))).json()
    assert revoked["valid"] is False and revoked["reasons"] == ["revoked"]
    assert revoked["document"]["revoked"] is True


async def test_bad_uploads_are_reported_not_crashed_on(signatures):
    client = signatures.client
    document = await signatures.issue()
    pdf = await signatures.pdf(document["document_id"])
    tampered = bytearray(pdf)
    tampered[pdf.index(b"stream\n", pdf.index(b"/Contents ")) + 40] ^= 0x01
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(pdf)))
    writer.encrypt("owner", "user")
    encrypted = io.BytesIO()
    writer.write(encrypted)
    cases = {
        "signature_invalid": bytes(tampered),
        # Cut inside the first revision: a cut after it leaves a readable (unsigned) earlier PDF.
        "malformed": pdf[: pdf.index(b"%%EOF") // 2],
        "not_pdf": b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        "encrypted": encrypted.getvalue(),
    }
    for reason, data in cases.items():
        response = await client.post("/v1/verify", headers=public(), **upload(data))
        assert response.status_code == 200, (reason, response.text)
        result = response.json()
        assert result["valid"] is False and reason in result["reasons"], (reason, result)
        english = await client.post("/v1/verify", headers={**public(), "Accept": "text/html",
                                                            "Accept-Language": "en"}, **upload(data))
        assert english.status_code == 200 and "Valid file" not in english.text

    unsigned = await client.post("/v1/verify", headers=public(), **upload(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"))
    assert unsigned.json()["valid"] is False and unsigned.json()["reasons"][0] in ("unsigned", "malformed")


async def test_upload_limits_and_shapes(signatures):
    client = signatures.client
    limit = signatures.settings.verify_max_bytes
    too_big = await client.post("/v1/verify", headers=public(), **upload(b"%PDF-1.7\n" + b"0" * limit))
    assert too_big.status_code == 413 and too_big.headers["content-type"] == "application/problem+json"

    async def endless():
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.pdf\"\r\n\r\n%PDF-1.7\n"
        for _ in range(limit // 65536 + 2):
            yield b"0" * 65536

    streamed = await client.post("/v1/verify", content=endless(),
                                 headers={**public(), "Content-Type": "multipart/form-data; boundary=b"})
    assert streamed.status_code == 413

    assert (await client.post("/v1/verify", headers=public(), content=b"%PDF-1.7",
                              )).status_code == 415
    no_file = await client.post("/v1/verify", headers=public(), data={"other": "x"}, files={"x": ("a", b"1")})
    assert no_file.status_code == 422
    broken = await client.post("/v1/verify", content=b"--b\r\nnonsense",
                               headers={**public(), "Content-Type": "multipart/form-data; boundary=b"})
    assert broken.status_code in (400, 422)


async def test_page_explains_the_states_and_switches_language(signatures):
    document = await signatures.issue()
    path = f"/v1/verify/{document['document_id']}"
    page = await signatures.client.get(path, headers={**public(), "Accept": "text/html"})
    assert "Arti hasil pemeriksaan" in page.text and "Dicabut:" in page.text and "Tidak dikenal:" in page.text
    assert f'href="{path}?lang=en"' in page.text
    assert "@media (max-width: 36rem)" in page.text  # labels above values on a phone
    english = await signatures.client.get(f"{path}?lang=en", headers={**public(), "Accept": "text/html"})
    assert '<html lang="en">' in english.text and "What the result means" in english.text
    assert f'href="{path}?lang=id"' in english.text
