"""The service's database on its hot paths: whole transactions as one call, and one write at a time
on SQLite.

`run(work)` runs `work(connection)`, plain synchronous SQLAlchemy Core, as one transaction. On
SQLite it runs on a thread of its own over a synchronous engine: aiosqlite hands every cursor call
to its thread and back (about three hand-offs per statement, each waking a thread and the event
loop), which cost more CPU than the statements; here a transaction is one hand-off. That thread is
also the queue of the hot paths' writers, so they never meet on SQLite's lock. On PostgreSQL
`work` runs in the async engine's greenlet (`run_sync`): asyncpg needs no thread.

`begin()` and `read()` are the async connections for everything else (API writes, seeding). On
SQLite, writers through `begin()` queue on an asyncio lock rather than on SQLite's busy handler,
which polls with growing sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from simpul.shared.db import create_sqlite_sync_engine, is_sqlite

T = TypeVar("T")


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._readonly = engine.execution_options(simpul_read_only=True)
        self._lock: asyncio.Lock | None = None
        self._sync = None
        self._thread: ThreadPoolExecutor | None = None
        if is_sqlite(str(engine.url)):
            self._lock = asyncio.Lock()
            self._sync = create_sqlite_sync_engine(engine.url.render_as_string(hide_password=False))
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="notifications-db")

    async def run(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)` in one transaction, committed when it returns, rolled back if it raises."""
        if self._sync is None:
            async with self._engine.begin() as connection:
                return await connection.run_sync(work)
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run_here, work)

    def _run_here(self, work: Callable[[Connection], T]) -> T:
        with self._sync.begin() as connection:
            return work(connection)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """`async with database.begin() as connection:` a transaction, committed at the end."""
        if self._lock is None:
            async with self._engine.begin() as connection:
                yield connection
            return
        async with self._lock, self._engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading only (on SQLite it doesn't take the write lock)."""
        async with self._readonly.connect() as connection:
            yield connection

    async def close(self) -> None:
        """Ends the SQLite thread and its connection (the async engine belongs to the app)."""
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._sync.dispose)
            self._thread.shutdown(wait=True)
