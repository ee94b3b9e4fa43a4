"""`simpul backup` / `restore` with PostgreSQL databases: pg_dump into the archive, pg_restore
into the databases the restoring machine names."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner

from simpul.cli.machine import SERVICES, Database, Machine
from simpul.cli.main import cli
from tests.support import databases as test_databases

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(test_databases.postgres_server() is None,
                                                       reason="SIMPUL_TEST_POSTGRES not set")]


async def fill(urls: dict[str, str]) -> None:
    for service, url in urls.items():
        connection = await asyncpg.connect(Database(service, url).libpq_url)
        try:
            await connection.execute("CREATE TABLE things (name text)")
            await connection.execute("INSERT INTO things VALUES ($1)", f"{service}-row")
        finally:
            await connection.close()


async def contents(url: str) -> list[str]:
    connection = await asyncpg.connect(Database("any", url).libpq_url)
    try:
        return [row["name"] for row in await connection.fetch("SELECT name FROM things ORDER BY name")]
    finally:
        await connection.close()


def machine(data_dir: Path, urls: dict[str, str]) -> Machine:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SIMPUL_")}
    return Machine({**env, "SIMPUL_DATA_DIR": str(data_dir),
                    **{f"SIMPUL_{service.upper()}_DATABASE_URL": url for service, url in urls.items()}})


def test_postgresql_databases_dumped_and_restored_into_other_databases(tmp_path: Path):
    databases = test_databases.TestDatabases(tmp_path)
    try:
        source = {service: asyncio.run(databases.url(service)) for service in SERVICES}
        target = {service: asyncio.run(databases.url(service)) for service in SERVICES}
        asyncio.run(fill(source))
        (tmp_path / "var" / "documents").mkdir(parents=True)
        (tmp_path / "var" / "documents" / "doc-1").write_bytes(b"%PDF issued")
        archive = tmp_path / "simpul.tar.gz"
        made = CliRunner().invoke(cli, ["backup", str(archive)], obj={"machine": machine(tmp_path / "var", source)})
        assert made.exit_code == 0, made.output
        assert "database gateway (postgresql)" in made.output

        restored = CliRunner().invoke(cli, ["restore", str(archive)],
                                      obj={"machine": machine(tmp_path / "restored", target)})
        assert restored.exit_code == 0, restored.output
        for service in SERVICES:
            assert asyncio.run(contents(target[service])) == [f"{service}-row"]
        assert (tmp_path / "restored" / "documents" / "doc-1").read_bytes() == b"%PDF issued"
    finally:
        asyncio.run(databases.drop_all())
