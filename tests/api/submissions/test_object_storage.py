"""Uploads, downloads and receipts with the files in an S3 bucket (moto's standalone server over
HTTP: no real S3 server can be installed here), and what the service answers when the bucket
can't be reached."""

from __future__ import annotations

import hashlib

import pytest

from tests.api.submissions.conftest import JPEG, PDF, admin, applicant
from tests.support.s3 import REGION

PREFIX = "kab-bogor/submissions"


@pytest.fixture
def harness_overrides(s3_target) -> dict:
    return {"storage_url": s3_target.url(PREFIX), "s3_endpoint_url": s3_target.endpoint_url, "s3_region": REGION}


def key_of(content: bytes) -> str:
    sha256 = hashlib.sha256(content).hexdigest()
    return f"{PREFIX}/{sha256[:2]}/{sha256[2:4]}/{sha256}"


async def test_uploads_land_in_the_bucket_and_come_back(harness, s3_target):
    submitted = await harness.submitted()
    documents = (await harness.client.get(f"/v1/submissions/{submitted['id']}/documents", headers=applicant())).json()
    assert {key_of(JPEG), key_of(PDF)} <= set(s3_target.keys())
    for document, content in zip(sorted(documents["items"], key=lambda d: d["requirement_code"]), (PDF, JPEG)):
        download = await harness.client.get(
            f"/v1/submissions/{submitted['id']}/documents/{document['id']}/content", headers=applicant()
        )
        assert download.status_code == 200
        assert download.content == content
        assert download.headers["etag"] == f'"{hashlib.sha256(content).hexdigest()}"'
    receipt = await harness.client.get(f"/v1/submissions/{submitted['id']}/receipt.pdf", headers=applicant())
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")
    assert not list(harness.app.state.submissions.store.spool_dir.iterdir())


@pytest.mark.parametrize("s3_target", ["own"], indirect=True)
async def test_an_unreachable_bucket_is_a_503_and_nothing_half_written(harness, s3_target):
    draft = await harness.create()
    kept = (await harness.upload(draft["id"], "ktp", JPEG)).json()
    s3_target.server.stop()

    refused = await harness.upload(draft["id"], "domicile", PDF)
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("storage-unavailable")
    assert "127.0.0.1" not in refused.text and s3_target.endpoint_url not in refused.text
    listed = (await harness.client.get(f"/v1/submissions/{draft['id']}/documents", headers=admin())).json()["items"]
    assert [document["id"] for document in listed] == [kept["id"]]  # no row for the file not stored

    download = await harness.client.get(f"/v1/submissions/{draft['id']}/documents/{kept['id']}/content", headers=admin())
    assert download.status_code == 503
    assert "127.0.0.1" not in download.text
    assert not list(harness.app.state.submissions.store.spool_dir.iterdir())
