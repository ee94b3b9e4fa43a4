"""Health, metrics, the merged OpenAPI document, the bootstrap admin, several gateway processes."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import jwt
import pytest
from sqlalchemy import select

from simpul.gateway.app import create_app
from simpul.gateway.models import client_events
from simpul.gateway.settings import DEV_ADMIN_CLIENT_ID, DEV_ADMIN_CLIENT_SECRET
from simpul.shared.envelope import new_key_text
from simpul.gateway.runtime import UNREADY_PROBE_SECONDS
from tests.api.gateway.conftest import ADMIN_ID, ADMIN_SECRET, closed_port_url
from tests.api.gateway.upstream import FakeService
from tests.support.asgi import running
from tests.support.identity import TEST_INTERNAL_SECRET

FORM = {"grant_type": "client_credentials"}


def service_document(paths: dict, schemas: dict) -> dict:
    return {"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": paths,
            "components": {"schemas": schemas}}


async def test_health_readiness_and_metrics(start_gateway):
    async with start_gateway(signatures_url=closed_port_url()) as gateway:
        assert (await gateway.http.get("/healthz")).json() == {"status": "ok"}
        ready = await gateway.http.get("/readyz")
        # A service without a ready replica makes the gateway not ready; which one is said.
        assert ready.status_code == 503
        assert ready.headers["content-type"].startswith("application/problem+json")
        assert ready.json()["unavailable"] == ["signatures"]
        assert ready.json()["upstreams"] == {
            "catalog": {"ready": 1, "replicas": 1}, "notifications": {"ready": 1, "replicas": 1},
            "signatures": {"ready": 0, "replicas": 1}, "submissions": {"ready": 1, "replicas": 1},
        }
        assert "127.0.0.1" not in ready.text
        await gateway.http.get("/v1/services")
        metrics = await gateway.metrics()
        assert metrics.status_code == 200
        assert 'service="gateway"' in metrics.text
        assert 'route="proxy:catalog"' in metrics.text
        assert 'simpul_upstream_ejected_replicas{service="signatures"} 1.0' in metrics.text
        assert 'simpul_upstream_ejected_replicas{service="catalog"} 0.0' in metrics.text
        assert "ratelimit-limit" not in (await gateway.http.get("/healthz")).headers


async def test_ready_when_every_service_has_a_ready_replica(start_gateway):
    async with start_gateway() as gateway:
        ready = await gateway.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["upstreams"]["catalog"] == {"ready": 1, "replicas": 1}


async def test_a_service_that_comes_up_is_seen_by_the_next_readiness_call(start_gateway):
    """`make run` starts the gateway and the services together: the gateway is ready as soon as
    the last service is, not at its balancers' next probe round."""
    late_url = closed_port_url()
    async with start_gateway(signatures_url=late_url) as gateway:
        balancer = gateway.app.state.gateway.upstreams["signatures"].balancer
        await balancer.close()  # no background rounds: only /readyz itself can notice the service
        assert (await gateway.http.get("/readyz")).status_code == 503
        late = FakeService(port=int(late_url.rsplit(":", 1)[1]))
        await late.start()
        try:
            await asyncio.sleep(UNREADY_PROBE_SECONDS)
            ready = await gateway.http.get("/readyz")
        finally:
            await late.stop()
    assert ready.status_code == 200, ready.text
    assert ready.json()["upstreams"]["signatures"] == {"ready": 1, "replicas": 1}


async def test_one_openapi_document_for_every_public_path(start_gateway, fake_service):
    fake_service.openapi["catalog"] = service_document(
        {
            "/v1/services": {"get": {"operationId": "list_services", "responses": {"200": {"description": "ok",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientPage"}}}}}}},
            "/v1/services/{code}": {"get": {"operationId": "get_service", "responses": {}}},
            "/internal/services/{code}": {"get": {"operationId": "internal", "responses": {}}},
        },
        {"ClientPage": {"type": "object", "title": "not the gateway's"}},
    )
    fake_service.openapi["submissions"] = service_document(
        {"/v1/submissions": {"post": {"operationId": "create", "responses": {}}},
         "/v1/track/{code}": {"get": {"operationId": "track", "responses": {}}}},
        {},
    )
    async with start_gateway() as gateway:
        response = await gateway.http.get("/openapi.json")
        docs = await gateway.http.get("/docs")
    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    for path in ("/v1/oauth/token", "/v1/admin/clients", "/v1/admin/clients/{client_id}", "/.well-known/jwks.json",
                 "/v1/services", "/v1/services/{code}", "/v1/submissions", "/v1/track/{code}"):
        assert path in paths, path
    assert not any(path.startswith("/internal") for path in paths)
    assert not {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"} & set(paths)
    assert document["x-simpul-missing"] == ["notifications", "signatures"]
    assert document["components"]["schemas"]["catalog_ClientPage"]["title"] == "not the gateway's"
    assert "client_secret" in str(document["components"]["schemas"]["CreatedClient"])
    assert document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["tokenUrl"]
    assert "application/x-www-form-urlencoded" in paths["/v1/oauth/token"]["post"]["requestBody"]["content"]
    # The services were asked with the gateway's service token.
    assert fake_service.openapi_callers == ["service", "service", "service", "service"]
    # The page itself; what it shows is tests/api/gateway/test_gateway_docs.py.
    assert docs.status_code == 200 and "swagger-ui" in docs.text


async def test_the_bootstrap_admin_follows_the_configured_secret(gateway_settings, caplog):
    settings = await gateway_settings()
    async with running(create_app(settings)) as http:
        first = await http.post("/v1/oauth/token", data={**FORM, "client_id": ADMIN_ID, "client_secret": ADMIN_SECRET})
        assert first.status_code == 200

    rotated = settings.model_copy(update={"admin_client_secret": "a-new-admin-secret-456"})
    app = create_app(rotated)
    async with running(app) as http:
        old = await http.post("/v1/oauth/token", data={**FORM, "client_id": ADMIN_ID, "client_secret": ADMIN_SECRET})
        new = await http.post("/v1/oauth/token",
                              data={**FORM, "client_id": ADMIN_ID, "client_secret": "a-new-admin-secret-456"})
        # The key made at the first start is kept: the first token still verifies.
        jwks = (await http.get("/.well-known/jwks.json")).json()
        async with app.state.gateway.engine.connect() as connection:
            actions = (await connection.execute(select(client_events.c.action)
                                                .where(client_events.c.client_id == ADMIN_ID)
                                                .order_by(client_events.c.id))).scalars().all()
    assert old.status_code == 401 and new.status_code == 200
    assert jwt.get_unverified_header(first.json()["access_token"])["kid"] == jwks["keys"][0]["kid"]
    assert len(jwks["keys"]) == 1
    assert actions == ["created", "secret_rotated"]
    assert not any(ADMIN_SECRET in record.getMessage() or "a-new-admin-secret-456" in record.getMessage()
                   for record in caplog.records)


async def test_development_defaults_are_announced_with_a_warning(settings_for, caplog):
    from simpul.gateway.settings import GatewaySettings

    caplog.set_level(logging.INFO, logger="simpul.gateway")
    settings = await settings_for(GatewaySettings)
    assert settings.admin_client_id == DEV_ADMIN_CLIENT_ID and settings.uses_dev_admin_secret
    async with running(create_app(settings)) as http:
        token = await http.post("/v1/oauth/token", data={**FORM, "client_id": DEV_ADMIN_CLIENT_ID,
                                                          "client_secret": DEV_ADMIN_CLIENT_SECRET})
        assert token.status_code == 200
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any(DEV_ADMIN_CLIENT_SECRET in message and "development defaults" in message for message in warnings)
    assert any("Simpul gateway on http://" in record.getMessage() for record in caplog.records)


def test_empty_environment_variables_mean_the_defaults(monkeypatch, tmp_path):
    from simpul.gateway.settings import GatewaySettings

    monkeypatch.setenv("SIMPUL_ADMIN_CLIENT_ID", "")
    monkeypatch.setenv("SIMPUL_ADMIN_CLIENT_SECRET", "")
    monkeypatch.setenv("SIMPUL_RATE_LIMIT_PER_MINUTE", "")
    monkeypatch.setenv("SIMPUL_UPSTREAM_READ_TIMEOUTS", '{"signatures": 60}')
    monkeypatch.setenv("SIMPUL_GATEWAY_PORT", "18123")
    settings = GatewaySettings(data_dir=tmp_path)
    assert settings.admin_client_id == DEV_ADMIN_CLIENT_ID
    assert settings.rate_limit_per_minute == 600 and settings.rate_limit_capacity == 600
    assert settings.read_timeout_for("signatures") == 60 and settings.read_timeout_for("catalog") == 30
    assert settings.port == 18123


async def test_a_revocation_reaches_other_gateway_processes(gateway_settings, databases, fake_service):
    """Two gateways on one database, no Redis: the one that revoked refuses at once, the other
    after its database poll (every second by default)."""
    settings = await gateway_settings(key_encryption_key=new_key_text())
    other_settings = settings.model_copy(update={"data_dir": settings.data_dir.parent / "other"})
    first_app, second_app = create_app(settings), create_app(other_settings)
    async with running(first_app) as first, running(second_app) as second:
        fake_service.trust((await first.get("/.well-known/jwks.json")).text)
        admin = await first.post("/v1/oauth/token", data={**FORM, "client_id": ADMIN_ID, "client_secret": ADMIN_SECRET})
        admin_headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
        created = (await first.post("/v1/admin/clients", json={"name": "x", "role": "applicant", "tenant": "31"},
                                    headers=admin_headers)).json()
        token = await second.post("/v1/oauth/token", data={**FORM, "client_id": created["client_id"],
                                                            "client_secret": created["client_secret"]})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        # A token from one process is good at the other: one key ring, one client table.
        assert (await first.get("/v1/services", headers=headers)).status_code == 200
        assert (await second.get("/v1/services", headers=headers)).status_code == 200

        assert (await first.delete(f"/v1/admin/clients/{created['client_id']}", headers=admin_headers)).status_code == 204
        assert (await first.get("/v1/services", headers=headers)).status_code == 401
        revoked = time.monotonic()
        while (await second.get("/v1/services", headers=headers)).status_code != 401:
            assert time.monotonic() - revoked < 1.5, "the other gateway kept accepting a revoked client"
            await asyncio.sleep(0.05)


async def test_services_accept_the_gateways_service_token_for_openapi_only_with_the_right_secret(start_gateway, fake_service):
    fake_service.openapi["catalog"] = service_document({"/v1/services": {"get": {"responses": {}}}}, {})
    async with start_gateway(internal_secret="a-different-internal-secret-0123456789") as gateway:
        document = (await gateway.http.get("/openapi.json")).json()
    # The fake service knows TEST_INTERNAL_SECRET only, so it refused every token made from another.
    assert TEST_INTERNAL_SECRET != "a-different-internal-secret-0123456789"
    assert "/v1/services" not in document["paths"]
    assert document["x-simpul-missing"] == ["catalog", "notifications", "signatures", "submissions"]


async def test_metrics_only_at_the_scrape_address(gateway):
    _, headers = await gateway.client_headers("admin", None)
    for asked in ({}, headers):
        public = await gateway.http.get("/metrics", headers=asked)
        assert public.status_code == 404
        assert public.headers["content-type"] == "application/problem+json"
    scraped = await gateway.metrics()
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    assert 'service="gateway"' in scraped.text
    scrape = gateway.app.state.scrape
    assert scrape.port != gateway.app.state.settings.metrics_port  # 0 took a free one
    async with httpx.AsyncClient(base_url=f"http://{scrape.host}:{scrape.port}") as client:
        assert (await client.get("/v1/services")).status_code == 404
        assert (await client.post("/metrics")).status_code == 404
        with pytest.raises(httpx.RemoteProtocolError):  # a head past the bound: hung up on
            await client.get("/metrics", headers={"X-Padding": "p" * 20_000})
