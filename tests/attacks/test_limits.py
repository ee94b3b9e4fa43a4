"""Limits an attacker probes, against real processes: oversize JSON bodies stop at the gateway
without costing it memory, oversize request heads are refused, the processes stay fine, and the
gateway's metrics are not on its public port."""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import start_system
from tests.support.api import PublicApi
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET

pytestmark = pytest.mark.e2e

TWO_MIB = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    running, databases = start_system(tmp_path_factory.mktemp("limits"), services=("gateway", "submissions"))
    yield running
    running.stop()
    asyncio.run(databases.drop_all())


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def post_json(url: str, token: str, body: bytes, chunked: bool) -> httpx.Response:
    def pieces():
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return httpx.post(f"{url}/v1/submissions", content=pieces() if chunked else body, headers=headers, timeout=30)


def test_a_2_mib_json_body_is_413_at_the_gateway_and_its_memory_does_not_grow(system):
    api = PublicApi(system.gateway_url)
    admin = api.as_client(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    created = api.create_client(admin, "applicant", "31")
    token = api.token(created["client_id"], created["client_secret"])
    body = b'{"service_code": "X", "applicant": {"name": "' + b"a" * TWO_MIB + b'"}}'
    gateway = system["gateway"].process.pid
    post_json(system.gateway_url, token, body, chunked=False)  # warm up
    before = rss_bytes(gateway)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda chunked: post_json(system.gateway_url, token, body, chunked),
                                [False, True] * 6))
    grown = rss_bytes(gateway) - before
    for response in answers:
        assert response.status_code == 413, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["cache-control"] == "no-store"
    assert grown < 8 * 1024 * 1024, f"the gateway grew by {grown / 1e6:.1f} MB over 12 bodies of 2 MiB"
    listed = admin.get("/v1/submissions")
    assert listed.status_code == 200 and listed.json()["items"] == []
    admin.close()
    api.close()


def send_raw(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        try:
            connection.sendall(head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-way: the answer may still be there to read
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


@pytest.mark.parametrize("service", ["gateway", "submissions"])
def test_a_1_mb_header_is_refused_and_the_process_stays_fine(system, service):
    port = system[service].port
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * 1_000_000 + b"\r\n\r\n"
    answer = send_raw(port, head)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"application/problem+json" in answer
    long_url = b"GET /healthz?" + b"q" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    # (the parser itself may refuse an overlong request line first: 400)
    assert send_raw(port, long_url).startswith((b"HTTP/1.1 431 ", b"HTTP/1.1 400 "))
    # Ordinary heads, some of several kilobytes, still pass, on a kept-alive connection too.
    with httpx.Client(base_url=system[service].url) as client:
        for size in (0, 4000, 12000):
            assert client.get("/healthz", headers={"X-Padding": "p" * size}).status_code == 200


def test_the_gateway_serves_metrics_at_its_scrape_address_only(system):
    assert httpx.get(f"{system.gateway_url}/metrics", timeout=5).status_code == 404
    scraped = httpx.get(system.gateway_metrics_url, timeout=5)
    assert scraped.status_code == 200 and 'service="gateway"' in scraped.text
    # A service's own /metrics stays on its (internal) port.
    assert httpx.get(f"{system['submissions'].url}/metrics", timeout=5).status_code == 200
