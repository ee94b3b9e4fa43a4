"""The catalogue as the submissions service sees it: the standard a submission is made under."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx

from simpul.shared.internal import InternalClient
from simpul.shared.problems import Problem, Text

log = logging.getLogger("simpul.submissions.catalog")

UNKNOWN_SERVICE = Text("Layanan '{code}' tidak ada di katalog.", "There is no service '{code}' in the catalogue.")
CATALOG_DOWN = Text(
    "Katalog layanan sedang tidak dapat dihubungi; coba lagi sebentar lagi.",
    "The service catalogue cannot be reached right now; try again shortly.",
)


class CatalogClient:
    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def current(self, code: str) -> dict[str, Any]:
        """The service's current version; 404 when the catalogue doesn't know it."""
        try:
            response = await self._client.request("GET", f"/v1/services/{quote(code, safe='')}")
        except httpx.HTTPError as exc:
            log.warning("catalogue unreachable: %s", exc)
            raise Problem(503, CATALOG_DOWN, slug="catalog-unavailable", headers={"Retry-After": "5"}) from exc
        if response.status_code == 404:
            raise Problem(404, UNKNOWN_SERVICE, slug="unknown-service", params={"code": code})
        if response.status_code != 200:
            log.warning("catalogue answered %s for service %s", response.status_code, code)
            raise Problem(503, CATALOG_DOWN, slug="catalog-unavailable", headers={"Retry-After": "5"})
        try:
            return response.json()
        except ValueError as exc:
            log.warning("catalogue sent a body that is not JSON for service %s", code)
            raise Problem(503, CATALOG_DOWN, slug="catalog-unavailable") from exc

    async def aclose(self) -> None:
        await self._client.aclose()
