"""The catalogue's audit log: every change of a standard, chained; the verify-audit command."""

from __future__ import annotations

import asyncio

from simpul.catalog.app import create_app
from simpul.catalog.settings import CatalogSettings
from simpul.shared.audit import verify_audit_command
from tests.api.catalog.helpers import admin, create, publish, role
from tests.support.asgi import running
from tests.support.audit import assert_admins_only, assert_tampering_found, audit_entries


async def test_each_change_of_a_standard_is_audited_with_actor_and_request_id(served):
    client, app = served
    await create(client, "UJI-A")
    await publish(client, "UJI-A")
    retired = await client.post("/v1/services/UJI-A/retire", headers={**admin("admin-7"), "X-Request-Id": "req-9"})
    assert retired.status_code == 200, retired.text

    entries = await audit_entries(client, "catalog", admin())
    assert [(entry["action"], entry["object"]["id"]) for entry in entries] == [
        ("service.created", "UJI-A"), ("service.published", "UJI-A"), ("service.retired", "UJI-A"),
    ]
    last = entries[-1]
    assert (last["actor"]["id"], last["actor"]["role"], last["request_id"]) == ("admin-7", "admin", "req-9")
    assert last["details"] == {"version": 1, "from": "published", "to": "retired"}
    await assert_tampering_found(client, app, "catalog", admin(), seq=2)


async def test_only_admins_read_the_catalogue_log(client):
    await assert_admins_only(client, "catalog", role("officer", "KDN-BH"))


async def test_verify_audit_command_exits_0_then_1_naming_the_broken_row(settings_for, capsys):
    settings = await settings_for(CatalogSettings)
    app = create_app(settings)

    async with running(app) as client:
        await create(client, "UJI-B")
        await publish(client, "UJI-B")
    command = verify_audit_command(create_app)
    assert await asyncio.to_thread(command, settings) == 0
    assert "audit log valid, 2 rows checked" in capsys.readouterr().out

    app = create_app(settings)
    table = app.state.audit.tables.log
    async with app.state.audit.sessions.begin() as session:
        await session.execute(table.delete().where(table.c.seq == 1))
    await app.state.audit.engine.dispose()
    assert await asyncio.to_thread(command, settings) == 1
    assert "audit log broken at sequence 1 (missing)" in capsys.readouterr().out
