"""Two replicas of the catalogue and of submissions behind one gateway, as real processes on
loopback: keyed create+submit flows keep succeeding, with no retry by the client, while one
replica of each is SIGKILLed; started again, it gets traffic back."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections import Counter

import httpx
import pytest

from tests.e2e.conftest import SUMMARY_LINES
from tests.e2e.test_faults import all_submissions
from tests.e2e.test_foundation import service_body
from tests.support.api import PublicApi
from tests.support.databases import TestDatabases as Databases
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, ServiceProcess, System, env_name, free_ports

# Its figures are the recovery of a killed replica: measured with nothing else on the machine.
pytestmark = pytest.mark.alone

REPLICATED = ("catalog", "submissions")
CONCURRENT = 4


def replicas_ready(system: System) -> dict[str, int]:
    upstreams = httpx.get(f"{system.gateway_url}/readyz", timeout=5).json()["upstreams"]
    return {name: upstreams[name]["ready"] for name in REPLICATED}


def wait_until_both_ready(system: System, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while replicas_ready(system) != {name: 2 for name in REPLICATED}:
        assert time.monotonic() < deadline, replicas_ready(system)
        time.sleep(0.2)


def answered(process: ServiceProcess) -> int:
    """Requests the replica has answered on public paths (its own /metrics)."""
    text = httpx.get(f"{process.url}/metrics", timeout=5).text
    return int(sum(float(value) for value in re.findall(r'^simpul_http_requests_total\{.*route="/v1.*\} (\S+)$',
                                                      text, re.MULTILINE)))


async def flows(base_url: str, token: str, code: str, stop: threading.Event, outcomes: Counter,
                submitted: set[str]) -> None:
    """Create+submit flows with Idempotency-Keys, never retried here: every answer counts."""
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=30.0) as client:

        async def one(worker: int) -> None:
            number = 0
            while not stop.is_set():
                number += 1
                draft = {"service_code": code, "applicant": {"name": f"Pemohon {worker}-{number}",
                                                             "email": f"uji{worker}x{number}@example.go.id"},
                         "data": {"perihal": f"Permohonan {worker}-{number}"}}
                try:
                    read = await client.get(f"/v1/services/{code}")
                    created = await client.post("/v1/submissions", json=draft,
                                                headers={"Idempotency-Key": uuid.uuid4().hex})
                    outcomes[f"read {read.status_code}"] += 1
                    outcomes[f"create {created.status_code}"] += 1
                    if created.status_code == 201:
                        answer = await client.post(f"/v1/submissions/{created.json()['id']}/submit",
                                                   headers={"Idempotency-Key": uuid.uuid4().hex})
                        outcomes[f"submit {answer.status_code}"] += 1
                        if answer.status_code == 200:
                            submitted.add(created.json()["id"])
                except httpx.TransportError as error:
                    outcomes[type(error).__name__] += 1

        await asyncio.gather(*(one(worker) for worker in range(CONCURRENT)))


def test_keyed_flows_survive_a_killed_replica_which_gets_traffic_back(tmp_path):
    databases = Databases(tmp_path)
    system = System(tmp_path, databases, extra_env={"SIMPUL_RATE_LIMIT_PER_MINUTE": "1000000"})
    second_ports = dict(zip(REPLICATED, free_ports(len(REPLICATED)), strict=True))
    for name, port in second_ports.items():
        system.extra_env[env_name(name, "URL")] = f"http://127.0.0.1:{system.ports[name]},http://127.0.0.1:{port}"
    seconds: dict[str, ServiceProcess] = {}
    try:
        system.start()
        for name, port in second_ports.items():
            # The same database as the first replica, another port.
            env = {**system[name].env, env_name(name, "PORT"): str(port)}
            seconds[name] = ServiceProcess(name, port, env, tmp_path / f"{name}-2.log")
            seconds[name].start()
        for process in seconds.values():
            process.wait_ready()
        wait_until_both_ready(system)

        api = PublicApi(system.gateway_url)
        admin = api.as_client(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
        code = f"UJI-{uuid.uuid4().hex[:8].upper()}"
        assert admin.post("/v1/services", json={**service_body(code, "E2E-REPLICAS"), "requirements": []},
                          headers={"Idempotency-Key": uuid.uuid4().hex}).status_code == 201
        assert admin.post(f"/v1/services/{code}/publish").status_code == 200
        applicant = api.create_client(admin, "applicant", "31")
        token = api.token(applicant["client_id"], applicant["client_secret"])

        stop = threading.Event()
        outcomes: Counter = Counter()
        submitted: set[str] = set()
        driver = threading.Thread(
            target=lambda: asyncio.run(flows(system.gateway_url, token, code, stop, outcomes, submitted)))
        driver.start()
        try:
            time.sleep(1.5)
            for name in REPLICATED:
                system[name].kill()
                time.sleep(2.0)
            for name in REPLICATED:
                system[name].start()
                system[name].wait_ready()
            wait_until_both_ready(system)
            before = {name: answered(system[name]) for name in REPLICATED}
            time.sleep(2.0)
            after = {name: answered(system[name]) for name in REPLICATED}
        finally:
            stop.set()
            driver.join(60)

        failed = {outcome: count for outcome, count in outcomes.items()
                  if outcome not in ("read 200", "create 201", "submit 200")}
        assert failed == {}, f"{dict(outcomes)}\n{system.logs()}"
        assert outcomes["submit 200"] >= 20, dict(outcomes)
        # One submission per keyed create, each submitted: none twice from a retried request.
        stored = all_submissions(admin, code)
        assert sorted(row["id"] for row in stored) == sorted(submitted)
        assert all(row["status"] == "submitted" for row in stored)
        # Started again, each replica takes its share once more.
        assert all(after[name] > before[name] for name in REPLICATED), (before, after)
        metrics = httpx.get(system.gateway_metrics_url, timeout=5).text
        retries = re.findall(r'^simpul_upstream_retries_total\{service="(\w+)"\} (\S+)$', metrics, re.MULTILINE)
        SUMMARY_LINES.append(f"replicas: {dict(outcomes)}; gateway retries on another replica {dict(retries)}")
        assert re.search(r'^simpul_upstream_ejected_replicas\{service="catalog"\} 0\.0$', metrics, re.MULTILINE)
    finally:
        for process in seconds.values():
            process.stop()
        system.stop()
        asyncio.run(databases.drop_all())
