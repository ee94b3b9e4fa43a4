"""Content-addressed file storage that every replica of a service reads: uploads, issued PDFs.

A blob is named by the sha256 of its content, so the same content is stored once and two
replicas storing the same name store the same bytes: whoever writes last changes nothing.
`BlobStore` is what a service uses; `open_blob_store` picks the backend from a storage URL:

- unset, a path or `file:///path`: `DirectoryStore`, files under `<root>/<sha[:2]>/<sha[2:4]>/<sha>`.
  The embedded default; replicas share it on a shared volume. A blob is written to a temporary
  file under the same root, made durable and renamed: the rename is atomic, so a reader sees no
  file or the whole file, never half of one.
- `s3://bucket/prefix`: `ObjectStore`, an S3-compatible bucket through obstore (async, Rust).
  An object PUT is atomic too; large blobs go up as multipart uploads.

An incoming stream is spooled to a local temporary file while it is hashed (its name is known
only at the end, and an upload refused after its first bytes never reaches the bucket), then
placed. Reads stream in chunks. A store that can't be reached answers 503 problem+json, without
the store's address; a missing blob is FileNotFoundError (a row never points at one: the blob is
stored before the row that names it commits, and a failed commit at worst leaves an orphan blob).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

import anyio
from prometheus_client import CollectorRegistry, Histogram
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from simpul.shared.problems import Problem, Text
from simpul.shared.settings import BaseServiceSettings

log = logging.getLogger("simpul.storage")

CHUNK_SIZE = 64 * 1024
# A spool file this old belongs to an upload whose process died (none lasts a day): removed at
# start. Only such files: on a shared volume the others may be another replica's uploads.
STALE_SPOOL_SECONDS = 24 * 3600
# Parts of a multipart upload; S3 takes at least 5 MiB per part but the last.
MULTIPART_CHUNK_SIZE = 8 * 1024 * 1024

STORAGE_UNAVAILABLE = Text(
    "Penyimpanan berkas sedang tidak dapat dijangkau. Silakan coba lagi sebentar lagi.",
    "File storage cannot be reached right now. Please try again shortly.",
)


class ObjectStorageSettings(BaseSettings):
    """How to reach an S3-compatible store (a service's own `..._STORAGE_URL` names the bucket).
    Credentials come the way every S3 client reads them: `AWS_ACCESS_KEY_ID` /
    `AWS_SECRET_ACCESS_KEY`, a web identity token or an instance role."""

    # The same as the service settings it is mixed into: a base's own config would override theirs.
    model_config = BaseServiceSettings.model_config

    s3_endpoint_url: str | None = Field(default=None, validation_alias="SIMPUL_S3_ENDPOINT_URL")
    s3_region: str | None = Field(default=None, validation_alias="SIMPUL_S3_REGION")

    # Checked with the settings, so a malformed URL stops the process before anything starts.
    @field_validator("storage_url", check_fields=False)
    @classmethod
    def _storage_url_is_understood(cls, url: str | None) -> str | None:
        if url:
            parse_storage_url(url)
        return url


def _check(sha256: str) -> str:
    if len(sha256) != 64 or any(char not in "0123456789abcdef" for char in sha256):
        raise ValueError("not a sha256 hex digest")
    return sha256


class StorageMetrics:
    def __init__(self, backend: str, registry: CollectorRegistry | None) -> None:
        self.backend = backend
        self._latency = (
            Histogram(
                "simpul_storage_operation_seconds",
                "Time of file storage operations",
                ["backend", "operation"],
                registry=registry,
                buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            )
            if registry is not None
            else None
        )

    @contextmanager
    def timed(self, operation: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            if self._latency is not None:
                self._latency.labels(self.backend, operation).observe(time.perf_counter() - started)


class BlobWriter:
    """A blob as it streams in: `write` chunks (a buffered local write, never blocking long),
    then `commit` to store it under its sha256, or `abort`."""

    def __init__(self, spool_dir: Path, place: Callable[[Path, str], Awaitable[None]]) -> None:
        self._place = place
        self._digest = hashlib.sha256()
        self.size = 0
        fd, name = tempfile.mkstemp(dir=spool_dir, prefix="blob-")
        self._path = Path(name)
        self._file: BinaryIO = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._digest.update(chunk)
        self.size += len(chunk)

    async def commit(self) -> str:
        """Store the blob and return its sha256 (hex); the spool file is gone either way."""
        sha256 = self._digest.hexdigest()
        try:
            await anyio.to_thread.run_sync(self._file.close)
            await self._place(self._path, sha256)
        finally:
            self._path.unlink(missing_ok=True)
        return sha256

    async def abort(self) -> None:
        self._file.close()
        self._path.unlink(missing_ok=True)


class BlobStore(Protocol):
    def writer(self) -> BlobWriter: ...

    async def put(self, data: bytes | AsyncIterable[bytes]) -> str:
        """Store the content and return its sha256 (hex)."""
        ...

    async def open(self, sha256: str) -> AsyncIterator[bytes]:
        """The content in chunks, once the store has answered: FileNotFoundError when absent,
        503 Problem when the store can't be reached."""
        ...

    async def delete(self, sha256: str) -> None: ...


async def _put_stream(store: BlobStore, data: AsyncIterable[bytes]) -> str:
    writer = store.writer()
    try:
        async for chunk in data:
            writer.write(chunk)
    except BaseException:
        await writer.abort()
        raise
    return await writer.commit()


class DirectoryStore:
    def __init__(self, root: Path, registry: CollectorRegistry | None = None) -> None:
        self.root = root
        # Under the root, so the final rename stays on one filesystem and is atomic.
        self.tmp_dir = root / "tmp"
        _prepare_spool(self.tmp_dir)
        self.metrics = StorageMetrics("directory", registry)

    def path_for(self, sha256: str) -> Path:
        sha256 = _check(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def writer(self) -> BlobWriter:
        return BlobWriter(self.tmp_dir, self._place_spooled)

    async def put(self, data: bytes | AsyncIterable[bytes]) -> str:
        if not isinstance(data, bytes):
            return await _put_stream(self, data)
        with self.metrics.timed("put"):
            return await anyio.to_thread.run_sync(self._put_bytes, data)

    def _put_bytes(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        if self.path_for(sha256).exists():
            return sha256
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="blob-")
        temporary = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            self._place(temporary, sha256)
        finally:
            temporary.unlink(missing_ok=True)
        return sha256

    async def _place_spooled(self, temporary: Path, sha256: str) -> None:
        with self.metrics.timed("put"):
            await anyio.to_thread.run_sync(self._place, temporary, sha256)

    def _place(self, temporary: Path, sha256: str) -> None:
        _fsync(temporary, os.O_RDONLY)
        target = self.path_for(sha256)
        private_dirs(target.parent)
        os.replace(temporary, target)
        # The rename itself survives a crash only once its directory is on disk.
        _fsync(target.parent, os.O_RDONLY | os.O_DIRECTORY)

    async def open(self, sha256: str) -> AsyncIterator[bytes]:
        with self.metrics.timed("open"):
            handle = await anyio.open_file(self.path_for(sha256), "rb")
        return self._chunks(handle)

    @staticmethod
    async def _chunks(handle: Any) -> AsyncIterator[bytes]:
        async with handle:
            while chunk := await handle.read(CHUNK_SIZE):
                yield chunk

    async def delete(self, sha256: str) -> None:
        with self.metrics.timed("delete"):
            await anyio.Path(self.path_for(sha256)).unlink(missing_ok=True)


def private_dirs(path: Path) -> None:
    """`path` and its missing parents, each 0700 whatever the umask: stored files name people (the
    served process sets umask 077 anyway; an embedding one may not)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)


def _prepare_spool(spool_dir: Path) -> None:
    private_dirs(spool_dir)
    too_old = time.time() - STALE_SPOOL_SECONDS
    for leftover in spool_dir.glob("blob-*"):
        try:
            if leftover.stat().st_mtime < too_old:
                leftover.unlink()
        except FileNotFoundError:  # another replica removed it first
            pass


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ObjectStore:
    """Blobs as objects `<prefix>/<sha[:2]>/<sha[2:4]>/<sha>` of an S3-compatible bucket."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        spool_dir: Path,
        endpoint_url: str | None = None,
        region: str | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        # Imported here: a service on the directory store never loads the client.
        from obstore.store import S3Store

        config: dict[str, Any] = {}
        if endpoint_url:
            config["endpoint"] = endpoint_url
        if region:
            config["region"] = region
        self._store = S3Store(
            bucket,
            prefix=prefix or None,
            config=config,
            client_options={
                "allow_http": bool(endpoint_url and endpoint_url.startswith("http://")),
                "connect_timeout": timedelta(seconds=3),
                # A download streams at the pace of its client, so no limit on the whole request;
                # a connection that stalls is given up after this long without a byte.
                "timeout": timedelta(hours=1),
                "read_timeout": timedelta(seconds=30),
            },
            # Bounded, so an unreachable store is a quick 503 rather than a request hanging.
            retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=10)},
        )
        self.spool_dir = spool_dir
        _prepare_spool(self.spool_dir)
        self.metrics = StorageMetrics("s3", registry)

    @staticmethod
    def key_for(sha256: str) -> str:
        sha256 = _check(sha256)
        return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def writer(self) -> BlobWriter:
        return BlobWriter(self.spool_dir, self._upload)

    async def put(self, data: bytes | AsyncIterable[bytes]) -> str:
        if not isinstance(data, bytes):
            return await _put_stream(self, data)
        sha256 = hashlib.sha256(data).hexdigest()
        await self._call("put", self._put_async(self.key_for(sha256), data))
        return sha256

    async def _upload(self, spooled: Path, sha256: str) -> None:
        # From the file in parts: a large blob is never held whole in memory.
        await self._call("put", self._put_async(self.key_for(sha256), spooled))

    async def _put_async(self, key: str, data: bytes | Path) -> None:
        import obstore

        await obstore.put_async(self._store, key, data, chunk_size=MULTIPART_CHUNK_SIZE)

    async def open(self, sha256: str) -> AsyncIterator[bytes]:
        import obstore

        result = await self._call("open", obstore.get_async(self._store, self.key_for(sha256)))
        return self._chunks(result.stream(min_chunk_size=CHUNK_SIZE))

    @staticmethod
    async def _chunks(stream: Any) -> AsyncIterator[bytes]:
        try:
            async for chunk in stream:
                yield chunk
        except Exception as exc:
            # The answer has begun: nothing better than to end it short, which the client sees.
            log.error("file storage read broke off: %s", _first_line(exc))
            raise

    async def delete(self, sha256: str) -> None:
        import obstore

        await self._call("delete", obstore.delete_async(self._store, self.key_for(sha256)))

    async def _call(self, operation: str, call: Awaitable[Any]) -> Any:
        from obstore.exceptions import BaseError, NotFoundError

        with self.metrics.timed(operation):
            try:
                return await call
            except NotFoundError:
                raise
            except BaseError as exc:
                log.error("file storage %s failed: %s", operation, _first_line(exc))
                raise Problem(503, STORAGE_UNAVAILABLE, slug="storage-unavailable",
                              headers={"Retry-After": "5"}) from None


def _first_line(exc: BaseException) -> str:
    # obstore's messages go on with a debug dump of the whole request; the first line says it.
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


@dataclass(frozen=True)
class StorageLocation:
    """What a storage URL names: a directory, or a bucket and a key prefix in it."""

    directory: Path | None = None
    bucket: str | None = None
    prefix: str = ""


def parse_storage_url(url: str) -> StorageLocation:
    """`s3://bucket/prefix`, `file:///path` or an absolute path; ValueError with the reason."""
    parts = urlsplit(url)
    if parts.scheme == "s3" and parts.netloc and not parts.query and not parts.fragment:
        return StorageLocation(bucket=parts.netloc, prefix=parts.path.strip("/"))
    if parts.scheme == "file" and not parts.netloc and parts.path.startswith("/"):
        return StorageLocation(directory=Path(parts.path))
    if not parts.scheme and url.startswith("/"):
        return StorageLocation(directory=Path(url))
    raise ValueError(f"storage URL {url!r}: expected s3://bucket/prefix, file:///path or an absolute path")


def open_blob_store(
    url: str | None,
    *,
    directory: Path,
    settings: ObjectStorageSettings,
    registry: CollectorRegistry | None = None,
) -> BlobStore:
    """The store a storage URL names (unset: `directory`). With a bucket, `directory` only holds
    blobs while they stream in."""
    location = parse_storage_url(url) if url else StorageLocation(directory=directory)
    if location.bucket is None:
        return DirectoryStore(location.directory, registry)
    return ObjectStore(
        location.bucket,
        location.prefix,
        spool_dir=directory / "tmp",
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        registry=registry,
    )
