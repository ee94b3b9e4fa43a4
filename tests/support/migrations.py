"""A service's Alembic migrations against its models: they build exactly the tables the models
declare, and undo them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect

from simpul.shared.db import create_engine, migrate


async def migrate_down_and_up(url: str, migrations: Path, metadata: MetaData, *, down_to: str) -> set[str]:
    """Migrate the empty database at `url` and compare it with `metadata`, downgrade it to the
    revision `down_to`, migrate and compare again: the tables that were left after the downgrade."""
    engine = create_engine(url)

    def differences(connection) -> list:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    def downgrade(connection) -> list[str]:
        config = Config()
        config.set_main_option("script_location", str(migrations))
        config.attributes["connection"] = connection
        command.downgrade(config, down_to)
        return inspect(connection).get_table_names()

    try:
        await migrate(engine, migrations)
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
        async with engine.begin() as connection:
            left = set(await connection.run_sync(downgrade))
        await migrate(engine, migrations)
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
        return left
    finally:
        await engine.dispose()


async def alembic_to(url: str, migrations: Path, action, revision: str) -> None:
    """`alembic.command.upgrade` or `downgrade` of the database at `url` to `revision`."""
    engine = create_engine(url)

    def run(connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(migrations))
        config.attributes["connection"] = connection
        action(config, revision)

    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()
