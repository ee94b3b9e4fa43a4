"""The service's database on its hot paths: Core connections, and one write at a time on SQLite.

Core connections skip the ORM session's bookkeeping, which costs more than the statements
themselves here. SQLite allows one writer; a second one waiting for the lock polls with growing
sleeps (1, 2, 5, 10 ms...), so the intake and the dispatchers of one process slowed each other
down by tens of milliseconds per transaction. Queued on an asyncio lock instead, each starts the
moment the previous one commits. PostgreSQL has row locks and needs none of this.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from simpul.shared.db import is_sqlite


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._readonly = engine.execution_options(simpul_read_only=True)
        self._lock = asyncio.Lock() if is_sqlite(str(engine.url)) else None

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
