"""Public verification's own limit per address: an uploaded PDF costs more than a lookup, 429
problem+json with Retry-After beyond it, other addresses and other routes unaffected; with Redis,
counted once for every replica."""

from __future__ import annotations

import os
import uuid
from contextlib import AsyncExitStack

import pytest

from tests.api.gateway.test_gateway_shared_state import REDIS_ENV, needs_redis, replicas

# 10 tokens, refilled at one a second; an upload costs 4.
LIMITS = {"trusted_proxies": "127.0.0.1", "verify_rate_limit_per_minute": 60, "verify_rate_limit_burst": 10,
          "verify_upload_cost": 4}
PDF = b"%PDF-1.7\n%%EOF\n"


def upload(http, address: str):
    return http.post("/v1/verify", files={"file": ("d.pdf", PDF, "application/pdf")},
                     headers={"X-Forwarded-For": address})


def lookup(http, address: str):
    return http.get(f"/v1/verify/{uuid.uuid4()}", headers={"X-Forwarded-For": address})


async def test_uploads_cost_more_than_lookups_and_the_limit_is_per_address(start_gateway):
    async with start_gateway(**LIMITS) as gateway:
        http = gateway.http
        first, second = await upload(http, "203.0.113.30"), await upload(http, "203.0.113.30")
        assert (first.status_code, second.status_code) == (200, 200)
        assert [answer.headers["RateLimit-Remaining"] for answer in (first, second)] == ["6", "2"]
        assert first.headers["RateLimit-Limit"] == "10"
        refused = await upload(http, "203.0.113.30")
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("rate-limited")
        assert 1 <= int(refused.headers["Retry-After"]) <= 2
        # Two tokens left: two lookups pass, a third does not.
        assert [(await lookup(http, "203.0.113.30")).status_code for _ in range(3)] == [200, 200, 429]
        # Other addresses, and the same address elsewhere, are not affected.
        assert (await upload(http, "203.0.113.31")).status_code == 200
        assert (await http.get("/v1/services", headers={"X-Forwarded-For": "203.0.113.30"})).status_code == 200


async def test_an_upload_cost_above_the_burst_is_refused_at_start(gateway_settings):
    with pytest.raises(ValueError, match="SIMPUL_VERIFY_UPLOAD_COST"):
        await gateway_settings(verify_rate_limit_per_minute=60, verify_rate_limit_burst=10, verify_upload_cost=11)


@needs_redis
async def test_with_redis_verification_is_counted_once_across_replicas(gateway_settings, fake_service):
    async with AsyncExitStack() as stack:
        (first, second), _, _ = await replicas(gateway_settings, stack, redis_url=os.environ[REDIS_ENV],
                                            redis_prefix=f"test-{uuid.uuid4().hex}", **LIMITS)
        fake_service.trust((await first.get("/.well-known/jwks.json")).text)
        statuses = [(await upload((first, second)[n % 2], "203.0.113.40")).status_code for n in range(3)]
        assert statuses == [200, 200, 429]
        assert (await lookup(second, "203.0.113.40")).status_code == 200
        assert (await upload(first, "203.0.113.41")).status_code == 200
