"""Email delivery against a real SMTP server (aiosmtpd): outages, deferrals, rejections."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from simpul.notifications.models import deliveries, delivery_attempts
from tests.api.notifications.conftest import submission_event


async def attempts_of(harness, event_id: str) -> list:
    async with harness.app.state.read_sessions() as session:
        return (await session.execute(
            select(delivery_attempts).join(deliveries, deliveries.c.id == delivery_attempts.c.delivery_id)
            .where(deliveries.c.event_id == event_id).order_by(delivery_attempts.c.attempt))).all()


async def test_mail_waits_for_a_server_that_is_down_and_arrives_once(harness, mail):
    mail.stop()
    events = [submission_event(email=f"warga{n}@x.id") for n in range(12)]
    await harness.send(*events)

    async def tried_and_waiting():
        channel = await harness.channel(events[0]["id"], "email")
        return channel["status"] == "pending" and channel["attempts"] >= 2

    await harness.eventually(tried_and_waiting, message="no retries while the server is down")
    # While the server is down the channel backs off as a whole: the first mail of each
    # connection probes, the others wait untried.
    attempts = [(await harness.channel(event["id"], "email"))["attempts"] for event in events]
    assert attempts.count(0) >= len(events) - harness.settings.smtp_connections

    mail.start()
    await harness.eventually(lambda: len(mail.received()) == 12, message="mail did not arrive after the outage")
    await asyncio.sleep(0.5)  # room for duplicates, which must not come
    assert sorted(mail.message_ids().values()) == [1] * 12
    assert sorted(message["To"] for message in mail.received()) == sorted(f"warga{n}@x.id" for n in range(12))
    for event in events:
        await harness.eventually(lambda event=event: _status(harness, event["id"], "sent"))
    first = await attempts_of(harness, events[0]["id"])
    assert [attempt.outcome for attempt in first][-1] == "sent"
    assert all(attempt.outcome == "retry" and attempt.error for attempt in first[:-1])


async def _status(harness, event_id: str, status: str) -> bool:
    return (await harness.channel(event_id, "email"))["status"] == status


async def test_a_deferred_message_is_retried_and_a_rejected_one_fails(harness, mail):
    mail.replies["later@x.id"] = ["451 4.3.0 Try again later"]
    mail.replies["gone@x.id"] = ["550 5.1.1 No such user"]
    later, gone, fine = (submission_event(email=address) for address in ("later@x.id", "gone@x.id", "fine@x.id"))
    await harness.send(later, gone, fine)

    await harness.eventually(lambda: _status(harness, later["id"], "sent"))
    await harness.eventually(lambda: _status(harness, gone["id"], "failed"))
    await harness.eventually(lambda: _status(harness, fine["id"], "sent"))
    assert sorted(message["To"] for message in mail.received()) == ["fine@x.id", "later@x.id"]
    assert [(attempt.outcome, attempt.error) for attempt in await attempts_of(harness, later["id"])] == [
        ("retry", "recipient refused: SMTP 451"), ("sent", None)]
    assert [(attempt.outcome, attempt.error) for attempt in await attempts_of(harness, gone["id"])] == [
        ("failed", "recipient refused: SMTP 550")]


async def test_mail_fails_once_its_retry_window_has_passed(start, mail):
    mail.stop()
    async with start(email_retry_window_seconds=0.3) as harness:
        event = submission_event()
        await harness.send(event)
        await harness.eventually(lambda: _status(harness, event["id"], "failed"), message="never failed")
        attempts = await attempts_of(harness, event["id"])
        assert attempts[-1].outcome == "failed" and "Connection" in attempts[-1].error
