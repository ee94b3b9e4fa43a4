"""Content-addressed storage of issued PDFs.

`DocumentStore` is what the service uses; `FileStore` keeps blobs under the data dir as
`<root>/<sha[:2]>/<sha[2:4]>/<sha>`. An S3-compatible store can implement the same three calls. A blob
is written to a temporary file, made durable, then renamed under its hash, so a reader never
sees half a file and the same content is stored once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Protocol

import anyio

CHUNK_SIZE = 64 * 1024


class DocumentStore(Protocol):
    async def put(self, data: bytes | AsyncIterable[bytes]) -> str:
        """Store the content and return its sha256 (hex)."""
        ...

    def open(self, sha256: str) -> AsyncIterator[bytes]:
        """The content in chunks; FileNotFoundError when absent."""
        ...

    async def delete(self, sha256: str) -> None: ...


def _check(sha256: str) -> str:
    if len(sha256) != 64 or any(char not in "0123456789abcdef" for char in sha256):
        raise ValueError("not a sha256 hex digest")
    return sha256


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        sha256 = _check(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def put(self, data: bytes | AsyncIterable[bytes]) -> str:
        if isinstance(data, bytes):
            return await anyio.to_thread.run_sync(self._put_bytes, data)
        digest = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="put-")
        temporary = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                async for chunk in data:
                    digest.update(chunk)
                    await anyio.to_thread.run_sync(handle.write, chunk)
                await anyio.to_thread.run_sync(_durable, handle)
            sha256 = digest.hexdigest()
            await anyio.to_thread.run_sync(self._place, temporary, sha256)
            return sha256
        finally:
            temporary.unlink(missing_ok=True)

    def _put_bytes(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        if self.path_for(sha256).exists():
            return sha256
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="put-")
        temporary = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                _durable(handle)
            self._place(temporary, sha256)
        finally:
            temporary.unlink(missing_ok=True)
        return sha256

    def _place(self, temporary: Path, sha256: str) -> None:
        target = self.path_for(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, target)

    async def open(self, sha256: str) -> AsyncIterator[bytes]:
        async with await anyio.open_file(self.path_for(sha256), "rb") as handle:
            while chunk := await handle.read(CHUNK_SIZE):
                yield chunk

    async def delete(self, sha256: str) -> None:
        await anyio.Path(self.path_for(sha256)).unlink(missing_ok=True)


def _durable(handle) -> None:
    handle.flush()
    os.fsync(handle.fileno())
