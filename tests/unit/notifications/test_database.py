"""The notifications service's hot-path transactions on SQLite: on the loop when the write lock is
free, queued on the thread (never blocking the loop) when it is held."""

from __future__ import annotations

import asyncio
import sqlite3

from sqlalchemy import text

from simpul.notifications.database import Database
from simpul.shared.db import create_engine


async def test_a_held_write_lock_queues_the_transaction_without_blocking_the_loop(tmp_path):
    path = tmp_path / "notifications.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x INTEGER)")
    engine = create_engine(f"sqlite:///{path}")
    database = Database(engine)
    try:
        assert await database.run(lambda connection: connection.execute(text("INSERT INTO t VALUES (1)")).rowcount) == 1

        holder.execute("BEGIN IMMEDIATE")
        queued = asyncio.create_task(database.run(
            lambda connection: connection.execute(text("INSERT INTO t VALUES (2)")).rowcount))
        await asyncio.sleep(0.3)  # the loop runs on meanwhile
        assert not queued.done()
        holder.execute("COMMIT")
        assert await asyncio.wait_for(queued, 10) == 1
        assert await database.run(lambda connection: connection.execute(text("SELECT count(*) FROM t")).scalar()) == 2
    finally:
        holder.close()
        await database.close()
        await engine.dispose()
