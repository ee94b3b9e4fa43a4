"""The RabbitMQ side of the event relay: topology shared by publishers and the consumer, and
the publishing transport (`SIMPUL_EVENT_BROKER=amqp://...`).

Topology (all durable): a topic exchange `simpul.events` where events are published with their
type as routing key; the notifications queue bound to it for every type; a fanout dead-letter
exchange with its queue. Publishers declare it too, so events published before the consumer
first starts wait in the queue instead of being dropped as unroutable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractQueue

from simpul.shared.transport import TransportError

EXCHANGE = "simpul.events"
DEAD_LETTER_EXCHANGE = "simpul.events.dead-letter"
NOTIFICATIONS_QUEUE = "simpul.notifications"
NOTIFICATIONS_DEAD_LETTER_QUEUE = "simpul.notifications.dead-letter"
# A message that made the consumer crash this often goes to the dead-letter queue instead of
# taking it down again (quorum queues count deliveries).
DELIVERY_LIMIT = 20
EVENT_CONTENT_TYPE = "application/cloudevents+json"
CONNECT_TIMEOUT = 5.0
CONFIRM_TIMEOUT = 10.0

# What a lost or refusing broker raises while connecting or publishing.
BROKER_ERRORS = (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError, OSError,
                 asyncio.TimeoutError)


async def declare_topology(channel: AbstractChannel) -> tuple[AbstractExchange, AbstractQueue]:
    """Declare (idempotently) the exchanges and queues; returns the events exchange and the
    notifications queue."""
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    dead_letters = await channel.declare_exchange(DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.FANOUT,
                                                  durable=True)
    dead_letter_queue = await channel.declare_queue(
        NOTIFICATIONS_DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_letter_queue.bind(dead_letters)
    queue = await channel.declare_queue(
        NOTIFICATIONS_QUEUE,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-delivery-limit": DELIVERY_LIMIT,
        },
    )
    await queue.bind(exchange, routing_key="#")
    return exchange, queue


def event_message(event: dict[str, Any]) -> aio_pika.Message:
    return aio_pika.Message(
        body=orjson.dumps(event),
        content_type=EVENT_CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=event["id"],
        type=event["type"],
        timestamp=datetime.fromisoformat(event["occurred_at"]),
        headers={"subject": event["subject"], "source": event["source"]},
    )


class AmqpTransport:
    """Publishes each event persistently, in order on one channel, and returns once the broker
    has confirmed them all, so RabbitMQ then holds every one. Unroutable messages count as
    failures (mandatory + on_return_raises)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None

    async def _ensure_channel(self) -> AbstractExchange:
        if self._exchange is None or self._exchange.channel.is_closed:
            await self._reset()
            self._connection = await aio_pika.connect(self._url, timeout=CONNECT_TIMEOUT)
            channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            self._exchange, _ = await declare_topology(channel)
        return self._exchange

    async def publish(self, events: Sequence[dict[str, Any]]) -> None:
        publications: list[asyncio.Task] = []
        try:
            exchange = await self._ensure_channel()
            for event in events:
                publications.append(asyncio.create_task(exchange.publish(
                    event_message(event), routing_key=event["type"], mandatory=True, timeout=CONFIRM_TIMEOUT)))
                # Let it take its turn on the channel's (first-come) lock before the next one
                # starts: the frames go out in this order, and a channel keeps it. The confirms
                # are then awaited together instead of one round trip per event.
                await asyncio.sleep(0)
            await asyncio.gather(*publications)
        except BROKER_ERRORS as exc:
            for publication in publications:
                publication.cancel()
            await asyncio.gather(*publications, return_exceptions=True)
            # Start from a fresh connection next time; the broker may have restarted.
            await self._reset()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    async def _reset(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None and not connection.is_closed:
            try:
                await connection.close()
            except BROKER_ERRORS:
                pass

    async def aclose(self) -> None:
        await self._reset()
