"""Dispatchers: background tasks that send due deliveries, with retries, and log every attempt.

A delivery is `pending` until due (`next_attempt_at`). A dispatcher claims a batch of due ones in
one statement: each becomes `sending`, its attempt counted, under a claim token and a lease
(`next_attempt_at` moves to the lease's end), committed before anything goes out. The outcome is
committed right after the server's answer: sent / delivered, failed, or pending again with its
retry time. A row still `sending` once its lease has run out was being sent by a process that
died: whether it arrived is unknown, so only then is it sent again, with the same Message-ID /
webhook-id (both the delivery's id), by which receivers recognise a copy they already have. Rows a
dead process had claimed but not reached yet go out the same way, and arrive once.

Mail goes out over several connections, but the moment a message may arrive without its outcome
being on record, from the start of its DATA to the commit of the server's answer, is taken by
one connection at a time (the others meanwhile have the envelope of their next message accepted).
So a crash leaves at most one message whose copy may arrive twice.

A live dispatcher keeps its claim: while it works a batch, a heartbeat moves the lease of the
batch's rows still `sending` forward every third of the lease, so a batch slower than the lease
(a slow server, a starved CPU) is not taken over by another replica and sent twice. Nothing goes
out unless the lease surely still holds: a row the heartbeat found taken over, or any row once a
renewal came too late, is left to whoever claims it next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from simpul.notifications.database import Database
from simpul.notifications.mail import MailDeferred, Mailer, MailRejected, MailUnavailable, build_message
from simpul.notifications.models import DUE, SENDING, deliveries, delivery_attempts, notifications
from simpul.notifications.models import webhook_subscriptions
from simpul.notifications.settings import NotificationsSettings
from simpul.notifications.webhooks import AttemptResult, WebhookClient, secret_context, sign
from simpul.shared.db import utcnow
from simpul.shared.envelope import ReloadingKeys
from simpul.shared.worker import Worker, backoff_delay, each

log = logging.getLogger("simpul.notifications.dispatch")

BATCH_SIZE = 50
SMTP_KEEPALIVE_SECONDS = 30.0

# Built once: an outcome is recorded for every attempt.
_RECORD_OUTCOME = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("row_id"), deliveries.c.claim == bindparam("row_claim"))
    .values(status=bindparam("new_status"), claim=None, updated_at=bindparam("now"), last_error=bindparam("error"),
            next_attempt_at=bindparam("due"), completed_at=bindparam("completed"))
)
_LOG_ATTEMPT = insert(delivery_attempts)
_ATTEMPT_VALUES = ("attempt", "started_at", "duration_ms", "status_code", "error", "outcome")
# PostgreSQL: both in one statement, so that it is one round trip and one transaction of its own
# (Database.record); no attempt is logged when the lease was lost.
_OUTCOME_CTE = _RECORD_OUTCOME.returning(deliveries.c.id).cte("outcome")
_RECORD_AND_LOG = insert(delivery_attempts).from_select(
    ["delivery_id", *_ATTEMPT_VALUES],
    select(_OUTCOME_CTE.c.id, *(bindparam(f"attempt_{name}", type_=delivery_attempts.c[name].type)
                                for name in _ATTEMPT_VALUES)))
_WEBHOOK_TARGETS = (
    select(deliveries.c.id, notifications.c.payload, webhook_subscriptions.c.id.label("subscription_id"),
           webhook_subscriptions.c.url, webhook_subscriptions.c.sealed_secret,
           webhook_subscriptions.c.sealed_previous_secret, webhook_subscriptions.c.previous_secret_expires_at,
           webhook_subscriptions.c.deleted_at, webhook_subscriptions.c.disabled_at)
    .select_from(deliveries.join(notifications, notifications.c.id == deliveries.c.notification_id)
                 .join(webhook_subscriptions, webhook_subscriptions.c.id == deliveries.c.subscription_id))
    .where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
)
# Just before a post: the claim is still this dispatcher's and the subscription still live. A
# revocation (Subscriptions.disable_for_client) may have come between the claim and the post.
_STILL_TO_SEND = (
    select(deliveries.c.id)
    .select_from(deliveries.join(webhook_subscriptions, webhook_subscriptions.c.id == deliveries.c.subscription_id))
    .where(deliveries.c.id == bindparam("row_id"), deliveries.c.claim == bindparam("row_claim"),
           deliveries.c.status == SENDING, webhook_subscriptions.c.deleted_at.is_(None),
           webhook_subscriptions.c.disabled_at.is_(None))
)


class Dispatcher(ABC):
    """What both channels share: a worker (`self.worker`) whose round claims a batch of the
    channel's due deliveries, woken by the intake or on a poll; recording an attempt's outcome."""

    channel: str
    # What a claim returns of each delivery besides `position`, `claim` and `attempts`.
    claimed_columns: tuple[Any, ...]

    def __init__(self, database: Database, settings: NotificationsSettings, **worker_options: Any) -> None:
        self._db = database
        self._settings = settings
        self._claim_statement = self._claim_statement_for(self.channel, self.claimed_columns)
        self._renew_statement = (
            update(deliveries)
            .where(deliveries.c.claim == bindparam("token"), deliveries.c.status == SENDING)
            .values(next_attempt_at=bindparam("lease_end"))
            .returning(deliveries.c.id))
        # The batch being worked on (rounds run one at a time): the ids whose lease the last
        # claim or renewal extended, and the monotonic time until which that surely holds.
        self._held: set[str] = set()
        self._held_until = 0.0
        self.worker = Worker(f"dispatch:{self.channel}", claim=self._claim_due, process=self._dispatch_leased,
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

    @staticmethod
    def _delivery(claimed: Any) -> Any:
        """The delivery row of a claimed item."""
        return claimed

    async def _dispatch_leased(self, claimed: Sequence[Any]) -> None:
        rows = [self._delivery(item) for item in claimed]
        self._held = {row.id for row in rows}
        heartbeat = asyncio.create_task(self._renew_lease(rows[0].claim), name=f"{self.worker.name}:lease")
        try:
            await self._dispatch(claimed)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _renew_lease(self, token: str) -> None:
        lease = self._settings.delivery_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            started = time.monotonic()
            try:
                renewed = await self._db.record(lambda connection: connection.execute(
                    self._renew_statement, {"token": token, "lease_end": utcnow() + timedelta(seconds=lease)},
                ).scalars().all())
            except (SQLAlchemyError, OSError):  # a missed renewal only shortens the lease: keep beating
                log.warning("%s: renewing the lease of a batch failed", self.channel, exc_info=True)
                continue
            self._held.intersection_update(renewed)
            self._held_until = started + lease

    def _still_held(self, row: Any) -> bool:
        """Whether `row` may go out: its lease surely holds. If not, it is left as it is, and
        goes out when it is claimed again (here or by another replica) once the lease is over."""
        if row.id in self._held and time.monotonic() < self._held_until:
            return True
        log.warning("%s delivery %s: lease over before it was sent; left for the next claim", self.channel, row.id)
        return False

    @staticmethod
    def _claim_statement_for(channel: str, columns: tuple[Any, ...]) -> Any:
        due = (select(deliveries.c.id)
               .where(deliveries.c.channel == channel, deliveries.c.status.in_(DUE),
                      deliveries.c.next_attempt_at <= bindparam("now"))
               .order_by(deliveries.c.position).limit(BATCH_SIZE)
               # PostgreSQL: replicas claiming at once pass over each other's rows instead of
               # queueing behind them and finding them taken (SQLite has one writer anyway).
               .with_for_update(skip_locked=True))
        return (
            update(deliveries)
            # Checked again on the row itself: on PostgreSQL a concurrent claimer may have
            # taken it between the subquery and the update.
            .where(deliveries.c.id.in_(due), deliveries.c.status.in_(DUE),
                   deliveries.c.next_attempt_at <= bindparam("now"))
            .values(status=SENDING, claim=bindparam("token"), attempts=deliveries.c.attempts + 1,
                    updated_at=bindparam("now"), next_attempt_at=bindparam("lease_end"))
            .returning(deliveries.c.position, deliveries.c.claim, deliveries.c.attempts, *columns)
        )

    def _claim(self, connection: Connection) -> list[Any]:
        """Mark up to a batch of due deliveries `sending` under a new claim token (one statement);
        of each its `position`, `claim`, `attempts` (this attempt's number) and `claimed_columns`,
        in position order."""
        self._held_until = time.monotonic() + self._settings.delivery_lease_seconds
        now = utcnow()
        rows = connection.execute(self._claim_statement, {
            "now": now, "token": str(uuid.uuid4()),
            "lease_end": now + timedelta(seconds=self._settings.delivery_lease_seconds)}).all()
        return sorted(rows, key=lambda row: row.position)

    async def _finish(self, row: Any, *, status: str, error: str | None, next_attempt_at: datetime | None = None,
                      started_at: datetime | None = None, duration_ms: int = 0, status_code: int | None = None,
                      outcome: str | None = None) -> None:
        """Record the outcome of the attempt `row.attempts` (and the attempt itself) on a delivery
        claimed as `row.claim`."""
        now = utcnow()
        values = {"row_id": row.id, "row_claim": row.claim, "new_status": status, "now": now, "error": error,
                  "due": next_attempt_at or now, "completed": None if status == "pending" else now}
        attempt = {"delivery_id": row.id, "attempt": row.attempts, "started_at": started_at or now,
                   "duration_ms": duration_ms, "status_code": status_code, "error": error,
                   "outcome": outcome or status}

        def record(connection: Connection) -> bool:
            if connection.dialect.name == "postgresql":
                logged = {f"attempt_{name}": attempt[name] for name in _ATTEMPT_VALUES}
                return connection.execute(_RECORD_AND_LOG, {**values, **logged}).rowcount == 1
            if connection.execute(_RECORD_OUTCOME, values).rowcount != 1:
                return False
            connection.execute(_LOG_ATTEMPT, attempt)
            return True

        if not await self._db.record(record):
            log.warning("%s delivery %s: lease lost before its outcome was recorded", self.channel, row.id)

    async def _release(self, rows: Sequence[Any]) -> None:
        """Give back claimed deliveries that were not attempted: pending and due, their attempt uncounted."""
        if not rows:
            return

        def release(connection: Connection) -> None:
            connection.execute(
                update(deliveries)
                .where(deliveries.c.id.in_([row.id for row in rows]), deliveries.c.claim == rows[0].claim)
                .values(status="pending", claim=None, attempts=deliveries.c.attempts - 1, next_attempt_at=utcnow()))

        await self._db.record(release)

    def _retry_or_fail(self, row: Any, now: datetime, *, base: float, cap: float) -> tuple[str, datetime]:
        if now >= row.give_up_at:
            return "failed", now
        return "pending", now + timedelta(seconds=backoff_delay(row.attempts, base=base, cap=cap))


class EmailDispatcher(Dispatcher):
    """Sends over a few SMTP connections at once (each round trip waits on the server), with
    all mail to one address on the same connection, so an applicant's mails keep their order.
    While the server is unavailable the worker backs off (the email retry settings) before
    claiming again."""

    channel = "email"
    claimed_columns = (deliveries.c.id, deliveries.c.recipient, deliveries.c.content, deliveries.c.give_up_at)

    def __init__(self, database: Database, settings: NotificationsSettings, mailers: Sequence[Mailer]) -> None:
        super().__init__(database, settings, backoff_base=settings.email_retry_base_seconds,
                         backoff_cap=settings.email_retry_max_delay_seconds, expected=(MailUnavailable,),
                         on_idle=self._close_idle_connections)
        self.mailers = list(mailers)
        self._last_send = 0.0
        # Held from a message's DATA to the commit of its outcome (see the module's docstring).
        self._handing_over = asyncio.Lock()

    async def stop(self) -> None:
        await super().stop()
        await asyncio.gather(*(mailer.close() for mailer in self.mailers))

    async def _close_idle_connections(self) -> None:
        # Keep the SMTP connections while mail flows (a new one costs several round trips), but
        # don't hold them open for nothing.
        if asyncio.get_running_loop().time() - self._last_send > SMTP_KEEPALIVE_SECONDS:
            await asyncio.gather(*(mailer.close() for mailer in self.mailers))

    async def _claim_due(self) -> Sequence[Any]:
        return await self._db.record(self._claim)

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
        started_at = utcnow()
        message = build_message(delivery_id=row.id, recipient=row.recipient, content=row.content,
                                mail_from=settings.mail_from)
        loop = asyncio.get_running_loop()
        clock = loop.time()

        def elapsed() -> int:
            return int((loop.time() - clock) * 1000)

        self._last_send = clock
        if not self._still_held(row):
            return
        try:
            await mailer.prepare(message)
            async with self._handing_over:
                if not self._still_held(row):
                    await mailer.close()  # drops the envelope accepted for it
                    return
                await mailer.send(row.id, message)
                await self._finish(row, status=mailer.success_status, error=None, started_at=started_at,
                                   duration_ms=elapsed())
        except MailUnavailable as exc:
            now = utcnow()
            # Due again at once: the channel-wide backoff decides when the server is tried next.
            status = "failed" if now >= row.give_up_at else "pending"
            await self._finish(row, status=status, error=str(exc), next_attempt_at=now, started_at=started_at,
                               duration_ms=elapsed(), outcome="retry" if status == "pending" else None)
            raise
        except MailDeferred as exc:
            status, due = self._retry_or_fail(row, utcnow(), base=settings.email_retry_base_seconds,
                                              cap=settings.email_retry_max_delay_seconds)
            await self._finish(row, status=status, error=str(exc), next_attempt_at=due, started_at=started_at,
                               duration_ms=elapsed(), outcome="retry" if status == "pending" else None)
        except MailRejected as exc:
            await self._finish(row, status="failed", error=str(exc), started_at=started_at, duration_ms=elapsed())


class WebhookDispatcher(Dispatcher):
    """Posts every claimed delivery at once, each recording its own outcome."""

    channel = "webhook"
    claimed_columns = (deliveries.c.id, deliveries.c.give_up_at)

    def __init__(self, database: Database, settings: NotificationsSettings,
                 client: WebhookClient, keks: ReloadingKeys) -> None:
        super().__init__(database, settings)
        self.client = client
        self._keks = keks

    async def stop(self) -> None:
        await super().stop()
        await self.client.close()

    async def _claim_due(self) -> Sequence[Any]:
        """The claimed deliveries with what posting them takes, read in the claiming transaction."""

        def claim(connection: Connection) -> list[Any]:
            claimed = self._claim(connection)
            if not claimed:
                return []
            targets = {row.id: row for row in connection.execute(_WEBHOOK_TARGETS,
                                                                 {"ids": [row.id for row in claimed]})}
            return [(row, targets[row.id]) for row in claimed]

        return await self._db.record(claim)

    @staticmethod
    def _delivery(claimed: Any) -> Any:
        return claimed[0]

    async def _dispatch(self, rows: Sequence[Any]) -> None:
        await each(self._deliver, concurrency=BATCH_SIZE)(rows)

    async def _deliver(self, claimed: tuple[Any, Any]) -> None:
        row, target = claimed
        settings = self._settings
        if target.deleted_at is not None:
            await self._give_up_unattempted(row, "subscription deleted")
            return
        if target.disabled_at is not None:
            await self._give_up_unattempted(row, "subscription disabled")
            return
        if not await self._db.record(lambda connection: connection.execute(
                _STILL_TO_SEND, {"row_id": row.id, "row_claim": row.claim}).first() is not None):
            # Cancelled (or the subscription stopped) since the claim: nothing goes out.
            await self._give_up_unattempted(row, "subscription stopped")
            return
        if not self._still_held(row):
            return
        now = utcnow()
        sealed = [target.sealed_secret]
        if (target.sealed_previous_secret and target.previous_secret_expires_at
                and target.previous_secret_expires_at > now):
            sealed.append(target.sealed_previous_secret)
        context = secret_context(target.subscription_id)
        signing = [self._keks.open(value, context).decode() for value in sealed]
        body = orjson.dumps(target.payload)
        headers = {
            "content-type": "application/json",
            "webhook-id": row.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": sign(signing, row.id, now, body.decode()),
        }
        result: AttemptResult = await self.client.post(target.url, body, headers)
        if result.delivered:
            status, due = "delivered", None
        else:
            status, due = self._retry_or_fail(row, utcnow(), base=settings.webhook_retry_base_seconds,
                                              cap=settings.webhook_retry_max_delay_seconds)
        await self._finish(row, status=status, error=result.error, next_attempt_at=due, started_at=now,
                           duration_ms=result.duration_ms, status_code=result.status_code,
                           outcome="retry" if status == "pending" else None)

    async def _give_up_unattempted(self, row: Any, reason: str) -> None:
        """Failed without an attempt: none is logged, and the one counted at the claim is taken back."""

        def give_up(connection: Connection) -> None:
            now = utcnow()
            connection.execute(
                update(deliveries).where(deliveries.c.id == row.id, deliveries.c.claim == row.claim)
                .values(status="failed", claim=None, attempts=deliveries.c.attempts - 1, last_error=reason,
                        updated_at=now, next_attempt_at=now, completed_at=now))

        await self._db.record(give_up)
