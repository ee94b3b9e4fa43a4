"""The content-addressed store of issued PDFs."""

from __future__ import annotations

import hashlib

import pytest

from simpul.signatures.storage import FileStore


async def collect(store: FileStore, sha256: str) -> bytes:
    return b"".join([chunk async for chunk in store.open(sha256)])


async def test_bytes_and_streams_land_under_their_hash(tmp_path):
    store = FileStore(tmp_path)
    data = b"%PDF-1.7\n" + bytes(range(256)) * 1000
    sha256 = await store.put(data)
    assert sha256 == hashlib.sha256(data).hexdigest()
    assert store.path_for(sha256) == tmp_path / sha256[:2] / sha256[2:4] / sha256

    async def stream():
        for start in range(0, len(data), 10_000):
            yield data[start : start + 10_000]

    assert await store.put(stream()) == sha256
    assert await collect(store, sha256) == data
    assert list((tmp_path / "tmp").iterdir()) == []  # no temporary file left behind

    await store.delete(sha256)
    with pytest.raises(FileNotFoundError):
        await collect(store, sha256)
    await store.delete(sha256)  # deleting twice is fine


async def test_only_hex_digests_name_files(tmp_path):
    store = FileStore(tmp_path)
    for bad in ("../../etc/passwd", "A" * 64, "0" * 63):
        with pytest.raises(ValueError):
            store.path_for(bad)
