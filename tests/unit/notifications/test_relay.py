"""The outbox relay against a real database (SQLite, or PostgreSQL with SIMPUL_TEST_POSTGRES)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import MetaData, select, update

from simpul.shared.db import create_engine, read_session_factory, session_factory, utcnow
from simpul.shared.events import outbox_table, stage_event
from simpul.shared.identity import AssertionVerifier
from simpul.shared.relay import (
    BATCH_CONTENT_TYPE,
    HttpTransport,
    OutboxRelay,
    TransportError,
)
from simpul.shared.worker import RetryAfter

SECRET = "relay-test-secret-0123456789abcdef"


class RecordingTransport:
    """Takes events while `up`; refuses them otherwise."""

    def __init__(self) -> None:
        self.up = True
        self.received: list[dict] = []
        self.calls = 0
        self.arrived = asyncio.Event()

    async def publish(self, events):
        self.calls += 1
        if not self.up:
            raise TransportError("destination down")
        self.received.extend(events)
        self.arrived.set()

    async def aclose(self):
        pass


@pytest.fixture
async def outbox(databases):
    metadata = MetaData()
    table = outbox_table(metadata)
    engine = create_engine(await databases.url("relay"))
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield table, session_factory(engine), read_session_factory(engine)
    await engine.dispose()


async def stage(sessions, table, subject: str, number: int) -> dict:
    async with sessions.begin() as session:
        return await stage_event(session, table, type="submission.status_changed", source="simpul/test",
                                 subject=subject, data={"n": number})


async def wait_until_published(read_sessions, table, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with read_sessions() as session:
            if (await session.execute(select(table.c.id).where(table.c.published_at.is_(None)))).first() is None:
                return
        await asyncio.sleep(0.02)
    raise AssertionError("outbox rows still unpublished")


async def test_publishes_in_order_and_marks_published(outbox):
    table, sessions, read_sessions = outbox
    staged = [await stage(sessions, table, f"submissions/{n % 3}", n) for n in range(7)]
    transport = RecordingTransport()
    relay = OutboxRelay(sessions, read_sessions, table, transport, batch_size=3)

    assert await relay.publish_pending() == 3
    assert await relay.publish_pending() == 3
    assert await relay.publish_pending() == 1
    assert await relay.publish_pending() == 0

    assert [event["id"] for event in transport.received] == [event["id"] for event in staged]
    first = transport.received[0]
    assert set(first) == {"specversion", "id", "type", "source", "subject", "occurred_at", "datacontenttype", "data"}
    assert first["data"] == {"n": 0} and first["subject"] == "submissions/0"
    async with read_sessions() as session:
        unpublished = (await session.execute(select(table).where(table.c.published_at.is_(None)))).all()
    assert unpublished == []


async def test_backs_off_while_down_and_loses_nothing(outbox):
    table, sessions, read_sessions = outbox
    staged = [await stage(sessions, table, "submissions/a", n) for n in range(3)]
    transport = RecordingTransport()
    transport.up = False
    relay = OutboxRelay(sessions, read_sessions, table, transport, backoff_base=0.05, backoff_cap=0.2)

    with pytest.raises(RetryAfter) as raised:
        await relay.publish_pending()
    assert 0.025 <= raised.value.seconds <= 0.05  # backoff_delay(1, base=0.05): the wait kept on the rows
    async with read_sessions() as session:
        rows = (await session.execute(select(table).order_by(table.c.position))).all()
    assert [row.attempts for row in rows] == [1, 1, 1]
    assert rows[0].last_error == "destination down"
    assert rows[0].next_attempt_at > utcnow() - timedelta(seconds=1)
    # Within the backoff nothing is tried, even though there is work.
    calls = transport.calls
    with pytest.raises(RetryAfter):
        await relay.publish_pending()
    if utcnow() < rows[0].next_attempt_at:  # (a loaded machine may have let the backoff run out)
        assert transport.calls == calls

    await relay.start()
    try:
        await asyncio.sleep(0.5)
        assert transport.calls > calls  # it kept trying
        transport.up = True
        await wait_until_published(read_sessions, table)
    finally:
        await relay.stop()
    assert [event["id"] for event in transport.received] == [event["id"] for event in staged]
    async with read_sessions() as session:
        rows = (await session.execute(select(table))).all()
    assert all(row.last_error is None and row.next_attempt_at is None for row in rows)


async def test_a_commit_wakes_the_relay_at_once(outbox):
    table, sessions, read_sessions = outbox
    transport = RecordingTransport()
    # With a 30 s poll only the commit hook can explain a prompt publication.
    relay = OutboxRelay(sessions, read_sessions, table, transport, poll_interval=30)
    relay.watch(sessions)
    await relay.start()
    try:
        await asyncio.sleep(0.1)
        async with sessions() as session:
            await stage_event(session, table, type="t", source="simpul/test", subject="s/1", data={})
            await session.rollback()
        started = time.monotonic()
        event = await stage(sessions, table, "s/2", 2)
        await asyncio.wait_for(transport.arrived.wait(), 5)
        assert time.monotonic() - started < 1.0
    finally:
        await relay.stop()
    assert [item["id"] for item in transport.received] == [event["id"]]


async def test_published_rows_are_purged_after_the_retention(outbox):
    table, sessions, read_sessions = outbox
    await stage(sessions, table, "s/old", 1)
    fresh = await stage(sessions, table, "s/new", 2)
    relay = OutboxRelay(sessions, read_sessions, table, RecordingTransport(), retention=timedelta(hours=1))
    await relay.publish_pending()
    async with sessions.begin() as session:
        await session.execute(update(table).where(table.c.subject == "s/old")
                              .values(published_at=utcnow() - timedelta(hours=2)))
    await relay._purge_published()
    async with read_sessions() as session:
        left = (await session.execute(select(table.c.id))).scalars().all()
    assert left == [fresh["id"]]


async def test_http_transport_posts_a_signed_batch():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200 if len(seen) == 1 else 503)

    transport = HttpTransport("http://notifications.test", caller="submissions", secret=SECRET,
                              transport=httpx.MockTransport(handler))
    events = [{"id": "1", "type": "t"}, {"id": "2", "type": "t"}]
    await transport.publish(events)
    with pytest.raises(TransportError, match="HTTP 503"):
        await transport.publish(events)
    await transport.aclose()

    request = seen[0]
    assert request.url.path == "/internal/events"
    assert request.headers["content-type"] == BATCH_CONTENT_TYPE
    assert httpx.Response(200, content=request.content).json() == events
    identity = await AssertionVerifier("notifications", internal_secret=SECRET).verify(
        request.headers["x-simpul-assertion"])
    assert identity.role == "service" and identity.subject == "service:submissions"


async def test_http_transport_reports_an_unreachable_destination():
    transport = HttpTransport("http://127.0.0.1:9", caller="submissions", secret=SECRET, timeout=1.0)
    with pytest.raises(TransportError):
        await transport.publish([{"id": "1"}])
    await transport.aclose()
