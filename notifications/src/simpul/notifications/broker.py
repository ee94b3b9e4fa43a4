"""The RabbitMQ consumer (when SIMPUL_EVENT_BROKER is set): events from the durable queue in queue
order, acknowledged only once the intake has recorded them.

Events that arrived together are recorded together, in one transaction. A poison event is
recorded in the dead-letter store by the intake and rejected without requeue, so the broker
moves it to the dead-letter queue as well. A database error is not the events' fault: they are
retried here (not requeued, which would count as a redelivery towards the queue's delivery
limit). A lost connection is reopened with backoff; messages not yet acknowledged are
redelivered by the broker and found as duplicates.
"""

from __future__ import annotations

import asyncio
import logging

import aio_pika
import orjson
from aio_pika.abc import AbstractIncomingMessage
from sqlalchemy.exc import SQLAlchemyError

from simpul.notifications.intake import DEAD_LETTERED, Intake
from simpul.shared.relay_amqp import BROKER_ERRORS, CONNECT_TIMEOUT, declare_topology
from simpul.shared.worker import backoff_delay

log = logging.getLogger("simpul.notifications.broker")

PREFETCH = 50


class BrokerConsumer:
    def __init__(self, url: str, intake: Intake, *, reconnect_cap: float = 10.0) -> None:
        self._url = url
        self._intake = intake
        self._reconnect_cap = reconnect_cap
        self._task: asyncio.Task | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="broker-consumer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except BROKER_ERRORS as exc:
                # A connection that worked for a while starts the backoff afresh.
                failures = 1 if self.connected.is_set() else failures + 1
                level = logging.WARNING if failures == 1 or failures % 10 == 0 else logging.DEBUG
                log.log(level, "broker connection lost or refused (try %d): %s", failures, type(exc).__name__)
            except Exception:  # a bug must not silently end consumption; the message is redelivered
                failures += 1
                log.exception("consuming from the broker failed")
            finally:
                self.connected.clear()
            await asyncio.sleep(backoff_delay(max(failures, 1), base=0.25, cap=self._reconnect_cap))

    async def _consume(self) -> None:
        connection = await aio_pika.connect(self._url, timeout=CONNECT_TIMEOUT)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=PREFETCH)
            _, queue = await declare_topology(channel)
            arrived: asyncio.Queue[AbstractIncomingMessage | None] = asyncio.Queue()
            # None marks the end: the broker closed the channel or connection under us.
            connection.close_callbacks.add(lambda *_: arrived.put_nowait(None))
            channel.close_callbacks.add(lambda *_: arrived.put_nowait(None))

            async def on_message(message: AbstractIncomingMessage) -> None:
                arrived.put_nowait(message)

            await queue.consume(on_message)
            self.connected.set()
            log.info("consuming events from the broker")
            while (message := await arrived.get()) is not None:
                # Whatever else has arrived meanwhile is handled with it, in one transaction.
                batch = [message]
                while not arrived.empty() and len(batch) < PREFETCH:
                    following = arrived.get_nowait()
                    if following is None:
                        arrived.put_nowait(None)
                        break
                    batch.append(following)
                await self._handle(batch)
        finally:
            if not connection.is_closed:
                await connection.close()
        raise ConnectionError("the broker closed the connection")

    async def _handle(self, messages: list[AbstractIncomingMessage]) -> None:
        items = []
        for message in messages:
            try:
                items.append(orjson.loads(message.body))
            except orjson.JSONDecodeError:
                items.append(message.body.decode("utf-8", "replace"))
        attempts = 0
        while True:
            try:
                outcomes = await self._intake.accept_batch(items, "amqp")
                break
            except (SQLAlchemyError, OSError) as exc:
                attempts += 1
                log.warning("recording events failed (try %d), retrying: %s", attempts, type(exc).__name__)
                await asyncio.sleep(backoff_delay(attempts, base=0.5, cap=10.0))
        for message, outcome in zip(messages, outcomes, strict=True):
            if outcome == DEAD_LETTERED:
                await message.reject(requeue=False)
            else:
                await message.ack()
