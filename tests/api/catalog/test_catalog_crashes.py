"""Creating, publishing and retiring a service through a crash: the process dies after the effect
committed, before its answer was sent, and the retry with the key answers from the effect."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from simpul.catalog.app import create_app
from simpul.catalog.settings import CatalogSettings
from tests.api.catalog.helpers import admin, service_body
from tests.support.asgi import running
from tests.support.idempotency import abandon_key, end_lease

# What is left of the lease of a claim an older version left when its process died.
LEASE = 30


@pytest.fixture
async def served(settings_for) -> AsyncIterator[tuple[object, httpx.AsyncClient]]:
    app = create_app(await settings_for(CatalogSettings))
    async with running(app) as client:
        yield app, client


async def history(client: httpx.AsyncClient, code: str) -> list[str]:
    return [entry["action"] for entry in (await client.get(f"/v1/services/{code}/history", headers=admin())).json()["items"]]


async def test_create_publish_and_retire(served, deaths):
    _, client = served
    created = await deaths.retry_after_death(client, "/v1/services", admin(), json=service_body("UJI-MATI"))
    assert created.status_code == 201 and created.headers["location"] == "/v1/services/UJI-MATI"
    assert created.json() == (await client.get("/v1/services/UJI-MATI", headers=admin())).json()

    published = await deaths.retry_after_death(client, "/v1/services/UJI-MATI/publish", admin())
    assert published.status_code == 200 and published.json()["status"] == "published"
    retired = await deaths.retry_after_death(client, "/v1/services/UJI-MATI/retire", admin())
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    assert await history(client, "UJI-MATI") == ["created", "published", "retired"]


async def test_a_claim_left_by_an_older_version_runs_the_retry_once_after_its_lease(served):
    app, client = served
    await abandon_key(app.state.engine, "admin-1", "/v1/services", "create-1", lease_left=LEASE)
    headers = {**admin(), "Idempotency-Key": "create-1"}
    waiting = await client.post("/v1/services", json=service_body("UJI-LAGI"), headers=headers)
    assert waiting.status_code == 409 and LEASE - 1 <= int(waiting.headers["retry-after"]) <= LEASE
    await end_lease(app.state.engine, "admin-1", "/v1/services", "create-1")
    created = await client.post("/v1/services", json=service_body("UJI-LAGI"), headers=headers)
    assert created.status_code == 201, created.text
    assert await history(client, "UJI-LAGI") == ["created"]

