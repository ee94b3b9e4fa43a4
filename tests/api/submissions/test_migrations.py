"""The Alembic migrations build exactly the tables the submissions models declare, and undo them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import simpul.submissions
from simpul.shared.db import create_engine, migrate
from simpul.submissions.feedback import models as feedback_models
from simpul.submissions.models import metadata

MIGRATIONS = Path(simpul.submissions.__file__).parent / "migrations"


def test_the_feedback_tables_are_on_the_one_metadata():
    for table in (feedback_models.surveys, feedback_models.complaints, feedback_models.complaint_entries,
                  feedback_models.complaint_attachments):
        assert metadata.tables[table.name] is table


def differences(connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, metadata)


async def test_migrations_match_the_models_and_downgrade(databases):
    engine = create_engine(await databases.url("submissions"))
    try:
        await migrate(engine, MIGRATIONS)
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []

        def downgrade(connection) -> None:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")

        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert "submissions" not in names and "complaints" not in names and "idempotency_keys" in names
        await migrate(engine, MIGRATIONS)
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()
