"""Migrations run once: `python -m simpul.<service> migrate`, concurrent migrators taking turns,
and replicas started with SIMPUL_MIGRATE_ON_START=0 refusing a database that is not at the head
(SQLite, or PostgreSQL with SIMPUL_TEST_POSTGRES)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

import simpul.catalog
from simpul.catalog.app import create_app
from simpul.catalog.settings import CatalogSettings
from simpul.shared.db import Migration, SchemaNotCurrent, create_engine, migrate
from simpul.shared.serve import main, without_arguments

CATALOG_MIGRATIONS = Path(simpul.catalog.__file__).parent / "migrations"


async def tables_of(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def revisions_of(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars())
    finally:
        await engine.dispose()


async def at_head(url: str) -> bool:
    engine = create_engine(url)
    try:
        await Migration(engine, CATALOG_MIGRATIONS, apply=False).run()
        return True
    except SchemaNotCurrent:
        return False
    finally:
        await engine.dispose()


async def test_concurrent_migrators_of_one_fresh_database_all_succeed_and_apply_the_schema_once(databases):
    url = await databases.url("migrate")
    engines = [create_engine(url) for _ in range(4)]
    try:
        # Without the lock two of them create the same tables at once and one fails.
        await asyncio.gather(*(migrate(engine, CATALOG_MIGRATIONS) for engine in engines))
    finally:
        await asyncio.gather(*(engine.dispose() for engine in engines))
    assert len(await revisions_of(url)) == 1
    assert await at_head(url)
    assert "services" in await tables_of(url)


async def test_a_replica_that_does_not_migrate_refuses_a_database_behind_the_head(databases):
    url = await databases.url("behind")
    engine = create_engine(url)
    try:
        with pytest.raises(SchemaNotCurrent, match=r"revision none.*python -m simpul.catalog migrate"):
            await Migration(engine, CATALOG_MIGRATIONS, apply=False).run()
        assert "services" not in await tables_of(url)  # checked, not migrated
        await migrate(engine, CATALOG_MIGRATIONS)
        checked = Migration(engine, CATALOG_MIGRATIONS, apply=False)
        await checked.run()
        assert checked.done
    finally:
        await engine.dispose()


def run_catalog(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SIMPUL_")}
    environment.update(SIMPUL_DATA_DIR=str(data_dir), SIMPUL_INTERNAL_SECRET="s" * 40, SIMPUL_DEMO="0", **env)
    return subprocess.run([sys.executable, "-m", "simpul.catalog", *args], env=environment,
                          capture_output=True, text=True, timeout=120)


def test_a_non_migrating_replica_refuses_a_fresh_database_and_the_migrate_command_migrates_it(tmp_path):
    refused = run_catalog([], tmp_path, SIMPUL_MIGRATE_ON_START="0", SIMPUL_CATALOG_PORT="1")
    assert refused.returncode != 0
    assert "run `python -m simpul.catalog migrate` first" in refused.stderr
    assert "the service does not start" in refused.stderr

    migrated = run_catalog(["migrate"], tmp_path)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    assert asyncio.run(at_head(f"sqlite:///{tmp_path / 'catalog.db'}"))


def test_a_failing_migrate_says_why_in_one_line_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIMPUL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SIMPUL_INTERNAL_SECRET", "s" * 40)
    monkeypatch.setenv("SIMPUL_CATALOG_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    with pytest.raises(SystemExit) as exited:
        main(create_app, CatalogSettings, argv=["migrate"])
    assert exited.value.code == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("simpul.catalog migrate failed: ") and "\n" not in error
    assert "Traceback" not in error


def test_an_unknown_command_prints_the_usage_and_exits_2(capsys):
    extra = {"rotate-signing-key": lambda settings, args: 0}
    with pytest.raises(SystemExit) as exited:
        main(create_app, CatalogSettings, commands=extra, argv=["frobnicate"])
    assert exited.value.code == 2
    assert "usage: python -m simpul.catalog [migrate | rotate-signing-key]" in capsys.readouterr().err


def test_a_service_command_gets_the_settings_and_its_arguments(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMPUL_DATA_DIR", str(tmp_path))
    seen = []

    def rotate(settings, args) -> int:
        seen.append((settings.data_dir, args))
        return 3

    with pytest.raises(SystemExit) as exited:
        main(create_app, CatalogSettings, commands={"rotate": rotate}, argv=["rotate", "--now"])
    assert exited.value.code == 3
    assert seen == [(tmp_path, ["--now"])]


def test_a_command_of_the_settings_alone_refuses_arguments(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIMPUL_DATA_DIR", str(tmp_path))
    commands = without_arguments({"rotate": lambda settings: 0})
    for argv, code in ((["rotate"], 0), (["rotate", "--now"], 2), (["migrate", "extra"], 2)):
        with pytest.raises(SystemExit) as exited:
            main(create_app, CatalogSettings, commands=commands, argv=argv)
        assert exited.value.code == code, argv
    assert "usage: python -m simpul.catalog rotate (no arguments)" in capsys.readouterr().err
