"""The outbox relay: publishes a service's staged events at least once, in order, with backoff.

A service stages events in its `outbox` table inside the transaction of the change
(`simpul.shared.events.stage_event`). The relay, a background task of the same process, reads
unpublished rows in `position` order, hands them to a transport and marks them published only
once the transport has confirmed them. It publishes strictly in sequence, so events of one
subject arrive in the order they were staged. While the destination is down it backs off; the
backoff is kept on the rows (`attempts`, `next_attempt_at`, `last_error`), so it survives a
restart and shows where events are stuck. A destination that refuses an event for good (a 4xx
but 401/403/408/409/425/429) would refuse it for ever: the batch is sent again one event at a
time and each event refused on its own is set aside, marked done with `last_error` starting
"refused for good: " and logged as an error, kept past the purge.

Replicas: on PostgreSQL a relay publishes only while it holds its outbox's advisory lock
(`simpul.shared.db.HeldLock`), so one replica at a time publishes an outbox and the order per
subject holds. The others try to take the lock every second; when the holder dies its
connection closes, PostgreSQL releases the lock and another replica publishes about a second
later. The holder reads the outbox on the lock's own connection, so a lost lock connection stops
it before it publishes anything more. SQLite has one process: no lock.

A service starts one on start-up and stops it on shutdown (submissions' and signatures' `app.py`),
with `transport_for(settings)`.

Two transports share one interface: `HttpTransport` pushes batches to the notifications
service's `/internal/events` (the embedded default) and `relay_amqp.AmqpTransport` publishes to
RabbitMQ when `SIMPUL_EVENT_BROKER=amqp://...`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from simpul.shared.balance import Balancer
from simpul.shared.db import HeldLock, utcnow
from simpul.shared.events import SPEC_VERSION
from simpul.shared.internal import InternalClient, refused_for_good
from simpul.shared.settings import BaseServiceSettings
from simpul.shared.transport import RefusedForGood, Transport, TransportError
from simpul.shared.worker import RetryAfter, Worker, backoff_delay

log = logging.getLogger("simpul.relay")


EVENTS_PATH = "/internal/events"
# On a row the destination refused for good (see OutboxRelay._set_aside).
SET_ASIDE_PREFIX = "refused for good: "
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
        if refused_for_good(response.status_code):
            raise RefusedForGood(f"HTTP {response.status_code} from {self._path}: {response.text[:300]}")
        if not response.is_success:
            raise TransportError(f"HTTP {response.status_code} from {self._path}")

    @property
    def balancer(self) -> Balancer:
        return self._client.balancer

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
    """The relay of one outbox table: a `simpul.shared.worker.Worker` whose batch is the next
    unpublished rows, in order. It reads them rather than claims them, since the order needs one
    publisher per outbox: on PostgreSQL the one replica holding the outbox's lock (see the
    module). A repeat after a takeover (rows published but not yet marked) carries the same
    event ids, which consumers drop."""

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
        lock_retry_seconds: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._read_sessions = read_sessions
        self._table = table
        self.transport = transport
        self._batch_size = batch_size
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._retention = retention
        self._last_purge: float | None = None
        engine = sessions.kw["bind"]
        self._lock = None if engine.dialect.name == "sqlite" else HeldLock(
            engine, f"simpul:outbox:{table.fullname}", retry_seconds=lock_retry_seconds)
        self._worker = Worker(
            f"outbox-relay:{table.name}", claim=self._claim, process=self._publish,
            poll_seconds=poll_interval, batch_size=batch_size, backoff_base=backoff_base,
            backoff_cap=backoff_cap, logger=log,
        )

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll; safe from any thread."""
        self._worker.wake()

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
        self._worker.start()

    async def stop(self) -> None:
        await self._worker.stop()
        if self._lock is not None:
            await self._lock.release()  # another replica takes over within its retry interval
        await self.transport.aclose()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; the number published. Raises `RetryAfter` while
        the first row's backoff lasts, and after recording a failure on the rows."""
        rows = await self._unpublished()
        if rows:
            await self._publish(rows)
        return len(rows)

    async def _claim(self) -> Sequence[Any]:
        # Reads rather than claims (see the class); the purge rides along once an hour.
        await self._purge_published()
        return await self._unpublished()

    async def _unpublished(self) -> Sequence[Any]:
        table = self._table
        query = (select(table).where(table.c.published_at.is_(None)).order_by(table.c.position)
                 .limit(self._batch_size))
        if self._lock is None:
            async with self._read_sessions() as session:
                rows = (await session.execute(query)).all()
        else:
            connection = await self._lock.acquire()
            if connection is None:
                return []  # another replica publishes this outbox
            try:
                rows = (await connection.execute(query)).all()
            except Exception:
                log.warning("outbox %s: the publisher lock's connection failed; publishing stops until "
                            "the lock is taken again", table.name)
                await self._lock.release()
                raise
        # The first row carries the backoff: nothing behind it may overtake it. Until it runs out
        # a commit's wake-up has nothing to publish, so the worker sleeps through those.
        retry_at = rows[0].next_attempt_at if rows else None
        if retry_at is not None and retry_at > utcnow():
            raise RetryAfter((retry_at - utcnow()).total_seconds(), "the first unpublished row is backing off")
        return rows

    async def _publish(self, rows: Sequence[Any]) -> None:
        table = self._table
        first = rows[0]
        positions = [row.position for row in rows]
        try:
            await self.transport.publish([envelope_of(row) for row in rows])
        except RefusedForGood as exc:
            if len(rows) > 1:
                # One at a time, in order: only the events refused on their own are set aside.
                for row in rows:
                    await self._publish([row])
                return
            await self._set_aside(first, str(exc))
            return
        except TransportError as exc:
            delay = await self._record_failure(positions, first.attempts + 1, str(exc))
            raise RetryAfter(delay, str(exc)) from exc
        async with self._sessions.begin() as session:
            await session.execute(
                update(table).where(table.c.position.in_(positions))
                .values(published_at=utcnow(), next_attempt_at=None, last_error=None)
            )
        if first.attempts:
            log.info("outbox %s: destination reachable again after %d attempts", table.name, first.attempts)

    async def _set_aside(self, row: Any, error: str) -> None:
        """The dead letter of the sender's side: the row leaves the queue (it must not hold back
        the events behind it) with the refusal kept on it, and outlives the purge."""
        table = self._table
        async with self._sessions.begin() as session:
            await session.execute(
                update(table).where(table.c.position == row.position)
                .values(published_at=utcnow(), next_attempt_at=None, attempts=table.c.attempts + 1,
                        last_error=(SET_ASIDE_PREFIX + error)[:1000])
            )
        log.error("outbox %s: event %s (%s) refused for good and set aside: %s",
                  table.name, row.id, row.type, error)

    async def _record_failure(self, positions: list[int], attempts: int, error: str) -> float:
        delay = backoff_delay(attempts, base=self._backoff_base, cap=self._backoff_cap)
        table = self._table
        async with self._sessions.begin() as session:
            await session.execute(
                update(table).where(table.c.position.in_(positions))
                .values(attempts=table.c.attempts + 1, last_error=error[:1000],
                        next_attempt_at=utcnow() + timedelta(seconds=delay))
            )
        # One warning when an outage starts and then one in ten, not one per retry.
        level = logging.WARNING if attempts == 1 or attempts % 10 == 0 else logging.DEBUG
        log.log(level, "outbox %s: publishing failed (attempt %d, retry in %.1fs): %s",
                table.name, attempts, delay, error)
        return delay

    async def _purge_published(self) -> None:
        if self._last_purge is not None and time.monotonic() - self._last_purge < 3600:
            return
        self._last_purge = time.monotonic()
        table = self._table
        async with self._sessions.begin() as session:
            await session.execute(
                delete(table).where(table.c.published_at.is_not(None),
                                    table.c.published_at < utcnow() - self._retention,
                                    or_(table.c.last_error.is_(None),
                                        table.c.last_error.not_like(f"{SET_ASIDE_PREFIX}%")))
            )


def relay_balancers(relay: OutboxRelay | None) -> list[Balancer]:
    """The balancer behind a started relay's HTTP transport, for the metrics (none over AMQP)."""
    transport = relay.transport if relay is not None else None
    return [transport.balancer] if isinstance(transport, HttpTransport) else []


def transport_for(settings: BaseServiceSettings) -> Transport:
    """RabbitMQ when `event_broker` is set, else HTTP push to the notifications service."""
    if settings.event_broker:
        from simpul.shared.relay_amqp import AmqpTransport

        return AmqpTransport(settings.event_broker)
    return HttpTransport(settings.notifications_url, caller=settings.service_name,
                         secret=settings.resolved_internal_secret())
