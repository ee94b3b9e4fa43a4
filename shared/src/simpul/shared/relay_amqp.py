"""The RabbitMQ side of the event relay: topology shared by publishers and the consumer, and
the publishing transport (`SIMPUL_EVENT_BROKER=amqp://...`).

Topology (all durable): a topic exchange `simpul.events` where events are published with their
type as routing key; the notifications queue bound to it for every type; a fanout dead-letter
exchange with its queue. Publishers declare it too, so events published before the consumer
first starts wait in the queue instead of being dropped as unroutable.

A relay's batch of several events goes out as one message in the CloudEvents JSON batch format
(`application/cloudevents-batch+json`, routing key `batch.<type>` when all share a type, else
`batch`), the same body the HTTP transport pushes: per message, publishing with a confirm and
consuming from a quorum queue cost about 1.6 ms, which made the relay, not the consumer, what
held events back under load. A single event is a message of its own, as before.
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
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
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


def batch_message(events: Sequence[dict[str, Any]]) -> tuple[aio_pika.Message, str]:
    """One message carrying the events in order, and its routing key."""
    types = {event["type"] for event in events}
    return aio_pika.Message(
        body=orjson.dumps(list(events)),
        content_type=BATCH_CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        # The batch is the relay's rows from the first event on; a re-sent batch starts there too.
        message_id=f"batch:{events[0]['id']}:{len(events)}",
        timestamp=datetime.fromisoformat(events[0]["occurred_at"]),
        headers={"count": len(events)},
    ), ("batch." + types.pop()) if len(types) == 1 else "batch"


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
        if not events:
            return
        if len(events) == 1:
            message, routing_key = event_message(events[0]), events[0]["type"]
        else:
            message, routing_key = batch_message(events)
        try:
            exchange = await self._ensure_channel()
            await exchange.publish(message, routing_key=routing_key, mandatory=True, timeout=CONFIRM_TIMEOUT)
        except BROKER_ERRORS as exc:
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
