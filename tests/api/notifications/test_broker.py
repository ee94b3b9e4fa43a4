"""The RabbitMQ transport end to end inside one process: relay -> broker -> consumer -> mail.
Each test gets a virtual host of its own (SIMPUL_TEST_AMQP names the broker)."""

from __future__ import annotations

import asyncio
from collections import Counter

import aio_pika
import orjson
import pytest

from sqlalchemy import select

from simpul.notifications.app import create_app
from simpul.notifications.models import processed_events
from simpul.notifications.settings import NotificationsSettings
from simpul.shared.relay_amqp import AmqpTransport, EXCHANGE, NOTIFICATIONS_DEAD_LETTER_QUEUE, declare_topology
from tests.api.notifications.conftest import FAST, Harness, admin
from tests.e2e.notifications.producer import Producer, submission_data
from tests.e2e.notifications.receivers import amqp_server, amqp_vhost, close_broker_connections
from tests.support.asgi import running

pytestmark = [pytest.mark.amqp, pytest.mark.skipif(amqp_server() is None, reason="SIMPUL_TEST_AMQP not set")]


@pytest.fixture
def broker():
    with amqp_vhost(amqp_server()) as (url, name):
        yield url, name


@pytest.fixture
async def producer(databases):
    opened = await Producer(await databases.url("producer")).open()
    yield opened
    await opened.close()


async def subjects_in_inbox_order(harness) -> list[str]:
    items = await harness.inbox(admin())
    return [item["subject"] for item in reversed(items)]


async def test_events_travel_through_the_broker_once_and_in_order(start, mail, broker, producer):
    url, _ = broker
    async with start(event_broker=url) as harness:
        relay = producer.relay(AmqpTransport(url))
        await relay.start()
        try:
            submission = submission_data()["submission_id"]
            staged = [await producer.stage(submission_data(submission_id=submission, email=f"w{n}@x.id", to=to))
                      for n, to in enumerate(("in_review", "revision_requested", "in_review", "approved"))]
            # The same events published again (a lost confirm, say) change nothing.
            again = AmqpTransport(url)
            await again.publish(staged[:2])
            await again.aclose()
            await harness.eventually(lambda: len(mail.received()) == 4, message="mail missing")
            await asyncio.sleep(0.5)
            assert len(mail.received()) == 4
            items = await harness.inbox(admin())
            assert [item["event_id"] for item in reversed(items)] == [event["id"] for event in staged]
            assert await producer.unpublished() == 0
        finally:
            await relay.stop()


async def test_a_poison_message_is_dead_lettered_in_the_store_and_the_queue(start, mail, broker):
    url, _ = broker
    async with start(event_broker=url) as harness:
        await harness.eventually(lambda: harness.app.state.consumer.connected.is_set())
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            exchange, _ = await declare_topology(channel)
            await exchange.publish(aio_pika.Message(b"{not json"), routing_key="submission.submitted")
            good = {"specversion": "1.0", "id": "e-1", "type": "submission.submitted", "source": "simpul/submissions",
                    "subject": "submissions/s-1", "occurred_at": "2025-01-01T00:00:00+00:00",
                    "data": submission_data(email="ok@x.id", submission_id="s-1")}
            await exchange.publish(aio_pika.Message(orjson.dumps(good)), routing_key="submission.submitted")

            await harness.eventually(lambda: mail.to("ok@x.id"), message="the good event was blocked")
            letters = (await harness.client.get("/v1/notifications/dead-letters", headers=admin())).json()["items"]
            assert [letter["transport"] for letter in letters] == ["amqp"]
            assert letters[0]["envelope"] == {"raw": repr("{not json")}

            dead = await channel.declare_queue(NOTIFICATIONS_DEAD_LETTER_QUEUE, passive=True)
            message = await dead.get(timeout=5, fail=True)
            assert message.body == b"{not json"
            assert message.headers["x-death"][0]["exchange"] == EXCHANGE
            await message.ack()


async def test_nothing_is_lost_or_doubled_when_the_broker_drops_every_connection(start, mail, broker, producer):
    url, vhost = broker
    async with start(event_broker=url) as harness:
        relay = producer.relay(AmqpTransport(url), backoff_cap=0.5)
        await relay.start()
        try:
            staged = []
            for n in range(60):
                staged.append(await producer.stage(submission_data(email=f"w{n}@x.id")))
                if n in (20, 40):
                    await asyncio.to_thread(close_broker_connections, vhost)
                await asyncio.sleep(0.02)
            await harness.eventually(lambda: len(mail.received()) >= 60, timeout=60, message="events lost")
            await asyncio.sleep(1)
            assert Counter(message["To"] for message in mail.received()) == Counter(f"w{n}@x.id" for n in range(60))
            assert len(await harness.inbox(admin())) == 60
        finally:
            await relay.stop()


async def test_a_large_batch_keeps_its_order_on_the_way(start, mail, broker, producer):
    """A relay's batch travels as one message (CloudEvents batch format): its events are
    recorded in staging order."""
    url, _ = broker
    staged = [await producer.stage(submission_data(email=f"o{n}@x.id")) for n in range(300)]
    transport = AmqpTransport(url)
    await transport.publish(staged)
    await transport.aclose()
    async with start(event_broker=url) as harness:
        await harness.eventually(lambda: mail.count() == 300, timeout=30, message="mail missing")
        items = await harness.inbox(admin())
        assert [item["event_id"] for item in reversed(items)] == [event["id"] for event in staged]


async def test_a_poison_event_in_a_batch_is_dead_lettered_alone(start, mail, broker):
    url, _ = broker
    good = [{"specversion": "1.0", "id": f"e-{n}", "type": "submission.submitted", "source": "simpul/submissions",
             "subject": f"submissions/s-{n}", "occurred_at": "2025-01-01T00:00:00+00:00",
             "data": submission_data(email=f"b{n}@x.id", submission_id=f"s-{n}")} for n in range(2)]
    poison = {**good[0], "id": "e-poison", "data": {"tenant": "31"}}  # no submission_id
    transport = AmqpTransport(url)
    await transport.publish([good[0], poison, good[1]])
    await transport.aclose()
    async with start(event_broker=url) as harness:
        await harness.eventually(lambda: mail.count() == 2, message="the good events were blocked")
        letters = (await harness.client.get("/v1/notifications/dead-letters", headers=admin())).json()["items"]
        assert [letter["event_id"] for letter in letters] == ["e-poison"]
        items = await harness.inbox(admin())
        assert [item["event_id"] for item in reversed(items)] == ["e-0", "e-1"]
        # The batch is acknowledged whole: the poison event waits in the store, not in the queue.
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            dead = await channel.declare_queue(NOTIFICATIONS_DEAD_LETTER_QUEUE, passive=True)
            assert await dead.get(timeout=5, fail=False) is None


async def test_two_replicas_consuming_one_queue_record_and_mail_each_event_once(settings_for, mail, broker, producer):
    url, vhost = broker
    settings = await settings_for(NotificationsSettings, **FAST, smtp_host="127.0.0.1", smtp_port=mail.port,
                                  event_broker=url)
    first, second = create_app(settings), create_app(settings)
    async with running(first) as client, running(second):
        harness = Harness(client, first, settings)
        relay = producer.relay(AmqpTransport(url), batch_size=5)
        await relay.start()
        try:
            staged = []
            for n in range(40):
                staged.append(await producer.stage(submission_data(email=f"w{n}@x.id")))
                if n == 20:  # unacknowledged messages are redelivered, to either replica
                    await asyncio.to_thread(close_broker_connections, vhost)
                await asyncio.sleep(0.01)
            await harness.eventually(lambda: len(mail.received()) >= 40, timeout=30, message="events lost")
            await asyncio.sleep(1)  # room for copies, which must not come
        finally:
            await relay.stop()
        assert sorted(mail.message_ids().values()) == [1] * 40
        async with first.state.read_sessions() as session:
            recorded = (await session.execute(select(processed_events.c.event_id))).scalars().all()
        assert sorted(recorded) == sorted(event["id"] for event in staged)
