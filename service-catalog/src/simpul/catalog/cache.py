"""A short-lived, in-process cache of current service documents.

GET /v1/services/{code} dominates the catalogue's traffic, and each database round trip costs far
more than the rest of the request (on SQLite several thread hops through aiosqlite), while changes
are rare admin actions. Changes made through this process evict at once; the time limit bounds how
long a copy can lag behind a change made by another process on the same database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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

    def evict(self, key: str) -> None:
        self.generation += 1
        self._entries.pop(key, None)
