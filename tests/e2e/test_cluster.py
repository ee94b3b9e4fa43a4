"""Replicas on loopback: two gateways behind a real nginx (deploy/nginx/simpul.conf.template)
and REPLICAS copies of each service, over one PostgreSQL database per service, with events over
RabbitMQ when SIMPUL_TEST_AMQP is set and mail to a real SMTP server. Keyed create+submit flows
and approvals run through nginx while one replica of each replicated kind in turn is SIGKILLed
and started again.

What the client sees: every GET is answered 200 the first time (nginx passes an idempotent
request that met a dead gateway on to the other one); a keyed POST cut off after nginx sent it
is answered 502 by nginx (it does not resend a POST, its `non_idempotent` rule), and the client
sends it again with the same Idempotency-Key, which gives the one effect. Every flow ends issued,
one submission per create key, each receipt once, every submission's mails arrive, a repeat only
with its first copy's Message-ID (an SMTP hand-over cut by a notifications kill), and every
replica serves again after its restart. With SIMPUL_TEST_REDIS the gateways share their state
there, and a second test shows it: a client's requests through either gateway are counted once,
and its revocation is refused by both within a second. The PostgreSQL leg only: replicas share
their database.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx
import pytest
from simpul.submissions.issuer import LEASE_SECONDS as ISSUE_LEASE_SECONDS

from tests.e2e.conftest import SUMMARY_LINES
from tests.e2e.notifications.receivers import MailSink, amqp_server, amqp_vhost
from tests.e2e.test_faults import all_submissions, mails_by_tracking_code
from tests.e2e.test_foundation import service_body
from tests.support.api import PublicApi
from tests.support.cluster import Replicated, redis_env, start_replicated
from tests.support.databases import POSTGRES_ENV, postgres_server
from tests.support.databases import TestDatabases as Databases  # not a test class to collect
from tests.support.nginx import FAIL_TIMEOUT_SECONDS, Nginx, nginx_binary
from tests.support.processes import (
    ADMIN_CLIENT_ID,
    ADMIN_CLIENT_SECRET,
    ALL_SERVICES,
    ServiceProcess,
    System,
    env_name,
    free_ports,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.alone,  # its figures are recovery times: measured with nothing else on the machine
    pytest.mark.skipif(postgres_server() is None, reason=f"replicas share a PostgreSQL database: set {POSTGRES_ENV}"),
    pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (system-packages.txt)"),
]

# Copies of each process: the gateways balanced by nginx, the services by their callers over
# the comma-separated SIMPUL_<SERVICE>_URL lists.
REPLICAS = {"gateway": 2, "catalog": 2, "submissions": 2, "signatures": 2, "notifications": 2}
CONCURRENT = 8
# Flows done before each kill, and while the killed replica is down (the others serve them alone).
FLOWS_AROUND_KILLS = 6
RETRYABLE = (502, 503, 504)
REDIS_ENV = "SIMPUL_TEST_REDIS"
MAIL_WITHIN_SECONDS = 30
DELIVERY_LEASE_SECONDS = 5
# A job the killed submissions copy had claimed waits out the rest of the issuer's lease (no
# longer renewed) and a poll before another copy takes it over (then one attempt: the internal
# client's 2 s connect and 10 s answer).
ISSUED_WITHIN_SECONDS = ISSUE_LEASE_SECONDS + 15


@dataclass
class Cluster(Replicated):
    mail: MailSink


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("cluster")
    with ExitStack() as stack:
        mail = MailSink()
        mail.start()
        stack.callback(mail.stop)
        env = {"SIMPUL_SMTP_HOST": "127.0.0.1", "SIMPUL_SMTP_PORT": str(mail.port),
               "SIMPUL_RATE_LIMIT_PER_MINUTE": "1000000",
               # A mail the killed notifications copy had claimed is sent by another within seconds.
               "SIMPUL_DELIVERY_LEASE_SECONDS": str(DELIVERY_LEASE_SECONDS)}
        if amqp_server() is not None:
            env["SIMPUL_EVENT_BROKER"] = stack.enter_context(amqp_vhost(amqp_server()))[0]
        if os.environ.get(REDIS_ENV):
            env.update(redis_env(stack, os.environ[REDIS_ENV]))
        databases = Databases(directory)
        stack.callback(lambda: asyncio.run(databases.drop_all()))
        started = start_replicated(directory, databases, REPLICAS, env, stack)
        yield Cluster(started.system, started.replicas, started.nginx, mail)


@dataclass
class Seen:
    """What the client saw: flows done, and every answer it had to retry or could not use."""

    created: list[str] = field(default_factory=list)  # one submission id per keyed create
    done: int = 0
    retried: Counter = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    down: set[str] = field(default_factory=set)  # processes killed and not ready again
    retry_answers: list[str] = field(default_factory=list)  # the first few, to say who answered

    def retry(self, what: str, answer: str) -> None:
        self.retried[what] += 1
        if len(self.retry_answers) < 5:
            self.retry_answers.append(f"{what} while {sorted(self.down) or 'none'} down: {answer}")


async def keyed(client: httpx.AsyncClient, path: str, expected: int, seen: Seen, **request) -> dict:
    """A POST with its Idempotency-Key, sent again with the same key while the answer is a
    transport error or a gateway-level 5xx (counted: the test requires none, since nginx and the
    gateways pass a cut-off keyed request on themselves); anything else unexpected is a failure."""
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    for _ in range(50):
        try:
            response = await client.post(path, headers=headers, **request)
        except httpx.TransportError as error:
            seen.retry(type(error).__name__, f"POST {path}: {error!r}")
            await asyncio.sleep(0.1)
            continue
        if response.status_code == expected:
            return response.json()
        if response.status_code not in RETRYABLE:
            seen.failed.append(f"POST {path}: {response.status_code} {response.text[:200]}")
            raise AssertionError(seen.failed[-1])
        # The body says who answered: nginx's HTML page or a gateway's problem+json.
        seen.retry(f"POST {response.status_code}", f"POST {path}: {response.headers.get('content-type')}"
                   f" {response.text[:300]!r}")
        await asyncio.sleep(0.1)
    raise AssertionError(f"POST {path}: no answer after 50 tries")


async def flow(applicant: httpx.AsyncClient, officer: httpx.AsyncClient, code: str, seen: Seen) -> None:
    draft = {
        "service_code": code,
        "applicant": {"name": "Pemohon Klaster", "email": "klaster@example.go.id"},
        "data": {"perihal": "Permohonan lewat dua gateway"},
    }
    created = await keyed(applicant, "/v1/submissions", 201, seen, json=draft)
    seen.created.append(created["id"])
    actions = f"/v1/submissions/{created['id']}/actions"
    await keyed(applicant, f"/v1/submissions/{created['id']}/submit", 200, seen)
    try:
        read = await applicant.get(f"/v1/submissions/{created['id']}")
        if read.status_code != 200:
            seen.failed.append(f"GET: {read.status_code} {read.text[:200]}")
    except httpx.TransportError as error:
        seen.failed.append(f"GET: {type(error).__name__}")
    await keyed(officer, actions, 200, seen, json={"action": "start_review"})
    await keyed(officer, actions, 200, seen, json={"action": "approve", "note": "Lengkap"})
    seen.done += 1


async def until_done(seen: Seen, count: int) -> None:
    target = seen.done + count
    while seen.done < target:
        await asyncio.sleep(0.05)


async def run(cluster: Cluster, tokens: dict[str, str], code: str, seen: Seen) -> list[tuple[str, float]]:
    """Flows, CONCURRENT at a time, until one replica of each replicated kind (each gateway in
    turn) was SIGKILLed and started again, and some flows more."""
    outages: list[tuple[str, float]] = []
    kills_done = asyncio.Event()
    # Submissions first: issuing jobs its killed copy had claimed wait out their lease while the
    # other kills go on.
    order = sorted(ALL_SERVICES, key=lambda name: name != "submissions")
    victims = [(name, index) for name in order if len(cluster.replicas[name]) > 1
               for index in range(len(cluster.replicas[name]) if name == "gateway" else 1)]

    async def restart(process: ServiceProcess, killed: float) -> None:
        await asyncio.to_thread(process.start)
        await asyncio.to_thread(process.wait_ready)
        outages.append((process.log_path.stem, time.monotonic() - killed))
        seen.down.discard(process.log_path.stem)
        if process.name == "gateway":
            # nginx tries a gateway that failed again after fail_timeout: let it come back in.
            await asyncio.sleep(FAIL_TIMEOUT_SECONDS + 0.5)

    async def chaos() -> None:
        restarts: dict[str, asyncio.Task] = {}
        for name, index in victims:
            if name in restarts:
                await restarts.pop(name)  # never both copies of one kind down
            await until_done(seen, FLOWS_AROUND_KILLS)
            process = cluster.replicas[name][index]
            killed = time.monotonic()
            seen.down.add(process.log_path.stem)
            await asyncio.to_thread(process.kill)
            await until_done(seen, FLOWS_AROUND_KILLS)  # served by the other copies alone
            restarts[name] = asyncio.create_task(restart(process, killed))
        await asyncio.gather(*restarts.values())
        await until_done(seen, FLOWS_AROUND_KILLS)
        kills_done.set()

    def client(role: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=cluster.nginx.url, timeout=30.0,
                                 headers={"Authorization": f"Bearer {tokens[role]}"})

    async with client("applicant") as applicant, client("officer") as officer:

        async def worker() -> None:
            while not kills_done.is_set():
                await flow(applicant, officer, code, seen)

        await asyncio.wait_for(asyncio.gather(chaos(), *(worker() for _ in range(CONCURRENT))), timeout=120)
    return outages


def wait_until(condition, within: float) -> None:
    deadline = time.monotonic() + within
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.3)


def test_flows_through_nginx_survive_a_replica_of_each_kind_killed_in_turn(cluster):
    api = PublicApi(cluster.nginx.url)
    admin = api.as_client(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    code, unit = f"UJI-{uuid.uuid4().hex[:8].upper()}", f"KLS-{uuid.uuid4().hex[:6].upper()}"
    assert admin.post("/v1/services", json={**service_body(code, unit), "requirements": []}).status_code == 201
    assert admin.post(f"/v1/services/{code}/publish").status_code == 200
    tokens = {}
    for role, tenant in (("applicant", "31"), ("officer", unit)):
        created = api.create_client(admin, role, tenant)
        tokens[role] = api.token(created["client_id"], created["client_secret"])

    seen = Seen()
    started = time.monotonic()
    try:
        outages = asyncio.run(run(cluster, tokens, code, seen))
    except (AssertionError, TimeoutError) as error:
        pytest.fail(f"{error!r}\nfailed: {seen.failed[:5]}\n{cluster.logs()}")
    elapsed = time.monotonic() - started
    assert seen.failed == [], seen.failed[:5]
    assert not seen.retried, f"requests the client saw fail: {dict(seen.retried)}; {seen.retry_answers}"

    # Issued: rendered, signed and recorded, each once; one submission per keyed create.
    submissions: list[dict] = []

    def all_issued() -> bool:
        submissions[:] = all_submissions(admin, code)
        return {item["status"] for item in submissions} == {"issued"}

    flows_ended = time.monotonic()
    wait_until(all_issued, ISSUED_WITHIN_SECONDS)
    issued_after = time.monotonic() - flows_ended
    assert sorted(item["id"] for item in submissions) == sorted(seen.created), "one submission per keyed create"
    assert {item["status"] for item in submissions} == {"issued"}, Counter(item["status"] for item in submissions)
    receipts = [item["receipt"]["number"] for item in submissions]
    assert len(set(receipts)) == len(receipts)

    # Every submission gets the same mails (its events, each handled once): none lost, and a
    # repeat only of the same message (its SMTP hand-over cut by a kill), never a second event.
    codes = {item["tracking_code"] for item in submissions}

    def distinct(copies: dict[str, list[str]]) -> Counter:
        return Counter(len(set(copies.get(tracking, []))) for tracking in codes)

    wait_until(lambda: len(distinct(mails_by_tracking_code(cluster.mail, codes))) == 1
               and 0 not in distinct(mails_by_tracking_code(cluster.mail, codes)), MAIL_WITHIN_SECONDS)
    copies = mails_by_tracking_code(cluster.mail, codes)
    per_submission = distinct(copies)
    assert len(per_submission) == 1 and 0 not in per_submission, f"distinct mails per submission: {per_submission}"
    repeats = sum(len(ids) - len(set(ids)) for ids in copies.values())
    assert repeats <= sum(name.startswith("notifications") for name, _ in outages)

    served = cluster.nginx.upstreams_used()
    for gateway in cluster.replicas["gateway"]:
        assert served.get(f"127.0.0.1:{gateway.port}", 0) > 0, served
    admin.close()
    api.close()
    line = (f"cluster: {seen.done} flows through nginx in {elapsed:.1f} s, replicas {REPLICAS}; SIGKILLed and"
            f" ready again: {', '.join(f'{name} {seconds:.1f} s' for name, seconds in outages)};"
            f" client retries of keyed POSTs: {dict(seen.retried) or 'none'}; GETs failed: 0;"
            f" all issued {issued_after:.1f} s after the flows; mails per submission {next(iter(per_submission))},"
            f" repeated {repeats}")
    SUMMARY_LINES.append(line)
    print(line)


# --- the gateways' shared state, with Redis ----------------------------------------------

RATE_PER_MINUTE = 60  # a token a second: none comes back during a few requests


@dataclass
class Gateways:
    copies: list[ServiceProcess]
    nginx: Nginx


@pytest.fixture(scope="module")
def gateways_on_redis(tmp_path_factory) -> Iterator[Gateways]:
    """Two gateway processes on one database and one Redis (keys under a prefix of their own),
    behind nginx; the database poll for revocations slowed right down, so only Redis can carry
    one in time."""
    server = os.environ.get(REDIS_ENV)
    if not server:
        pytest.skip(f"{REDIS_ENV} not set")
    directory = tmp_path_factory.mktemp("gateways")
    with ExitStack() as stack:
        env = {**redis_env(stack, server), "SIMPUL_RATE_LIMIT_PER_MINUTE": str(RATE_PER_MINUTE),
               "SIMPUL_GATEWAY_CLIENT_REFRESH_SECONDS": "60"}
        databases = Databases(directory)
        stack.callback(lambda: asyncio.run(databases.drop_all()))
        system = System(directory, databases, services=("gateway",), extra_env=env)
        stack.callback(system.stop)
        system.start()
        first = system["gateway"]
        port = free_ports(1)[0]
        second = ServiceProcess("gateway", port, {**first.env, env_name("gateway", "PORT"): str(port), "SIMPUL_METRICS_PORT": "0"},
                                directory / "gateway-2.log")
        stack.callback(second.stop)
        second.start()
        second.wait_ready(path="/healthz")  # never ready: no service behind it
        nginx = Nginx(directory / "nginx", [first.url, second.url])
        stack.callback(nginx.stop)
        nginx.start()
        yield Gateways([first, second], nginx)


def test_with_redis_both_gateways_count_a_client_once_and_see_its_revocation_within_a_second(gateways_on_redis):
    first, second = (httpx.Client(base_url=gateway.url, timeout=10.0) for gateway in gateways_on_redis.copies)
    admin_token = PublicApi(gateways_on_redis.nginx.url).token(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    admin = {"Authorization": f"Bearer {admin_token}"}

    # One bucket for the admin, whichever gateway answers: each answer takes one more token from it.
    remaining = []
    for client in (first, second, first, second):
        answer = client.get("/v1/admin/clients", headers=admin)
        assert answer.status_code == 200, answer.text
        remaining.append(int(answer.headers["RateLimit-Remaining"]))
    assert remaining == list(range(remaining[0], remaining[0] - 4, -1)), remaining

    created = first.post("/v1/admin/clients", json={"name": "klaster", "role": "admin"}, headers=admin).json()
    token = PublicApi(gateways_on_redis.nginx.url).token(created["client_id"], created["client_secret"])
    revoked_client = {"Authorization": f"Bearer {token}"}
    assert second.get("/v1/admin/clients", headers=revoked_client).status_code == 200
    assert first.delete(f"/v1/admin/clients/{created['client_id']}", headers=admin).status_code == 204
    revoked = time.monotonic()
    seen_after = []
    for client in (second, first):
        while client.get("/v1/admin/clients", headers=revoked_client).status_code != 401:
            assert time.monotonic() - revoked < 1.0, "a gateway kept accepting a revoked client"
            time.sleep(0.02)
        seen_after.append(time.monotonic() - revoked)
    line = (f"cluster, Redis: the admin's RateLimit-Remaining through both gateways {remaining};"
            f" a revocation refused by both within {max(seen_after) * 1000:.0f} ms")
    SUMMARY_LINES.append(line)
    print(line)
    first.close()
    second.close()
