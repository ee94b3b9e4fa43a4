from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.databases import TestDatabases
from tests.support.idempotency import Deaths
from tests.support.identity import TEST_INTERNAL_SECRET, jwks_json
from tests.support.s3 import CREDENTIALS, MotoServer, S3Bucket


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
        if "metrics_port" in settings_class.model_fields:
            values["metrics_port"] = 0  # any free port: tests run side by side
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


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> Iterator[MotoServer]:
    server = MotoServer.start(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(moto_server, monkeypatch) -> S3Bucket:
    """A fresh bucket on moto's server; the S3 credentials in the environment, as a deployment
    would set them."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return S3Bucket(moto_server, moto_server.create_bucket())


@pytest.fixture
def s3_target(request, tmp_path, monkeypatch) -> Iterator[S3Bucket]:
    """The bucket a service under test keeps its files in: on the shared server, or with
    `@pytest.mark.parametrize("s3_target", ["own"], indirect=True)` on a server of the test's
    own, which it may stop to see the service without its store."""
    if getattr(request, "param", "shared") == "shared":
        yield request.getfixturevalue("s3_bucket")
        return
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    server = MotoServer.start(tmp_path / "moto.log")
    try:
        yield S3Bucket(server, server.create_bucket())
    finally:
        server.stop()
