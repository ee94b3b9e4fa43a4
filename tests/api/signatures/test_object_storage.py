"""Issued PDFs kept in an S3 bucket (moto's standalone server over HTTP: no real S3 server can
be installed here), and what the service answers when the bucket can't be reached."""

from __future__ import annotations

import hashlib

import pytest

from tests.api.signatures.conftest import admin, internal, issue_body
from tests.support.s3 import REGION

PREFIX = "documents"


@pytest.fixture
def signatures_overrides(s3_target) -> dict:
    return {"storage_url": s3_target.url(PREFIX), "s3_endpoint_url": s3_target.endpoint_url, "s3_region": REGION}


async def test_an_issued_pdf_is_kept_in_the_bucket_and_served_from_it(signatures, s3_target):
    document = await signatures.issue()
    sha256 = document["sha256"]
    assert s3_target.keys() == [f"{PREFIX}/{sha256[:2]}/{sha256[2:4]}/{sha256}"]
    pdf = await signatures.pdf(document["document_id"])
    assert hashlib.sha256(pdf).hexdigest() == sha256 and pdf.startswith(b"%PDF-")


@pytest.mark.parametrize("s3_target", ["own"], indirect=True)
async def test_an_unreachable_bucket_is_a_503_and_the_document_stays_pending(signatures, s3_target):
    issued = await signatures.issue()
    s3_target.server.stop()

    second = issue_body("0190f3a2-7c1e-7b5a-9d3e-000000000002")
    refused = await signatures.client.post("/internal/documents", json=second, headers=internal())
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("storage-unavailable")
    assert "127.0.0.1" not in refused.text
    # No issued row points at a PDF that isn't stored: only the first document was announced.
    announced = await signatures.events.wait_for("document.issued", count=2, timeout=1.0)
    assert [event["data"]["document_id"] for event in announced] == [issued["document_id"]]

    content = await signatures.client.get(f"/v1/documents/{issued['document_id']}/content", headers=admin())
    assert content.status_code == 503 and "127.0.0.1" not in content.text
