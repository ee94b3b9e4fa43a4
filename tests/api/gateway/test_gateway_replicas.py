"""The gateway in front of several replicas of a service: spread, ejection and return, retries."""

from __future__ import annotations

import asyncio
import re
import uuid

from simpul.gateway.app import create_app
from tests.api.gateway.conftest import closed_port_url
from tests.api.gateway.upstream import FakeService, HangingUpService
from tests.support.asgi import running


async def catalog_readiness(gateway) -> dict:
    return (await gateway.http.get("/readyz")).json()["upstreams"]["catalog"]


async def wait_for(condition, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not within the time allowed")


def counter(metrics: str, name: str, service: str) -> float:
    match = re.search(rf'^{name}(?:_total)?{{service="{service}"}} (\S+)$', metrics, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_requests_spread_over_replicas_skip_a_dead_one_and_return_to_it(start_gateway, fake_service):
    second = FakeService()
    await second.start()
    try:
        async with start_gateway(catalog_url=f"{fake_service.url}, {second.url}") as gateway:
            second.trust((await gateway.http.get("/.well-known/jwks.json")).text)
            for _ in range(6):
                assert (await gateway.http.get("/v1/services")).status_code == 200
            assert fake_service.requests >= 2 and second.requests >= 2
            assert await catalog_readiness(gateway) == {"ready": 2, "replicas": 2}

            await second.stop()
            await asyncio.sleep(0.1)  # the gateway sees its kept-alive connections closed
            served_before = fake_service.requests
            for number in range(6):
                assert (await gateway.http.get("/v1/services")).status_code == 200
                assert (await gateway.http.post("/v1/services", json={"n": number})).status_code == 200
                keyed = {"Idempotency-Key": str(uuid.uuid4())}
                assert (await gateway.http.post("/v1/services", json={"n": number}, headers=keyed)).status_code == 200
            assert fake_service.requests - served_before == 18
            ready = await gateway.http.get("/readyz")
            assert ready.status_code == 200  # one ready replica is enough
            assert ready.json()["upstreams"]["catalog"] == {"ready": 1, "replicas": 2}
            metrics = (await gateway.metrics()).text
            assert counter(metrics, "simpul_upstream_ejected_replicas", "catalog") == 1

            await second.start()
            await wait_for(lambda: _both_ready(gateway))
            returned = second.requests
            for _ in range(6):
                assert (await gateway.http.get("/v1/services")).status_code == 200
            assert second.requests - returned >= 2
    finally:
        await second.stop()


async def _both_ready(gateway) -> bool:
    return await catalog_readiness(gateway) == {"ready": 2, "replicas": 2}


async def test_a_request_broken_off_goes_to_another_replica_only_when_safe_to_repeat(start_gateway, fake_service):
    hanging = HangingUpService()
    await hanging.start()
    try:
        async with start_gateway(catalog_url=f"{hanging.url},{fake_service.url}") as gateway:
            unkeyed = [(await gateway.http.post("/v1/services", json={"n": n})) for n in range(4)]
            # The body may have reached the replica that hung up: not sent again, a clean 502.
            assert sorted(response.status_code for response in unkeyed) == [200, 200, 502, 502]
            assert all("127.0.0.1" not in response.text for response in unkeyed if response.status_code == 502)
            hung_up = hanging.hung_up
            assert hung_up == 2
            for n in range(4):
                keyed = {"Idempotency-Key": str(uuid.uuid4())}
                assert (await gateway.http.post("/v1/services", json={"n": n}, headers=keyed)).status_code == 200
                assert (await gateway.http.get("/v1/services")).status_code == 200
            assert hanging.hung_up > hung_up  # some went there first and were answered by the other
            metrics = (await gateway.metrics()).text
            assert counter(metrics, "simpul_upstream_retries", "catalog") == hanging.hung_up - hung_up
    finally:
        await hanging.stop()


async def test_with_every_replica_down_the_client_gets_one_clean_503(start_gateway):
    async with start_gateway(catalog_url=f"{closed_port_url()},{closed_port_url()}") as gateway:
        response = await gateway.http.post("/v1/services", json={}, headers={"Accept-Language": "en"})
        ready = await gateway.http.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "catalog" in response.json()["detail"] and "127.0.0.1" not in response.text
    assert ready.status_code == 503 and "catalog" in ready.json()["unavailable"]
    assert ready.json()["upstreams"]["catalog"] == {"ready": 0, "replicas": 2}


async def test_a_streamed_upload_is_not_sent_again_once_its_body_was_read(start_gateway, fake_service):
    hanging = HangingUpService()
    await hanging.start()

    async def body():
        for _ in range(4):
            yield b"u" * 65536

    try:
        async with start_gateway(submissions_url=f"{hanging.url},{fake_service.url}") as gateway:
            statuses = []
            for _ in range(2):
                response = await gateway.http.post("/v1/submissions/s1/upload", content=body(),
                                                   headers={"Idempotency-Key": str(uuid.uuid4()),
                                                            "Content-Type": "application/octet-stream"})
                statuses.append(response.status_code)
    finally:
        await hanging.stop()
    # Not buffered, so not replayable: the one that went to the replica that hung up is a 502.
    assert sorted(statuses) == [200, 502]
    assert hanging.hung_up == 1


async def test_a_name_resolving_to_two_addresses_is_two_replicas_that_see_the_name(gateway_settings):
    first = FakeService("127.0.0.1")
    await first.start()
    second = FakeService("127.0.0.2", first.port)
    await second.start()
    named = f"http://catalog.test:{first.port}"

    async def resolver(host: str, port: int) -> list[str]:
        assert (host, port) == ("catalog.test", first.port)
        return ["127.0.0.1", "127.0.0.2"]

    try:
        app = create_app(await gateway_settings(catalog_url=named), resolver=resolver)
        async with running(app) as http:
            jwks = (await http.get("/.well-known/jwks.json")).text
            first.trust(jwks)
            second.trust(jwks)
            answers = [(await http.get("/v1/services")).json() for _ in range(6)]
            ready = (await http.get("/readyz")).json()
    finally:
        await first.stop()
        await second.stop()
    assert {answer["headers"]["host"] for answer in answers} == {f"catalog.test:{first.port}"}
    assert first.requests >= 2 and second.requests >= 2
    assert ready["upstreams"]["catalog"] == {"ready": 2, "replicas": 2}
