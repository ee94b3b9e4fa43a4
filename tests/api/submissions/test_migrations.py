"""The Alembic migrations build exactly the tables the submissions models declare (the core's and
feedback's, on one MetaData), and undo them."""

from __future__ import annotations

from pathlib import Path

import simpul.submissions
from simpul.submissions.feedback import models as feedback_models
from simpul.submissions.models import metadata
from tests.support.migrations import migrate_down_and_up

MIGRATIONS = Path(simpul.submissions.__file__).parent / "migrations"


def test_the_feedback_tables_are_on_the_one_metadata():
    for table in (feedback_models.surveys, feedback_models.complaints, feedback_models.complaint_entries,
                  feedback_models.complaint_attachments):
        assert metadata.tables[table.name] is table


async def test_migrations_match_the_models_and_downgrade(databases):
    left = await migrate_down_and_up(await databases.url("submissions"), MIGRATIONS, metadata, down_to="0001")
    assert "submissions" not in left and "complaints" not in left and "idempotency_keys" in left
