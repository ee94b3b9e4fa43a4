"""Every service keeps answers to authenticated callers out of caches, errors included; answers
to anonymous callers (asserted as such by the gateway) keep the caching the route chose."""

from __future__ import annotations

import importlib

import pytest

from tests.support.asgi import running
from tests.support.identity import anonymous, as_role

from simpul.shared.identity import ASSERTION_HEADER

SERVICES = [
    ("catalog", "simpul.catalog", "CatalogSettings"),
    ("submissions", "simpul.submissions", "SubmissionsSettings"),
    ("signatures", "simpul.signatures", "SignaturesSettings"),
    ("notifications", "simpul.notifications", "NotificationsSettings"),
]


@pytest.mark.parametrize(("service", "package", "settings_name"), SERVICES)
async def test_authenticated_answers_and_refusals_are_no_store(service, package, settings_name, settings_for):
    settings_class = getattr(importlib.import_module(f"{package}.settings"), settings_name)
    app = importlib.import_module(f"{package}.app").create_app(await settings_for(settings_class))
    async with running(app) as client:
        for headers, status in ((as_role(service, "applicant", "31"), 404), (as_role(service, "admin"), 404),
                                ({ASSERTION_HEADER: "forged"}, 401)):
            response = await client.get("/v1/nothing-here", headers=headers)
            assert response.status_code == status
            assert response.headers["cache-control"] == "no-store"
        assert "cache-control" not in (await client.get("/v1/nothing-here", headers=anonymous(service))).headers
        assert "cache-control" not in (await client.get("/healthz")).headers


async def test_a_published_standard_is_public_to_the_public_and_no_store_to_an_admin(settings_for):
    from simpul.catalog.app import create_app
    from simpul.catalog.settings import CatalogSettings

    app = create_app(await settings_for(CatalogSettings, demo=True))
    async with running(app) as client:
        code = (await client.get("/v1/services", headers=anonymous("catalog"))).json()["items"][0]["code"]
        public = await client.get(f"/v1/services/{code}", headers=anonymous("catalog"))
        assert public.headers["cache-control"] == "public, max-age=60"
        admin = await client.get(f"/v1/services/{code}", headers=as_role("catalog", "admin"))
        assert admin.headers["cache-control"] == "no-store"
        assert admin.headers["etag"] == public.headers["etag"]
