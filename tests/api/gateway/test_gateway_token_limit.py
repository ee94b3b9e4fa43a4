"""The token endpoint's failure limit through the app: 429 with Retry-After and an OAuth error
after too many failures, logged without the secret; the pair lock spares other addresses; the
client-wide ceiling spares addresses that already hold the secret; with Redis, counted once for
every replica."""

from __future__ import annotations

import os
import uuid
from contextlib import AsyncExitStack

import pytest

from tests.api.gateway.test_gateway_security_log import captured, events  # noqa: F401 (fixture)
from tests.api.gateway.test_gateway_shared_state import needs_redis, replicas, REDIS_ENV

WRONG = "wrong-secret-7f3a9c2e"
TIGHT = {"trusted_proxies": "127.0.0.1", "token_failures_per_client_address": 3, "token_failures_per_address": 50,
         "token_failures_per_client": 100, "token_lockout_base_seconds": 30}


def form(client_id: str, secret: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}


async def ask(http, client_id: str, secret: str, address: str):
    return await http.post("/v1/oauth/token", data=form(client_id, secret), headers={"X-Forwarded-For": address})


async def test_guessing_a_secret_is_locked_with_backoff_and_another_address_still_logs_in(
        start_gateway, captured):  # noqa: F811
    async with start_gateway(**TIGHT) as gateway:
        created = await gateway.create_client("applicant", "31")
        client_id, secret = created["client_id"], created["client_secret"]
        captured.clear()
        guesses = [await ask(gateway.http, client_id, WRONG, "203.0.113.5") for _ in range(3)]
        assert [answer.status_code for answer in guesses] == [401, 401, 401]
        locked = await ask(gateway.http, client_id, WRONG, "203.0.113.5")
        assert locked.status_code == 429
        assert locked.headers["content-type"] == "application/problem+json"
        assert 25 <= int(locked.headers["Retry-After"]) <= 30
        assert locked.headers["Cache-Control"] == "no-store"
        body = locked.json()
        assert (body["error"], body["status"]) == ("temporarily_unavailable", 429)
        assert body["type"].endswith("too-many-failures") and body["error_description"]
        # The right secret from the locked address waits too: the lock is not an oracle.
        assert (await ask(gateway.http, client_id, secret, "203.0.113.5")).status_code == 429
        # Another address is not affected.
        assert (await ask(gateway.http, client_id, secret, "198.51.100.8")).status_code == 200

    logged = events(captured)
    assert [line["reason"] for line in logged if line["event"] == "token_refused"] == [
        "bad secret", "bad secret", "bad secret", "locked: client+address", "locked: client+address"]
    (lockout,) = [line for line in logged if line["event"] == "token_locked"]
    assert lockout["reason"] == "3 failures: client+address"
    assert (lockout["client_id"], lockout["address"], lockout["lock_seconds"], lockout["level"]) == (
        client_id, "203.0.113.5", 30, 1)
    assert WRONG not in captured.text and secret not in captured.text


async def test_unknown_client_ids_count_against_the_address(start_gateway):
    async with start_gateway(**{**TIGHT, "token_failures_per_address": 4}) as gateway:
        answers = [await ask(gateway.http, f"probe-{n}", WRONG, "203.0.113.6") for n in range(5)]
        assert [answer.status_code for answer in answers] == [401, 401, 401, 401, 429]
        # The admin from that address waits as well; from elsewhere it does not.
        assert (await ask(gateway.http, "test-admin", "test-admin-secret-0123", "203.0.113.6")).status_code == 429
        assert (await ask(gateway.http, "test-admin", "test-admin-secret-0123", "203.0.113.7")).status_code == 200


async def test_the_client_ceiling_does_not_lock_out_the_clients_own_address(start_gateway):
    async with start_gateway(**{**TIGHT, "token_failures_per_client": 4}) as gateway:
        created = await gateway.create_client("officer", "KDN-BH")
        client_id, secret = created["client_id"], created["client_secret"]
        assert (await ask(gateway.http, client_id, secret, "192.0.2.44")).status_code == 200
        spread = [await ask(gateway.http, client_id, WRONG, f"198.51.100.{n}") for n in range(4)]
        assert {answer.status_code for answer in spread} == {401}
        assert (await ask(gateway.http, client_id, secret, "203.0.113.99")).status_code == 429
        assert (await ask(gateway.http, client_id, secret, "192.0.2.44")).status_code == 200


async def test_malformed_requests_are_not_counted(start_gateway):
    async with start_gateway(**TIGHT) as gateway:
        for _ in range(5):
            answer = await gateway.http.post("/v1/oauth/token", data={"grant_type": "password"},
                                             headers={"X-Forwarded-For": "203.0.113.8"})
            assert answer.status_code == 400
        assert (await ask(gateway.http, "test-admin", "test-admin-secret-0123", "203.0.113.8")).status_code == 200


@needs_redis
async def test_with_redis_failures_are_counted_once_across_replicas(gateway_settings):
    async with AsyncExitStack() as stack:
        (first, second), _, _ = await replicas(gateway_settings, stack, redis_url=os.environ[REDIS_ENV],
                                            redis_prefix=f"test-{uuid.uuid4().hex}", **TIGHT)
        statuses = [(await ask((first, second)[n % 2], "test-admin", WRONG, "203.0.113.20")).status_code
                    for n in range(4)]
        assert statuses == [401, 401, 401, 429]
        locked = await ask(first, "test-admin", "test-admin-secret-0123", "203.0.113.20")
        assert locked.status_code == 429 and 25 <= int(locked.headers["Retry-After"]) <= 30
        assert (await ask(second, "test-admin", "test-admin-secret-0123", "203.0.113.21")).status_code == 200
        assert (await second.get("/readyz")).json().get("degraded") is None
