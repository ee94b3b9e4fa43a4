"""Two replicas of the notifications service on one database (PostgreSQL with
SIMPUL_TEST_POSTGRES, else one SQLite file): each event recorded once, even when both receive it
at once (a broker's redelivery, a retried push), and every mail and webhook sent once while both
dispatch (claims with SKIP LOCKED), also when a batch takes longer to send than its lease."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from simpul.notifications.app import create_app
from simpul.notifications.models import deliveries, notifications, processed_events
from simpul.notifications.settings import NotificationsSettings
from tests.api.notifications.conftest import FAST, Harness, applicant, submission_event
from tests.api.notifications.test_webhooks import subscribe
from tests.e2e.notifications.receivers import MailSink
from tests.support.asgi import running


async def count(harness: Harness, table) -> int:
    async with harness.app.state.read_sessions() as session:
        return (await session.execute(select(func.count()).select_from(table))).scalar_one()


async def test_two_replicas_record_each_event_once_and_send_each_mail_and_webhook_once(settings_for, mail, receiver):
    settings = await settings_for(NotificationsSettings, **FAST, smtp_host="127.0.0.1", smtp_port=mail.port)
    first_app, second_app = create_app(settings), create_app(settings)
    async with running(first_app) as first_client, running(second_app) as second_client:
        first, second = Harness(first_client, first_app, settings), Harness(second_client, second_app, settings)
        await subscribe(first, receiver, applicant("31"))
        events = [submission_event(email=f"warga{n}@x.id") for n in range(40)]
        for start in range(0, len(events), 10):
            batch = events[start:start + 10]
            await asyncio.gather(first.send(*batch), second.send(*batch))

        await first.eventually(lambda: mail.count() >= 40 and len(receiver.received("/hook")) >= 40,
                               timeout=20, message="mail or webhooks missing")
        await asyncio.sleep(0.5)  # room for copies, which must not come
        assert sorted(mail.message_ids().values()) == [1] * 40
        assert sorted(receiver.accepted_ids("/hook").values()) == [1] * 40
        assert await count(first, processed_events) == 40
        assert await count(first, notifications) == 40
        assert await count(first, deliveries) == 80


async def test_a_batch_slower_than_its_lease_keeps_it_and_no_mail_goes_out_twice(settings_for):
    """A slow server: the first replica's batch of 30 takes about 3 s, five leases. The heartbeat
    keeps the lease, so the second replica, polling all along, never takes a row over."""
    slow = MailSink(data_seconds=0.1)
    slow.start()
    try:
        settings = await settings_for(NotificationsSettings, **FAST, smtp_host="127.0.0.1", smtp_port=slow.port,
                                      delivery_lease_seconds=0.6)
        first_app, second_app = create_app(settings), create_app(settings)
        async with running(first_app) as first_client, running(second_app):
            first = Harness(first_client, first_app, settings)
            await first.send(*(submission_event(email=f"lambat{n}@x.id") for n in range(30)))
            await first.eventually(lambda: slow.count() >= 30, timeout=30, message="mail missing")
            await asyncio.sleep(1.0)  # room for copies, which must not come
            assert sorted(slow.message_ids().values()) == [1] * 30
    finally:
        slow.stop()
