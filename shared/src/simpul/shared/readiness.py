"""`/readyz`: which dependencies a process needs are down, checked at most once a second, since
every balancer and orchestrator in front of it asks often.

A dependency the process can serve without for a while (the broker: events wait in the outbox,
and taking every replica out of rotation would turn a broker outage into a total one) is a
degrading check: its failure is reported, but the process stays ready."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncEngine

from simpul.shared.db import ping

log = logging.getLogger("simpul.readiness")

CACHE_SECONDS = 1.0
CHECK_TIMEOUT = 1.0

# A check raises when its dependency is down.
Check = Callable[[], Awaitable[None]]


class Readiness:
    """Named checks run together; the answer (the names that failed) is reused for `seconds`."""

    def __init__(self, checks: dict[str, Check], *, degrading: dict[str, Check] | None = None,
                 seconds: float = CACHE_SECONDS) -> None:
        self._checks = {**checks, **(degrading or {})}
        self._degrading = frozenset(degrading or ())
        self._seconds = seconds
        self._answer: tuple[list[str], float] | None = None
        self._lock = asyncio.Lock()

    async def unavailable_or_degraded(self) -> list[str]:
        async with self._lock:  # concurrent probes share one round of checks
            answer = self._answer
            if answer is None or answer[1] <= time.monotonic():
                names = list(self._checks)
                outcomes = await asyncio.gather(*(self._run(name) for name in names))
                answer = self._answer = ([name for name, ok in zip(names, outcomes, strict=True) if not ok],
                                         time.monotonic() + self._seconds)
            return answer[0]

    async def status(self) -> tuple[list[str], list[str]]:
        """(unavailable: the process is not ready, degraded: it serves without them)."""
        failed = await self.unavailable_or_degraded()
        return ([name for name in failed if name not in self._degrading],
                [name for name in failed if name in self._degrading])

    async def _run(self, name: str) -> bool:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                await self._checks[name]()
        except Exception as exc:  # any failure means not ready; the cause goes to the log only
            log.warning("readiness: %s is unavailable: %r", name, exc)
            return False
        return True


def database_check(engine: AsyncEngine) -> Check:
    return lambda: ping(engine)


def broker_check(url: str) -> Check:
    """The broker accepts connections (a TCP connect: cheap, and the relay and consumers hold
    their own AMQP connections and recover them)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or (5671 if parts.scheme == "amqps" else 5672)

    async def check() -> None:
        _, writer = await asyncio.open_connection(host, port)
        writer.close()
        await writer.wait_closed()

    return check
