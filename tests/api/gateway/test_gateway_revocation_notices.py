"""A revocation is told to notifications (its webhooks): kept while notifications is down and sent
when it is back, under the revoking request's id, recorded once with an audit row; a refusal for
good is recorded and not retried; clients revoked before the notices existed get one from the
migration."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from aiohttp import web
from alembic import command
from sqlalchemy import select, text

from simpul.gateway.models import metadata, revocation_notices
from simpul.gateway.runtime import MIGRATIONS
from simpul.shared.db import create_engine
from tests.api.gateway.conftest import closed_port_url
from tests.support.audit import audit_entries
from tests.support.migrations import alembic_to, migrate_down_and_up


class NotificationsStandIn:
    """Answers the gateway's internal call with the statuses queued in `answers` (then 200)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.calls: list[tuple[dict, str | None]] = []
        self.answers: list[int] = []
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        if request.path == "/readyz":
            return web.json_response({"status": "ready"})
        self.calls.append((await request.json(), request.headers.get("x-request-id")))
        status = self.answers.pop(0) if self.answers else 200
        return web.json_response({"webhooks_disabled": 2, "deliveries_cancelled": 3}, status=status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/internal/client-revocations", self.handle)
        app.router.add_get("/readyz", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def notices(settings) -> list:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(select(revocation_notices))).all()
    finally:
        await engine.dispose()


async def until(condition, timeout: float = 20.0, message: str = "condition not met"):
    deadline = time.monotonic() + timeout
    while not (result := await condition()):
        assert time.monotonic() < deadline, message
        await asyncio.sleep(0.1)
    return result


async def test_a_revocation_waits_for_notifications_and_is_told_once_it_is_back(start_gateway, gateway_settings):
    url = closed_port_url()
    stand_in = NotificationsStandIn(int(url.rsplit(":", 1)[1]))
    async with start_gateway(notifications_url=url) as gateway:
        settings = gateway.app.state.settings
        created = await gateway.create_client("applicant", "31")
        revoked = await gateway.http.delete(f"/v1/admin/clients/{created['client_id']}", headers=await gateway.admin())
        assert revoked.status_code == 204

        async def attempted():
            rows = await notices(settings)
            return rows and rows[0].attempts >= 1 and rows[0]

        pending = await until(attempted, message="the notice was never attempted")
        assert pending.notified_at is None and pending.failed_at is None
        assert "unreachable" in pending.last_error
        await stand_in.start()
        try:
            async def told():
                return (await notices(settings))[0].notified_at is not None

            await until(told, message="the notice was not sent once notifications was back")
        finally:
            await stand_in.stop()
        assert stand_in.calls == [({"client_id": created["client_id"], "revoked_at": stand_in.calls[0][0]["revoked_at"],
                                    "revoked_by": "test-admin"}, revoked.headers["x-request-id"])]
        entries = [entry for entry in await audit_entries(gateway.http, "gateway", await gateway.admin())
                   if entry["object"]["id"] == created["client_id"]]
    assert [(entry["action"], entry["outcome"]) for entry in entries] == [
        ("client.created", "succeeded"), ("client.revoked", "succeeded"),
        ("client.revocation_propagated", "succeeded")]
    assert entries[2]["details"] == {"service": "notifications", "webhooks_disabled": 2, "deliveries_cancelled": 3}
    assert entries[2]["request_id"] == revoked.headers["x-request-id"]


async def test_a_retryable_answer_is_retried_and_a_refusal_for_good_is_recorded_once(start_gateway):
    url = closed_port_url()
    stand_in = NotificationsStandIn(int(url.rsplit(":", 1)[1]))
    await stand_in.start()
    try:
        async with start_gateway(notifications_url=url) as gateway:
            settings = gateway.app.state.settings
            stand_in.answers = [503, 422]
            created = await gateway.create_client("officer", "KDN-BH")
            assert (await gateway.http.delete(f"/v1/admin/clients/{created['client_id']}",
                                              headers=await gateway.admin())).status_code == 204

            async def failed():
                rows = await notices(settings)
                return rows[0].failed_at is not None and rows[0]

            row = await until(failed, message="the refusal was not recorded")
            await asyncio.sleep(1.0)
            assert len(stand_in.calls) == 2 and row.notified_at is None
            assert row.last_error == "notifications refused it: HTTP 422" and row.attempts == 2
            (entry,) = [entry for entry in await audit_entries(gateway.http, "gateway", await gateway.admin())
                        if entry["action"] == "client.revocation_propagated"]
            assert entry["outcome"] == "failed" and entry["details"]["status"] == 422
    finally:
        await stand_in.stop()


async def test_clients_revoked_before_the_notices_existed_get_one_from_the_migration(databases):
    url = await databases.url("gateway")
    await alembic_to(url, MIGRATIONS, command.upgrade, "0004_audit")
    engine = create_engine(url)
    at = datetime(2026, 6, 1, tzinfo=UTC)
    async with engine.begin() as connection:
        for client_id, revoked_at in (("kept-client", None), ("gone-client", at)):
            await connection.execute(
                text("INSERT INTO clients (client_id, name, role, tenant, secret_hash, created_at, revoked_at, "
                     "revoked_by) VALUES (:id, 'x', 'applicant', '31', 'scrypt$x', :at, :revoked, :by)"),
                {"id": client_id, "at": at, "revoked": revoked_at, "by": "old-admin" if revoked_at else None})
    await engine.dispose()
    await alembic_to(url, MIGRATIONS, command.upgrade, "head")
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(revocation_notices))).all()
    finally:
        await engine.dispose()
    assert [(row.client_id, row.revoked_at, row.revoked_by, row.notified_at) for row in rows] == [
        ("gone-client", at, "old-admin", None)]
    left = await migrate_down_and_up(url, MIGRATIONS, metadata, down_to="0004_audit")
    assert "client_revocation_notices" not in left
