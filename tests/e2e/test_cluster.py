"""Two gateways behind a real nginx (deploy/nginx/simpul.conf.template) on loopback, over one
PostgreSQL database, with the services behind them: keyed create+submit flows and approvals run
through nginx while each gateway in turn is SIGKILLed and started again.

What the client sees: every GET is answered 200 the first time (nginx passes an idempotent
request that met a dead gateway on to the other one); a keyed POST cut off after nginx sent it
is answered 502 by nginx (it does not resend a POST, its `non_idempotent` rule), and the client
sends it again with the same Idempotency-Key, which gives the one effect. Every flow ends issued,
one submission per create key, each receipt once, and both gateways serve again after their
restart. The PostgreSQL leg only: two gateways share their database.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.e2e.conftest import SUMMARY_LINES, start_system
from tests.e2e.test_faults import all_submissions
from tests.e2e.test_foundation import service_body
from tests.support.api import PublicApi
from tests.support.databases import POSTGRES_ENV, postgres_server
from tests.support.nginx import FAIL_TIMEOUT_SECONDS, Nginx, nginx_binary
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, ServiceProcess, System, free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(postgres_server() is None, reason=f"replicas share a PostgreSQL database: set {POSTGRES_ENV}"),
    pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (system-packages.txt)"),
]

CONCURRENT = 8
# Flows done before the first kill, and after the last restart (the restarted gateway serves them too).
FLOWS_AROUND_KILLS = 10
RETRYABLE = (502, 503, 504)


@dataclass
class Cluster:
    system: System
    gateways: list[ServiceProcess]
    nginx: Nginx

    def logs(self) -> str:
        return f"{self.system.logs()}\n\n== gateway 2\n{self.gateways[1].log_tail()}\n\n== nginx\n{self.nginx.log_tail()}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("cluster")
    system, databases = start_system(directory, extra_env={"SIMPUL_RATE_LIMIT_PER_MINUTE": "100000"})
    first = system["gateway"]
    port = free_port()
    # Started after the first is ready: it finds the signing keys the first made in their database.
    second = ServiceProcess("gateway", port, {**first.env, "SIMPUL_GATEWAY_PORT": str(port)}, directory / "gateway-2.log")
    nginx = Nginx(directory / "nginx", [first.url, second.url])
    try:
        second.start()
        second.wait_ready()
        nginx.start()
        yield Cluster(system, [first, second], nginx)
    finally:
        nginx.stop()
        second.stop()
        system.stop()
        asyncio.run(databases.drop_all())


@dataclass
class Seen:
    """What the client saw: flows done, and every answer it had to retry or could not use."""

    created: list[str] = field(default_factory=list)  # one submission id per keyed create
    done: int = 0
    retried: Counter = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)


async def keyed(client: httpx.AsyncClient, path: str, expected: int, seen: Seen, **request) -> dict:
    """A POST with its Idempotency-Key, sent again with the same key while the answer is a
    transport error or a gateway-level 5xx; anything else unexpected is a failure."""
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    for _ in range(50):
        try:
            response = await client.post(path, headers=headers, **request)
        except httpx.TransportError as error:
            seen.retried[type(error).__name__] += 1
            await asyncio.sleep(0.1)
            continue
        if response.status_code == expected:
            return response.json()
        if response.status_code not in RETRYABLE:
            seen.failed.append(f"POST {path}: {response.status_code} {response.text[:200]}")
            raise AssertionError(seen.failed[-1])
        seen.retried[f"POST {response.status_code}"] += 1
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
    """Flows, CONCURRENT at a time, until each gateway was killed and back and some flows more."""
    outages: list[tuple[str, float]] = []
    kills_done = asyncio.Event()

    async def chaos() -> None:
        for number, gateway in enumerate(cluster.gateways, 1):
            await until_done(seen, FLOWS_AROUND_KILLS)
            killed = time.monotonic()
            await asyncio.to_thread(gateway.kill)
            await until_done(seen, FLOWS_AROUND_KILLS)  # served by the other gateway alone
            await asyncio.to_thread(gateway.start)
            await asyncio.to_thread(gateway.wait_ready)
            outages.append((f"gateway {number}", time.monotonic() - killed))
            # nginx tries a gateway that failed again after fail_timeout: let it come back in.
            await asyncio.sleep(FAIL_TIMEOUT_SECONDS + 0.5)
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


def test_flows_through_nginx_survive_each_gateway_killed_in_turn(cluster):
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
        pytest.fail(f"{error}\nfailed: {seen.failed[:5]}\n{cluster.logs()}")
    elapsed = time.monotonic() - started

    assert seen.failed == [], seen.failed[:5]
    # Issued: rendered, signed and recorded, each once.
    deadline = time.monotonic() + 30
    while True:
        submissions = all_submissions(admin, code)
        if {item["status"] for item in submissions} == {"issued"} or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert sorted(item["id"] for item in submissions) == sorted(seen.created), "one submission per create key"
    assert {item["status"] for item in submissions} == {"issued"}
    receipts = [item["receipt"]["number"] for item in submissions]
    assert len(set(receipts)) == len(receipts)
    served = cluster.nginx.upstreams_used()
    for gateway in cluster.gateways:
        assert served.get(f"127.0.0.1:{gateway.port}", 0) > 0, served
    admin.close()
    api.close()
    line = (f"cluster: {seen.done} flows through nginx in {elapsed:.1f} s with each of 2 gateways SIGKILLed"
            f" ({', '.join(f'{name} back after {seconds:.1f} s' for name, seconds in outages)});"
            f" client retries of keyed POSTs: {dict(seen.retried) or 'none'}; GETs failed: 0")
    SUMMARY_LINES.append(line)
    print(line)
