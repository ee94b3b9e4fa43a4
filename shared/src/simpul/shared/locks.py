"""A lock shared by every replica of a service, held for one transaction: a PostgreSQL advisory
lock (released at commit or rollback). On SQLite the write transaction itself is the lock
(simpul.shared.db starts every writing transaction with BEGIN IMMEDIATE)."""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


def lock_number(name: str) -> int:
    """A stable signed 64-bit number for `name` (advisory locks are named by numbers)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def hold_for_transaction(session: AsyncSession, name: str) -> None:
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:number)"), {"number": lock_number(name)})
