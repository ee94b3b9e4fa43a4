"""The outbox relay against a real database (SQLite, or PostgreSQL with SIMPUL_TEST_POSTGRES)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import MetaData, select, text, update

from simpul.shared.db import create_engine, read_session_factory, session_factory, utcnow
from simpul.shared.events import outbox_table, stage_event
from simpul.shared.identity import AssertionVerifier
from simpul.shared.relay import (
    BATCH_CONTENT_TYPE,
    HttpTransport,
    OutboxRelay,
    TransportError,
)
from simpul.shared.transport import RefusedForGood
from simpul.shared.worker import RetryAfter
from tests.support.databases import postgres_server

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
    await relay.stop()

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
    await relay.stop()
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


class RefusingTransport(RecordingTransport):
    """Refuses for good every batch holding an event whose data says `poison`."""

    async def publish(self, events):
        self.calls += 1
        if any(event["data"].get("poison") for event in events):
            raise RefusedForGood("HTTP 422 from /internal/events")
        self.received.extend(events)


async def test_an_event_refused_for_good_is_set_aside_and_the_rest_go_through_in_order(outbox, caplog):
    table, sessions, read_sessions = outbox
    staged = [await stage(sessions, table, "submissions/a", n) for n in range(2)]
    async with sessions.begin() as session:
        poison = await stage_event(session, table, type="t", source="simpul/test", subject="submissions/a",
                                   data={"poison": True})
    staged.append(await stage(sessions, table, "submissions/a", 3))
    transport = RefusingTransport()
    relay = OutboxRelay(sessions, read_sessions, table, transport, batch_size=10, retention=timedelta(0))

    assert await relay.publish_pending() == 4
    assert await relay.publish_pending() == 0  # nothing left to retry
    assert [event["id"] for event in transport.received] == [event["id"] for event in staged]
    assert transport.calls == 1 + 4  # the batch, then each event alone
    async with read_sessions() as session:
        rows = {row.id: row for row in (await session.execute(select(table))).all()}
    assert rows[poison["id"]].published_at is not None
    assert rows[poison["id"]].last_error == "refused for good: HTTP 422 from /internal/events"
    assert any("refused for good" in record.getMessage() and record.levelname == "ERROR"
               for record in caplog.records)

    relay._last_purge = None
    await relay._purge_published()
    async with read_sessions() as session:
        assert (await session.execute(select(table.c.id))).scalars().all() == [poison["id"]]


@pytest.mark.parametrize(("status", "refused"), [(400, True), (413, True), (422, True), (401, False),
                                                 (403, False), (409, False), (429, False), (503, False)])
async def test_http_transport_tells_a_refusal_for_good_from_a_failure_that_may_pass(status, refused):
    transport = HttpTransport("http://notifications.test", caller="submissions", secret=SECRET,
                              transport=httpx.MockTransport(lambda request: httpx.Response(status)))
    with pytest.raises(TransportError) as raised:
        await transport.publish([{"id": "1"}])
    assert isinstance(raised.value, RefusedForGood) is refused
    await transport.aclose()


async def test_http_transport_reports_an_unreachable_destination():
    transport = HttpTransport("http://127.0.0.1:9", caller="submissions", secret=SECRET, timeout=1.0)
    with pytest.raises(TransportError):
        await transport.publish([{"id": "1"}])
    await transport.aclose()


needs_postgres = pytest.mark.skipif(postgres_server() is None,
                                    reason="replicas coordinate through PostgreSQL (SIMPUL_TEST_POSTGRES)")


@pytest.fixture
async def two_replicas(outbox):
    """Two relays over one outbox, each with its own engine like two processes; the first
    replica's sessions stage, both wake on their own commits only."""
    table, sessions, read_sessions = outbox
    other = create_engine(sessions.kw["bind"].url.render_as_string(hide_password=False))
    replicas = [
        OutboxRelay(sessions, read_sessions, table, RecordingTransport(), lock_retry_seconds=0.5),
        OutboxRelay(session_factory(other), read_session_factory(other), table, RecordingTransport(),
                    lock_retry_seconds=0.5),
    ]
    for relay in replicas:
        await relay.start()
    yield replicas
    for relay in replicas:
        await relay.stop()
    await other.dispose()


def published_ids(replicas) -> list[str]:
    return [event["id"] for relay in replicas for event in relay.transport.received]


async def wait_for_ids(replicas, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(published_ids(replicas)) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def terminate_lock_holder(sessions) -> None:
    """What PostgreSQL sees when the holding process dies: its session ends."""
    async with sessions() as session:
        pids = (await session.execute(text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ))).scalars().all()
        assert len(pids) == 1
        await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})


@needs_postgres
async def test_two_replicas_publish_every_event_once_in_order(outbox, two_replicas):
    table, sessions, _ = outbox
    staged = []
    for n in range(60):
        staged.append(await stage(sessions, table, f"submissions/{n % 5}", n))
        if n % 7 == 0:
            await asyncio.sleep(0.05)  # rounds of both replicas in between
    await wait_for_ids(two_replicas, len(staged))
    await asyncio.sleep(0.5)  # a repeat would arrive by now
    received = [relay.transport.received for relay in two_replicas]
    assert sorted(map(len, received)) == [0, len(staged)]  # one publisher
    assert published_ids(two_replicas) == [event["id"] for event in staged]


@needs_postgres
async def test_another_replica_takes_over_within_seconds_when_the_holder_dies(outbox, two_replicas):
    table, sessions, _ = outbox
    first = await stage(sessions, table, "submissions/1", 1)
    await wait_for_ids(two_replicas, 1)
    holder, other = two_replicas if two_replicas[0].transport.received else reversed(two_replicas)
    await holder._worker.stop()  # the process stops working...
    await terminate_lock_holder(sessions)  # ...and its connections close
    died = time.monotonic()
    second = await stage(sessions, table, "submissions/1", 2)
    await wait_for_ids(two_replicas, 2)
    took_over = time.monotonic() - died
    assert [event["id"] for event in other.transport.received] == [second["id"]]
    assert published_ids(two_replicas) == [first["id"], second["id"]]
    assert took_over <= 5.0


@needs_postgres
async def test_a_holder_whose_lock_connection_dies_stops_publishing_and_nothing_is_lost(outbox, two_replicas):
    table, sessions, _ = outbox
    staged = [await stage(sessions, table, "submissions/1", 0)]
    await wait_for_ids(two_replicas, 1)
    await terminate_lock_holder(sessions)  # the holder runs on without its lock
    for n in range(1, 30):
        staged.append(await stage(sessions, table, f"submissions/{n % 3}", n))
        await asyncio.sleep(0.02)
    await wait_for_ids(two_replicas, len(staged))
    await asyncio.sleep(0.5)
    ids = published_ids(two_replicas)
    assert sorted(ids) == sorted(event["id"] for event in staged)  # each once
    for relay in two_replicas:  # and each replica's share in order
        mine = [event["id"] for event in relay.transport.received]
        assert mine == [event["id"] for event in staged if event["id"] in mine]
