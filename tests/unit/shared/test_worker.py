"""The background worker primitive, with in-memory work: fast and without a database."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from simpul.shared.worker import RetryAfter, Worker, backoff_delay, each, periodic


class Work:
    """A queue of items to claim, with a log of what happened; `fail_claims` claims raise."""

    def __init__(self, *items: str, batch: int = 10) -> None:
        self.items = list(items)
        self.batch = batch
        self.claims: list[float] = []
        self.done: list[str] = []
        self.fail_claims = 0

    async def claim(self) -> list[str]:
        self.claims.append(time.monotonic())
        if self.fail_claims:
            self.fail_claims -= 1
            raise ConnectionError("database away")
        taken, self.items = self.items[:self.batch], self.items[self.batch:]
        return taken

    async def handle(self, item: str) -> None:
        self.done.append(item)


async def eventually(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met")
        await asyncio.sleep(0.005)


async def test_a_wake_up_starts_a_round_before_the_poll_interval():
    work = Work()
    worker = Worker("test", claim=work.claim, process=each(work.handle), poll_seconds=30)
    worker.start()
    try:
        await eventually(lambda: len(work.claims) == 1)
        work.items.append("a")
        started = time.monotonic()
        worker.wake()
        await eventually(lambda: work.done == ["a"])
        assert time.monotonic() - started < 1.0
    finally:
        await worker.stop()


async def test_a_wake_up_from_another_thread_is_safe():
    work = Work()
    worker = Worker("test", claim=work.claim, process=each(work.handle), poll_seconds=30)
    worker.wake()  # before start: nothing to wake, and no harm
    worker.start()
    try:
        await eventually(lambda: len(work.claims) == 1)
        work.items.append("a")
        await asyncio.to_thread(worker.wake)
        await eventually(lambda: work.done == ["a"])
    finally:
        await worker.stop()


async def test_a_full_batch_is_followed_by_the_next_claim_at_once():
    work = Work(*"abcdefg", batch=3)
    worker = Worker("test", claim=work.claim, process=each(work.handle), poll_seconds=30, batch_size=3)
    worker.start()
    try:
        await eventually(lambda: len(work.done) == 7, timeout=1.0)
    finally:
        await worker.stop()
    assert work.done == list("abcdefg")


async def test_failures_back_off_exponentially_and_a_wake_does_not_cut_it_short(caplog):
    work = Work("a")
    work.fail_claims = 3
    worker = Worker("flaky-worker", claim=work.claim, process=each(work.handle), poll_seconds=30,
                    backoff_base=0.08, backoff_cap=10, expected=(ConnectionError,))
    with caplog.at_level(logging.DEBUG, logger="simpul.worker"):
        worker.start()
        try:
            await eventually(lambda: len(work.claims) == 2)
            worker.wake()
            await eventually(lambda: work.done == ["a"])
        finally:
            await worker.stop()
    pauses = [later - earlier for earlier, later in zip(work.claims, work.claims[1:])]
    assert len(pauses) == 3
    # backoff_delay(n) is between half and all of base * 2^(n-1): 0.04-0.08, 0.08-0.16, 0.16-0.32 s.
    for n, pause in enumerate(pauses, start=1):
        assert pause >= 0.08 * 2 ** (n - 1) / 2 - 0.01
    failures = [record for record in caplog.records if "round failed" in record.getMessage()]
    assert [record.levelno for record in failures] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert all(record.getMessage().startswith("flaky-worker: ") for record in failures)
    assert "ConnectionError: database away" in failures[0].getMessage()
    assert failures[0].exc_info is None  # an expected failure: one line, no traceback
    assert any(record.getMessage() == "flaky-worker: working again after 3 failed rounds" for record in caplog.records)


async def test_a_failing_batch_does_not_end_the_loop(caplog):
    work = Work("a", "bad", "c")
    calls = []

    async def handle(item: str) -> None:
        calls.append(item)
        if item == "bad" and calls.count("bad") == 1:
            raise ValueError("bug")
        work.done.append(item)

    worker = Worker("test", claim=work.claim, process=each(handle), poll_seconds=0.01, backoff_base=0.01)
    worker.start()
    try:
        await eventually(lambda: "c" in work.done)
        await eventually(lambda: len(work.claims) >= 3)  # still going after the failure
        work.items.append("bad")
        await eventually(lambda: "bad" in work.done)
    finally:
        await worker.stop()
    assert work.done == ["a", "c", "bad"]  # the other items of the failing batch got their turn
    (failure,) = [record for record in caplog.records if "round failed" in record.getMessage()]
    assert failure.levelno == logging.ERROR and failure.exc_info is not None  # unexpected: with its traceback


async def test_retry_after_sets_the_pause_and_is_left_to_the_step_to_log(caplog):
    work = Work()
    claims = []

    async def claim() -> list[str]:
        claims.append(time.monotonic())
        if len(claims) == 1:
            raise RetryAfter(0.3, "destination down")
        return []

    worker = Worker("test", claim=claim, process=each(work.handle), poll_seconds=30, backoff_base=0.001)
    worker.start()
    try:
        await eventually(lambda: len(claims) == 2)
    finally:
        await worker.stop()
    assert claims[1] - claims[0] >= 0.29
    assert not [record for record in caplog.records if record.name == "simpul.worker"]


async def test_stop_lets_work_in_flight_finish_and_starts_no_more():
    work = Work("a", "b", batch=1)
    started = asyncio.Event()

    async def slow(item: str) -> None:
        started.set()
        await asyncio.sleep(0.2)
        work.done.append(item)

    worker = Worker("test", claim=work.claim, process=each(slow), poll_seconds=30, batch_size=1)
    worker.start()
    await started.wait()
    await worker.stop()
    assert work.done == ["a"]
    assert len(work.claims) == 1


async def test_stop_cancels_what_outlasts_the_grace_period(caplog):
    work = Work("a")
    cancelled = asyncio.Event()

    async def forever(item: str) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    worker = Worker("stuck", claim=work.claim, process=each(forever), poll_seconds=30, grace_seconds=0.1)
    worker.start()
    await eventually(lambda: len(work.claims) == 1)
    await asyncio.sleep(0.01)
    started = time.monotonic()
    await worker.stop()
    assert time.monotonic() - started < 2.0
    assert cancelled.is_set()
    assert any("stuck: work in flight did not finish" in record.getMessage() for record in caplog.records)


async def test_stop_ends_a_backoff_at_once_and_is_idempotent():
    work = Work()
    work.fail_claims = 100
    worker = Worker("test", claim=work.claim, process=each(work.handle), poll_seconds=30,
                    backoff_base=60, backoff_cap=60)
    await worker.stop()  # never started: nothing to do
    worker.start()
    await eventually(lambda: len(work.claims) == 1)
    started = time.monotonic()
    await worker.stop()
    await worker.stop()
    assert time.monotonic() - started < 1.0
    assert len(work.claims) == 1


async def test_on_idle_runs_after_a_poll_interval_without_work():
    work = Work("a")
    idled = []

    async def on_idle() -> None:
        idled.append(list(work.done))

    worker = Worker("test", claim=work.claim, process=each(work.handle), poll_seconds=0.05, on_idle=on_idle)
    worker.start()
    try:
        await eventually(lambda: len(idled) >= 2)
    finally:
        await worker.stop()
    assert idled[0] == ["a"]


async def test_periodic_ticks_every_interval_and_survives_a_failing_tick():
    ticks = []

    async def tick() -> None:
        ticks.append(time.monotonic())
        if len(ticks) == 2:
            raise ConnectionError("database away")

    worker = periodic("upkeep", tick, seconds=0.05, backoff_base=0.01, backoff_cap=0.05)
    worker.start()
    try:
        await eventually(lambda: len(ticks) >= 4)
    finally:
        await worker.stop()
    assert ticks[1] - ticks[0] >= 0.04


async def test_each_bounds_concurrency_and_keeps_the_order_of_starting():
    in_flight = 0
    most = 0
    order = []

    async def handle(item: int) -> None:
        nonlocal in_flight, most
        order.append(item)
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01 * (item % 3))
        in_flight -= 1

    await each(handle, concurrency=3)(list(range(10)))
    assert most == 3
    assert order == list(range(10))

    await each(handle)(list(range(5)))
    assert most == 3 and order[10:] == list(range(5))


async def test_each_raises_every_failure_after_every_item_had_its_turn():
    seen = []

    async def handle(item: int) -> None:
        seen.append(item)
        if item % 2:
            raise ValueError(item)

    with pytest.raises(ExceptionGroup) as raised:
        await each(handle, concurrency=2)([1, 2, 3, 4])
    assert sorted(seen) == [1, 2, 3, 4]
    assert sorted(exc.args[0] for exc in raised.value.exceptions) == [1, 3]
    with pytest.raises(ValueError):
        await each(handle)([1, 2])


def test_backoff_grows_with_jitter_and_is_capped():
    for attempts in range(1, 12):
        delay = backoff_delay(attempts, base=0.5, cap=30)
        nominal = min(30, 0.5 * 2 ** (attempts - 1))
        assert nominal / 2 <= delay <= nominal
    assert len({backoff_delay(5, base=1, cap=60) for _ in range(20)}) > 1
