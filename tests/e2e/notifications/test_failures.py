"""Failure behaviour with real processes on loopback, over both transports.

The notifications service runs as a real process; events come from a producer's outbox through
the shared relay (HTTP push, or RabbitMQ on a vhost of the test's own); mail goes to a real
SMTP server (aiosmtpd) and webhooks to a real HTTP server that verifies signatures.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest

from simpul.shared.events import stage_event
from simpul.shared.relay import HttpTransport, OutboxRelay
from simpul.shared.relay_amqp import AmqpTransport
from tests.e2e.notifications.producer import Producer, submission_data
from tests.e2e.notifications.receivers import (
    MailSink,
    WebhookReceiver,
    amqp_server,
    amqp_vhost,
    close_broker_connections,
    only_in_flight_copies,
    restart_broker_app,
)
from tests.support.databases import TestDatabases as Databases
from tests.support.identity import as_role, jwks_json
from tests.support.processes import System

pytestmark = pytest.mark.e2e

ALL_TYPES = ["submission.submitted", "submission.status_changed", "submission.issued", "complaint.updated"]
# Set to restart the RabbitMQ application itself instead of closing the test vhost's connections
# (it disturbs everything else using that broker, so only on request).
RESTART_ENV = "SIMPUL_TEST_AMQP_RESTART"


def admin() -> dict[str, str]:
    return as_role("notifications", "admin")


@dataclass
class Setup:
    system: System
    mail: MailSink
    receiver: WebhookReceiver
    producer: Producer
    relay: OutboxRelay
    transport: str
    vhost: str | None
    http: httpx.AsyncClient

    @property
    def notifications(self):
        return self.system["notifications"]

    async def eventually(self, condition, timeout: float = 60.0, message: str = "condition not met"):
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            result = condition()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{message}\n{self.system.logs()}")
            await asyncio.sleep(0.1)

    async def inbox(self) -> list[dict]:
        items, cursor = [], None
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            response = await self.http.get("/v1/notifications", params=params, headers=admin())
            response.raise_for_status()
            items += response.json()["items"]
            cursor = response.json()["next_cursor"]
            if cursor is None:
                return items

    async def subscribe(self, path: str = "/hook") -> dict:
        response = await self.http.post("/v1/webhooks", json={"url": self.receiver.url(path), "events": ALL_TYPES},
                                        headers=as_role("notifications", "applicant", "31"))
        assert response.status_code == 201, response.text
        created = response.json()
        self.receiver.secrets.append(created["secret"])
        return created


@pytest.fixture(params=["http", pytest.param("amqp", marks=pytest.mark.amqp)])
def transport(request) -> str:
    if request.param == "amqp" and amqp_server() is None:
        pytest.skip("SIMPUL_TEST_AMQP not set")
    return request.param


@pytest.fixture
def mail() -> Iterator[MailSink]:
    sink = MailSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def setup(transport, tmp_path, mail, receiver) -> AsyncIterator[Setup]:
    databases = Databases(tmp_path)
    with ExitStack() as stack:
        vhost_url = vhost = None
        if transport == "amqp":
            vhost_url, vhost = stack.enter_context(amqp_vhost(amqp_server()))
        env = {
            "SIMPUL_SMTP_HOST": "127.0.0.1",
            "SIMPUL_SMTP_PORT": str(mail.port),
            "SIMPUL_IDENTITY_JWKS": jwks_json(),
            "SIMPUL_EMAIL_RETRY_BASE_SECONDS": "0.1",
            "SIMPUL_EMAIL_RETRY_MAX_DELAY_SECONDS": "0.5",
            "SIMPUL_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
            "SIMPUL_WEBHOOK_RETRY_MAX_DELAY_SECONDS": "0.5",
            # Deliveries a killed process had claimed are due again this soon.
            "SIMPUL_DELIVERY_LEASE_SECONDS": "2",
            "SIMPUL_DISPATCH_POLL_SECONDS": "0.2",
        }
        if vhost_url:
            env["SIMPUL_EVENT_BROKER"] = vhost_url
        system = System(tmp_path, databases, services=("notifications",), extra_env=env)
        try:
            await asyncio.to_thread(system.start)
            producer = await Producer(await databases.url("producer")).open()
            if vhost_url:
                relay_transport = AmqpTransport(vhost_url)
            else:
                relay_transport = HttpTransport(system["notifications"].url, caller="submissions",
                                                secret=system.internal_secret)
            relay = producer.relay(relay_transport, backoff_cap=1.0)
            await relay.start()
            async with httpx.AsyncClient(base_url=system["notifications"].url, timeout=10) as http:
                yield Setup(system, mail, receiver, producer, relay, transport, vhost, http)
            await relay.stop()
            await producer.close()
        finally:
            await asyncio.to_thread(system.stop)
            await databases.drop_all()


async def stream(setup: Setup, count: int, rate: float, prefix: str, during=None) -> list[dict]:
    """Stage `count` state changes at `rate` per second; `during[n]` runs after the n-th."""
    staged = []
    for n in range(count):
        staged.append(await setup.producer.stage(submission_data(email=f"{prefix}{n}@x.id")))
        if during and n in during:
            await during[n]()
        await asyncio.sleep(1 / rate)
    return staged


async def test_mail_arrives_once_after_the_smtp_server_was_down(setup):
    setup.mail.stop()
    staged = await stream(setup, 20, 50, "outage")

    async def all_waiting():
        items = await setup.inbox()
        return len(items) == 20 and all(item["channels"][0]["status"] == "pending" for item in items)

    await setup.eventually(all_waiting, message="events not recorded while the mail server was down")
    await asyncio.sleep(1.5)  # down for a while: several tries fail
    assert setup.mail.received() == []
    setup.mail.start()

    await setup.eventually(lambda: len(setup.mail.received()) >= 20, message="mail missing after the outage")
    await asyncio.sleep(1.5)  # room for duplicates, which must not come
    assert Counter(message["To"] for message in setup.mail.received()) == Counter(f"outage{n}@x.id" for n in range(20))
    assert set(setup.mail.message_ids().values()) == {1}
    items = await setup.inbox()
    assert {item["event_id"] for item in items} == {event["id"] for event in staged}
    assert all(item["channels"][0]["status"] == "sent" for item in items)
    assert max(item["channels"][0]["attempts"] for item in items) >= 2


async def test_a_killed_service_handles_every_event_once_after_restart(setup):
    await setup.subscribe()
    notifications = setup.notifications
    crashes: list[float] = []

    async def crash_and_restart():
        await asyncio.to_thread(notifications.kill)
        crashes.append(time.time())  # once the process is gone: nothing it sent can come later
        await asyncio.sleep(1.0)  # the producer keeps staging meanwhile (its relay backs off)
        await asyncio.to_thread(notifications.start)
        await asyncio.to_thread(notifications.wait_ready)

    staged = await stream(setup, 150, 60, "kill", during={40: crash_and_restart, 100: crash_and_restart})
    expected = {f"kill{n}@x.id" for n in range(150)}

    await setup.eventually(lambda: {m["To"] for m in setup.mail.received()} >= expected,
                           message="mail missing after the crash")
    await setup.eventually(lambda: len(setup.receiver.accepted_ids()) >= 150, message="webhooks missing")
    await asyncio.sleep(2.5)  # longer than the lease: anything left over would have gone out by now

    # Every event handled exactly once: one inbox entry each, every channel done.
    items = await setup.inbox()
    assert sorted(item["event_id"] for item in items) == sorted(event["id"] for event in staged)
    assert all(channel["status"] in ("sent", "delivered") for item in items for channel in item["channels"])
    assert len(setup.mail.message_ids()) == 150 and len(setup.receiver.accepted_ids()) == 150
    # An outcome is recorded right after each send, so the only copies that can go out twice are
    # those in flight at the instant of a kill, and then with the same Message-ID / webhook-id
    # (the receiver's idempotency key).
    only_in_flight_copies(setup.mail.arrivals(), crashes)
    only_in_flight_copies(setup.receiver.arrivals(), crashes)


async def test_kills_mid_burst_lose_nothing_and_repeat_at_most_one_mail_each(setup):
    """SIGKILL while a burst is being mailed and posted, three times. A message whose attempt was
    under way goes out again once its lease has run out, with the same Message-ID / webhook-id;
    mail hands over one message at a time, so each kill can repeat at most one mail."""
    await setup.subscribe()
    notifications = setup.notifications
    count = 400
    async with setup.producer.sessions.begin() as session:  # one commit: the relay sends them in batches
        staged = [await stage_event(session, setup.producer.table, type="submission.status_changed",
                                    source="simpul/submissions", subject=f"submissions/burst{n}",
                                    data=submission_data(email=f"burst{n}@x.id")) for n in range(count)]
    kills: list[float] = []
    for threshold in (40, 140, 240):
        await setup.eventually(lambda threshold=threshold: setup.mail.count() >= threshold,
                               message=f"fewer than {threshold} mails")
        await asyncio.to_thread(notifications.kill)
        kills.append(time.time())
        await asyncio.to_thread(notifications.start)
        await asyncio.to_thread(notifications.wait_ready)

    expected = {f"burst{n}@x.id" for n in range(count)}
    await setup.eventually(lambda: {m["To"] for m in setup.mail.received()} >= expected, message="mail lost")
    await setup.eventually(lambda: len(setup.receiver.accepted_ids()) >= count, message="webhooks lost")
    await asyncio.sleep(2.5)  # longer than the lease: a late copy would have come by now

    mails = setup.mail.received()
    ids_by_recipient: dict[str, set[str]] = {}
    for message in mails:
        ids_by_recipient.setdefault(message["To"], set()).add(message["Message-ID"])
    assert set(ids_by_recipient) == expected
    assert all(len(ids) == 1 for ids in ids_by_recipient.values()), "a copy came with another Message-ID"
    hooks = [request for request in setup.receiver.received() if request.status < 300]
    hook_ids_by_event: dict[str, set[str]] = {}
    for request in hooks:
        hook_ids_by_event.setdefault(json.loads(request.body)["id"], set()).add(request.headers["webhook-id"])
    assert set(hook_ids_by_event) == {event["id"] for event in staged}
    assert all(len(ids) == 1 for ids in hook_ids_by_event.values()), "a copy came with another webhook-id"

    mail_copies, hook_copies = len(mails) - count, len(hooks) - count
    print(f"\n{len(kills)} kills: {mail_copies} mails and {hook_copies} webhooks repeated; per kill, mails "
          f"{copies_per_kill(setup.mail.arrivals(), kills)}, webhooks {copies_per_kill(setup.receiver.arrivals(), kills)}")
    assert mail_copies <= len(kills)
    items = await setup.inbox()
    assert sorted(item["event_id"] for item in items) == sorted(event["id"] for event in staged)
    assert all(channel["status"] in ("sent", "delivered") for item in items for channel in item["channels"])


def copies_per_kill(arrivals: dict[str, list[float]], kills: list[float]) -> list[int]:
    """How many repeated messages each kill caused: a repeat belongs to the first kill after its first copy."""
    counts = [0] * len(kills)
    for times in arrivals.values():
        if len(times) > 1:
            before = [index for index, kill in enumerate(kills) if kill >= times[0]]
            counts[before[0] if before else -1] += len(times) - 1
    return counts


async def test_a_failing_webhook_receiver_gets_the_event_once_with_the_attempts_logged(setup):
    created = await setup.subscribe()
    setup.receiver.script["/hook"] = [500]
    (event,) = await stream(setup, 1, 10, "hook")

    await setup.eventually(lambda: setup.receiver.accepted_ids(), message="never delivered")
    await asyncio.sleep(1.0)
    requests = setup.receiver.received("/hook")
    assert [request.status for request in requests] == [500, 200]
    assert all(request.verified_with == [0] for request in requests)
    assert len({request.headers["webhook-id"] for request in requests}) == 1

    response = await setup.http.get(f"/v1/webhooks/{created['id']}/deliveries",
                                    headers=as_role("notifications", "applicant", "31"))
    (delivery,) = response.json()["items"]
    assert delivery["event_id"] == event["id"] and delivery["status"] == "delivered"
    assert [(a["status_code"], a["outcome"], a["error"]) for a in delivery["attempts"]] == [
        (500, "retry", "HTTP 500"), (200, "delivered", None)]
    assert all(isinstance(attempt["duration_ms"], int) for attempt in delivery["attempts"])


@pytest.mark.parametrize("transport", ["amqp"], indirect=True)
async def test_nothing_is_lost_when_the_broker_restarts(setup):

    async def broker_down():
        if os.environ.get(RESTART_ENV) == "1":
            await asyncio.to_thread(restart_broker_app)
        else:
            await asyncio.to_thread(close_broker_connections, setup.vhost)

    staged = await stream(setup, 100, 60, "broker", during={30: broker_down, 70: broker_down})
    await setup.eventually(lambda: len(setup.mail.received()) >= 100, message="events lost")
    await asyncio.sleep(1.5)
    assert Counter(message["To"] for message in setup.mail.received()) == Counter(f"broker{n}@x.id" for n in range(100))
    items = await setup.inbox()
    assert sorted(item["event_id"] for item in items) == sorted(event["id"] for event in staged)
    assert await setup.producer.unpublished() == 0
