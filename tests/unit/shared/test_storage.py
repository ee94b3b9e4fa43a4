"""The content-addressed blob store, on both backends: a directory, and an S3 bucket on moto's
standalone server over HTTP (no real S3 server can be installed here)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import pytest
from prometheus_client import CollectorRegistry
from pydantic import Field, ValidationError

from simpul.shared.problems import Problem
from simpul.shared.settings import BaseServiceSettings
from simpul.shared.storage import DirectoryStore, ObjectStorageSettings, ObjectStore, open_blob_store
from tests.support.processes import free_port
from tests.support.s3 import REGION

DATA = b"%PDF-1.7\n" + bytes(range(256)) * 1000


@pytest.fixture(params=["directory", "s3"])
def store(request, tmp_path):
    if request.param == "directory":
        return DirectoryStore(tmp_path / "files", CollectorRegistry())
    bucket = request.getfixturevalue("s3_bucket")
    settings = ObjectStorageSettings(SIMPUL_S3_ENDPOINT_URL=bucket.endpoint_url, SIMPUL_S3_REGION=REGION)
    return open_blob_store(bucket.url(), directory=tmp_path / "files", settings=settings, registry=CollectorRegistry())


async def read(store, sha256: str) -> bytes:
    return b"".join([chunk async for chunk in await store.open(sha256)])


def spooled(store) -> list:
    spool = store.tmp_dir if isinstance(store, DirectoryStore) else store.spool_dir
    return list(spool.iterdir())


async def chunks(data: bytes, size: int = 10_000):
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_bytes_and_streams_land_under_their_hash(store):
    sha256 = await store.put(DATA)
    assert sha256 == hashlib.sha256(DATA).hexdigest()
    assert await store.put(chunks(DATA)) == sha256  # the same content again: the same blob
    assert await read(store, sha256) == DATA
    assert spooled(store) == []  # no temporary file left behind

    await store.delete(sha256)
    with pytest.raises(FileNotFoundError):
        await store.open(sha256)
    await store.delete(sha256)  # deleting twice is fine


async def test_a_writer_streams_in_and_commits_or_aborts(store):
    writer = store.writer()
    async for chunk in chunks(DATA):
        writer.write(chunk)
    assert writer.size == len(DATA)
    sha256 = await writer.commit()
    assert await read(store, sha256) == DATA

    refused = store.writer()
    refused.write(b"never kept")
    await refused.abort()
    assert spooled(store) == []
    with pytest.raises(FileNotFoundError):
        await store.open(hashlib.sha256(b"never kept").hexdigest())


async def test_a_large_blob_streams_both_ways_in_chunks(store):
    # Larger than one multipart part, so the S3 backend uploads it in parts.
    large = os.urandom(1024 * 1024) * 9
    sha256 = await store.put(chunks(large, 256 * 1024))
    sizes = [len(chunk) async for chunk in await store.open(sha256)]
    assert sum(sizes) == len(large)
    assert len(sizes) > 1 and max(sizes) < len(large)  # streamed, not one whole read
    assert hashlib.sha256(b"".join([c async for c in await store.open(sha256)])).hexdigest() == sha256


async def test_concurrent_writers_of_one_blob_leave_it_whole(store):
    # Two replicas storing the same upload at once: the same name, the same bytes, either wins.
    shas = await asyncio.gather(*(store.put(chunks(DATA, 4096)) for _ in range(4)))
    assert set(shas) == {hashlib.sha256(DATA).hexdigest()}
    assert await read(store, shas[0]) == DATA
    assert spooled(store) == []


def test_spool_files_of_a_dead_process_are_removed_at_start_and_no_others(tmp_path):
    spool = tmp_path / "tmp"
    spool.mkdir()
    dead, live = spool / "blob-dead", spool / "blob-live"
    dead.write_bytes(b"half an upload")
    live.write_bytes(b"another replica's upload in progress")
    long_ago = time.time() - 2 * 24 * 3600
    os.utime(dead, (long_ago, long_ago))
    DirectoryStore(tmp_path)
    assert list(spool.iterdir()) == [live]


async def test_only_hex_digests_name_blobs(store):
    for bad in ("../../etc/passwd", "A" * 64, "0" * 63):
        with pytest.raises(ValueError):
            await store.open(bad)


async def test_an_unreachable_store_is_a_503_without_its_address(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    endpoint = f"http://127.0.0.1:{free_port()}"
    settings = ObjectStorageSettings(SIMPUL_S3_ENDPOINT_URL=endpoint, SIMPUL_S3_REGION=REGION)
    store = open_blob_store("s3://nowhere/files", directory=tmp_path, settings=settings)
    for attempt in (store.put(DATA), store.open(hashlib.sha256(DATA).hexdigest()), store.put(chunks(DATA))):
        with pytest.raises(Problem) as caught:
            await attempt
        assert caught.value.status == 503
        assert caught.value.slug == "storage-unavailable"
        assert "127.0.0.1" not in str(caught.value) and "127.0.0.1" not in caught.value.detail.en
    assert list((tmp_path / "tmp").iterdir()) == []


def test_storage_urls_pick_the_backend(tmp_path):
    settings = ObjectStorageSettings()
    assert open_blob_store(None, directory=tmp_path / "a", settings=settings).root == tmp_path / "a"
    assert open_blob_store(str(tmp_path / "b"), directory=tmp_path / "a", settings=settings).root == tmp_path / "b"
    assert open_blob_store(f"file://{tmp_path}/c", directory=tmp_path / "a", settings=settings).root == tmp_path / "c"
    assert isinstance(open_blob_store("s3://bucket/some/prefix", directory=tmp_path, settings=settings), ObjectStore)
    for bad in ("s3://", "s3:///prefix", "relative/dir", "gs://bucket", "s3://bucket/p?x=1", "file://host/path"):
        with pytest.raises(ValueError, match="storage URL"):
            open_blob_store(bad, directory=tmp_path, settings=settings)


async def test_operations_are_timed_per_backend(tmp_path):
    registry = CollectorRegistry()
    store = DirectoryStore(tmp_path, registry)
    sha256 = await store.put(DATA)
    await read(store, sha256)
    labels = {"backend": "directory", "operation": "put"}
    assert registry.get_sample_value("simpul_storage_operation_seconds_count", labels) == 1
    assert registry.get_sample_value("simpul_storage_operation_seconds_count", {**labels, "operation": "open"}) == 1


def test_service_settings_with_object_storage_still_read_their_own_variables(monkeypatch):
    class ServiceWithFiles(BaseServiceSettings, ObjectStorageSettings):
        storage_url: str | None = Field(default=None, validation_alias="SIMPUL_EXAMPLE_STORAGE_URL")

    monkeypatch.setenv("SIMPUL_GATEWAY_URL", "http://gateway.internal:8000")
    monkeypatch.setenv("SIMPUL_S3_ENDPOINT_URL", "http://objects.internal:9000")
    monkeypatch.setenv("SIMPUL_EXAMPLE_STORAGE_URL", "s3://bucket/prefix")
    settings = ServiceWithFiles()
    assert settings.gateway_url == "http://gateway.internal:8000"
    assert settings.s3_endpoint_url == "http://objects.internal:9000"
    assert settings.storage_url == "s3://bucket/prefix"

    monkeypatch.setenv("SIMPUL_EXAMPLE_STORAGE_URL", "gs://bucket")
    with pytest.raises(ValidationError, match="SIMPUL_EXAMPLE_STORAGE_URL"):
        ServiceWithFiles()
