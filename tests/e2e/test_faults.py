"""The fault test of the whole system (issue 11, item 7).

1,000 keyed create+submit flows through the gateway, all five services as real processes on
PostgreSQL with events over RabbitMQ and mail to a real SMTP server (aiosmtpd). The client retries
every request with the same Idempotency-Key on connection errors, 5xx, 429 and "in progress".
Meanwhile a supervisor, every 2 s, SIGKILLs one service and starts it again, or closes every
RabbitMQ connection of the test's vhost: the kinds of fault in a shuffled round, so each comes up
alike. Asserted: every flow completes, exactly one submission per create key, each submitted; each
submitted submission's mail arrives (found by its tracking code); repeated mails <= notifications
kills, each repeat with its first copy's Message-ID. The figures go to the terminal summary and
to `faults.json` in the test's directory.

Only in the PostgreSQL + RabbitMQ leg of `.ci/run`: on SQLite a SIGKILL mid-commit is SQLite's
business and the broker drops have nothing to drop. Signatures is not killed: no create+submit
request reaches it."""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx
import pytest

from tests.e2e.conftest import SUMMARY_LINES, start_system
from tests.e2e.notifications.receivers import MailSink, amqp_server, amqp_vhost, close_broker_connections
from tests.e2e.test_foundation import service_body
from tests.support.api import PublicApi
from tests.support.databases import postgres_server
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, System

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.alone,  # its figures are recovery times: measured with nothing else on the machine
    pytest.mark.postgres,
    pytest.mark.amqp,
    pytest.mark.skipif(
        postgres_server() is None or amqp_server() is None,
        reason="the fault test runs in the PostgreSQL + RabbitMQ leg: set SIMPUL_TEST_POSTGRES and SIMPUL_TEST_AMQP",
    ),
]

FLOWS = 1000
CONCURRENT = 32
FAULT_EVERY_SECONDS = 2.0
KILLED = ("gateway", "catalog", "submissions", "notifications")
BROKER_DROP = "broker connections dropped"
# Short leases, so a key or a mail whose holder was killed is free again within seconds.
IDEMPOTENCY_LEASE_SECONDS = 5
DELIVERY_LEASE_SECONDS = 5
# Bounds of the waits: the flows under faults, then the mail once the faults have stopped.
FLOWS_WITHIN_SECONDS = 300
MAIL_WITHIN_SECONDS = 90
WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass
class Figures:
    seed: int = 0
    faults: Counter = field(default_factory=Counter)  # kind -> how many
    retries: Counter = field(default_factory=Counter)  # cause -> how many
    restart_seconds: list[float] = field(default_factory=list)
    completed: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # create key -> the answer that ended it
    wall_seconds: float = 0.0

    def retry(self, cause: str) -> None:
        self.retries[cause] += 1


@pytest.fixture
def mail() -> Iterator[MailSink]:
    sink = MailSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def world(tmp_path, mail) -> Iterator[tuple[System, str]]:
    with ExitStack() as stack:
        vhost_url, vhost = stack.enter_context(amqp_vhost(amqp_server()))
        env = {
            "SIMPUL_EVENT_BROKER": vhost_url,
            "SIMPUL_SMTP_HOST": "127.0.0.1",
            "SIMPUL_SMTP_PORT": str(mail.port),
            "SIMPUL_IDEMPOTENCY_LEASE_SECONDS": str(IDEMPOTENCY_LEASE_SECONDS),
            "SIMPUL_DELIVERY_LEASE_SECONDS": str(DELIVERY_LEASE_SECONDS),
            "SIMPUL_EMAIL_RETRY_BASE_SECONDS": "0.2",
            "SIMPUL_EMAIL_RETRY_MAX_DELAY_SECONDS": "1",
            "SIMPUL_RATE_LIMIT_PER_MINUTE": "1000000",
        }
        system, databases = start_system(tmp_path, extra_env=env)
        stack.callback(lambda: asyncio.run(databases.drop_all()))
        stack.callback(system.stop)
        yield system, vhost


async def until_done(client: httpx.AsyncClient, path: str, key: str, expected: int, figures: Figures,
                     **request) -> httpx.Response:
    """Send the request with its key until it is answered `expected` (returned) or with an answer
    a retry cannot change (returned too: the flow cannot complete)."""
    headers = {"Idempotency-Key": key}
    while True:
        try:
            response = await client.post(path, headers=headers, **request)
        except httpx.TransportError as error:
            figures.retry(type(error).__name__)
            await asyncio.sleep(random.uniform(0.1, 0.3))
            continue
        if response.status_code == expected:
            if response.headers.get("idempotent-replayed"):
                figures.retry("answered by a replay")
            return response
        slug = ""
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            slug = response.json().get("type", "").rpartition(":")[2].rpartition("/")[2]
        if not (response.status_code >= 500 or response.status_code == 429
                or (response.status_code == 409 and slug == "idempotency-in-progress")):
            return response
        figures.retry(f"{response.status_code} {slug}".strip())
        pause = min(float(response.headers.get("retry-after") or 0.2), 1.0)
        await asyncio.sleep(random.uniform(pause / 2, pause))


async def run_flows(base_url: str, token: str, code: str, figures: Figures) -> dict[str, dict]:
    """create key -> the submission its flow submitted."""
    submitted: dict[str, dict] = {}
    limits = httpx.Limits(max_connections=CONCURRENT)
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=20.0, limits=limits) as client:
        gate = asyncio.Semaphore(CONCURRENT)

        async def flow(number: int) -> None:
            create_key, submit_key = uuid.uuid4().hex, uuid.uuid4().hex
            draft = {
                "service_code": code,
                "applicant": {"name": f"Pemohon {number}", "email": f"uji{number}@example.go.id"},
                "data": {"perihal": f"Permohonan nomor {number}"},
            }
            async with gate:
                created = await until_done(client, "/v1/submissions", create_key, 201, figures, json=draft)
                if created.status_code != 201:
                    figures.failed[create_key] = f"create: {created.status_code} {created.text[:300]}"
                    return
                path = f"/v1/submissions/{created.json()['id']}/submit"
                done = await until_done(client, path, submit_key, 200, figures)
                if done.status_code != 200:
                    figures.failed[create_key] = f"submit: {done.status_code} {done.text[:300]}"
                    return
            submitted[create_key] = done.json()
            figures.completed += 1

        await asyncio.gather(*(flow(number) for number in range(FLOWS)))
    return submitted


async def supervise(system: System, vhost: str, flows_done: asyncio.Event, figures: Figures) -> None:
    """Every FAULT_EVERY_SECONDS after the last fault is over, the next one, until the flows are done."""
    rng = random.Random(figures.seed)
    round_: list[str] = []
    while True:
        try:
            await asyncio.wait_for(flows_done.wait(), FAULT_EVERY_SECONDS)
            return
        except TimeoutError:
            pass
        if not round_:
            round_ = [*KILLED, BROKER_DROP]
            rng.shuffle(round_)
        kind = round_.pop()
        began = time.monotonic()
        if kind == BROKER_DROP:
            await asyncio.to_thread(close_broker_connections, vhost)
        else:
            await asyncio.to_thread(system[kind].crash_and_restart)
            figures.restart_seconds.append(time.monotonic() - began)
        figures.faults[kind] += 1


async def flows_under_faults(system: System, vhost: str, token: str, code: str,
                             figures: Figures) -> dict[str, dict]:
    flows_done = asyncio.Event()
    supervisor = asyncio.create_task(supervise(system, vhost, flows_done, figures))
    try:
        return await asyncio.wait_for(run_flows(system.gateway_url, token, code, figures), FLOWS_WITHIN_SECONDS)
    finally:
        flows_done.set()
        await supervisor  # the fault under way ends with its service ready again


def all_submissions(admin: httpx.Client, code: str) -> list[dict]:
    found, cursor = [], None
    while True:
        params = {"service_code": code, "limit": 200, **({"cursor": cursor} if cursor else {})}
        response = admin.get("/v1/submissions", params=params)
        assert response.status_code == 200, response.text
        found += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return found


def mails_by_tracking_code(mail: MailSink, wanted: set[str]) -> dict[str, list[str]]:
    """Tracking code -> the Message-ID of every mail that names it."""
    found: dict[str, list[str]] = {}
    for message in mail.received():
        for code in WORD.findall(str(message["Subject"])):
            if code in wanted:
                found.setdefault(code, []).append(message["Message-ID"])
    return found


def test_a_thousand_keyed_flows_through_kills_and_broker_drops(world, mail, tmp_path):
    system, vhost = world
    api = PublicApi(system.gateway_url)
    admin = api.as_client(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    code = f"UJI-{uuid.uuid4().hex[:8].upper()}"
    body = {**service_body(code, "E2E-FAULTS"), "requirements": []}
    assert admin.post("/v1/services", json=body).status_code == 201
    assert admin.post(f"/v1/services/{code}/publish").status_code == 200
    applicant = api.create_client(admin, "applicant", "31")
    token = api.token(applicant["client_id"], applicant["client_secret"])

    figures = Figures(seed=random.randrange(1 << 30))
    started = time.monotonic()
    try:
        submitted = asyncio.run(flows_under_faults(system, vhost, token, code, figures))
    except TimeoutError:
        pytest.fail(f"{figures.completed} of {FLOWS} flows done within {FLOWS_WITHIN_SECONDS} s;"
                    f" faults {dict(figures.faults)}, retries {dict(figures.retries)}\n{system.logs()}")
    figures.wall_seconds = time.monotonic() - started

    # Exactly one submission per create key, each submitted: none lost, none twice.
    submissions = all_submissions(admin, code)
    ids = Counter(s["id"] for s in submissions)
    lost_submissions = len({s["id"] for s in submitted.values()} - set(ids))
    extra_submissions = len(submissions) - len(submitted) + lost_submissions
    not_submitted = sum(s["status"] != "submitted" for s in submissions)

    # Each submission's mail arrives; a repeat only for a mail in flight at a notifications kill.
    tracking_codes = {s["tracking_code"] for s in submissions}
    mail_started = time.monotonic()
    while len(mails_by_tracking_code(mail, tracking_codes)) < len(tracking_codes):
        if time.monotonic() - mail_started > MAIL_WITHIN_SECONDS:
            break
        time.sleep(0.5)
    mail_wait = time.monotonic() - mail_started
    time.sleep(DELIVERY_LEASE_SECONDS + 2)  # a late copy of a mail whose lease ran out comes by now
    copies = mails_by_tracking_code(mail, tracking_codes)
    lost_mails = len(tracking_codes - set(copies))
    duplicates = sum(len(ids) - 1 for ids in copies.values())
    other_message_id = sum(len(set(ids)) > 1 for ids in copies.values())
    notifications_kills = figures.faults["notifications"]

    report = {
        "flows": FLOWS, "completed": figures.completed, "cannot_complete": len(figures.failed),
        "wall_seconds": round(figures.wall_seconds, 1), "faults": dict(figures.faults),
        "retries": dict(figures.retries), "restart_seconds_max": round(max(figures.restart_seconds, default=0.0), 1),
        "submissions": len(submissions), "lost_submissions": lost_submissions,
        "duplicate_submissions": extra_submissions, "not_submitted": not_submitted,
        "mails": sum(len(ids) for ids in copies.values()), "lost_mails": lost_mails,
        "duplicate_mails": duplicates, "repeated_with_another_message_id": other_message_id,
        "notifications_kills": notifications_kills, "mail_wait_after_flows_seconds": round(mail_wait, 1),
        "seed": figures.seed,
    }
    (tmp_path / "faults.json").write_text(json.dumps(report, indent=2))
    line = (f"fault test: {FLOWS} flows in {report['wall_seconds']} s, {sum(figures.faults.values())} faults "
            f"{report['faults']}; retries {report['retries']}; cannot complete {len(figures.failed)}, "
            f"submissions lost {lost_submissions}, duplicated {extra_submissions}; mails lost {lost_mails}, "
            f"duplicated {duplicates} (notifications kills {notifications_kills}); {tmp_path / 'faults.json'}")
    print("\n" + line)
    SUMMARY_LINES.append(line)
    admin.close()
    api.close()

    assert figures.failed == {}, f"flows that cannot complete: {list(figures.failed.values())[:5]}"
    assert lost_submissions == 0 and extra_submissions == 0 and len(submissions) == FLOWS
    assert not_submitted == 0
    assert lost_mails == 0, f"{lost_mails} submissions never mailed\n{system.logs()}"
    assert other_message_id == 0, "a mail came again with another Message-ID: its event was handled twice"
    assert duplicates <= notifications_kills
