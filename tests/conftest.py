from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.databases import TestDatabases
from tests.support.idempotency import Deaths
from tests.support.identity import TEST_INTERNAL_SECRET, jwks_json


@pytest.fixture
async def databases(tmp_path) -> AsyncIterator[TestDatabases]:
    """`await databases.url("catalog")`: a fresh, empty database for one test."""
    handed_out = TestDatabases(tmp_path)
    yield handed_out
    await handed_out.drop_all()


@pytest.fixture
def settings_for(tmp_path, databases):
    """Build a service's settings for an in-process test: its own data dir and database, the
    test identity keys, no network lookups. Usage: `await settings_for(CatalogSettings, demo=False)`."""

    async def make(settings_class, **overrides):
        values = {
            "data_dir": tmp_path / settings_class.service_name,
            "identity_jwks": jwks_json(),
            "internal_secret": TEST_INTERNAL_SECRET,
        }
        if "database_url" in settings_class.model_fields and "database_url" not in overrides:
            values["database_url"] = await databases.url(settings_class.service_name)
        values.update(overrides)
        return settings_class(**values)

    return make


@pytest.fixture
async def deaths(monkeypatch) -> AsyncIterator[Deaths]:
    """Keyed requests whose process dies after their effect committed (see tests.support.idempotency)."""
    dying = Deaths(monkeypatch)
    yield dying
    await dying.bury()
