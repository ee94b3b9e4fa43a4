from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from simpul.gateway.app import create_app
from simpul.gateway.settings import GatewaySettings
from tests.api.gateway.upstream import SERVICES, FakeService
from tests.support.asgi import running

ADMIN_ID = "test-admin"
ADMIN_SECRET = "test-admin-secret-0123"


def closed_port_url() -> str:
    """An address where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class Gateway:
    """An in-process gateway and helpers to act as its clients."""

    http: httpx.AsyncClient
    app: object

    async def token(self, client_id: str, secret: str) -> str:
        response = await self.http.post(
            "/v1/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    async def bearer(self, client_id: str, secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(client_id, secret)}"}

    async def metrics(self) -> httpx.Response:
        """GET /metrics at the gateway's scrape address (the public port answers 404 there)."""
        scrape = self.app.state.scrape
        async with httpx.AsyncClient() as client:
            return await client.get(f"http://{scrape.host}:{scrape.port}/metrics")

    async def admin(self) -> dict[str, str]:
        return await self.bearer(ADMIN_ID, ADMIN_SECRET)

    async def create_client(self, role: str, tenant: str | None, name: str = "Test client") -> dict:
        body = {"name": name, "role": role}
        if tenant is not None:
            body["tenant"] = tenant
        response = await self.http.post("/v1/admin/clients", json=body, headers=await self.admin())
        assert response.status_code == 201, response.text
        return response.json()

    async def client_headers(self, role: str, tenant: str | None) -> tuple[dict, dict[str, str]]:
        created = await self.create_client(role, tenant)
        return created, await self.bearer(created["client_id"], created["client_secret"])


@pytest.fixture
async def fake_service() -> AsyncIterator[FakeService]:
    service = FakeService()
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
def gateway_settings(settings_for, fake_service) -> Callable:
    """Settings of a gateway whose four services are the fake one, unless overridden."""

    async def make(**overrides) -> GatewaySettings:
        values = {
            "admin_client_id": ADMIN_ID,
            "admin_client_secret": ADMIN_SECRET,
            "public_url": "http://gateway.test",
            **{f"{name}_url": fake_service.url for name in SERVICES},
        }
        values.update(overrides)
        return await settings_for(GatewaySettings, **values)

    return make


@pytest.fixture
def start_gateway(gateway_settings, fake_service):
    """`async with start_gateway(**settings) as gateway:` — running, with the fake service
    trusting its keys."""

    @asynccontextmanager
    async def start(**overrides) -> AsyncIterator[Gateway]:
        app = create_app(await gateway_settings(**overrides))
        async with running(app) as http:
            fake_service.trust((await http.get("/.well-known/jwks.json")).text)
            yield Gateway(http, app)

    return start


@pytest.fixture
async def gateway(start_gateway) -> AsyncIterator[Gateway]:
    async with start_gateway() as started:
        yield started
