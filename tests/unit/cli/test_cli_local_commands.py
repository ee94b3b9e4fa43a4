"""`simpul check|backup|restore|migrate|rotate` on real files of a temporary data dir."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tarfile
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from simpul.cli.machine import SERVICES, Machine
from simpul.cli.main import cli


def machine_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SIMPUL_")}
    return {**env, "SIMPUL_DATA_DIR": str(data_dir), **extra}


def run(env: dict[str, str], *args: str, transport: httpx.BaseTransport | None = None):
    return CliRunner().invoke(cli, list(args), obj={"machine": Machine(env), "transport": transport})


def healthy(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"status": "ok"})


def make_system_files(data_dir: Path) -> None:
    """Five SQLite databases with a row each (WAL, one left open with an unflushed write), an
    upload, an issued document and a key, the way a running system holds them."""
    data_dir.mkdir(mode=0o700)
    for service in SERVICES:
        connection = sqlite3.connect(data_dir / f"{service}.db")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE things (name TEXT)")
        connection.execute("INSERT INTO things VALUES (?)", (f"{service}-row",))
        connection.commit()
        connection.close()
        os.chmod(data_dir / f"{service}.db", 0o600)
    (data_dir / "submissions-files" / "ab").mkdir(parents=True)
    (data_dir / "submissions-files" / "ab" / "abcdef").write_bytes(b"%PDF upload")
    (data_dir / "documents").mkdir()
    (data_dir / "documents" / "doc-1").write_bytes(b"%PDF issued")
    (data_dir / "secrets").mkdir(mode=0o700)
    (data_dir / "secrets" / "gateway-key-encryption.key").write_text("kek\n")
    os.chmod(data_dir / "secrets" / "gateway-key-encryption.key", 0o600)


def rows(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [row[0] for row in connection.execute("SELECT name FROM things ORDER BY name")]
    finally:
        connection.close()


# -- check -----------------------------------------------------------------------------------------


def test_check_reports_a_world_readable_data_dir_and_database(tmp_path: Path):
    data_dir = tmp_path / "var"
    make_system_files(data_dir)
    os.chmod(data_dir, 0o755)
    os.chmod(data_dir / "submissions.db", 0o644)
    env = machine_env(data_dir, SIMPUL_ADMIN_CLIENT_SECRET="a-real-secret-1")
    result = run(env, "check", transport=httpx.MockTransport(healthy))
    assert result.exit_code == 1
    assert f"problem the data dir {data_dir} is open to other users (mode 0755)" in result.output
    assert f"problem the submissions database {data_dir / 'submissions.db'} is open to other users (mode 0644)" \
        in result.output
    assert result.output.rstrip().endswith("Error: 2 problem(s)")


def test_check_passes_a_private_loopback_setup_whose_services_answer(tmp_path: Path):
    data_dir = tmp_path / "var"
    make_system_files(data_dir)
    result = run(machine_env(data_dir, SIMPUL_ADMIN_CLIENT_SECRET="a-real-secret-1"), "check",
                 transport=httpx.MockTransport(healthy))
    assert result.exit_code == 0, result.output
    assert "ok      gateway at http://127.0.0.1:8000 answers" in result.output
    assert "problem" not in result.output


def test_check_names_unreachable_services_and_the_development_admin_secret(tmp_path: Path):
    def catalogue_down(request: httpx.Request) -> httpx.Response:
        if request.url.port == 8001:
            raise httpx.ConnectError("refused")
        return httpx.Response(503 if request.url.port == 8004 else 200)

    result = run(machine_env(tmp_path / "none"), "check", transport=httpx.MockTransport(catalogue_down))
    assert result.exit_code == 1
    assert "problem catalog at http://127.0.0.1:8001 is unreachable (ConnectError)" in result.output
    assert "problem notifications at http://127.0.0.1:8004 answers /healthz with 503" in result.output
    assert "problem the development admin secret is in use" in result.output


def test_check_names_docker_composes_placeholder_secrets(tmp_path: Path):
    env = machine_env(tmp_path / "none", SIMPUL_ADMIN_CLIENT_SECRET="a-real-secret-1",
                      SIMPUL_INTERNAL_SECRET="change-me-dev-internal-secret",
                      SIMPUL_CATALOG_DATABASE_URL="postgresql://catalog:catalog-dev@postgres:5432/catalog",
                      SIMPUL_GATEWAY_DATABASE_URL="postgresql://gateway:Xk9fQ2@postgres:5432/gateway")
    result = run(env, "check", transport=httpx.MockTransport(healthy))
    assert result.exit_code == 1
    assert "problem SIMPUL_INTERNAL_SECRET is docker-compose's placeholder" in result.output
    assert "problem the catalog database password is docker-compose's development one" in result.output
    assert "gateway database password" not in result.output and "Xk9fQ2" not in result.output


def test_check_flags_development_settings_where_others_reach_the_system(tmp_path: Path):
    data_dir = tmp_path / "var"
    make_system_files(data_dir)
    env = machine_env(data_dir, SIMPUL_ADMIN_CLIENT_SECRET="a-real-secret-1", SIMPUL_PUBLIC_URL="http://simpul.go.id",
                      SIMPUL_DEMO="1", SIMPUL_WEBHOOK_ALLOW_LOOPBACK="1")
    result = run(env, "check", transport=httpx.MockTransport(healthy))
    assert result.exit_code == 1
    for expected in ("SIMPUL_PUBLIC_URL http://simpul.go.id is not https", "SIMPUL_DEMO=1",
                     "SIMPUL_WEBHOOK_ALLOW_LOOPBACK=1", "SIMPUL_SMTP_HOST is unset", "the development PKI signs"):
        assert expected in result.output
    # The same settings on loopback are a developer's machine: no problem.
    loopback = run({**env, "SIMPUL_PUBLIC_URL": "http://127.0.0.1:8000"}, "check",
                   transport=httpx.MockTransport(healthy))
    assert loopback.exit_code == 0, loopback.output


# -- backup and restore ----------------------------------------------------------------------------


def test_backup_then_restore_into_an_empty_dir_gives_the_same_data(tmp_path: Path):
    data_dir = tmp_path / "var"
    make_system_files(data_dir)
    # A writer holding the database open with its last change still in the WAL: the backup API copies it.
    writer = sqlite3.connect(data_dir / "submissions.db")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("INSERT INTO things VALUES ('unflushed')")
    writer.commit()
    archive = tmp_path / "simpul.tar.gz"
    result = run(machine_env(data_dir), "backup", str(archive))
    writer.close()
    assert result.exit_code == 0, result.output
    assert oct(archive.stat().st_mode & 0o777) == oct(0o600)
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["databases"]["gateway"] == {"kind": "sqlite", "member": "databases/gateway.sqlite"}
    assert "files/documents/doc-1" in manifest["members"]
    assert not any(member.endswith(("-wal", "-shm")) for member in manifest["members"])

    restored = tmp_path / "restored"
    result = run(machine_env(restored), "restore", str(archive))
    assert result.exit_code == 0, result.output
    assert rows(restored / "submissions.db") == ["submissions-row", "unflushed"]
    assert rows(restored / "gateway.db") == ["gateway-row"]
    assert (restored / "documents" / "doc-1").read_bytes() == b"%PDF issued"
    assert (restored / "submissions-files" / "ab" / "abcdef").read_bytes() == b"%PDF upload"
    assert (restored / "secrets" / "gateway-key-encryption.key").read_text() == "kek\n"
    assert oct(restored.stat().st_mode & 0o777) == oct(0o700)
    assert oct((restored / "gateway.db").stat().st_mode & 0o777) == oct(0o600)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    make_system_files(tmp_path / "var")
    path = tmp_path / "simpul.tar.gz"
    assert run(machine_env(tmp_path / "var"), "backup", str(path)).exit_code == 0
    return path


def rewritten(archive: Path, target: Path, change) -> Path:
    """A copy of the archive with each member's bytes passed through change(name, data) (None drops it)."""
    with tarfile.open(archive) as source, tarfile.open(target, "w:gz") as copy:
        for member in source.getmembers():
            data = change(member.name, source.extractfile(member).read())
            if data is None:
                continue
            member.size = len(data)
            copy.addfile(member, io.BytesIO(data))
    return target


def refused(tmp_path: Path, archive: Path, env: dict[str, str] | None = None) -> str:
    target = tmp_path / "target"
    result = run(env or machine_env(target), "restore", str(archive))
    assert result.exit_code == 1, result.output
    assert not target.exists() or not any(target.iterdir()), "a refused restore wrote something"
    return result.output


def test_restore_refuses_a_damaged_member(tmp_path: Path, archive: Path):
    damaged = rewritten(archive, tmp_path / "damaged.tar.gz",
                        lambda name, data: data[:-1] + b"X" if name == "files/documents/doc-1" else data)
    assert "files/documents/doc-1 does not match its checksum: the archive is damaged" in refused(tmp_path, damaged)


def test_restore_refuses_a_missing_member_and_a_truncated_file(tmp_path: Path, archive: Path):
    missing = rewritten(archive, tmp_path / "missing.tar.gz",
                        lambda name, data: None if name == "databases/catalog.sqlite" else data)
    assert "does not match its manifest (missing ['databases/catalog.sqlite']" in refused(tmp_path, missing)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    assert "the archive cannot be read" in refused(tmp_path, truncated)


def test_restore_refuses_an_archive_that_is_not_a_backup(tmp_path: Path):
    other = tmp_path / "other.tar.gz"
    with tarfile.open(other, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("../escape"), io.BytesIO(b""))
    assert "which no backup writes" in refused(tmp_path, other)


def test_restore_refuses_an_archive_of_another_kind_of_database(tmp_path: Path, archive: Path):
    env = machine_env(tmp_path / "target", SIMPUL_GATEWAY_DATABASE_URL="postgresql://gateway@127.0.0.1/gateway")
    assert "the archive's gateway database is sqlite, this machine's is postgresql" in refused(tmp_path, archive, env)


def test_restore_refuses_a_data_dir_that_holds_something(tmp_path: Path, archive: Path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "gateway.db").write_bytes(b"current")
    result = run(machine_env(target), "restore", str(archive))
    assert result.exit_code == 1
    assert f"the data dir {target} is not empty" in result.output
    assert (target / "gateway.db").read_bytes() == b"current"


def test_backup_of_a_missing_database_says_which(tmp_path: Path):
    make_system_files(tmp_path / "var")
    (tmp_path / "var" / "signatures.db").unlink()
    result = run(machine_env(tmp_path / "var"), "backup", str(tmp_path / "b.tar.gz"))
    assert result.exit_code == 1
    assert "the signatures database" in result.output and "does not exist" in result.output
    assert list(tmp_path.glob("*.tar.gz")) == [] and list(tmp_path.glob(".*partial")) == []


# -- migrate and rotate, through the services' own commands ----------------------------------------


def test_migrate_every_service_then_rotate_the_keys(tmp_path: Path):
    env = machine_env(tmp_path / "var")
    result = run(env, "migrate")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"{service}: at the newest schema" for service in SERVICES]
    assert all((tmp_path / "var" / f"{service}.db").exists() for service in SERVICES)

    result = run(env, "rotate", "signing-key")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("gateway: new signing key ")

    kek_file = tmp_path / "var" / "secrets" / "gateway-key-encryption.key"
    before = kek_file.read_text()
    result = run(env, "rotate", "key-encryption-key", "--service", "gateway")
    assert result.exit_code == 0, result.output
    assert "gateway: re-wrapped" in result.output
    assert kek_file.read_text() != before


def test_a_failed_migration_is_named(tmp_path: Path):
    env = machine_env(tmp_path / "var", SIMPUL_CATALOG_DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:9/none")
    result = run(env, "migrate")
    assert result.exit_code == 1
    assert "catalog: failed: simpul.catalog migrate failed:" in result.output
    assert "gateway: at the newest schema" in result.output
    assert "Error: migration failed for catalog" in result.output


def test_backup_refuses_an_archive_inside_the_data_dir(tmp_path: Path):
    make_system_files(tmp_path / "var")
    result = run(machine_env(tmp_path / "var"), "backup", str(tmp_path / "var" / "b.tar.gz"))
    assert result.exit_code == 1
    assert "write the archive outside the data dir" in result.output
    assert not (tmp_path / "var" / "b.tar.gz").exists()


def test_a_malformed_setting_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("SIMPUL_SUBMISSIONS_URL", "http://127.0.0.1:8002, ftp://elsewhere")
    result = CliRunner().invoke(cli, ["check"])
    assert result.exit_code == 1
    assert result.output == "Error: invalid settings: SIMPUL_SUBMISSIONS_URL: 'ftp://elsewhere' is not an http:// " \
                            "or https:// URL\n"
