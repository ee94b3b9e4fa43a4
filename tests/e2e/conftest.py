from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.support.api import PublicApi
from tests.support.databases import TestDatabases
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, System

pytestmark = pytest.mark.e2e


def start_system(directory, **kwargs) -> tuple[System, TestDatabases]:
    databases = TestDatabases(directory)
    system = System(directory, databases, **kwargs)
    try:
        system.start()
    except Exception:
        system.stop()
        asyncio.run(databases.drop_all())
        raise
    return system, databases


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> Iterator[System]:
    """All five services as real processes, shared by the tests of one module."""
    running, databases = start_system(tmp_path_factory.mktemp("system"))
    yield running
    running.stop()
    asyncio.run(databases.drop_all())


@pytest.fixture(scope="module")
def api(system) -> Iterator[PublicApi]:
    public = PublicApi(system.gateway_url)
    yield public
    public.close()


@pytest.fixture(scope="module")
def admin(api) -> Iterator[httpx.Client]:
    client = api.as_client(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    yield client
    client.close()
