from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.notifications.receivers import MailSink, WebhookReceiver
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


def started(directory) -> Iterator[System]:
    running, databases = start_system(directory)
    yield running
    running.stop()
    asyncio.run(databases.drop_all())


# Starting the five processes costs 10-25 s on a loaded machine, so the modules that only need a
# plain system share one. A module may opt in with `pytestmark = pytest.mark.shared_system` when it
# uses the default environment, works on services, units and clients it creates itself (uuid codes),
# and never stops, kills or restarts a service, changes settings, counts global things (audit
# totals, client lists, metrics) or needs a pristine database. The default rate limits (per client,
# per address, failed logins) count across the sharing modules: no module may lean on them. Otherwise
# it gets its own system, as unmarked modules do, or defines its own `system` fixture.
@pytest.fixture(scope="package")
def shared_system(tmp_path_factory) -> Iterator[System]:
    """All five services as real processes, shared by every module marked shared_system."""
    yield from started(tmp_path_factory.mktemp("shared-system"))


@pytest.fixture(scope="module")
def system(request, tmp_path_factory) -> Iterator[System]:
    """All five services as real processes: the shared ones for a module marked shared_system,
    otherwise the module's own."""
    if request.node.get_closest_marker("shared_system"):
        yield request.getfixturevalue("shared_system")
    else:
        yield from started(tmp_path_factory.mktemp("system"))


@pytest.fixture(scope="module")
def mail() -> Iterator[MailSink]:
    """An SMTP server on loopback that keeps what the notifications service sends."""
    sink = MailSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook endpoint on loopback that keeps and verifies what it is sent."""
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()


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


@pytest.fixture(scope="module")
def published(admin) -> dict:
    """A service of its own unit, published, for the tests of one module."""
    from tests.e2e.test_foundation import service_body  # that module imports this one

    code = f"UJI-{uuid.uuid4().hex[:8].upper()}"
    unit = f"E2E-{uuid.uuid4().hex[:6].upper()}"
    assert admin.post("/v1/services", json=service_body(code, unit)).status_code == 201
    response = admin.post(f"/v1/services/{code}/publish")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def people(api, admin, published) -> Iterator[dict[str, httpx.Client]]:
    """Applicants of two regions, the officer of the published service's unit and one of another."""
    clients = {
        "applicant": api.client_for(admin, "applicant", "31"),
        "other_applicant": api.client_for(admin, "applicant", "32"),
        "officer": api.client_for(admin, "officer", published["unit"]),
        "other_officer": api.client_for(admin, "officer", "KEU-LAIN"),
    }
    yield clients
    for client in clients.values():
        client.close()


# Lines an end-to-end test wants on the terminal summary (the fault test's figures).
SUMMARY_LINES: list[str] = []


def pytest_terminal_summary(terminalreporter) -> None:
    if SUMMARY_LINES:
        terminalreporter.write_sep("-", "end-to-end figures")
        for line in SUMMARY_LINES:
            terminalreporter.write_line(line)
