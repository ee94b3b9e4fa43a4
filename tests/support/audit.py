"""Checks of a service's audit log through its admin routes, shared by the API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import MetaData, update

from simpul.shared.audit import AuditLog, audit_tables, record
from simpul.shared.db import create_engine
from simpul.shared.identity import Identity


@asynccontextmanager
async def audit_log_with(directory: Path, actor: Identity, action: str, object_type: str,
                         object_ids: list[str]) -> AsyncIterator[AuditLog]:
    """An audit log alone in a SQLite file, with one row per object id (a transaction each)."""
    metadata = MetaData()
    tables = audit_tables(metadata)
    engine = create_engine(f"sqlite+aiosqlite:///{directory / 'audit.db'}")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        log = AuditLog(engine, tables)
        for object_id in object_ids:
            async with log.sessions.begin() as session:
                await record(session, tables, actor, action, object_type, object_id, details={"role": "applicant"})
        yield log
    finally:
        await engine.dispose()


async def audit_entries(client: httpx.AsyncClient, service: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The whole log, page after page (a small page, so the cursor is exercised)."""
    entries: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        response = await client.get(f"/v1/admin/audit/{service}", params=params, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        page = response.json()
        entries.extend(page["items"])
        if page["next_cursor"] is None:
            return entries
        params["cursor"] = page["next_cursor"]


async def verification(client: httpx.AsyncClient, service: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(f"/v1/admin/audit/{service}/verify", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def assert_tampering_found(client: httpx.AsyncClient, app: Any, service: str, headers: dict[str, str],
                                 seq: int) -> None:
    """The log verifies; after row `seq` is altered in SQL, verification names that row."""
    assert (await verification(client, service, headers))["valid"] is True
    table = app.state.audit.tables.log
    async with app.state.audit.sessions.begin() as session:
        await session.execute(update(table).where(table.c.seq == seq).values(outcome="forged"))
    result = await verification(client, service, headers)
    assert (result["valid"], result["first_broken"], result["reason"]) == (False, seq, "altered")


async def assert_admins_only(client: httpx.AsyncClient, service: str, non_admin: dict[str, str]) -> None:
    for path in (f"/v1/admin/audit/{service}", f"/v1/admin/audit/{service}/verify"):
        assert (await client.get(path, headers=non_admin)).status_code == 403
