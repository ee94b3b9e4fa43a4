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
from collections.abc import Awaitable, Iterable, Sequence
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
from simpul.shared.worker import backoff_delay

log = logging.getLogger("simpul.notifications.dispatch")

BATCH_SIZE = 50
SMTP_KEEPALIVE_SECONDS = 30.0


async def _all_settled(work: Iterable[Awaitable[Any]]) -> list[Any]:
    """Run concurrently and wait for every one, even when some fail: each records its own
    outcome, and a failure (the database, say) must not leave the others unwatched. A failed
    one counts as False; its rows stay claimed until the lease runs out."""
    results = await asyncio.gather(*work, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            log.error("dispatch step failed", exc_info=result)
    return [False if isinstance(result, Exception) else result for result in results]


class Dispatcher(ABC):
    """The loop shared by both channels: wait for work (woken by the intake, or on a poll),
    dispatch a batch, repeat."""

    channel: str

    def __init__(self, database: Database, settings: NotificationsSettings) -> None:
        self._db = database
        self._settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"dispatch:{self.channel}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    @abstractmethod
    async def dispatch_batch(self) -> int:
        """Claim due deliveries and attempt each; the number claimed."""

    async def _idle(self) -> None:
        """Called after a poll interval passed without work."""

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                handled = await self.dispatch_batch()
            except asyncio.CancelledError:
                raise
            except Exception:  # e.g. the database briefly unavailable; the rows stay due
                log.exception("%s dispatch failed", self.channel)
                handled = 0
            if handled == BATCH_SIZE:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.dispatch_poll_seconds)
            except TimeoutError:
                if not handled:
                    await self._idle()

    async def _claim(self, *columns: Any) -> tuple[str, list[Any]]:
        """Take up to a batch of due deliveries (one statement); `columns` of each, in order."""
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
                .returning(deliveries.c.position, *columns)
            )).all()
        return token, sorted(rows, key=lambda row: row.position)

    async def _finish(self, row: Any, token: str, *, status: str, attempt: int | None, error: str | None,
                      next_attempt_at: datetime | None = None, started_at: datetime | None = None,
                      duration_ms: int = 0, status_code: int | None = None, outcome: str | None = None) -> None:
        """Record one attempt's outcome (and the attempt itself) on a claimed delivery."""
        now = utcnow()
        values: dict[str, Any] = {"status": status, "claim": None, "updated_at": now, "last_error": error,
                                  "next_attempt_at": next_attempt_at or now}
        if attempt is not None:
            values["attempts"] = attempt
        if status != "pending":
            values["completed_at"] = now
        async with self._db.begin() as session:
            updated = await session.execute(
                update(deliveries).where(deliveries.c.id == row.id, deliveries.c.claim == token).values(**values))
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
    all mail to one address on the same connection, so an applicant's mails keep their order."""

    channel = "email"

    def __init__(self, database: Database, settings: NotificationsSettings, mailers: Sequence[Mailer]) -> None:
        super().__init__(database, settings)
        self.mailers = list(mailers)
        self._outage = 0
        self._last_send = 0.0

    async def stop(self) -> None:
        await super().stop()
        await asyncio.gather(*(mailer.close() for mailer in self.mailers))

    async def _idle(self) -> None:
        # Keep the SMTP connections while mail flows (a new one costs several round trips), but
        # don't hold them open for nothing.
        if asyncio.get_running_loop().time() - self._last_send > SMTP_KEEPALIVE_SECONDS:
            await asyncio.gather(*(mailer.close() for mailer in self.mailers))

    async def dispatch_batch(self) -> int:
        if self._outage:
            # The server was unreachable: wait before trying it again.
            settings = self._settings
            await asyncio.sleep(backoff_delay(self._outage, base=settings.email_retry_base_seconds,
                                              cap=settings.email_retry_max_delay_seconds))
        token, rows = await self._claim(deliveries.c.id, deliveries.c.recipient, deliveries.c.content,
                                        deliveries.c.attempts, deliveries.c.give_up_at)
        lanes: list[list[Any]] = [[] for _ in self.mailers]
        for row in rows:
            lanes[zlib.crc32(row.recipient.encode()) % len(lanes)].append(row)
        reachable = await _all_settled(self._send_lane(mailer, lane, token)
                                       for mailer, lane in zip(self.mailers, lanes, strict=True) if lane)
        if not all(reachable):
            self._outage += 1
        elif rows:
            if self._outage:
                log.info("mail server reachable again after %d failed tries", self._outage)
            self._outage = 0
        return len(rows)

    async def _send_lane(self, mailer: Mailer, rows: list[Any], token: str) -> bool:
        """In order on one connection; False (the rest released) once the server is unavailable."""
        for index, row in enumerate(rows):
            if not await self._send(mailer, row, token):
                await self._release(rows[index + 1:], token)
                return False
        return True

    async def _send(self, mailer: Mailer, row: Any, token: str) -> bool:
        """Send one message and record the outcome; False when the server is unavailable."""
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
            await self._finish(row, token, status=status, attempt=attempt, error=str(exc), next_attempt_at=now,
                               started_at=started_at, duration_ms=elapsed(), outcome="retry" if status == "pending" else None)
            if self._outage == 0:
                log.warning("mail server unavailable, mail waits: %s", exc)
            return False
        except MailDeferred as exc:
            status, due = self._retry_or_fail(row, attempt, utcnow(), base=settings.email_retry_base_seconds,
                                              cap=settings.email_retry_max_delay_seconds)
            await self._finish(row, token, status=status, attempt=attempt, error=str(exc), next_attempt_at=due,
                               started_at=started_at, duration_ms=elapsed(), outcome="retry" if status == "pending" else None)
            return True
        except MailRejected as exc:
            await self._finish(row, token, status="failed", attempt=attempt, error=str(exc), started_at=started_at,
                               duration_ms=elapsed())
            return True
        await self._finish(row, token, status=mailer.success_status, attempt=attempt, error=None,
                           started_at=started_at, duration_ms=elapsed())
        return True

    async def _release(self, rows: Sequence[Any], token: str) -> None:
        if not rows:
            return
        async with self._db.begin() as session:
            await session.execute(
                update(deliveries).where(deliveries.c.id.in_([row.id for row in rows]), deliveries.c.claim == token)
                .values(claim=None, next_attempt_at=utcnow()))


class WebhookDispatcher(Dispatcher):
    channel = "webhook"

    def __init__(self, database: Database, settings: NotificationsSettings,
                 client: WebhookClient) -> None:
        super().__init__(database, settings)
        self.client = client

    async def stop(self) -> None:
        await super().stop()
        await self.client.close()

    async def dispatch_batch(self) -> int:
        token, claimed = await self._claim(deliveries.c.id)
        if not claimed:
            return 0
        async with self._db.read() as connection:
            rows = (await connection.execute(
                select(deliveries.c.id, deliveries.c.attempts, deliveries.c.give_up_at, notifications.c.payload,
                       webhook_subscriptions.c.url, webhook_subscriptions.c.secret,
                       webhook_subscriptions.c.previous_secret, webhook_subscriptions.c.previous_secret_expires_at,
                       webhook_subscriptions.c.deleted_at)
                .select_from(deliveries.join(notifications, notifications.c.id == deliveries.c.notification_id)
                             .join(webhook_subscriptions, webhook_subscriptions.c.id == deliveries.c.subscription_id))
                .where(deliveries.c.id.in_([row.id for row in claimed]))
            )).all()
        await _all_settled(self._deliver(row, token) for row in rows)
        return len(claimed)

    async def _deliver(self, row: Any, token: str) -> None:
        settings = self._settings
        if row.deleted_at is not None:
            await self._finish(row, token, status="failed", attempt=None, error="subscription deleted")
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
        await self._finish(row, token, status=status, attempt=attempt, error=result.error, next_attempt_at=due,
                           started_at=now, duration_ms=result.duration_ms, status_code=result.status_code,
                           outcome="retry" if status == "pending" else None)
