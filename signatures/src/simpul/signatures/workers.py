"""Work that leaves the event loop: signing in a pool of worker processes, and checks of
uploaded PDFs each in a fresh, killable process with a memory limit.

Both fork from one forkserver that has already imported pyHanko, so a new process starts in
milliseconds and never inherits the event loop's threads. Signing is pure-Python CPU work
(~20 ms of ASN.1 and PDF handling per document): threads would serialise on the GIL, processes
use every core.

Nothing of it runs at start-up: the forkserver starts with the first signing or check, a worker
when every running one is busy (up to `workers`), and the workers stop after `idle_seconds`
without a job. An idle service is its own process only (~80 MB, where the forkserver and two
workers add ~300 MB RSS); the first signing after a start or an idle period pays for the start
(~1 s). The service's process imports neither pyHanko nor the renderer's font and QR libraries:
the workers reach them through the module names below.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import anyio

from simpul.signatures.jobs import SignedDocument, SignJob

PRELOAD = ["simpul.signatures.signing", "simpul.signatures.verification", "pyhanko.sign.validation",
           "pyhanko_certvalidator", "fontTools.subset", "fontTools.ttLib", "qrcode"]


def _context() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _sign_in_worker(job: SignJob) -> SignedDocument:
    from simpul.signatures.signing import sign_job  # preloaded in the worker, never loaded here

    return sign_job(job)


def _warm_up_worker() -> None:
    from simpul.signatures.signing import warm_up

    warm_up()


class WorkerCrashed(Exception):
    pass


class SigningPool:
    def __init__(self, workers: int, idle_seconds: float) -> None:
        self.workers = workers
        self._idle_seconds = idle_seconds
        self._executor: ProcessPoolExecutor | None = None
        self._running = 0
        self._last_done = time.monotonic()
        self._retire_timer: asyncio.TimerHandle | None = None

    @property
    def started(self) -> bool:
        """Whether workers may be running: from the first signing until an idle period ends."""
        return self._executor is not None

    def _current(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # ProcessPoolExecutor starts a forkserver worker per job until `workers` run, not all
            # at once.
            self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=_context(),
                                                 initializer=_warm_up_worker)
        return self._executor

    async def sign(self, job: SignJob, timeout: float) -> SignedDocument:
        loop = asyncio.get_running_loop()
        executor = self._current()
        self._running += 1
        try:
            return await asyncio.wait_for(loop.run_in_executor(executor, _sign_in_worker, job), timeout)
        except BrokenProcessPool as exc:
            # A worker died (killed, out of memory); the pool cannot recover, a new one can.
            if self._executor is executor:
                self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            raise WorkerCrashed("a signing worker died") from exc
        finally:
            self._running -= 1
            self._last_done = time.monotonic()
            if self._retire_timer is None:
                self._retire_timer = loop.call_later(self._idle_seconds, self._retire_if_idle)

    def _retire_if_idle(self) -> None:
        self._retire_timer = None
        if self._executor is None:
            return
        if self._running:
            wait = self._idle_seconds
        else:
            wait = self._idle_seconds - (time.monotonic() - self._last_done)
        if wait > 0:
            self._retire_timer = asyncio.get_running_loop().call_later(wait, self._retire_if_idle)
            return
        # The workers exit once they read the shutdown; nothing is queued, so nothing waits.
        executor, self._executor = self._executor, None
        executor.shutdown(wait=False)

    async def close(self) -> None:
        if self._retire_timer is not None:
            self._retire_timer.cancel()
            self._retire_timer = None
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await anyio.to_thread.run_sync(lambda: executor.shutdown(wait=True, cancel_futures=True))


class IsolatedTimeout(Exception):
    pass


class IsolatedFailure(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind  # "memory" | "crash" | the exception's class name


def _isolated_child(connection, function: Callable[..., Any], args: tuple, memory_bytes: int) -> None:
    # The address space already mapped (interpreter, libraries) plus the allowance.
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    limit = mapped + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        outcome = ("ok", function(*args))
    except MemoryError:
        outcome = ("memory", None)
    except Exception as exc:  # reported to the parent by class name; untrusted input may raise anything
        outcome = ("error", type(exc).__name__)
    try:
        connection.send(outcome)
    finally:
        connection.close()


async def run_isolated(function: Callable[..., Any], *args: Any, timeout: float, memory_bytes: int) -> Any:
    """`function(*args)` in a new process, killed after `timeout` seconds."""
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_isolated_child, args=(sender, function, args, memory_bytes), daemon=True)
    await anyio.to_thread.run_sync(process.start)
    sender.close()
    try:
        ready = await anyio.to_thread.run_sync(receiver.poll, timeout)
        if not ready:
            raise IsolatedTimeout()
        try:
            status, value = await anyio.to_thread.run_sync(receiver.recv)
        except EOFError as exc:
            raise IsolatedFailure("crash") from exc
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        await anyio.to_thread.run_sync(process.join)
        process.close()
    if status == "ok":
        return value
    raise IsolatedFailure(status if status == "memory" else str(value))
