"""Work that leaves the event loop: signing in a pool of kept worker processes, and checks of
uploaded PDFs each in a fresh, killable process with a memory limit.

Both fork from one forkserver that has already imported pyHanko, so a new process starts in
milliseconds and never inherits the event loop's threads. Signing is pure-Python CPU work
(~20 ms of ASN.1 and PDF handling per document): threads would serialise on the GIL, processes
use every core.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import anyio

from simpul.signatures.signing import SignedDocument, SignJob, sign_job, warm_up

PRELOAD = ["simpul.signatures.signing", "simpul.signatures.verification"]


def _context() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


class WorkerCrashed(Exception):
    pass


class SigningPool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=_context(), initializer=warm_up)

    async def start(self) -> None:
        """Start every worker now rather than on the first documents."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._executor, _ready) for _ in range(self.workers)))

    async def sign(self, job: SignJob, timeout: float) -> SignedDocument:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executor, sign_job, job), timeout)
        except BrokenProcessPool as exc:
            # A worker died (killed, out of memory); the pool cannot recover, a new one can.
            broken, self._executor = self._executor, self._new_executor()
            broken.shutdown(wait=False, cancel_futures=True)
            raise WorkerCrashed("a signing worker died") from exc

    async def close(self) -> None:
        await anyio.to_thread.run_sync(lambda: self._executor.shutdown(wait=True, cancel_futures=True))


def _ready() -> bool:
    return True


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
