"""`simpul backup` and `simpul restore`: one tar.gz archive holding every service's database
(SQLite through the sqlite3 backup API, a consistent copy of a running database; PostgreSQL as
a pg_dump custom-format dump), every other file under the data dir (uploads, issued PDFs, the
mailbox, the generated keys and key-encryption keys), the key-encryption key file when it lives
elsewhere, and `manifest.json` naming each member with its size and SHA-256.

A restore checks the whole archive (manifest, checksums, no member the manifest does not name)
and that its databases are of the kinds this machine is configured for, before it writes
anything; files are written into a new data dir, which must not hold anything yet."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from simpul.cli.machine import Database, Machine

FORMAT = "simpul-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
KEK_MEMBER = "keys/key-encryption.key"
# A SQLite database's companions: part of the database, copied by the backup API, never as files.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
CHUNK = 1024 * 1024


class BackupError(Exception):
    """Why a backup could not be made, or why an archive is refused."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Staged:
    """A member of the archive-to-be: where it is read from now."""

    member: str
    source: Path


def _dump_sqlite(database: Database, target: Path) -> None:
    path = database.sqlite_path
    if not path.exists():
        raise BackupError(f"the {database.service} database {path} does not exist")
    # Read-only, so a missing or mistyped path is never created; the backup API copies a consistent
    # state while the service keeps writing.
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


def _run_tool(command: list[str], what: str) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed: it is needed to {what}") from None
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"{command[0]} failed to {what}: {reason}")


def _dump_postgresql(database: Database, target: Path) -> None:
    _run_tool(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}",
               f"--dbname={database.libpq_url}"], f"dump the {database.service} database")


def _data_files(data_dir: Path, databases: list[Database]) -> Iterator[tuple[str, Path]]:
    """(path under the data dir, file) of every file but the SQLite databases copied apart."""
    skipped = set()
    for database in databases:
        if database.is_sqlite:
            path = database.sqlite_path.resolve()
            skipped.update({path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)})
    for path in sorted(data_dir.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.resolve() not in skipped:
            yield path.relative_to(data_dir).as_posix(), path


def _kek_file(machine: Machine) -> Path | None:
    """The key-encryption key file the operator manages, when it is outside the data dir."""
    configured = machine.get("SIMPUL_KEY_ENCRYPTION_KEY_FILE")
    if configured is None:
        return None
    path = Path(configured).resolve()
    return None if path.is_relative_to(machine.data_dir.resolve()) else path


def create_backup(machine: Machine, archive: Path, report: Callable[[str], None]) -> dict[str, Any]:
    """Write the archive; returns its manifest."""
    if not machine.data_dir.is_dir():
        raise BackupError(f"the data dir {machine.data_dir} does not exist")
    if archive.resolve().is_relative_to(machine.data_dir.resolve()):
        # The next backup would hold this one, and a restore would find its data dir not empty.
        raise BackupError(f"write the archive outside the data dir {machine.data_dir}")
    databases = machine.databases()
    with tempfile.TemporaryDirectory(prefix="simpul-backup-") as scratch:
        staged: list[Staged] = []
        manifest_databases = {}
        for database in databases:
            if database.is_sqlite:
                target = Path(scratch) / f"{database.service}.sqlite"
                _dump_sqlite(database, target)
                kind = "sqlite"
            elif database.is_postgresql:
                target = Path(scratch) / f"{database.service}.pgdump"
                _dump_postgresql(database, target)
                kind = "postgresql"
            else:
                raise BackupError(f"the {database.service} database URL is neither SQLite nor PostgreSQL")
            member = f"databases/{target.name}"
            staged.append(Staged(member, target))
            manifest_databases[database.service] = {"kind": kind, "member": member}
            report(f"database {database.service} ({kind})")
        files = [Staged(f"files/{name}", path) for name, path in _data_files(machine.data_dir, databases)]
        staged += files
        report(f"{len(files)} file(s) under {machine.data_dir}")
        kek = _kek_file(machine)
        if kek is not None:
            staged.append(Staged(KEK_MEMBER, kek))
            report(f"key-encryption key file {kek}")
        elif machine.get("SIMPUL_KEY_ENCRYPTION_KEY"):
            report("note: SIMPUL_KEY_ENCRYPTION_KEY is in the environment, not in the archive: keep it apart")
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "databases": manifest_databases,
            "key_encryption_key_file": kek is not None,
        }
        manifest["members"] = _write_archive(archive, manifest, staged, report)
    return manifest


class _Hashing(io.RawIOBase):
    """Reads a file while hashing what was read: the checksum is of the very bytes archived, even
    when a running service replaces the file meanwhile (the open handle keeps the old content)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def _write_archive(archive: Path, manifest: dict[str, Any], staged: list[Staged],
                   report: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """The members, then the manifest naming each with its size and checksum; the member table."""
    # Written beside the target and renamed: a failed backup leaves no archive that looks whole.
    partial = archive.with_name(f".{archive.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    members: dict[str, dict[str, Any]] = {}
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for item in staged:
                try:
                    handle = item.source.open("rb")
                except FileNotFoundError:  # removed by its service since the listing (a delivered mail)
                    report(f"note: {item.source} went away during the backup")
                    continue
                with handle:
                    info = tar.gettarinfo(arcname=item.member, fileobj=handle)
                    reader = _Hashing(handle)
                    tar.addfile(info, reader)
                members[item.member] = {"size": info.size, "sha256": reader.digest.hexdigest()}
            body = json.dumps({**manifest, "members": members}, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(body), 0o600, int(datetime.now(UTC).timestamp())
            tar.addfile(info, io.BytesIO(body))
        os.replace(partial, archive)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return members


# -- restore -----------------------------------------------------------------------------------


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and name == path.as_posix()


def read_archive(archive: Path, into: Path) -> dict[str, Any]:
    """Unpack the archive into `into` and check it whole; its manifest, or BackupError."""
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                if not (member.isfile() and _safe_member(member.name)):
                    raise BackupError(f"the archive holds {member.name!r}, which no backup writes")
            names = [member.name for member in members]
            if len(set(names)) != len(names):
                raise BackupError("the archive names a member twice")
            if MANIFEST not in names:
                raise BackupError("the archive has no manifest.json: not a Simpul backup")
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"the archive cannot be read: {exc}") from None
    try:
        manifest = json.loads((into / MANIFEST).read_text())
    except ValueError:
        raise BackupError("manifest.json is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("manifest.json is not a Simpul backup's")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"backup format_version {manifest.get('format_version')!r}; this simpul restores "
                          f"{FORMAT_VERSION}")
    listed = manifest.get("members") or {}
    present = set(names) - {MANIFEST}
    if present != set(listed):
        extra, missing = sorted(present - set(listed)), sorted(set(listed) - present)
        raise BackupError(f"the archive does not match its manifest (missing {missing}, not listed {extra})")
    for member, expected in listed.items():
        path = into / member
        if path.stat().st_size != expected.get("size") or sha256_of(path) != expected.get("sha256"):
            raise BackupError(f"{member} does not match its checksum: the archive is damaged")
    return manifest


def _check_fits(manifest: dict[str, Any], machine: Machine) -> None:
    """Every configured database has its dump, of the kind this machine uses."""
    recorded = manifest.get("databases") or {}
    for database in machine.databases():
        entry = recorded.get(database.service)
        if entry is None:
            raise BackupError(f"the archive holds no {database.service} database")
        kind = "sqlite" if database.is_sqlite else "postgresql"
        if entry.get("kind") != kind:
            raise BackupError(f"the archive's {database.service} database is {entry.get('kind')}, this machine's "
                              f"is {kind}: set the same kind of SIMPUL_{database.service.upper()}_DATABASE_URL")
    if manifest.get("key_encryption_key_file") and machine.get("SIMPUL_KEY_ENCRYPTION_KEY_FILE") is None:
        raise BackupError("the archive holds a key-encryption key file: set SIMPUL_KEY_ENCRYPTION_KEY_FILE to where "
                          "it goes")


def _check_target(machine: Machine) -> None:
    data_dir = machine.data_dir
    if data_dir.exists() and any(data_dir.iterdir()):
        raise BackupError(f"the data dir {data_dir} is not empty: restore into a new one (SIMPUL_DATA_DIR)")
    for database in machine.databases():
        if database.is_sqlite and database.sqlite_path.exists():
            raise BackupError(f"the {database.service} database {database.sqlite_path} exists already")
    kek = machine.get("SIMPUL_KEY_ENCRYPTION_KEY_FILE")
    if kek is not None and Path(kek).exists():
        raise BackupError(f"the key-encryption key file {kek} exists already")


def _check_sqlite(path: Path, service: str) -> None:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the archive's {service} database is not a SQLite database: {exc}") from None
    finally:
        connection.close()
    if verdict != "ok":
        raise BackupError(f"the archive's {service} database fails SQLite's integrity check: {verdict}")


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copyfile(source, target)
    os.chmod(target, 0o600)


def restore_backup(machine: Machine, archive: Path, report: Callable[[str], None]) -> dict[str, Any]:
    """Everything checked first; then the files, then the PostgreSQL databases (pg_restore --clean)."""
    _check_target(machine)
    with tempfile.TemporaryDirectory(prefix="simpul-restore-") as scratch:
        unpacked = Path(scratch)
        manifest = read_archive(archive, unpacked)
        _check_fits(manifest, machine)
        databases = machine.databases()
        for database in databases:
            if database.is_sqlite:
                _check_sqlite(unpacked / manifest["databases"][database.service]["member"], database.service)
        machine.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(machine.data_dir, 0o700)
        restored_files = 0
        for member in manifest["members"]:
            if member.startswith("files/"):
                _place(unpacked / member, machine.data_dir / member.removeprefix("files/"))
                restored_files += 1
        report(f"{restored_files} file(s) into {machine.data_dir}")
        if manifest.get("key_encryption_key_file"):
            _place(unpacked / KEK_MEMBER, Path(machine.get("SIMPUL_KEY_ENCRYPTION_KEY_FILE") or ""))
            report(f"key-encryption key file {machine.get('SIMPUL_KEY_ENCRYPTION_KEY_FILE')}")
        for database in databases:
            dump = unpacked / manifest["databases"][database.service]["member"]
            if database.is_sqlite:
                _place(dump, database.sqlite_path)
            else:
                _run_tool(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
                           f"--dbname={database.libpq_url}", str(dump)], f"restore the {database.service} database")
            report(f"database {database.service}")
    return manifest
