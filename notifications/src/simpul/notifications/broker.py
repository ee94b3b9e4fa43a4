"""The RabbitMQ consumer (when SIMPUL_EVENT_BROKER is set): events from the durable queue in queue
order, acknowledged only once the intake has recorded them.

Events that arrived together are recorded together, in one transaction; a message may carry one
event or a relay's batch of them (relay_amqp). A poison event is recorded in the dead-letter store
by the intake; a message of its own is then rejected without requeue, so the broker moves it to
the dead-letter queue as well, while a batch is acknowledged (its other events are done, and the
poison one is in the store to replay). A database error is not the events' fault: they are
retried here (not requeued, which would count as a redelivery towards the queue's delivery
limit). A lost connection is reopened with backoff; messages not yet acknowledged are
redelivered by the broker and found as duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aio_pika
import orjson
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage
from sqlalchemy.exc import SQLAlchemyError

from simpul.notifications.intake import DEAD_LETTERED, Intake
from simpul.shared.relay_amqp import BATCH_CONTENT_TYPE, BROKER_ERRORS, CONNECT_TIMEOUT, declare_topology
from simpul.shared.worker import Worker, backoff_delay, each

log = logging.getLogger("simpul.notifications.broker")

PREFETCH = 50
# Events recorded in one transaction at most (a message may be a batch of up to the relay's 100).
MAX_EVENTS_TOGETHER = 500
# The pause before connecting again after a lost connection, and the first backoff step.
RECONNECT_SECONDS = 0.25

# A connection consuming from the queue, and where its messages arrive (None: the session is over).
Session = tuple[AbstractConnection, asyncio.Queue[AbstractIncomingMessage | None]]


class BrokerConsumer:
    """A worker (`self.worker`) whose claim is a connection consuming from the queue and whose
    processing is that consume session, until the connection is lost or `stop()` ends it. A
    refused connection is a failed round (the worker backs off up to `reconnect_cap`); a session
    that worked is not, so after it the worker reconnects within RECONNECT_SECONDS and any
    backoff starts afresh."""

    def __init__(self, url: str, intake: Intake, *, reconnect_cap: float = 10.0) -> None:
        self._url = url
        self._intake = intake
        self._arrived: asyncio.Queue[AbstractIncomingMessage | None] | None = None
        self._stopping = False
        self.connected = asyncio.Event()
        self.worker = Worker(
            "broker-consumer", claim=self._connect, process=each(self._consume),
            poll_seconds=RECONNECT_SECONDS, backoff_base=RECONNECT_SECONDS, backoff_cap=reconnect_cap,
            expected=BROKER_ERRORS,
            # The type only: a broker error may quote the URL, password and all.
            describe=lambda exc: type(exc).__name__, logger=log,
        )

    async def start(self) -> None:
        self._stopping = False
        self.worker.start()

    async def stop(self) -> None:
        """The session ends after the events in hand are recorded and acknowledged."""
        self._stopping = True
        if self._arrived is not None:
            self._arrived.put_nowait(None)
        await self.worker.stop()

    async def _connect(self) -> list[Session]:
        connection = await aio_pika.connect(self._url, timeout=CONNECT_TIMEOUT)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=PREFETCH)
            _, queue = await declare_topology(channel)
            arrived: asyncio.Queue[AbstractIncomingMessage | None] = asyncio.Queue()
            # None marks the end: the broker closed the channel or connection under us, or stop().
            connection.close_callbacks.add(lambda *_: arrived.put_nowait(None))
            channel.close_callbacks.add(lambda *_: arrived.put_nowait(None))

            async def on_message(message: AbstractIncomingMessage) -> None:
                arrived.put_nowait(message)

            await queue.consume(on_message)
        except BaseException:
            await _close(connection)
            raise
        self._arrived = arrived
        self.connected.set()
        log.info("consuming events from the broker")
        return [(connection, arrived)]

    async def _consume(self, session: Session) -> None:
        connection, arrived = session
        lost = "closed"
        try:
            while not self._stopping and (message := await arrived.get()) is not None:
                # Whatever else has arrived meanwhile is handled with it, in one transaction.
                batch = [message]
                events = _count(message)
                while not arrived.empty() and len(batch) < PREFETCH and events < MAX_EVENTS_TOGETHER:
                    following = arrived.get_nowait()
                    if following is None:
                        arrived.put_nowait(None)
                        break
                    batch.append(following)
                    events += _count(following)
                await self._handle(batch)
        except BROKER_ERRORS as exc:
            lost = type(exc).__name__
        finally:
            self.connected.clear()
            self._arrived = None
            await _close(connection)
        if not self._stopping:
            log.warning("broker connection lost (%s); reconnecting", lost)

    async def _handle(self, messages: list[AbstractIncomingMessage]) -> None:
        items = []
        spans = []  # per message: where its events are among the items
        for message in messages:
            start = len(items)
            items.extend(_events_of(message))
            spans.append((start, len(items)))
        attempts = 0
        while True:
            try:
                outcomes = await self._intake.accept_batch(items, "amqp")
                break
            except (SQLAlchemyError, OSError) as exc:
                attempts += 1
                log.warning("recording events failed (try %d), retrying: %s", attempts, type(exc).__name__)
                await asyncio.sleep(backoff_delay(attempts, base=0.5, cap=10.0))
        rejected = [message.content_type != BATCH_CONTENT_TYPE and outcomes[start] == DEAD_LETTERED
                    for message, (start, _) in zip(messages, spans, strict=True)]
        if not any(rejected):
            # One frame for the batch: batches are settled in order, so every delivery up to the
            # last one of this batch is one of its own.
            await messages[-1].ack(multiple=True)
            return
        for message, reject in zip(messages, rejected, strict=True):
            if reject:
                await message.reject(requeue=False)
            else:
                await message.ack()


def _count(message: AbstractIncomingMessage) -> int:
    if message.content_type == BATCH_CONTENT_TYPE and message.headers:
        count = message.headers.get("count")
        if isinstance(count, int) and count > 0:
            return count
    return 1


def _events_of(message: AbstractIncomingMessage) -> list:
    """The events a message carries; what cannot be read is passed on as it is, for the intake
    to dead-letter."""
    try:
        body = orjson.loads(message.body)
    except orjson.JSONDecodeError:
        return [message.body.decode("utf-8", "replace")]
    if message.content_type == BATCH_CONTENT_TYPE and isinstance(body, list) and body:
        return body
    return [body]


async def _close(connection: AbstractConnection) -> None:
    if not connection.is_closed:
        with contextlib.suppress(*BROKER_ERRORS):
            await connection.close()
