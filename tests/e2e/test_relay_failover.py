"""Outbox relays as replicas, as real processes on PostgreSQL: two relay processes over one
outbox push to the notifications service; the one holding the outbox's lock is SIGKILLed and
started again while events keep coming. Every event is mailed once, and events staged after
the kill arrive within seconds (another relay took over)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.e2e.notifications.producer import Producer, submission_data
from tests.e2e.notifications.receivers import MailSink, wait_for
from tests.support.databases import TestDatabases as Databases
from tests.support.databases import postgres_server
from tests.support.identity import jwks_json
from tests.support.processes import System

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(postgres_server() is None,
                                                  reason="relay replicas coordinate through PostgreSQL")]

ROOT = Path(__file__).resolve().parents[2]
TAKEOVER_LIMIT = 5.0

# One relay replica: the shared relay over the producer's outbox, pushing to notifications over
# HTTP, its database sessions named so that the test can tell which replica holds the lock.
RELAY = """
import asyncio, sys
from sqlalchemy import MetaData
from simpul.shared.db import create_engine, read_session_factory, session_factory
from simpul.shared.events import outbox_table
from simpul.shared.relay import HttpTransport, OutboxRelay

name, url, notifications, secret = sys.argv[1:5]

async def main():
    engine = create_engine(url, server_settings={"application_name": name})
    relay = OutboxRelay(session_factory(engine), read_session_factory(engine), outbox_table(MetaData()),
                        HttpTransport(notifications, caller="submissions", secret=secret), poll_interval=0.2)
    await relay.start()
    await asyncio.Event().wait()

asyncio.run(main())
"""

HOLDER = text(
    "SELECT activity.application_name FROM pg_locks AS lock"
    " JOIN pg_stat_activity AS activity ON activity.pid = lock.pid"
    " WHERE lock.locktype = 'advisory' AND lock.granted"
    " AND lock.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class RelayProcess:
    def __init__(self, name: str, args: list[str], log_path: Path) -> None:
        self.name, self._args, self._log_path = name, args, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self._log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-c", RELAY, self.name, *self._args],
                                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


async def holder(producer: Producer) -> str | None:
    async with producer.engine.connect() as connection:
        return (await connection.execute(HOLDER)).scalar_one_or_none()


async def test_the_relay_holding_the_lock_is_killed_and_another_publishes_every_event_once(tmp_path):
    mail = MailSink()
    mail.start()
    databases = Databases(tmp_path)
    env = {"SIMPUL_SMTP_HOST": "127.0.0.1", "SIMPUL_SMTP_PORT": str(mail.port), "SIMPUL_IDENTITY_JWKS": jwks_json(),
           "SIMPUL_DISPATCH_POLL_SECONDS": "0.2"}
    system = System(tmp_path, databases, services=("notifications",), extra_env=env)
    relays: list[RelayProcess] = []
    try:
        await asyncio.to_thread(system.start)
        url = await databases.url("producer")
        producer = await Producer(url).open()
        args = [url, system["notifications"].url, system.internal_secret]
        relays = [RelayProcess(f"relay-{n}", args, tmp_path / f"relay-{n}.log") for n in range(2)]
        for relay in relays:
            relay.start()

        staged = [await producer.stage(submission_data(email=f"before{n}@x.id")) for n in range(20)]
        await asyncio.to_thread(wait_for, lambda: mail.count() >= 20, 30, message="the first events not mailed")
        for round_ in range(2):  # the holder killed, then (restarted) the other one
            name = await holder(producer)
            killed = next(relay for relay in relays if relay.name == name)
            killed.kill()
            died = time.monotonic()
            staged.append(await producer.stage(submission_data(email=f"after{round_}@x.id")))
            await asyncio.to_thread(wait_for, lambda address=f"after{round_}@x.id": mail.to(address),
                                    TAKEOVER_LIMIT + 5, message="no relay took over")
            assert time.monotonic() - died <= TAKEOVER_LIMIT
            assert await holder(producer) not in (None, killed.name)
            killed.start()  # as a supervisor would
            staged += [await producer.stage(submission_data(email=f"round{round_}-{n}@x.id")) for n in range(20)]
            await asyncio.to_thread(wait_for, lambda: mail.count() >= len(staged), 30, message="events were lost")

        await asyncio.sleep(1)  # room for copies, which must not come
        assert Counter(message["To"] for message in mail.received()) == Counter(
            event["data"]["applicant"]["email"] for event in staged)
        await producer.close()
    finally:
        for relay in relays:
            relay.kill()
        await asyncio.to_thread(system.stop)
        await databases.drop_all()
        mail.stop()
