"""Who may read a document: the applicant's region, the issuing unit's officers, admins; 404 for
everyone else, so ids leak nothing."""

from __future__ import annotations

import uuid

from tests.api.signatures.conftest import OTHER_UNIT, TENANT, UNIT, admin, applicant, internal, officer, public


VISIBILITY = [
    ("applicant of the region", lambda: applicant(TENANT), 200),
    ("applicant of another region", lambda: applicant("32"), 404),
    ("officer of the issuing unit", lambda: officer(UNIT), 200),
    ("officer of another unit", lambda: officer(OTHER_UNIT), 404),
    ("admin", lambda: admin(), 200),
    ("anonymous", lambda: public(), 401),
    ("a service", lambda: internal(), 403),
]


async def test_document_and_content_visibility(signatures):
    document = await signatures.issue()
    client = signatures.client
    path = f"/v1/documents/{document['document_id']}"
    for who, headers, status in VISIBILITY:
        metadata = await client.get(path, headers=headers())
        content = await client.get(f"{path}/content", headers=headers())
        history = await client.get(f"{path}/history", headers=headers())
        assert (metadata.status_code, content.status_code, history.status_code) == (status, status, status), who
        if status == 200:
            assert metadata.json()["document_id"] == document["document_id"]
            assert content.headers["content-type"] == "application/pdf"
            assert content.content.startswith(b"%PDF-")
        elif status == 404:
            assert metadata.headers["content-type"] == "application/problem+json"
            assert metadata.json()["title"] == "Tidak ditemukan"


async def test_unknown_and_malformed_ids_are_404(signatures):
    for document_id in (str(uuid.uuid4()), "not-a-uuid", "' OR 1=1 --"):
        response = await signatures.client.get(f"/v1/documents/{document_id}", headers=admin())
        assert response.status_code == 404


async def test_content_download_headers_and_conditional_get(signatures):
    document = await signatures.issue()
    path = f"/v1/documents/{document['document_id']}/content"
    response = await signatures.client.get(path, headers=applicant())
    assert response.headers["etag"] == f'"{document["sha256"]}"'
    assert response.headers["content-disposition"] == 'inline; filename="000001-KDN-PFK-IZIN-LN-KDH-2026.pdf"'
    assert int(response.headers["content-length"]) == document["size"]
    assert response.headers["x-content-type-options"] == "nosniff"
    again = await signatures.client.get(path, headers={**applicant(), "If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
