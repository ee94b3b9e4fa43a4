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
from hypothesis import HealthCheck, given, settings
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


DOCUMENT = document()
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def test_no_operation_answers_with_a_server_error(served):
    # Every operation in a loop of our own, not `schema.parametrize()`: under pytest-xdist (`make
    # test`) that ran only the first operation.
    _, base_url = served
    schema = schemathesis.openapi.from_dict(DOCUMENT)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def exercise(case):
            for role in ROLES:
                headers = role()
                response = case.call(base_url=base_url, headers=headers, timeout=10)
                try:
                    case.validate_response(response, checks=[not_a_server_error])
                except AssertionError as exc:
                    failures.append(f"{case.as_curl_command(headers=headers)}\n  -> {response.status_code}: {exc}")
                    raise

        try:
            exercise()
        except AssertionError:
            pass  # recorded above, with the smallest failing example hypothesis found
    assert operations == sum(1 for item in DOCUMENT["paths"].values() for method in item if method in METHODS)
    assert operations > 30
    assert not failures, "\n".join(failures)
