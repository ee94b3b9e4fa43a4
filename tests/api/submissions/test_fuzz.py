"""Schemathesis walks every operation of the submissions API with generated input, as each role:
whatever arrives, the answer is never a server error."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from simpul.submissions.app import create_app
from simpul.submissions.settings import SubmissionsSettings
from tests.api.submissions.conftest import admin, applicant, officer
from tests.api.submissions.fakes import CollectedEvents, FakeCatalog, FakeSignatures
from tests.support import databases as test_databases
from tests.support.identity import TEST_INTERNAL_SECRET, anonymous, jwks_json

ROLES = (applicant, officer, admin, lambda: anonymous("submissions"))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fuzz")
    databases = test_databases.TestDatabases(directory)
    settings_ = SubmissionsSettings(
        data_dir=directory / "submissions",
        identity_jwks=jwks_json(),
        internal_secret=TEST_INTERNAL_SECRET,
        database_url=asyncio.run(databases.url("submissions")),
        catalog_cache_seconds=0,
    )
    app = create_app(settings_, catalog_transport=FakeCatalog().transport(),
                     signatures_transport=FakeSignatures().transport(), event_transport=CollectedEvents())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the submissions service did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield app, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    asyncio.run(databases.drop_all())


def document() -> dict:
    """The service's OpenAPI document, from an app that is built but never started."""
    with tempfile.TemporaryDirectory() as directory:
        settings_ = SubmissionsSettings(data_dir=Path(directory), identity_jwks=jwks_json(),
                                        internal_secret=TEST_INTERNAL_SECRET)
        return create_app(settings_).openapi()


schema = schemathesis.openapi.from_dict(document())


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, served):
    _, base_url = served
    for role in ROLES:
        response = case.call(base_url=base_url, headers=role(), timeout=10)
        case.validate_response(response, checks=[not_a_server_error])
