"""Content-addressed file storage for uploaded documents.

`BlobStore` is the interface the service uses; `FileBlobStore` keeps blobs under the data dir as
`<root>/<sha[:2]>/<sha[2:4]>/<sha>`. An S3-compatible store can implement the same calls.
A blob is written to a temporary file while it streams in and only then moved under its hash,
so a reader never sees half a file and the same content is stored once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import anyio

CHUNK_SIZE = 64 * 1024


class BlobWriter(Protocol):
    size: int

    def write(self, chunk: bytes) -> None: ...

    async def commit(self) -> str:
        """Make the blob durable and return its sha256 (hex)."""
        ...

    async def abort(self) -> None: ...


class BlobStore(Protocol):
    def writer(self) -> BlobWriter: ...

    def read(self, sha256: str) -> AsyncIterator[bytes]: ...


class FileBlobWriter:
    def __init__(self, store: FileBlobStore) -> None:
        self._store = store
        self._digest = hashlib.sha256()
        self.size = 0
        fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix="upload-")
        self._path = Path(name)
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        # Chunks come from the request stream (at most a few dozen KB); a buffered write of that
        # size returns at once, the one slow step (fsync) happens in a thread in commit().
        self._file.write(chunk)
        self._digest.update(chunk)
        self.size += len(chunk)

    async def commit(self) -> str:
        sha256 = self._digest.hexdigest()
        target = self._store.path_for(sha256)

        def finish() -> None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._path, target)

        await anyio.to_thread.run_sync(finish)
        return sha256

    async def abort(self) -> None:
        self._file.close()
        self._path.unlink(missing_ok=True)


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def writer(self) -> FileBlobWriter:
        return FileBlobWriter(self)

    async def read(self, sha256: str) -> AsyncIterator[bytes]:
        async with await anyio.open_file(self.path_for(sha256), "rb") as handle:
            while chunk := await handle.read(CHUNK_SIZE):
                yield chunk
