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

from simpul.submissions.app import create_app
from simpul.submissions.settings import SubmissionsSettings
from tests.api.submissions.conftest import admin, applicant, officer
from tests.api.submissions.fakes import CollectedEvents, FakeCatalog, FakeSignatures
from tests.support import databases as test_databases
from tests.support.fuzz import fuzz_for_server_errors
from tests.support.identity import TEST_INTERNAL_SECRET, anonymous, jwks_json
from tests.support.openapi_lint import METHODS

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


DOCUMENT = document()


def test_no_operation_answers_with_a_server_error(served):
    _, base_url = served
    fuzzed = fuzz_for_server_errors(schemathesis.openapi.from_dict(DOCUMENT), base_url, ROLES,
                                    examples=12, timeout=10)
    assert fuzzed.operations == sum(1 for item in DOCUMENT["paths"].values() for method in item if method in METHODS)
    assert fuzzed.operations > 30 and fuzzed.calls >= fuzzed.operations * len(ROLES)
    assert not fuzzed.failures, "\n".join(fuzzed.failures)
