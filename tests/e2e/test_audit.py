"""The audit logs through the gateway with real processes: the gateway's own and the catalogue's
(routed to it), their heads timestamped by the signatures service's TSA, tampering found by the
admin endpoint and by `python -m simpul.<service> verify-audit`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import MetaData, update

from simpul.shared.audit import audit_tables
from simpul.shared.db import create_engine
from tests.e2e.conftest import start_system
from tests.e2e.test_foundation import service_body
from tests.support.api import PublicApi
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, System, env_name

pytestmark = pytest.mark.e2e
SERVICES = ("gateway", "catalog", "submissions", "signatures", "notifications")


@pytest.fixture(scope="module")
def stamped_system(tmp_path_factory) -> Iterator[System]:
    running, databases = start_system(tmp_path_factory.mktemp("audit"), extra_env={"SIMPUL_AUDIT_STAMP_SECONDS": "0.5"})
    yield running
    running.stop()
    asyncio.run(databases.drop_all())


@pytest.fixture(scope="module")
def admin(stamped_system) -> Iterator[httpx.Client]:
    api = PublicApi(stamped_system.gateway_url)
    client = api.as_client(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    yield client
    client.close()
    api.close()


def verify_command(system: System, service: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"simpul.{service}", "verify-audit"], env=system[service].env,
                          capture_output=True, text=True, timeout=60)


def tamper(system: System, service: str, seq: int) -> None:
    url = system[service].env.get(env_name(service, "DATABASE_URL")) or \
        f"sqlite+aiosqlite:///{system.directory / 'var' / f'{service}.db'}"
    table = audit_tables(MetaData()).log

    async def change() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(update(table).where(table.c.seq == seq).values(actor="someone-else"))
        finally:
            await engine.dispose()

    asyncio.run(change())


def test_admin_actions_are_audited_where_they_happen_and_read_through_the_gateway(stamped_system, admin):
    created = admin.post("/v1/admin/clients", json={"name": "Kota Uji", "role": "applicant", "tenant": "31"},
                         headers={"X-Request-Id": "e2e-audit-client"})
    assert created.status_code == 201, created.text
    code = f"AUDIT-{uuid.uuid4().hex[:6].upper()}"
    assert admin.post("/v1/services", json=service_body(code, "E2E-AUD"),
                      headers={"X-Request-Id": "e2e-audit-service"}).status_code == 201

    gateway_log = admin.get("/v1/admin/audit/gateway", params={"limit": 200}).json()["items"]
    mine = next(entry for entry in gateway_log if entry["object"]["id"] == created.json()["client_id"])
    assert (mine["action"], mine["actor"]["id"], mine["request_id"]) == (
        "client.created", ADMIN_CLIENT_ID, "e2e-audit-client")

    catalog_log = []
    cursor = None
    while True:
        page = admin.get("/v1/admin/audit/catalog", params={"limit": 200, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        catalog_log += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    entry = next(entry for entry in catalog_log if entry["object"]["id"] == code)
    assert (entry["action"], entry["actor"]["id"], entry["request_id"]) == (
        "service.created", ADMIN_CLIENT_ID, "e2e-audit-service")

    for service in SERVICES:
        verified = admin.get(f"/v1/admin/audit/{service}/verify")
        assert verified.status_code == 200, (service, verified.text)
        assert verified.json()["valid"] is True, service


def test_non_admins_are_refused(stamped_system, admin):
    api = PublicApi(stamped_system.gateway_url)
    with api.client_for(admin, "officer", "KDN-BH") as officer:
        for service in SERVICES:
            assert officer.get(f"/v1/admin/audit/{service}").status_code == 403, service
    assert httpx.get(f"{stamped_system.gateway_url}/v1/admin/audit/catalog").status_code == 401
    api.close()


def test_tampering_is_found_by_the_endpoint_and_the_command(stamped_system, admin):
    # Let the stamper cover the current heads (every half second here) with the TSA's tokens.
    time.sleep(1.5)
    for service in ("gateway", "catalog"):
        result = verify_command(stamped_system, service)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "audit log valid" in result.stdout
        tamper(stamped_system, service, seq=1)
        verified = admin.get(f"/v1/admin/audit/{service}/verify").json()
        assert (verified["valid"], verified["first_broken"], verified["reason"]) == (False, 1, "altered")
        result = verify_command(stamped_system, service)
        assert result.returncode == 1
        assert "broken at sequence 1 (altered)" in result.stdout
