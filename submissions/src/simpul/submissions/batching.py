"""Group commit: the requests that arrive while one transaction is being written are written
together as the next one, each checked and written as it would be alone."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from simpul.shared.problems import Problem

log = logging.getLogger("simpul.submissions")

# The most requests written in one transaction.
MAX_GROUP = 64


class GroupWriter:
    """Writes the requests that queued up while it wrote the previous group, as the next group.

    `write(group)` writes a group in one transaction and returns each request's outcome (a
    value, or the exception to raise, e.g. a Problem), in order; if it raises, nothing was
    written and each request is written again by `alone(job)`. Requests with the same
    `key` never share a group: the second goes to the next one, and sees the outcome of the
    first as it would one transaction later. One task writes at a time, so each group holds at
    most one transaction's locks and connection.
    """

    def __init__(
        self,
        name: str,
        write: Callable[[list[Any]], Awaitable[list[Any]]],
        alone: Callable[[Any], Awaitable[Any]],
        key: Callable[[Any], Any] | None = None,
    ) -> None:
        self._name = name
        self._write = write
        self._alone = alone
        self._key = key
        self._queue: deque[Any] = deque()
        self._task: asyncio.Task | None = None

    async def __call__(self, job: Any) -> Any:
        job.future = asyncio.get_running_loop().create_future()
        self._queue.append(job)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"submissions:{self._name}-groups")
        return await job.future

    def _next_group(self) -> list[Any]:
        group: list[Any] = []
        later: list[Any] = []
        seen: set[Any] = set()
        while self._queue and len(group) < MAX_GROUP:
            job = self._queue.popleft()
            if self._key is None:
                group.append(job)
                continue
            key = self._key(job)
            (later if key in seen else group).append(job)
            seen.add(key)
        self._queue.extendleft(reversed(later))
        return group

    async def _each_alone(self, group: list[Any]) -> list[Any]:
        outcomes: list[Any] = []
        for job in group:
            try:
                outcomes.append(await self._alone(job))
            except Exception as exc:  # the request's own answer: a Problem, or its failure
                outcomes.append(exc)
        return outcomes

    async def _run(self) -> None:
        while self._queue:
            group = self._next_group()
            try:
                try:
                    outcomes = await self._write(group)
                except Problem as refusal:
                    # One request's own refusal that only shows once its group is written (its
                    # Idempotency-Key was settled by an earlier request): expected, not a fault.
                    log.info("a group of %d %s was refused (%s); each is written alone", len(group), self._name,
                             refusal.slug)
                    outcomes = await self._each_alone(group)
                except Exception:
                    log.warning(
                        "a group of %d %s failed; each is retried alone", len(group), self._name, exc_info=True
                    )
                    outcomes = await self._each_alone(group)
                for job, outcome in zip(group, outcomes, strict=True):
                    if job.future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        job.future.set_exception(outcome)
                    else:
                        job.future.set_result(outcome)
            finally:
                # Cancelled (the process stopping): nobody waits for an answer that won't come.
                for job in group:
                    if not job.future.done():
                        job.future.set_exception(RuntimeError(f"the {self._name} were not written"))
