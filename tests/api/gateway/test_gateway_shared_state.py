"""Gateway replicas on one database: one signing key set made once, rotated without refusing a
token, and with Redis (SIMPUL_TEST_REDIS) rate limits counted once and revocations seen by every
replica within a second; Redis down degrades to in-process limits and keeps serving."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import time
import uuid
from contextlib import AsyncExitStack
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from simpul.gateway import keys as keys_module
from simpul.gateway.app import create_app
from simpul.gateway.models import signing_key_events, signing_keys
from simpul.gateway.runtime import MIGRATIONS
from simpul.shared.db import create_engine, migrate
from simpul.shared.envelope import new_key_text
from tests.api.gateway.conftest import ADMIN_ID, ADMIN_SECRET, closed_port_url
from tests.support.asgi import running
from tests.support.processes import free_port

FORM = {"grant_type": "client_credentials", "client_id": ADMIN_ID, "client_secret": ADMIN_SECRET}
REDIS_ENV = "SIMPUL_TEST_REDIS"
REDIS_SERVER = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(not os.environ.get(REDIS_ENV), reason=f"{REDIS_ENV} not set")


async def replicas(gateway_settings, stack: AsyncExitStack, count: int = 2, **overrides):
    """`count` gateways on one database and one key-encryption key, started at the same moment
    once the database is migrated (migrating once is the deployment's business)."""
    settings = await gateway_settings(key_encryption_key=new_key_text(), **overrides)
    engine = create_engine(settings.database_url)
    try:
        await migrate(engine, MIGRATIONS)
    finally:
        await engine.dispose()
    apps = [create_app(settings.model_copy(update={"data_dir": settings.data_dir / f"replica-{n}"}))
            for n in range(count)]
    for app in apps:
        app.state.migration.done = True
    clients = await asyncio.gather(*(stack.enter_async_context(running(app)) for app in apps))
    return clients, apps, settings


async def rows(settings, table):
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(select(table))).all()
    finally:
        await engine.dispose()


async def bearer(http) -> dict[str, str]:
    token = (await http.post("/v1/oauth/token", data=FORM)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def test_replicas_starting_together_make_one_sealed_signing_key(gateway_settings):
    async with AsyncExitStack() as stack:
        (first, second), _, settings = await replicas(gateway_settings, stack)
        jwks = [(await http.get("/.well-known/jwks.json")).json() for http in (first, second)]
        # A token from one replica is good at the other.
        assert (await second.get("/v1/admin/clients", headers=await bearer(first))).status_code == 200
    assert jwks[0] == jwks[1] and len(jwks[0]["keys"]) == 1
    (row,) = await rows(settings, signing_keys)
    assert b"PRIVATE KEY" not in row.sealed_private_key and row.sealed_private_key.startswith(b"SE1")
    assert [(event.kid, event.action) for event in await rows(settings, signing_key_events)] == [(row.kid, "created")]


async def test_a_rotation_reaches_every_replica_and_old_tokens_keep_verifying(gateway_settings, monkeypatch):
    monkeypatch.setattr(keys_module, "PROPAGATION", timedelta(seconds=0.5))
    async with AsyncExitStack() as stack:
        (first, second), (first_app, _), settings = await replicas(gateway_settings, stack)
        old_headers = await bearer(first)
        old_kid = jwt.get_unverified_header(old_headers["Authorization"][7:])["kid"]
        new_kid, _ = await first_app.state.gateway.signing_keys.rotate("test-operator")
        # Published by both replicas before either signs with it.
        deadline = time.monotonic() + 1.5
        while {key["kid"] for key in (await second.get("/.well-known/jwks.json")).json()["keys"]} != {old_kid, new_kid}:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.2)
        for http in (first, second):
            new_headers = await bearer(http)
            assert jwt.get_unverified_header(new_headers["Authorization"][7:])["kid"] == new_kid
            for headers in (old_headers, new_headers):
                assert (await http.get("/v1/admin/clients", headers=headers)).status_code == 200
    events = [(event.kid, event.action, event.actor) for event in await rows(settings, signing_key_events)]
    assert events[1:] == [(old_kid, "retiring", "test-operator"), (new_kid, "created", "test-operator")]


async def test_a_replica_with_another_key_encryption_key_refuses_to_start(gateway_settings):
    settings = await gateway_settings(key_encryption_key=new_key_text())
    async with running(create_app(settings)):
        pass
    other = create_app(settings.model_copy(update={"key_encryption_key": new_key_text()}))
    with pytest.raises(Exception, match="key-encryption key this process does not have"):
        async with running(other):
            pass


@needs_redis
async def test_with_redis_a_revocation_reaches_the_other_replica_within_a_second(gateway_settings):
    # The database poll is slowed right down: only Redis can carry the revocation in time.
    async with AsyncExitStack() as stack:
        (first, second), _, _ = await replicas(gateway_settings, stack, redis_url=os.environ[REDIS_ENV],
                                            redis_prefix=f"test-{uuid.uuid4().hex}", client_refresh_seconds=60)
        admin = await bearer(first)
        created = (await first.post("/v1/admin/clients", json={"name": "x", "role": "admin"}, headers=admin)).json()
        token = (await second.post("/v1/oauth/token", data={**FORM, "client_id": created["client_id"],
                                                             "client_secret": created["client_secret"]})).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert (await second.get("/v1/admin/clients", headers=headers)).status_code == 200
        assert (await first.delete(f"/v1/admin/clients/{created['client_id']}", headers=admin)).status_code == 204
        revoked = time.monotonic()
        while (await second.get("/v1/admin/clients", headers=headers)).status_code != 401:
            assert time.monotonic() - revoked < 1.0, "the other replica kept accepting a revoked client"
            await asyncio.sleep(0.02)
        assert (await second.get("/readyz")).json().get("degraded") is None


@needs_redis
async def test_with_redis_rate_limits_are_counted_once_across_replicas(gateway_settings):
    async with AsyncExitStack() as stack:
        (first, second), _, _ = await replicas(gateway_settings, stack, redis_url=os.environ[REDIS_ENV],
                                            redis_prefix=f"test-{uuid.uuid4().hex}",
                                            rate_limit_per_minute=60, rate_limit_burst=6)
        answers = [await (first, second)[n % 2].get("/v1/services") for n in range(7)]
    statuses = [answer.status_code for answer in answers]
    # Six anonymous requests from one address fit the limit, shared by both; the seventh does not.
    assert 429 not in statuses[:6] and statuses[6] == 429
    assert [int(answer.headers["RateLimit-Remaining"]) for answer in answers[:6]] == [5, 4, 3, 2, 1, 0]
    assert int(answers[6].headers["Retry-After"]) >= 1


async def test_redis_down_degrades_to_in_process_limits_and_keeps_serving(gateway_settings, caplog):
    caplog.set_level(logging.INFO, logger="simpul.gateway.redis")
    unreachable = closed_port_url().replace("http://", "redis://")
    async with AsyncExitStack() as stack:
        (gateway,), _, _ = await replicas(gateway_settings, stack, count=1, redis_url=unreachable,
                                       rate_limit_per_minute=60, rate_limit_burst=3)
        statuses = [(await gateway.get("/v1/services")).status_code for _ in range(4)]
        ready = await gateway.get("/readyz")
    assert statuses == [statuses[0]] * 3 + [429] and statuses[0] != 429
    assert ready.status_code == 200 and ready.json().get("degraded") == ["redis"]
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Redis unavailable" in warnings[0].getMessage()


def start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout.strip() != b"PONG":
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    return process


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed (system-packages.txt)")
async def test_redis_lost_later_is_logged_once_served_around_and_used_again_when_back(gateway_settings, caplog):
    caplog.set_level(logging.INFO, logger="simpul.gateway.redis")
    port = free_port()
    redis = start_redis(port)
    try:
        async with AsyncExitStack() as stack:
            (gateway,), _, _ = await replicas(gateway_settings, stack, count=1, redis_url=f"redis://127.0.0.1:{port}/0",
                                              rate_limit_per_minute=6000, rate_limit_burst=100)
            assert (await gateway.get("/readyz")).json().get("degraded") is None
            redis.kill()
            redis.wait()
            statuses = [(await gateway.get("/v1/services")).status_code for _ in range(5)]
            assert 429 not in statuses and 500 not in statuses
            assert (await gateway.get("/readyz")).json().get("degraded") == ["redis"]
            redis = start_redis(port)
            deadline = time.monotonic() + 5
            while (await gateway.get("/readyz")).json().get("degraded") is not None:
                assert time.monotonic() < deadline, "the gateway did not return to Redis"
                await asyncio.sleep(0.1)
            answer = await gateway.get("/v1/services")
            # Counted in Redis again: the new server holds this caller's window.
            assert answer.status_code != 429
            keys = subprocess.run(["redis-cli", "-p", str(port), "--scan"], capture_output=True, text=True).stdout
            assert "simpul-gateway" in keys
    finally:
        redis.kill()
        redis.wait()
    messages = [record.getMessage() for record in caplog.records if record.name == "simpul.gateway.redis"]
    assert len([message for message in messages if "Redis unavailable" in message]) == 1
    assert len([message for message in messages if "Redis is back" in message]) == 1


async def test_an_official_deactivated_on_one_replica_is_refused_by_the_other_within_a_refresh(gateway_settings):
    """No Redis: the other replica reads officials changed since its last look, every refresh."""
    async with AsyncExitStack() as stack:
        (first, second), _, _ = await replicas(gateway_settings, stack, client_refresh_seconds=0.2)
        admin = await bearer(first)
        officer = (await first.post("/v1/admin/clients", json={"name": "o", "role": "officer", "tenant": "KDN-BH"},
                                    headers=admin)).json()
        official = (await first.post("/v1/officials", headers=admin, json={
            "unit": "KDN-BH", "nip": "198503142010012002", "name": "Siti Rahma", "position": "Kepala Biro",
            "roles": ["signer"]})).json()
        # Registered on the first replica, acted as on the second: it looks the official up.
        token = (await second.post("/v1/oauth/token", data={
            "grant_type": "client_credentials", "client_id": officer["client_id"],
            "client_secret": officer["client_secret"], "official": official["nip"]})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert (await second.get("/v1/me", headers=headers)).json()["official"]["id"] == official["id"]
        assert (await first.delete(f"/v1/officials/{official['id']}", headers=admin)).status_code == 204
        deactivated = time.monotonic()
        while (await second.get("/v1/me", headers=headers)).status_code != 401:
            assert time.monotonic() - deactivated < 2.0, "the other replica kept acting as a deactivated official"
            await asyncio.sleep(0.05)


@needs_redis
async def test_with_redis_a_busy_callers_leases_never_let_it_past_its_limit():
    from simpul.gateway import redis_state
    from simpul.gateway.ratelimit import RateLimiter

    capacity = 1000
    prefix = f"test-{uuid.uuid4().hex}"
    links = [redis_state.RedisLink(os.environ[REDIS_ENV], prefix) for _ in range(2)]
    trips = 0
    try:
        limiters = []
        for link in links:
            await link.start(lambda client_id: None)
            limiter = redis_state.SharedRateLimiter(link, RateLimiter(capacity, capacity), capacity, capacity)
            send = limiter._send

            async def counted(batch, send=send):
                nonlocal trips
                trips += len(batch)
                return await send(batch)

            limiter._send = counted
            limiters.append(limiter)
        now = time.monotonic()
        # 1200 requests of one caller, 40 at a time, through both replicas in turn.
        outcomes = []
        for start in range(0, 1200, 40):
            outcomes += await asyncio.gather(*(limiters[n % 2].acquire("busy", now) for n in range(start, start + 40)))
            if start + 40 == 480:
                # Well clear of the limit most requests spend a lease; near it, counting is per request.
                assert trips < 480 / 4, trips
        allowed = sum(1 for outcome in outcomes if outcome[0])
        # Every leased token was counted in Redis when taken: never past the limit; a replica holds
        # at most MAX_LEASE - 1 unspent ones.
        assert capacity - 2 * (redis_state.MAX_LEASE - 1) <= allowed <= capacity
        # Close to the limit there are no leases left to spend: the refusals are Redis's own.
        assert not any(outcome[0] for outcome in outcomes[-100:])
        # A lease lapses: a second later the caller's request is counted in Redis again.
        before = trips
        await limiters[0].acquire("busy", now + redis_state.LEASE_SECONDS + 0.1)
        assert trips == before + 1
    finally:
        keys = [key async for key in links[0].client.scan_iter(f"{prefix}*")]
        if keys:
            await links[0].client.delete(*keys)
        for link in links:
            await link.stop()
