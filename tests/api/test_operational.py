"""Every service: health, readiness, metrics, and 401 without the gateway's assertion."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import socket

import pytest

from tests.support.asgi import running
from tests.support.identity import TEST_INTERNAL_SECRET, as_role

from simpul.shared.identity import ASSERTION_HEADER, mint_service_token
from simpul.shared.logs import ACCESS_LOGGER, SECURITY_LOGGER

SERVICES = [
    ("submissions", "simpul.submissions", "SubmissionsSettings"),
    ("signatures", "simpul.signatures", "SignaturesSettings"),
    ("notifications", "simpul.notifications", "NotificationsSettings"),
]


def load(package: str, settings_name: str):
    settings_class = getattr(importlib.import_module(f"{package}.settings"), settings_name)
    create_app = importlib.import_module(f"{package}.app").create_app
    return settings_class, create_app


@pytest.mark.parametrize(("service", "package", "settings_name"), SERVICES)
async def test_health_ready_metrics(service, package, settings_name, settings_for):
    settings_class, create_app = load(package, settings_name)
    app = create_app(await settings_for(settings_class))
    async with running(app) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).json() == {"status": "ready"}
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert f'service="{service}"' in metrics.text
        if service == "submissions":  # the balancers of its calls to other services
            for target in ("catalog", "signatures", "notifications"):
                assert f'simpul_upstream_ejected_replicas{{service="{target}"}} 0.0' in metrics.text


@pytest.mark.parametrize(("service", "package", "settings_name"), SERVICES)
async def test_refuses_calls_without_the_gateway(service, package, settings_name, settings_for):
    settings_class, create_app = load(package, settings_name)
    app = create_app(await settings_for(settings_class))
    async with running(app) as client:
        bare = await client.get("/v1/anything", headers={"Accept-Language": "en", "X-Request-ID": "abc-123"})
        assert bare.status_code == 401
        assert bare.headers["content-type"] == "application/problem+json"
        assert bare.headers["x-request-id"] == "abc-123"
        body = bare.json()
        assert body["request_id"] == "abc-123"
        assert body["title"] == "Unauthenticated"

        forged = await client.get("/v1/anything", headers={ASSERTION_HEADER: "not-a-jwt"})
        assert forged.status_code == 401

        wrong_audience = await client.get("/v1/anything", headers=as_role("some-other-service", "admin"))
        assert wrong_audience.status_code == 401

        wrong_secret = {ASSERTION_HEADER: mint_service_token("another-secret-of-32-characters!!", "x", service)}
        assert (await client.get("/v1/anything", headers=wrong_secret)).status_code == 401

        internal = {ASSERTION_HEADER: mint_service_token(TEST_INTERNAL_SECRET, "gateway", service)}
        unknown = await client.get("/v1/anything", headers=internal)
        assert unknown.status_code == 404
        assert unknown.json()["type"].endswith("not-found")

        via_gateway = await client.get("/v1/anything", headers=as_role(service, "applicant", "31"))
        assert via_gateway.status_code == 404
        assert via_gateway.json()["title"] == "Tidak ditemukan"


async def test_ready_but_degraded_while_the_broker_is_down_and_whole_within_a_second_once_up(settings_for):
    """Events wait in the outbox while the broker is down: the replica keeps serving, so it stays
    in rotation and says what it lacks."""
    from simpul.catalog.app import create_app
    from simpul.catalog.settings import CatalogSettings

    with socket.socket() as probe:  # a port where nothing listens yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(await settings_for(CatalogSettings, event_broker=f"amqp://guest:guest@127.0.0.1:{port}/"))
    async with running(app) as client:
        down = await client.get("/readyz", headers={"Accept-Language": "en"})
        assert down.status_code == 200
        assert down.json() == {"status": "ready", "degraded": ["broker"]}
        assert "guest" not in down.text and str(port) not in down.text
        broker = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", port)
        try:
            await asyncio.sleep(1.1)  # the answer is kept for at most a second
            assert (await client.get("/readyz")).json() == {"status": "ready"}
        finally:
            broker.close()
            await broker.wait_closed()


async def test_not_ready_while_the_database_is_down(settings_for):
    from simpul.catalog.app import create_app
    from simpul.catalog.settings import CatalogSettings

    app = create_app(await settings_for(CatalogSettings))
    async with running(app) as client:
        await app.state.engine.dispose()
        app.state.engine.sync_engine.pool._creator = _refuse  # every new connection fails, as when the server is gone
        await asyncio.sleep(1.1)  # past the cached answer of the start-up probe, if any
        down = await client.get("/readyz", headers={"Accept-Language": "en"})
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        assert down.json()["unavailable"] == ["database"]
        assert (await client.get("/healthz")).status_code == 200  # liveness is not readiness


def _refuse(*_args, **_kwargs):
    raise ConnectionRefusedError("the database is gone")


@pytest.mark.parametrize(("service", "package", "settings_name"), SERVICES)
async def test_refused_assertions_and_every_answer_are_logged(service, package, settings_name, settings_for, caplog):
    caplog.set_level(logging.INFO, ACCESS_LOGGER)
    caplog.set_level(logging.INFO, SECURITY_LOGGER)
    settings_class, create_app = load(package, settings_name)
    app = create_app(await settings_for(settings_class))
    async with running(app) as client:
        caplog.clear()
        await client.get("/v1/anything")
        await client.get("/v1/anything", headers={ASSERTION_HEADER: "not-a-jwt"})
        await client.get("/v1/anything", headers=as_role("some-other-service", "admin"))
        healthy = await client.get("/healthz?token=query-secret-not-logged")
    refusals = [json.loads(record.getMessage()) for record in caplog.records if record.name == SECURITY_LOGGER]
    assert [(event["event"], event["reason"]) for event in refusals] == [
        ("assertion_refused", "no assertion"), ("assertion_refused", "malformed"),
        ("assertion_refused", "Audience doesn't match")]
    access = [json.loads(record.getMessage()) for record in caplog.records if record.name == ACCESS_LOGGER]
    # A passing probe is not logged (it would drown the log).
    assert [(line["route"], line["status"], line["service"]) for line in access] == [("unmatched", 401, service)] * 3
    assert healthy.headers["x-simpul-route"] == "/healthz"
    assert "query-secret-not-logged" not in caplog.text  # the query string never reaches a log
