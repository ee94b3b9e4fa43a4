"""Hostile uploads to the submissions service (requirement documents and complaint attachments):
files whose bytes are not what their name and Content-Type claim, polyglots, archives, oversize
and empty files are refused with their code and nothing is stored; hostile file names never
reach the file system; a PDF carrying JavaScript is served back only as an attachment."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests.api.submissions.conftest import (  # noqa: F401 - fixtures
    PDF,
    PNG,
    applicant,
    clock,
    harness,
    harness_overrides,
)

# A requirement (`domicile`) that takes PDF only, up to 1 MB; `ktp` takes JPEG, PNG or PDF up to 200 kB.
HOSTILE_FILES = {
    "PNG bytes named .pdf": ("domicile", PNG, 415),
    "%PDF- after a newline": ("domicile", b"\n%PDF-1.7\n" + b"0" * 100, 415),
    "HTML with %PDF- inside (polyglot)": ("domicile", b"<html><script>alert(document.cookie)</script>%PDF-1.7\n", 415),
    "Windows executable": ("domicile", b"MZ\x90\x00" + b"\x00" * 200, 415),
    "ELF executable": ("ktp", b"\x7fELF\x02\x01\x01" + b"\x00" * 200, 415),
    "zip archive (a zip bomb's head)": ("domicile", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 200, 415),
    "SVG with a script": ("ktp", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 415),
    "over the requirement's size": ("ktp", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200_001, 413),
    "empty": ("domicile", b"", 422),
}
HOSTILE_NAMES = [
    "../../../../../../tmp/simpul-attack.pdf",
    "..\\..\\..\\windows\\system32\\evil.pdf",
    "/etc/passwd",
    "surat\x00.exe.pdf",
    "surat\r\nContent-Type: text/html\r\n\r\n<script>.pdf",
    "\u202efdp.exe",
    "a" * 1000 + ".pdf",
    "....//....//simpul-attack.pdf",
]
JAVASCRIPT_PDF = (b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R >> endobj\n"
                  b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
                  b"3 0 obj << /S /JavaScript /JS (app.launchURL\\('http://attacker.example'\\)) >> endobj\n"
                  b"4 0 obj << /S /Launch /F (cmd.exe) >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")


def stored_files(harness) -> dict[str, bytes]:
    """Every file under the service's data dir but its database (which reads may touch)."""
    root = Path(harness.app.state.settings.data_dir)
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*")
            if path.is_file() and ".db" not in path.name}


async def listed(harness, submission_id: str) -> list:
    response = await harness.client.get(f"/v1/submissions/{submission_id}/documents",
                                        params={"include_replaced": "true"}, headers=applicant())
    return response.json()["items"]


@pytest.mark.parametrize("name", HOSTILE_FILES)
async def test_a_hostile_file_is_refused_and_nothing_is_stored(harness, name):
    code, content, status = HOSTILE_FILES[name]
    draft = await harness.create()
    before = stored_files(harness)
    response = await harness.client.post(
        f"/v1/submissions/{draft['id']}/documents", data={"requirement_code": code},
        files={"file": ("surat.pdf", content, "application/pdf")}, headers=applicant())
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await listed(harness, draft["id"]) == []
    assert stored_files(harness) == before


# Complaint attachments take PDF, JPEG and PNG: a PNG named .pdf is a PNG, and accepted as one.
@pytest.mark.parametrize("name", [name for name, (_, _, status) in HOSTILE_FILES.items()
                                  if status == 415 and not name.startswith("PNG")])
async def test_a_hostile_complaint_attachment_is_refused_and_nothing_is_stored(harness, name):
    _, content, _ = HOSTILE_FILES[name]
    draft = await harness.create()
    complaint = await harness.client.post("/v1/complaints", headers=applicant(), json={
        "submission_id": draft["id"], "category": "timeliness", "text": "Belum ada tanggapan."})
    assert complaint.status_code == 201, complaint.text
    path = f"/v1/complaints/{complaint.json()['id']}/attachments"
    before = stored_files(harness)
    response = await harness.client.post(path, files={"file": ("bukti.pdf", content, "application/pdf")},
                                         headers=applicant())
    assert response.status_code == 415, response.text
    assert stored_files(harness) == before
    shown = await harness.client.get(f"/v1/complaints/{complaint.json()['id']}", headers=applicant())
    assert shown.json().get("attachments", []) == []


async def test_hostile_file_names_never_reach_the_file_system(harness):
    draft = await harness.create()
    before = stored_files(harness)
    for name in HOSTILE_NAMES:
        content = PDF + name.encode("utf-8", "replace")  # a distinct file each time
        response = await harness.client.post(
            f"/v1/submissions/{draft['id']}/documents", data={"requirement_code": "domicile"},
            files={"file": (name, content, "application/pdf")}, headers=applicant())
        assert response.status_code == 201, (name, response.text)
        kept = response.json().get("filename") or ""
        assert not re.search(r"[\x00-\x1f\x7f-\x9f\u202e/\\]", kept) and len(kept) <= 255, (name, kept)
        download = await harness.client.get(f"/v1/submissions/{draft['id']}/documents/{response.json()['id']}/content",
                                            headers=applicant())
        assert download.status_code == 200 and download.content == content
        disposition = download.headers["content-disposition"]
        assert disposition.startswith("attachment;") and "\r" not in disposition and "\n" not in disposition
    added = {path: data for path, data in stored_files(harness).items() if path not in before}
    # Only content-addressed files: named by the sha256 of their bytes, never by the client's name.
    assert len(added) == len(HOSTILE_NAMES)
    for path, data in added.items():
        assert Path(path).name == hashlib.sha256(data).hexdigest(), path
    assert not Path("/tmp/simpul-attack.pdf").exists()


async def test_a_pdf_with_javascript_and_launch_actions_is_only_ever_served_as_an_attachment(harness):
    draft = await harness.create()
    response = await harness.upload(draft["id"], "domicile", JAVASCRIPT_PDF, filename="surat.pdf")
    assert response.status_code == 201, response.text
    download = await harness.client.get(f"/v1/submissions/{draft['id']}/documents/{response.json()['id']}/content",
                                        headers=applicant())
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["cache-control"] == "no-store"
