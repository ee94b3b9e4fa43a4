"""The Alembic migrations build exactly the tables models.py declares, and undo them."""

from __future__ import annotations

from pathlib import Path

import simpul.catalog
from simpul.catalog.models import metadata
from tests.support.migrations import migrate_down_and_up

MIGRATIONS = Path(simpul.catalog.__file__).parent / "migrations"


async def test_migrations_match_the_models_and_downgrade(databases):
    left = await migrate_down_and_up(await databases.url("catalog"), MIGRATIONS, metadata, down_to="0001")
    assert "services" not in left and "idempotency_keys" in left
