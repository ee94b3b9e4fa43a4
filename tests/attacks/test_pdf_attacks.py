"""Hostile PDFs at the public `POST /v1/verify`, the one place a PDF from anyone is parsed (by
pyHanko, in the signatures service): deep nesting, reference loops, a decompression bomb,
a lying /Length, JavaScript and launch actions, a forged signature dictionary. Each is reported
as not valid (200 valid:false) or refused with a 4xx, never a 5xx, in bounded time, and nothing
is stored or recorded."""

from __future__ import annotations

import time
import zlib
from pathlib import Path

from tests.api.signatures.conftest import admin, public, signatures, signatures_overrides  # noqa: F401 - fixtures


def pdf(*objects: bytes, root: int = 1) -> bytes:
    body = b"%PDF-1.7\n"
    offsets = []
    for number, content in enumerate(objects, 1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % number + content + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return body


BOMB = zlib.compress(b"\x00" * 200_000_000, 9)  # ~200 kB that inflate to 200 MB
HOSTILE_PDFS = {
    "arrays nested 100 000 deep": pdf(b"<< /Type /Catalog /Pages " + b"[" * 100_000 + b"]" * 100_000 + b" >>"),
    "dictionaries nested 50 000 deep": pdf(b"<< /Type /Catalog /A " + b"<< /A " * 50_000 + b">> " * 50_000 + b">>"),
    "a page tree that loops": pdf(b"<< /Type /Catalog /Pages 2 0 R >>",
                                  b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                                  b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>"),
    "a reference to itself as the root": pdf(b"1 0 R"),
    "a decompression bomb": pdf(b"<< /Type /Catalog /Pages 2 0 R >>",
                                b"<< /Type /Pages /Kids [] /Count 0 /Contents 3 0 R >>",
                                b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(BOMB) + BOMB
                                + b"\nendstream"),
    "a /Length far beyond the file": pdf(b"<< /Type /Catalog >>", b"<< /Length 99999999999 >>\nstream\nabc\nendstream"),
    "JavaScript and launch actions": pdf(
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R /AA << /WC 4 0 R >> >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
        b"<< /S /JavaScript /JS (app.launchURL\\('http://attacker.example'\\)) >>",
        b"<< /S /Launch /F (cmd.exe) /Win << /F (cmd.exe) /P (/c calc) >> >>"),
    "a signature field whose /Contents is not a CMS": pdf(
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [3 0 R] /SigFlags 3 >> >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
        b"<< /FT /Sig /T (Sig1) /V << /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
        b"/ByteRange [0 10 20 30] /Contents <DEADBEEF> >> >>"),
    "a byte range pointing outside the file": pdf(
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [3 0 R] /SigFlags 3 >> >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
        b"<< /FT /Sig /T (Sig1) /V << /Type /Sig /Filter /Adobe.PPKLite /SubFilter /adbe.pkcs7.detached "
        b"/ByteRange [0 999999999 999999999 5] /Contents <3082> >> >>"),
    "xref offsets into nowhere": b"%PDF-1.7\nxref\n0 2\n0000000000 65535 f \n9999999999 00000 n \n"
                                 b"trailer << /Size 2 /Root 1 0 R >>\nstartxref\n9\n%%EOF\n",
}


def stored_files(signatures) -> dict[str, int]:
    root = Path(signatures.settings.data_dir)
    return {str(path): path.stat().st_size for path in root.rglob("*") if path.is_file() and ".db" not in path.name}


async def test_hostile_pdfs_are_reported_not_valid_and_nothing_is_kept(signatures):
    # One service for every file (its PKI takes seconds to make): each file is checked on its own.
    client = signatures.client
    before_files = stored_files(signatures)
    before_audit = (await client.get("/v1/admin/audit/signatures/verify", headers=admin())).json()["checked"]
    failures = []
    for name, content in HOSTILE_PDFS.items():
        started = time.monotonic()
        response = await client.post("/v1/verify", headers=public(),
                                     files={"file": ("dokumen.pdf", content, "application/pdf")})
        elapsed = time.monotonic() - started
        if response.status_code >= 500:
            failures.append(f"{name}: {response.status_code} {response.text[:200]}")
        elif response.status_code == 200 and response.json()["valid"] is not False:
            failures.append(f"{name}: reported {response.json()}")
        elif response.status_code != 200 and response.headers["content-type"] != "application/problem+json":
            failures.append(f"{name}: a {response.status_code} that is not problem+json")
        if elapsed > 20:
            failures.append(f"{name}: {elapsed:.1f} s")
        # The service still answers: the parse neither killed nor wedged it.
        if (await client.get("/healthz")).status_code != 200:
            failures.append(f"{name}: the service stopped answering")
    assert not failures, "\n".join(failures)
    assert stored_files(signatures) == before_files
    after_audit = (await client.get("/v1/admin/audit/signatures/verify", headers=admin())).json()["checked"]
    assert after_audit == before_audit
