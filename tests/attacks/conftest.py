from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.attacks.world import World
from tests.e2e.conftest import start_system
from tests.support.api import PublicApi
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET


@pytest.fixture(scope="package")
def world(tmp_path_factory) -> Iterator[World]:
    """The five services as real processes with sides A and B populated, shared by the attack
    modules that go through the gateway."""
    # Far more calls than a client's fair share: the rate limit is not what is tested here.
    system, databases = start_system(
        tmp_path_factory.mktemp("attacks"),
        extra_env={"SIMPUL_RATE_LIMIT_PER_MINUTE": "1000000", "SIMPUL_RATE_LIMIT_BURST": "1000000",
                   # Issued documents are awaited while the sides are built: no idle poll in between.
                   "SIMPUL_SUBMISSIONS_ISSUE_POLL_SECONDS": "0.2"},
    )
    api = PublicApi(system.gateway_url)
    admin = api.as_client(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    try:
        built = World(system, api, admin)
        yield built
        built.close()
    finally:
        admin.close()
        api.close()
        system.stop()
        asyncio.run(databases.drop_all())
