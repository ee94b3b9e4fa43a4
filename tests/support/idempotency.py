"""A keyed request whose process "dies" at a chosen instant, in-process.

- `Deaths.after_commit(request)`: the request runs until its effect has committed and its answer
  is about to be kept, and then nothing more of it runs (its task hangs until the test ends), as
  when the process is killed at that instant.
- `abandon_key(...)`: the row a request leaves when its process dies after claiming the key and
  before its effect commits (a rolled-back transaction leaves nothing else).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import MetaData, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from simpul.shared.idempotency import IdempotencyMiddleware, idempotency_table, scope_hash


class Deaths:
    def __init__(self, monkeypatch) -> None:
        self._armed = False
        self._died = asyncio.Event()
        self._dead: list[asyncio.Task] = []
        keep_answer = IdempotencyMiddleware._keep_answer

        async def keep_or_die(middleware, *args, **kwargs) -> None:
            if not self._armed:
                await keep_answer(middleware, *args, **kwargs)
                return
            self._armed = False
            self._died.set()
            await asyncio.Event().wait()  # never again

        monkeypatch.setattr(IdempotencyMiddleware, "_keep_answer", keep_or_die)

    async def after_commit(self, request: Awaitable[httpx.Response]) -> None:
        """Send `request` (a keyed POST that succeeds) and let its process die once its effect
        committed, before its answer is kept."""
        self._armed = True
        self._died.clear()
        task = asyncio.ensure_future(request)
        self._dead.append(task)
        died = asyncio.ensure_future(self._died.wait())
        finished, _ = await asyncio.wait({task, died}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if died not in finished:
            died.cancel()
            self._armed = False
            answer = task.result() if task in finished else None
            raise AssertionError(f"the request did not reach its answer: {answer and answer.text}")

    async def bury(self) -> None:
        for task in self._dead:
            task.cancel()
        await asyncio.gather(*self._dead, return_exceptions=True)


async def abandon_key(
    engine: AsyncEngine, subject: str, path: str, key: str, *, lease_left: float = 0.0
) -> None:
    """The key of a request that died after claiming it, its lease running `lease_left` seconds more."""
    now = datetime.now(UTC)
    table = idempotency_table(MetaData())
    async with engine.begin() as connection:
        await connection.execute(
            insert(table).values(
                scope_hash=scope_hash(subject, path, key),
                created_at=now,
                holder="dead-process",
                locked_until=now + timedelta(seconds=lease_left),
            )
        )
