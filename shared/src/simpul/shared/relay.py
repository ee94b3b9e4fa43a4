"""The outbox relay: publishes a service's staged events at least once, in order, with backoff.

A service stages events in its `outbox` table inside the transaction of the change
(`simpul.shared.events.stage_event`). The relay, a background task of the same process, reads
unpublished rows in `position` order, hands them to a transport and marks them published only
once the transport has confirmed them. It publishes strictly in sequence, so events of one
subject arrive in the order they were staged. While the destination is down it backs off; the
backoff is kept on the rows (`attempts`, `next_attempt_at`, `last_error`), so it survives a
restart and shows where events are stuck.

Start it from a service's lifespan:

    start_relay, stop_relay = relay_hooks(outbox)
    create_service_app(..., on_startup=[start_relay], on_shutdown=[stop_relay])

Two transports share one interface: `HttpTransport` pushes batches to the notifications
service's `/internal/events` (the embedded default) and `relay_amqp.AmqpTransport` publishes to
RabbitMQ when `SIMPUL_EVENT_BROKER=amqp://...`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Table, delete, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from simpul.shared.db import utcnow
from simpul.shared.events import SPEC_VERSION
from simpul.shared.internal import InternalClient
from simpul.shared.settings import BaseServiceSettings
from simpul.shared.transport import Transport, TransportError
from simpul.shared.worker import backoff_delay

log = logging.getLogger("simpul.relay")

Hook = Callable[[FastAPI], Awaitable[None]]

EVENTS_PATH = "/internal/events"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"


class HttpTransport:
    """Pushes batches (CloudEvents JSON batch format) to a service's internal events endpoint."""

    def __init__(self, base_url: str, *, caller: str, secret: str, target: str = "notifications",
                 path: str = EVENTS_PATH, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._path = path
        self._client = InternalClient(caller=caller, target=target, base_url=base_url, secret=secret,
                                      timeout=httpx.Timeout(timeout, connect=2.0), transport=transport)

    async def publish(self, events: Sequence[dict[str, Any]]) -> None:
        try:
            response = await self._client.request(
                "POST", self._path, json=list(events), headers={"Content-Type": BATCH_CONTENT_TYPE}
            )
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise TransportError(f"HTTP {response.status_code} from {self._path}")

    async def aclose(self) -> None:
        await self._client.aclose()


def envelope_of(row: Any) -> dict[str, Any]:
    """The published form of an outbox row (CloudEvents attribute names)."""
    return {
        "specversion": SPEC_VERSION,
        "id": row.id,
        "type": row.type,
        "source": row.source,
        "subject": row.subject,
        "occurred_at": row.occurred_at.isoformat(),
        "datacontenttype": "application/json",
        "data": row.data,
    }


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        read_sessions: async_sessionmaker[AsyncSession],
        table: Table,
        transport: Transport,
        *,
        batch_size: int = 100,
        poll_interval: float = 0.5,
        backoff_base: float = 0.25,
        backoff_cap: float = 30.0,
        retention: timedelta = timedelta(days=7),
    ) -> None:
        self._sessions = sessions
        self._read_sessions = read_sessions
        self._table = table
        self.transport = transport
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._retention = retention
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._last_purge: float | None = None
        # When the first unpublished row may be tried again, while the destination is down.
        self._retry_at: datetime | None = None

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll; safe from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def watch(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Wake the relay after every commit of a session from `sessions` that staged an event.

        The factory gets its own Session subclass so the listeners see only this app's sessions
        (several apps may share a process in tests).
        """
        base = sessions.kw.get("sync_session_class", Session)
        tracked = type("OutboxWatchedSession", (base,), {})
        table_name = self._table.name

        @sa_event.listens_for(tracked, "do_orm_execute")
        def note_staging(state) -> None:
            if state.is_insert and getattr(state.statement, "table", None) is not None \
                    and state.statement.table.name == table_name:
                state.session.info["simpul_outbox_staged"] = True

        @sa_event.listens_for(tracked, "after_commit")
        def wake_after_commit(session) -> None:
            if session.info.pop("simpul_outbox_staged", False):
                self.wake()

        @sa_event.listens_for(tracked, "after_rollback")
        def forget_after_rollback(session) -> None:
            session.info.pop("simpul_outbox_staged", None)

        sessions.configure(sync_session_class=tracked)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay:{self._table.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.transport.aclose()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; the number published (0: nothing to do, or the
        first row's backoff has not run out yet). Raises `TransportError` after recording it."""
        table = self._table
        async with self._read_sessions() as session:
            rows = (
                await session.execute(
                    select(table).where(table.c.published_at.is_(None)).order_by(table.c.position)
                    .limit(self._batch_size)
                )
            ).all()
        self._retry_at = None
        if not rows:
            return 0
        # The first row carries the backoff: nothing behind it may overtake it.
        first = rows[0]
        if first.next_attempt_at is not None and first.next_attempt_at > utcnow():
            self._retry_at = first.next_attempt_at
            return 0
        positions = [row.position for row in rows]
        try:
            await self.transport.publish([envelope_of(row) for row in rows])
        except TransportError as exc:
            await self._record_failure(positions, first.attempts + 1, str(exc))
            raise
        async with self._sessions.begin() as session:
            await session.execute(
                update(table).where(table.c.position.in_(positions))
                .values(published_at=utcnow(), next_attempt_at=None, last_error=None)
            )
        if first.attempts:
            log.info("outbox %s: destination reachable again after %d attempts", table.name, first.attempts)
        return len(rows)

    async def _record_failure(self, positions: list[int], attempts: int, error: str) -> None:
        delay = backoff_delay(attempts, base=self._backoff_base, cap=self._backoff_cap)
        self._retry_at = utcnow() + timedelta(seconds=delay)
        table = self._table
        async with self._sessions.begin() as session:
            await session.execute(
                update(table).where(table.c.position.in_(positions))
                .values(attempts=table.c.attempts + 1, last_error=error[:1000], next_attempt_at=self._retry_at)
            )
        # One warning when an outage starts and then one in ten, not one per retry.
        level = logging.WARNING if attempts == 1 or attempts % 10 == 0 else logging.DEBUG
        log.log(level, "outbox %s: publishing failed (attempt %d, retry in %.1fs): %s",
                table.name, attempts, delay, error)

    async def _purge_published(self) -> None:
        if self._last_purge is not None and time.monotonic() - self._last_purge < 3600:
            return
        self._last_purge = time.monotonic()
        table = self._table
        async with self._sessions.begin() as session:
            await session.execute(
                delete(table).where(table.c.published_at.is_not(None),
                                    table.c.published_at < utcnow() - self._retention)
            )

    def _wait(self) -> float:
        """Seconds until the next look: the poll interval, or less when a backoff ends sooner."""
        if self._retry_at is None:
            return self._poll_interval
        return max(0.0, min(self._poll_interval, (self._retry_at - utcnow()).total_seconds()))

    async def _run(self) -> None:
        while True:
            # Cleared before looking, so a commit during the step below still wakes the next wait.
            self._wake.clear()
            try:
                published = await self.publish_pending()
                if published == self._batch_size:
                    continue
                await self._purge_published()
                wait = self._wait()
            except TransportError:
                wait = self._wait()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database itself failing; keep the relay alive and try again
                log.exception("outbox %s: relay step failed", self._table.name)
                wait = self._poll_interval
            if wait > 0 and self._retry_at is not None:
                # Backing off: the first unpublished row waits for its retry time and nothing may
                # overtake it, so a commit's wake-up has nothing to publish; looking anyway would
                # read a batch of rows per commit for as long as the destination is down.
                await asyncio.sleep(wait)
            elif wait > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                except TimeoutError:
                    pass


def transport_for(settings: BaseServiceSettings) -> Transport:
    """RabbitMQ when `event_broker` is set, else HTTP push to the notifications service."""
    if settings.event_broker:
        from simpul.shared.relay_amqp import AmqpTransport

        return AmqpTransport(settings.event_broker)
    return HttpTransport(settings.notifications_url, caller=settings.service_name,
                         secret=settings.resolved_internal_secret())


def relay_hooks(table: Table, **options: Any) -> tuple[Hook, Hook]:
    """Start and stop hooks for `create_service_app`: the relay runs for the app's lifetime and
    is at `app.state.relay`. `options` go to `OutboxRelay` (poll_interval, backoff_cap, ...)."""

    async def start(app: FastAPI) -> None:
        relay = OutboxRelay(app.state.sessions, app.state.read_sessions, table,
                            transport_for(app.state.settings), **options)
        relay.watch(app.state.sessions)
        await relay.start()
        app.state.relay = relay

    async def stop(app: FastAPI) -> None:
        relay = getattr(app.state, "relay", None)
        if relay is not None:
            await relay.stop()

    return start, stop
