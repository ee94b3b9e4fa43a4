"""A short-lived, in-process cache of current service documents.

GET /v1/services/{code} dominates the catalogue's traffic, and each database round trip costs far
more than the rest of the request (on SQLite several thread hops through aiosqlite), while changes
are rare admin actions. Changes made through this process evict at once; the time limit bounds how
long a copy can lag behind a change made by another process on the same database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class DocumentCache(Generic[T]):
    def __init__(self, ttl_seconds: float, *, max_entries: int = 1024, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[float, T]] = {}
        # Bumped by every eviction: a read that began before a change must not store what it read.
        self.generation = 0
        self._loading: dict[str, asyncio.Future[T | None]] = {}

    def get(self, key: str) -> T | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: str, value: T, generation: int) -> None:
        if self.ttl <= 0 or generation != self.generation:
            return
        if key not in self._entries and len(self._entries) >= self.max_entries:
            # Oldest insertion first; enough to keep memory bounded against many distinct codes.
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (self.clock() + self.ttl, value)

    async def load(self, key: str, loader: Callable[[], Awaitable[T | None]]) -> T | None:
        """Read through the cache with one load per key at a time: when an entry expires under
        load, the readers waiting for it share one database round trip instead of all making one."""
        pending = self._loading.get(key)
        if pending is None:
            generation = self.generation
            pending = asyncio.ensure_future(loader())
            self._loading[key] = pending
            pending.add_done_callback(lambda done: self._settle(key, done, generation))
        # shield: a reader that gives up must not cancel the load the others wait for.
        return await asyncio.shield(pending)

    def _settle(self, key: str, done: asyncio.Future[T | None], generation: int) -> None:
        if self._loading.get(key) is done:
            del self._loading[key]
        if not done.cancelled() and done.exception() is None and done.result() is not None:
            self.put(key, done.result(), generation)

    def evict(self, key: str) -> None:
        self.generation += 1
        self._entries.pop(key, None)
        # Readers arriving after a change must not join a load that began before it.
        self._loading.pop(key, None)
