"""A keyed request whose process "dies" at a chosen instant, in-process.

- `Deaths.after_commit(request)`: the request runs until its effect has committed and its answer
  is complete, and then nothing more of it runs, as when the process is killed before the client
  sees the answer (its task waits until the test buries it, and then fails).
- `abandon_key(...)`: the row an older version of the middleware left when its process died
  after claiming the key and before its effect committed (today a request that dies leaves
  nothing: its key is written only with its effect); `end_lease(...)` lets its lease run out
  without the test sleeping through it (a sleep shorter than a slow machine's first request
  made the lease end before the request that should find it held).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import MetaData, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from simpul.shared.idempotency import IdempotencyMiddleware, idempotency_table, scope_hash


class ProcessDied(Exception):
    pass


class Deaths:
    def __init__(self, monkeypatch) -> None:
        self._armed = False
        self._died = asyncio.Event()
        self._buried = asyncio.Event()
        self._dead: list[asyncio.Future] = []
        answer_ends = IdempotencyMiddleware._answer_ends

        async def end_or_die(middleware, *args, **kwargs) -> None:
            if not self._armed:
                await answer_ends(middleware, *args, **kwargs)
                return
            self._armed = False
            self._died.set()
            await self._buried.wait()
            raise ProcessDied

        monkeypatch.setattr(IdempotencyMiddleware, "_answer_ends", end_or_die)

    async def after_commit(self, request: Awaitable[httpx.Response]) -> None:
        """Send `request` (a keyed POST that succeeds) and let its process die once its effect
        committed, before the client sees its answer."""
        self._armed = True
        self._died.clear()
        task = asyncio.ensure_future(request)
        self._dead.append(task)
        died = asyncio.ensure_future(self._died.wait())
        finished, _ = await asyncio.wait({task, died}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        if died not in finished:
            died.cancel()
            self._armed = False
            answer = task.result() if task in finished else None
            raise AssertionError(f"the request did not reach its answer: {answer and answer.text}")

    async def retry_after_death(self, client: httpx.AsyncClient, path: str, headers: dict, **request) -> httpx.Response:
        """POST `path` with a new key, let its process die once the effect committed, and retry:
        the answer rebuilt from the effect, the same when asked again."""
        replay = await self._die_and_retry(client, path, headers, **request)
        assert replay.headers.get("idempotent-replayed") == "true", replay.text
        return replay

    async def refused_after_death(self, client: httpx.AsyncClient, path: str, headers: dict, **request) -> None:
        """The same for a route whose answer is not replayable (a secret shown once): the retry is
        told that the key was used, and the request does not run again."""
        refused = await self._die_and_retry(client, path, headers, **request)
        assert refused.status_code == 409 and refused.json()["type"].endswith("idempotency-not-replayable")

    async def _die_and_retry(self, client: httpx.AsyncClient, path: str, headers: dict, **request) -> httpx.Response:
        headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
        await self.after_commit(client.post(path, headers=headers, **request))
        retried = await client.post(path, headers=headers, **request)
        again = await client.post(path, headers=headers, **request)
        assert again.status_code == retried.status_code
        if retried.headers.get("content-type") == "application/problem+json":
            assert again.json()["type"] == retried.json()["type"]  # each problem has its own request_id
        else:
            assert again.content == retried.content
        return retried

    async def bury(self) -> None:
        self._buried.set()
        if self._dead:
            await asyncio.wait(self._dead, timeout=10)
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


async def end_lease(engine: AsyncEngine, subject: str, path: str, key: str) -> None:
    """The lease of an abandoned key runs out now."""
    table = idempotency_table(MetaData())
    async with engine.begin() as connection:
        await connection.execute(
            update(table)
            .where(table.c.scope_hash == scope_hash(subject, path, key))
            .values(locked_until=datetime.now(UTC))
        )
