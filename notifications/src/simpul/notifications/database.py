"""The service's database on its hot paths: whole transactions as one call, and one write at a time
on SQLite.

`run(work)` runs `work(connection)`, plain synchronous SQLAlchemy Core, as one transaction. On
PostgreSQL it runs in the async engine's greenlet (`run_sync`). On SQLite it runs on a synchronous
engine, right on the event loop when the write lock is free at once: a short local transaction
costs less than handing it over. aiosqlite hands every cursor call to its thread and back (about
three hand-offs per statement), and each hand-off, a thread and the loop woken, cost more CPU than
the statements. When the lock is held (a transaction of `begin()` waiting on the loop, another
process), the transaction queues on a thread of its own instead, so the loop never waits for it.

`record(work)` is for the dispatchers' claims and outcomes, whose every write is one statement.
The email dispatcher commits each outcome before the next message may be handed over (see
dispatch.py), so the time to commit one bounds the mail rate. On PostgreSQL these statements
run on connections of their own, each statement its own transaction (one round trip instead of
BEGIN, statements and COMMIT), and committed without waiting for the WAL flush
(`synchronous_commit=off`), which took 3-4 ms per commit. Committed is committed for every
client at once and survives a crash of this process; only a crash of PostgreSQL itself may
forget the last fraction of a second of them, which leaves those deliveries `sending` or
`pending`, so sent again (same Message-ID), never lost. The intake's writes stay in durable
transactions: the broker forgets an event once it is acknowledged. On SQLite `record` is `run`
(in WAL mode with synchronous=NORMAL a commit doesn't wait for a flush anyway).

`begin()` and `read()` are the async connections for everything else (API writes, seeding). On
SQLite, writers through `begin()` queue on an asyncio lock rather than on SQLite's busy handler,
which polls with growing sleeps.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, RootTransaction
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from simpul.shared.db import create_engine, create_sqlite_sync_engine, is_sqlite

T = TypeVar("T")

# The dispatchers' own PostgreSQL connections: an email outcome at a time, a claim, webhook outcomes.
QUICK_POOL_SIZE = 4


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # PostgreSQL: the connections of `record`.
        self._quick: AsyncEngine | None = None
        self._readonly = engine.execution_options(simpul_read_only=True)
        self._lock: asyncio.Lock | None = None
        self._at_once: Engine | None = None
        if is_sqlite(str(engine.url)):
            self._lock = asyncio.Lock()
            url = engine.url.render_as_string(hide_password=False)
            # Not a moment's wait on the loop: a held lock is reported at once (and the
            # transaction goes to the thread). One connection, kept: the loop runs one at a time.
            self._at_once = create_sqlite_sync_engine(url, busy_timeout_ms=0)
            self._loop_connection: Connection | None = None
            self._queued = create_sqlite_sync_engine(url)
            self._thread: ThreadPoolExecutor | None = None
        else:
            url = engine.url.render_as_string(hide_password=False)
            self._unsynced = create_engine(url, pool_size=QUICK_POOL_SIZE,
                                           server_settings={"synchronous_commit": "off"})
            self._quick = self._unsynced.execution_options(isolation_level="AUTOCOMMIT")

    async def record(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)`, each of whose writes is one statement: see the module's docstring."""
        if self._quick is None:
            return await self.run(work)
        async with self._quick.connect() as connection:
            return await connection.run_sync(work)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)` in one transaction, committed when it returns, rolled back if it raises."""
        if self._at_once is None:
            async with self._engine.begin() as connection:
                return await connection.run_sync(work)
        connection = self._loop_connection
        if connection is None or connection.closed or connection.invalidated:
            connection = self._loop_connection = self._at_once.connect()
        try:
            transaction = _begin(connection, waits=False)
        except BaseException as exc:
            # A BEGIN that failed in an event hook leaves SQLAlchemy's wrapper half-begun: a fresh one next time.
            self._loop_connection = None
            connection.close()
            if not isinstance(exc, _LockHeld):
                raise
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="notifications-db")
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._on_thread, work)
        with transaction:
            return work(connection)

    def _on_thread(self, work: Callable[[Connection], T]) -> T:
        with self._queued.connect() as connection, _begin(connection, waits=True):
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
        """Closes its own connections and thread (the async engine belongs to the app)."""
        if self._quick is not None:
            await self._unsynced.dispose()
        if self._at_once is None:
            return
        if self._loop_connection is not None:
            self._loop_connection.close()
            self._loop_connection = None
        self._at_once.dispose()
        if self._thread is not None:
            thread, self._thread = self._thread, None
            await asyncio.get_running_loop().run_in_executor(thread, self._queued.dispose)
            thread.shutdown(wait=True)


class _LockHeld(Exception):
    """SQLite's write lock was held: nothing was done."""


def _begin(connection: Connection, *, waits: bool) -> RootTransaction:
    """BEGIN IMMEDIATE: the write lock; _LockHeld when another has it and the connection `waits` not."""
    try:
        return connection.begin()
    except sqlite3.OperationalError as exc:  # raw: the hook runs BEGIN on the driver
        if exc.sqlite_errorcode == sqlite3.SQLITE_BUSY and not waits:
            raise _LockHeld from exc
        raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
