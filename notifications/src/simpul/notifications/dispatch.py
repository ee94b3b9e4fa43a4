"""Dispatchers: background tasks that send due deliveries, with retries, and log every attempt.

A dispatcher claims a batch of due rows by moving their `next_attempt_at` a lease ahead under a
claim token (a compare-and-set, so two processes never take the same row); after a crash the
lease runs out and the rows are due again. Each outcome is written right after its attempt, so
only messages in flight at the instant of a crash can go out twice, and then with the same
Message-ID / webhook-id, by which receivers recognise them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import insert, select, update

from simpul.notifications.database import Database
from simpul.notifications.mail import MailDeferred, Mailer, MailRejected, MailUnavailable, build_message
from simpul.notifications.models import deliveries, delivery_attempts, notifications, webhook_subscriptions
from simpul.notifications.settings import NotificationsSettings
from simpul.notifications.webhooks import AttemptResult, WebhookClient, sign
from simpul.shared.db import utcnow
from simpul.shared.worker import Worker, backoff_delay, each

log = logging.getLogger("simpul.notifications.dispatch")

BATCH_SIZE = 50
SMTP_KEEPALIVE_SECONDS = 30.0


class Dispatcher(ABC):
    """What both channels share: a worker (`self.worker`) whose round claims a batch of the
    channel's due deliveries, woken by the intake or on a poll; recording an attempt's outcome."""

    channel: str

    def __init__(self, database: Database, settings: NotificationsSettings, **worker_options: Any) -> None:
        self._db = database
        self._settings = settings
        self.worker = Worker(f"dispatch:{self.channel}", claim=self._claim_due, process=self._dispatch,
                             poll_seconds=settings.dispatch_poll_seconds, batch_size=BATCH_SIZE, logger=log,
                             **worker_options)

    async def stop(self) -> None:
        """Stop the worker, then close the channel's connections."""
        await self.worker.stop()

    @abstractmethod
    async def _claim_due(self) -> Sequence[Any]:
        """Up to a batch of due deliveries, claimed (`_claim`)."""

    @abstractmethod
    async def _dispatch(self, rows: Sequence[Any]) -> None:
        """Attempt each claimed delivery and record its outcome."""

    async def _claim(self, *columns: Any) -> Sequence[Any]:
        """Take up to a batch of due deliveries (one statement); of each its `position`, its
        `claim` token and `columns`, in position order."""
        now = utcnow()
        token = str(uuid.uuid4())
        due = (select(deliveries.c.id)
               .where(deliveries.c.channel == self.channel, deliveries.c.status == "pending",
                      deliveries.c.next_attempt_at <= now)
               .order_by(deliveries.c.position).limit(BATCH_SIZE))
        async with self._db.begin() as connection:
            rows = (await connection.execute(
                update(deliveries)
                # Checked again on the row itself: on PostgreSQL a concurrent claimer may have
                # taken it between the subquery and the update.
                .where(deliveries.c.id.in_(due), deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
                .values(claim=token, next_attempt_at=now + timedelta(seconds=self._settings.delivery_lease_seconds))
                .returning(deliveries.c.position, deliveries.c.claim, *columns)
            )).all()
        return sorted(rows, key=lambda row: row.position)

    async def _finish(self, row: Any, *, status: str, attempt: int | None, error: str | None,
                      next_attempt_at: datetime | None = None, started_at: datetime | None = None,
                      duration_ms: int = 0, status_code: int | None = None, outcome: str | None = None) -> None:
        """Record one attempt's outcome (and the attempt itself) on a delivery claimed as `row.claim`."""
        now = utcnow()
        values: dict[str, Any] = {"status": status, "claim": None, "updated_at": now, "last_error": error,
                                  "next_attempt_at": next_attempt_at or now}
        if attempt is not None:
            values["attempts"] = attempt
        if status != "pending":
            values["completed_at"] = now
        async with self._db.begin() as session:
            updated = await session.execute(
                update(deliveries).where(deliveries.c.id == row.id, deliveries.c.claim == row.claim).values(**values))
            if updated.rowcount != 1:
                log.warning("%s delivery %s: lease lost before its outcome was recorded", self.channel, row.id)
                return
            if attempt is not None:
                await session.execute(insert(delivery_attempts).values(
                    delivery_id=row.id, attempt=attempt, started_at=started_at or now, duration_ms=duration_ms,
                    status_code=status_code, error=error, outcome=outcome or status))

    def _retry_or_fail(self, row: Any, attempt: int, now: datetime, *, base: float, cap: float) -> tuple[str, datetime]:
        if now >= row.give_up_at:
            return "failed", now
        return "pending", now + timedelta(seconds=backoff_delay(attempt, base=base, cap=cap))


class EmailDispatcher(Dispatcher):
    """Sends over a few SMTP connections at once (each round trip waits on the server), with
    all mail to one address on the same connection, so an applicant's mails keep their order.
    While the server is unavailable the worker backs off (the email retry settings) before
    claiming again."""

    channel = "email"

    def __init__(self, database: Database, settings: NotificationsSettings, mailers: Sequence[Mailer]) -> None:
        super().__init__(database, settings, backoff_base=settings.email_retry_base_seconds,
                         backoff_cap=settings.email_retry_max_delay_seconds, expected=(MailUnavailable,),
                         on_idle=self._close_idle_connections)
        self.mailers = list(mailers)
        self._last_send = 0.0

    async def stop(self) -> None:
        await super().stop()
        await asyncio.gather(*(mailer.close() for mailer in self.mailers))

    async def _close_idle_connections(self) -> None:
        # Keep the SMTP connections while mail flows (a new one costs several round trips), but
        # don't hold them open for nothing.
        if asyncio.get_running_loop().time() - self._last_send > SMTP_KEEPALIVE_SECONDS:
            await asyncio.gather(*(mailer.close() for mailer in self.mailers))

    async def _claim_due(self) -> Sequence[Any]:
        return await self._claim(deliveries.c.id, deliveries.c.recipient, deliveries.c.content,
                                 deliveries.c.attempts, deliveries.c.give_up_at)

    async def _dispatch(self, rows: Sequence[Any]) -> None:
        lanes: list[list[Any]] = [[] for _ in self.mailers]
        for row in rows:
            lanes[zlib.crc32(row.recipient.encode()) % len(lanes)].append(row)
        await each(self._send_lane, concurrency=len(lanes))(
            [(mailer, lane) for mailer, lane in zip(self.mailers, lanes, strict=True) if lane])

    async def _send_lane(self, lane: tuple[Mailer, list[Any]]) -> None:
        """In order on one connection; once the server is unavailable the rest is released and
        MailUnavailable raised."""
        mailer, rows = lane
        for index, row in enumerate(rows):
            try:
                await self._send(mailer, row)
            except MailUnavailable:
                await self._release(rows[index + 1:])
                raise

    async def _send(self, mailer: Mailer, row: Any) -> None:
        """Send one message and record the outcome; MailUnavailable (recorded) goes on to the caller."""
        settings = self._settings
        attempt = row.attempts + 1
        started_at = utcnow()
        message = build_message(delivery_id=row.id, recipient=row.recipient, content=row.content,
                                mail_from=settings.mail_from)
        clock = asyncio.get_running_loop().time()

        def elapsed() -> int:
            return int((asyncio.get_running_loop().time() - clock) * 1000)

        self._last_send = asyncio.get_running_loop().time()
        try:
            await mailer.send(row.id, message)
        except MailUnavailable as exc:
            now = utcnow()
            # Due again at once: the channel-wide backoff decides when the server is tried next.
            status = "failed" if now >= row.give_up_at else "pending"
            await self._finish(row, status=status, attempt=attempt, error=str(exc), next_attempt_at=now,
                               started_at=started_at, duration_ms=elapsed(), outcome="retry" if status == "pending" else None)
            raise
        except MailDeferred as exc:
            status, due = self._retry_or_fail(row, attempt, utcnow(), base=settings.email_retry_base_seconds,
                                              cap=settings.email_retry_max_delay_seconds)
            await self._finish(row, status=status, attempt=attempt, error=str(exc), next_attempt_at=due,
                               started_at=started_at, duration_ms=elapsed(), outcome="retry" if status == "pending" else None)
            return
        except MailRejected as exc:
            await self._finish(row, status="failed", attempt=attempt, error=str(exc), started_at=started_at,
                               duration_ms=elapsed())
            return
        await self._finish(row, status=mailer.success_status, attempt=attempt, error=None,
                           started_at=started_at, duration_ms=elapsed())

    async def _release(self, rows: Sequence[Any]) -> None:
        if not rows:
            return
        async with self._db.begin() as session:
            await session.execute(
                update(deliveries)
                .where(deliveries.c.id.in_([row.id for row in rows]), deliveries.c.claim == rows[0].claim)
                .values(claim=None, next_attempt_at=utcnow()))


class WebhookDispatcher(Dispatcher):
    """Posts every claimed delivery at once, each recording its own outcome."""

    channel = "webhook"

    def __init__(self, database: Database, settings: NotificationsSettings,
                 client: WebhookClient) -> None:
        super().__init__(database, settings)
        self.client = client

    async def stop(self) -> None:
        await super().stop()
        await self.client.close()

    async def _claim_due(self) -> Sequence[Any]:
        claimed = await self._claim(deliveries.c.id)
        if not claimed:
            return []
        async with self._db.read() as connection:
            return (await connection.execute(
                select(deliveries.c.id, deliveries.c.claim, deliveries.c.attempts, deliveries.c.give_up_at,
                       notifications.c.payload, webhook_subscriptions.c.url, webhook_subscriptions.c.secret,
                       webhook_subscriptions.c.previous_secret, webhook_subscriptions.c.previous_secret_expires_at,
                       webhook_subscriptions.c.deleted_at)
                .select_from(deliveries.join(notifications, notifications.c.id == deliveries.c.notification_id)
                             .join(webhook_subscriptions, webhook_subscriptions.c.id == deliveries.c.subscription_id))
                .where(deliveries.c.id.in_([row.id for row in claimed]))
            )).all()

    async def _dispatch(self, rows: Sequence[Any]) -> None:
        await each(self._deliver, concurrency=BATCH_SIZE)(rows)

    async def _deliver(self, row: Any) -> None:
        settings = self._settings
        if row.deleted_at is not None:
            await self._finish(row, status="failed", attempt=None, error="subscription deleted")
            return
        now = utcnow()
        signing = [row.secret]
        if row.previous_secret and row.previous_secret_expires_at and row.previous_secret_expires_at > now:
            signing.append(row.previous_secret)
        body = orjson.dumps(row.payload)
        headers = {
            "content-type": "application/json",
            "webhook-id": row.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": sign(signing, row.id, now, body.decode()),
        }
        result: AttemptResult = await self.client.post(row.url, body, headers)
        attempt = row.attempts + 1
        if result.delivered:
            status, due = "delivered", None
        else:
            status, due = self._retry_or_fail(row, attempt, utcnow(), base=settings.webhook_retry_base_seconds,
                                              cap=settings.webhook_retry_max_delay_seconds)
        await self._finish(row, status=status, attempt=attempt, error=result.error, next_attempt_at=due,
                           started_at=now, duration_ms=result.duration_ms, status_code=result.status_code,
                           outcome="retry" if status == "pending" else None)
