"""Databases for tests: a SQLite file by default, a fresh PostgreSQL database per test when
SIMPUL_TEST_POSTGRES names a server (created here, dropped afterwards, unique names)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

POSTGRES_ENV = "SIMPUL_TEST_POSTGRES"


def postgres_server() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def _admin_dsn(server: str) -> str:
    url = make_url(server).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class TestDatabases:
    """Hands out database URLs and removes what it created."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server = postgres_server()
        self.created: list[str] = []

    async def url(self, name: str) -> str:
        if self.server is None:
            return f"sqlite+aiosqlite:///{self.directory / f'{name}-{uuid.uuid4().hex[:8]}.db'}"
        database = f"simpul_test_{name}_{uuid.uuid4().hex[:12]}"
        connection = await asyncpg.connect(_admin_dsn(self.server))
        try:
            await connection.execute(f'CREATE DATABASE "{database}"')
        finally:
            await connection.close()
        self.created.append(database)
        url = make_url(self.server).set(drivername="postgresql+asyncpg", database=database)
        return url.render_as_string(hide_password=False)

    async def drop_all(self) -> None:
        if not self.created:
            return
        connection = await asyncpg.connect(_admin_dsn(self.server))
        try:
            for database in self.created:
                await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await connection.close()
        self.created.clear()
