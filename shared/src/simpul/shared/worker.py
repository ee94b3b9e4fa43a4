"""Background workers: the one loop behind every service's background work.

A worker repeats rounds. A round claims a batch of due work (`claim`, a callable the user
supplies) and processes it (`process`, given the whole batch; `each(handle, concurrency=N)`
makes that of a handler of one item, N items at a time). Then the worker waits for `wake()` (a
commit that made work, say) or at most `poll_seconds` before the next round; after a full batch
(`batch_size` items) it claims again at once. A round that raises is logged under the worker's
name and followed by a pause that grows exponentially with jitter (`backoff_delay`) while
failures go on (a step that keeps its own retry time raises `RetryAfter` instead); the loop
never ends on an error. `stop()` drains: no new round starts, the one in flight may finish
within `grace_seconds`, then it is cancelled. `periodic` is a worker for upkeep that claims
nothing.

The claim contract, so that several replicas of a service can run the same worker side by side
against one database: `claim` takes its rows so that no other replica takes them too, and so
that rows a crashed replica held become due again on their own.
- PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED` in the claiming transaction, marking the rows
  taken before it commits; or
- a lease: move the row's due time (`next_attempt_at`) ahead with a compare-and-set on what was
  read, or under a claim token, so that the row is due again once the lease runs out; the
  lease must outlast processing the whole batch;
- SQLite has a single writer, so a plain claiming transaction is enough.
A claimed item may therefore be processed twice (a lease that ran out, a crash between the work
and recording it): processing must be idempotent, or recognisable as a repeat downstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger("simpul.worker")

T = TypeVar("T")


def backoff_delay(attempts: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: about base * 2^(attempts-1), never above cap."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)


class RetryAfter(Exception):
    """Raised by a claim or process step that keeps its own account of a failure (its retry time
    on the rows, so that it survives a restart, and its own log line): the worker pauses
    `seconds` before the next round, wake-ups or not, and neither logs nor counts it."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = max(0.0, seconds)


def describe_failure(exc: BaseException) -> str:
    """A failure in one line: its type and message."""
    if isinstance(exc, BaseExceptionGroup):
        return f"{len(exc.exceptions)} failures, the first {describe_failure(exc.exceptions[0])}"
    return f"{type(exc).__name__}: {exc}"


def each(handle: Callable[[T], Awaitable[Any]], *,
         concurrency: int = 1) -> Callable[[Sequence[T]], Awaitable[None]]:
    """A `process` step that handles the claimed items one by one, up to `concurrency` at once,
    taking them in the order claimed. Every item gets its turn even when another fails; the
    failures are raised afterwards (several as an ExceptionGroup), so the worker logs them and
    backs off."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")

    async def process(items: Sequence[T]) -> None:
        failures: list[Exception] = []
        queue = iter(items)

        async def lane() -> None:
            for item in queue:  # shared by the lanes: a free lane takes the next item
                try:
                    await handle(item)
                except Exception as exc:
                    failures.append(exc)

        await asyncio.gather(*(lane() for _ in range(min(concurrency, len(items)))))
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise ExceptionGroup(f"{len(failures)} of {len(items)} items failed", failures)

    return process


def periodic(name: str, tick: Callable[[], Awaitable[Any]], *, seconds: float, **options: Any) -> Worker[None]:
    """A worker for upkeep that claims nothing: a round is `tick()`, every `seconds` (sooner on
    `wake()`); a failing tick backs off like any round. `options` go to `Worker`."""

    async def one_tick() -> tuple[None]:
        return (None,)

    async def process(_: Sequence[None]) -> None:
        await tick()

    return Worker(name, claim=one_tick, process=process, poll_seconds=seconds, **options)


class Worker(Generic[T]):
    """See the module's docstring. `expected` failures (a destination that is down, say) are
    logged in one line, any other with its traceback; `describe` words the line and must leave
    secrets out (a broker URL with its password, say). `on_idle` runs once a poll interval has
    passed with nothing to do (closing idle connections, say). The first round waits `start_after`
    seconds."""

    def __init__(
        self,
        name: str,
        *,
        claim: Callable[[], Awaitable[Sequence[T]]],
        process: Callable[[Sequence[T]], Awaitable[Any]],
        poll_seconds: float,
        batch_size: int | None = None,
        backoff_base: float = 0.25,
        backoff_cap: float = 30.0,
        grace_seconds: float = 5.0,
        on_idle: Callable[[], Awaitable[Any]] | None = None,
        start_after: float = 0.0,
        expected: tuple[type[Exception], ...] = (),
        describe: Callable[[BaseException], str] = describe_failure,
        logger: logging.Logger = log,
    ) -> None:
        self.name = name
        self._claim = claim
        self._process = process
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._grace_seconds = grace_seconds
        self._on_idle = on_idle
        self._start_after = start_after
        self._expected = expected
        self._describe = describe
        self._log = logger
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        # Made here, for the loop the worker runs on.
        self._wake, self._stopping = asyncio.Event(), asyncio.Event()
        self._task = self._loop.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Look for work now rather than at the next poll; safe from any thread, and a no-op
        while the worker is not running (its first round looks anyway)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        """Start no new round; let the one in flight finish within the grace period, then cancel
        it. Calling it again, or on a worker never started, does nothing."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._wake.set()
        try:
            done, _ = await asyncio.wait({task}, timeout=self._grace_seconds)
            if not done:
                self._log.warning("%s: work in flight did not finish within %.1fs of stopping; cancelled",
                                  self.name, self._grace_seconds)
        finally:
            task.cancel()  # nothing on a finished task
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        failures = 0
        idle = False
        if self._start_after:
            await self._sleep(self._stopping, self._start_after)
        while not self._stopping.is_set():
            # Cleared before claiming, so a wake-up during the round makes the next one start at once.
            self._wake.clear()
            try:
                if idle and self._on_idle is not None:
                    await self._on_idle()
                claimed = await self._claim()
                if claimed:
                    await self._process(claimed)
            except RetryAfter as retry:
                # A wake-up cuts no pause short: the work is there, what failed is not back yet.
                await self._sleep(self._stopping, retry.seconds)
                idle = False
                continue
            except Exception as exc:  # a round may fail; the worker goes on
                failures += 1
                pause = backoff_delay(failures, base=self._backoff_base, cap=self._backoff_cap)
                self._log_failure(exc, failures, pause)
                await self._sleep(self._stopping, pause)
                idle = False
                continue
            if failures:
                self._log.info("%s: working again after %d failed rounds", self.name, failures)
                failures = 0
            if self._batch_size is not None and len(claimed) >= self._batch_size:
                idle = False
                continue
            woken = await self._sleep(self._wake, self._poll_seconds)
            idle = not claimed and not woken

    def _log_failure(self, exc: Exception, failures: int, pause: float) -> None:
        # The first failure and then one in ten: an outage is seen without a line per retry.
        loud = failures == 1 or failures % 10 == 0
        expected = _only(exc, self._expected)
        level = (logging.WARNING if expected else logging.ERROR) if loud else logging.DEBUG
        self._log.log(level, "%s: round failed (try %d, next in %.1fs): %s", self.name, failures, pause,
                      self._describe(exc), exc_info=None if expected else exc)

    @staticmethod
    async def _sleep(event: asyncio.Event, seconds: float) -> bool:
        """Wait up to `seconds` for `event`; whether it was set."""
        try:
            await asyncio.wait_for(event.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True


def _only(exc: Exception, types: tuple[type[Exception], ...]) -> bool:
    """Whether `exc` is of `types`, or a group of nothing else."""
    if isinstance(exc, ExceptionGroup):
        _, rest = exc.split(types)
        return rest is None
    return isinstance(exc, types)
