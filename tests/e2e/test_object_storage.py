"""Two submissions replicas on one S3 bucket (moto's standalone server over HTTP: no real S3
server can be installed here), each with a data dir of its own: a file uploaded through one is
downloaded through the other; the signed PDF of the approval is kept in the bucket too."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import start_system
from tests.e2e.test_submissions import PDF, approved, create, upload
from tests.support.processes import ServiceProcess, System
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


def replica_of(system: System, name: str) -> ServiceProcess:
    """Another process of the same service, on the same port (the gateway's one address), the
    same database and bucket, and a data dir of its own."""
    first = system[name]
    env = dict(first.env)
    env["SIMPUL_DATA_DIR"] = str(system.directory / f"{name}-replica")
    database = f"SIMPUL_{name.upper()}_DATABASE_URL"
    env.setdefault(database, f"sqlite+aiosqlite:///{system.directory / 'var' / f'{name}.db'}")
    return ServiceProcess(name, first.port, env, system.directory / f"{name}-replica.log")


def blobs_in(process: ServiceProcess) -> list[str]:
    files = Path(process.env["SIMPUL_DATA_DIR"]) / "submissions-files"
    return [path.name for path in files.rglob("*") if path.is_file()]


def swap(old: ServiceProcess, new: ServiceProcess) -> None:
    old.stop()
    new.start()
    new.wait_ready()


def test_a_file_uploaded_through_one_replica_is_downloaded_through_the_other(system, bucket, people, published):
    first = system["submissions"]
    second = replica_of(system, "submissions")
    one = PDF + b"% kept by the first replica\n"
    two = PDF + b"% kept by the second replica\n"
    sid = create(people, published)["id"]
    through_first = upload(people, sid, one)
    assert through_first.status_code == 201, through_first.text
    try:
        swap(first, second)
        through_second = people["applicant"].get(f"/v1/submissions/{sid}/documents/{through_first.json()['id']}/content")
        assert through_second.status_code == 200, through_second.text
        assert through_second.content == one
        assert blobs_in(second) == []  # from the bucket, not from a disk of its own
        replaced = upload(people, sid, two)
        assert replaced.status_code == 201, replaced.text
    finally:
        swap(second, first)
    back = people["applicant"].get(f"/v1/submissions/{sid}/documents/{replaced.json()['id']}/content")
    assert back.status_code == 200 and back.content == two
    for content in (one, two):
        sha256 = hashlib.sha256(content).hexdigest()
        assert f"submissions/{sha256[:2]}/{sha256[2:4]}/{sha256}" in bucket.keys()


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
