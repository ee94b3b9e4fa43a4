"""Two submissions replicas on one S3 bucket (moto's standalone server over HTTP: no real S3
server can be installed here), each with a data dir of its own: a file uploaded through one is
downloaded through the other, both running; the signed PDF of an approval is kept in the bucket too."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import start_system
from tests.e2e.test_submissions import PDF, approved, create, upload
from tests.support.identity import as_role, jwks_json
from tests.support.processes import ServiceProcess, System, free_port
from tests.support.s3 import S3Bucket


@pytest.fixture(scope="module")
def bucket(moto_server) -> S3Bucket:
    return S3Bucket(moto_server, moto_server.create_bucket())


@pytest.fixture(scope="module")
def system(tmp_path_factory, bucket) -> Iterator[System]:
    extra_env = {**bucket.env("submissions", "submissions"), **bucket.env("signatures", "signatures")}
    running, databases = start_system(tmp_path_factory.mktemp("system"), extra_env=extra_env)
    yield running
    running.stop()
    asyncio.run(databases.drop_all())


@pytest.fixture
def second_submissions(system) -> Iterator[ServiceProcess]:
    """Another submissions process beside the first: the same database and bucket, a data dir of
    its own. Until the gateway balances over several addresses it is called directly, with the
    assertions a gateway would send (signed by the test key it trusts)."""
    first = system["submissions"]
    env = dict(first.env)
    env["SIMPUL_DATA_DIR"] = str(system.directory / "submissions-replica")
    env["SIMPUL_SUBMISSIONS_PORT"] = str(free_port())
    env["SIMPUL_IDENTITY_JWKS"] = jwks_json()
    database = "SIMPUL_SUBMISSIONS_DATABASE_URL"
    env.setdefault(database, f"sqlite+aiosqlite:///{system.directory / 'var' / 'submissions.db'}")
    second = ServiceProcess("submissions", int(env["SIMPUL_SUBMISSIONS_PORT"]), env,
                            system.directory / "submissions-replica.log")
    second.start()
    try:
        second.wait_ready()
        yield second
    finally:
        second.stop()


def blobs_on_disk(process: ServiceProcess) -> list[Path]:
    files = Path(process.env["SIMPUL_DATA_DIR"]) / "submissions-files"
    return [path for path in files.rglob("*") if path.is_file()]


def test_a_file_uploaded_through_one_replica_is_downloaded_through_the_other(
    system, bucket, people, published, second_submissions
):
    one = PDF + b"% kept by the first replica\n"
    two = PDF + b"% kept by the second replica\n"
    sid = create(people, published)["id"]
    through_first = upload(people, sid, one)
    assert through_first.status_code == 201, through_first.text
    applicant = as_role("submissions", "applicant", "31")
    with httpx.Client(base_url=second_submissions.url, headers=applicant, timeout=30) as second:
        from_second = second.get(f"/v1/submissions/{sid}/documents/{through_first.json()['id']}/content")
        assert from_second.status_code == 200, from_second.text
        assert from_second.content == one
        through_second = second.post(
            f"/v1/submissions/{sid}/documents",
            data={"requirement_code": "SURAT"},
            files={"file": ("surat.pdf", two, "application/pdf")},
        )
        assert through_second.status_code == 201, through_second.text
    from_first = people["applicant"].get(f"/v1/submissions/{sid}/documents/{through_second.json()['id']}/content")
    assert from_first.status_code == 200 and from_first.content == two
    for content in (one, two):
        sha256 = hashlib.sha256(content).hexdigest()
        assert f"submissions/{sha256[:2]}/{sha256[2:4]}/{sha256}" in bucket.keys()
    assert blobs_on_disk(system["submissions"]) == blobs_on_disk(second_submissions) == []


def test_the_signed_pdf_of_an_approval_is_kept_in_the_bucket(system, bucket, people, published):
    sid = approved(people, published)
    deadline = time.monotonic() + 60
    while (current := people["applicant"].get(f"/v1/submissions/{sid}").json())["status"] != "issued":
        assert time.monotonic() < deadline, current
        time.sleep(0.2)
    document_id = current["issued_documents"][0]["document_id"]
    pdf = people["applicant"].get(f"/v1/documents/{document_id}/content")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    sha256 = hashlib.sha256(pdf.content).hexdigest()
    assert f"signatures/{sha256[:2]}/{sha256[2:4]}/{sha256}" in bucket.keys()
