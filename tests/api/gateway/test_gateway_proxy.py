"""The proxy hop, against real HTTP servers on loopback ports."""

from __future__ import annotations

import asyncio
import hashlib
import time
import tracemalloc

import pytest

from tests.api.gateway.conftest import closed_port_url
from tests.api.gateway.upstream import BrokenService, StalledService

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
# Files stream through under max_body_bytes; other bodies are held to max_json_bytes.
FILE = {"Content-Type": "application/octet-stream"}


async def test_forwards_with_an_assertion_the_service_verifies(gateway):
    created, headers = await gateway.client_headers("officer", "KDN-BH")
    response = await gateway.http.get(
        "/v1/services/IZIN%2FLN/versions?x=1&y=%C3%A9",
        headers={**headers, "X-Simpul-Assertion": "forged-by-the-client", "Accept-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    echoed = response.json()
    assert echoed["service"] == "catalog"
    assert echoed["identity"] == {"sub": created["client_id"], "role": "officer", "tenant": "KDN-BH",
                                  "name": "Test client"}
    assert echoed["path"] == "/v1/services/IZIN%2FLN/versions?x=1&y=%C3%A9"
    seen = echoed["headers"]
    assert "authorization" not in seen
    assert seen["x-simpul-assertion"] != "forged-by-the-client"
    assert seen["x-forwarded-for"] == "127.0.0.1" and seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == "testserver"
    assert seen["accept-encoding"] == "gzip"
    assert "user-agent" not in seen or "aiohttp" not in seen["user-agent"]
    # The service's own response headers come back, hop-by-hop ones and cookies do not.
    assert response.headers["x-upstream"] == "fake"
    assert "set-cookie" not in response.headers
    assert response.headers.get("connection") != "keep-alive"


async def test_each_prefix_reaches_its_service(gateway):
    _, headers = await gateway.client_headers("applicant", "31")
    for path, service in (
        ("/v1/services", "catalog"),
        ("/v1/submissions/s1/documents", "submissions"),
        ("/v1/track/T-1", "submissions"),
        ("/v1/reports/ikm", "submissions"),
        ("/v1/complaints", "submissions"),
        ("/v1/documents/d1", "signatures"),
        ("/v1/verify/d1", "signatures"),
        ("/v1/pki/ca", "signatures"),
        ("/v1/webhooks", "notifications"),
        ("/v1/notifications", "notifications"),
    ):
        response = await gateway.http.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        assert response.json()["service"] == service, path


async def test_anonymous_callers_are_asserted_as_anonymous(gateway):
    response = await gateway.http.post("/v1/services", json={"a": 1})
    echoed = response.json()
    assert echoed["identity"] == {"sub": "anonymous", "role": "anonymous", "tenant": None, "name": None}
    assert echoed["method"] == "POST" and echoed["body"] == '{"a":1}'


async def test_internal_and_unknown_paths_are_never_forwarded(gateway, fake_service):
    _, headers = await gateway.client_headers("admin", None)
    for path in ("/internal/services/X", "/v1/unknown", "/v1/services/../../internal/x", "/v1", "/v2/services"):
        response = await gateway.http.get(path, headers=headers)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
    assert fake_service.requests == 0


async def test_request_id_and_traceparent_travel_both_ways(gateway):
    response = await gateway.http.get(
        "/v1/services", headers={"X-Request-ID": "req-42", "traceparent": TRACEPARENT, "tracestate": "v=1"}
    )
    seen = response.json()["headers"]
    assert seen["x-request-id"] == "req-42" and response.headers["x-request-id"] == "req-42"
    assert seen["traceparent"] == TRACEPARENT and response.headers["traceparent"] == TRACEPARENT
    assert seen["tracestate"] == "v=1"

    fresh = await gateway.http.get(
        "/v1/services", headers={"X-Request-ID": "bad id with spaces", "traceparent": "00-zz", "tracestate": "v=1"}
    )
    seen = fresh.json()["headers"]
    assert seen["x-request-id"] == fresh.headers["x-request-id"] != "bad id with spaces"
    assert seen["traceparent"] == fresh.headers["traceparent"] != "00-zz"
    assert seen["traceparent"].startswith("00-") and len(seen["traceparent"]) == 55
    assert "tracestate" not in seen


async def test_a_stopped_service_is_a_503_problem(start_gateway):
    async with start_gateway(catalog_url=closed_port_url()) as gateway:
        started = time.monotonic()
        response = await gateway.http.get("/v1/services", headers={"Accept-Language": "en"})
        assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"]
    body = response.json()
    assert body["status"] == 503 and body["request_id"] and "catalog" in body["detail"]
    assert "127.0.0.1" not in response.text and "Traceback" not in response.text
    assert "ratelimit-limit" in response.headers


async def test_a_slow_service_is_a_504_problem(start_gateway, fake_service):
    async with start_gateway(upstream_read_timeout=0.3) as gateway:
        started = time.monotonic()
        response = await gateway.http.get("/v1/services/slow")
        assert time.monotonic() - started < 2
    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 504


async def test_a_slow_answer_to_a_streamed_upload_is_a_504(start_gateway):
    async def body():
        for _ in range(4):
            yield b"y" * 100_000

    async with start_gateway(upstream_read_timeout=0.3) as gateway:
        started = time.monotonic()
        response = await gateway.http.post("/v1/submissions/s1/slow-answer/upload", content=body(), headers=FILE)
        assert time.monotonic() - started < 2
    assert response.status_code == 504


async def test_a_service_that_stops_taking_an_upload_is_a_504_not_a_hang(start_gateway):
    stalled = StalledService()
    await stalled.start()

    async def body():
        for _ in range(800):  # 50 MB: far more than the socket buffers hold
            yield b"s" * 65536

    try:
        async with start_gateway(submissions_url=stalled.url, upstream_read_timeout=0.5) as gateway:
            started = time.monotonic()
            # Bounded here too, so a regression fails instead of hanging the suite.
            response = await asyncio.wait_for(
                gateway.http.post("/v1/submissions/s1/documents", content=body(), headers=FILE), 10)
            elapsed = time.monotonic() - started
    finally:
        await stalled.stop()
    assert response.status_code == 504
    assert elapsed < 5


async def test_a_read_timeout_override_per_service(start_gateway):
    async with start_gateway(upstream_read_timeout=0.3, upstream_read_timeouts={"catalog": 10.0}) as gateway:
        assert (await gateway.http.get("/v1/services/slow")).status_code == 200
        assert (await gateway.http.get("/v1/submissions/slow")).status_code == 504


async def test_a_broken_answer_is_a_502_problem(start_gateway):
    broken = BrokenService()
    await broken.start()
    try:
        async with start_gateway(signatures_url=broken.url) as gateway:
            response = await gateway.http.get("/v1/documents/d1")
    finally:
        await broken.stop()
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert "127.0.0.1" not in response.text


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "chunked"])
async def test_a_50_mb_upload_streams_through_in_bounded_memory(gateway, with_length):
    size = 50 * 1024 * 1024
    block = bytes(range(256)) * 256  # 64 KiB
    expected = hashlib.sha256()
    for _ in range(size // len(block)):
        expected.update(block)

    async def body():
        for _ in range(size // len(block)):
            yield block

    headers = {"Content-Type": "application/pdf"}
    if with_length:
        headers["Content-Length"] = str(size)
    tracemalloc.start()
    try:
        response = await gateway.http.post("/v1/submissions/s1/documents/upload", content=body(), headers=headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.text
    received = response.json()
    assert received["size"] == size and received["sha256"] == expected.hexdigest()
    assert received["content_length"] == (str(size) if with_length else None)
    assert received["chunked"] is not with_length
    assert peak < 10 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while forwarding 50 MB"


async def test_large_responses_stream_back(gateway):
    size = 3 * 1024 * 1024 + 7
    response = await gateway.http.get(f"/v1/documents/d1/download/{size}")
    assert response.status_code == 200
    assert len(response.content) == size
    assert "ratelimit-remaining" in response.headers and "traceparent" in response.headers


async def chunks(count: int, size: int = 200):
    for _ in range(count):
        yield b"z" * size


@pytest.mark.parametrize("media_type", ["application/octet-stream", "multipart/form-data; boundary=x",
                                        "application/pdf"])
async def test_files_over_the_limit_are_413(start_gateway, fake_service, media_type):
    headers = {"Content-Type": media_type}
    async with start_gateway(max_body_bytes=2000, max_json_bytes=1024) as gateway:
        declared = await gateway.http.post("/v1/submissions/s1/documents/upload", content=b"z" * 2001, headers=headers)
        streamed = await gateway.http.post("/v1/submissions/s1/documents/upload", content=chunks(11), headers=headers)
        fits = await gateway.http.post("/v1/submissions/s1/documents/upload", content=b"z" * 2000, headers=headers)
    assert declared.status_code == 413 and streamed.status_code == 413
    assert declared.headers["content-type"] == streamed.headers["content-type"] == "application/problem+json"
    assert fits.status_code == 200 and fits.json()["size"] == 2000


@pytest.mark.parametrize("media_type", ["application/json", "application/merge-patch+json", "text/plain", None])
async def test_other_bodies_are_held_to_the_json_limit_before_a_service_sees_them(start_gateway, fake_service,
                                                                                  media_type):
    headers = {"Content-Type": media_type} if media_type else {}
    async with start_gateway(max_json_bytes=1024) as gateway:
        before = fake_service.requests
        declared = await gateway.http.post("/v1/submissions", content=b"z" * 1025, headers=headers)
        streamed = await gateway.http.post("/v1/submissions", content=chunks(6), headers=headers)
        assert fake_service.requests == before  # refused at the gateway
        fits = await gateway.http.post("/v1/submissions", content=b"z" * 1024, headers=headers)
    for refused in (declared, streamed):
        assert refused.status_code == 413
        assert refused.json()["type"].endswith("content-too-large")
        assert "1024" in refused.json()["detail"]
    assert fits.status_code == 200


async def test_rate_limit_headers_and_429(start_gateway, fake_service):
    # One more request a minute: nothing refills while the test runs, however slow the machine.
    async with start_gateway(rate_limit_per_minute=1, rate_limit_burst=3) as gateway:
        _, headers = await gateway.client_headers("applicant", "31")
        seen = []
        for _ in range(3):
            response = await gateway.http.get("/v1/services", headers=headers)
            assert response.status_code == 200
            seen.append(response.headers["ratelimit-remaining"])
            assert response.headers["ratelimit-limit"] == "3"
            assert int(response.headers["ratelimit-reset"]) >= 1
        assert seen == ["2", "1", "0"]
        refused = await gateway.http.get("/v1/services", headers=headers)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-remaining"] == "0"
        calls_before = fake_service.requests
        # Anonymous callers have their own bucket (per address); the limit is per client.
        anonymous = await gateway.http.get("/v1/services")
        assert anonymous.status_code == 200
        assert fake_service.requests == calls_before + 1
