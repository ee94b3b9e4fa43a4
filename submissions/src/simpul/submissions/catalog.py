"""The catalogue as the submissions service sees it: the standard a submission is made under.

Answers are kept for `cache_seconds` (a few seconds by default): creating submissions is the
busiest write path, and without the cache each one would wait on a call to the catalogue. A
newly published version or a retirement is therefore seen at most that long after it
happened. Concurrent misses for one code share a single call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import quote

import httpx

from simpul.shared.internal import InternalClient, refused_for_good
from simpul.shared.problems import Problem, Text

log = logging.getLogger("simpul.submissions.catalog")

UNKNOWN_SERVICE = Text("Layanan '{code}' tidak ada di katalog.", "There is no service '{code}' in the catalogue.")
CATALOG_DOWN = Text(
    "Katalog layanan sedang tidak dapat dihubungi; coba lagi sebentar lagi.",
    "The service catalogue cannot be reached right now; try again shortly.",
)
CATALOG_REFUSED = Text(
    "Katalog layanan menolak permintaan ini; mencoba lagi tidak akan mengubahnya.",
    "The service catalogue refused this request; trying again will not change that.",
)
MAX_CACHED = 1024


class CatalogClient:
    def __init__(self, client: InternalClient, *, cache_seconds: float = 0.0) -> None:
        self._client = client
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._pending: dict[str, asyncio.Future] = {}

    async def current(self, code: str) -> dict[str, Any]:
        """The service's current version; 404 when the catalogue doesn't know it."""
        if self._cache_seconds <= 0:
            return await self._fetch(code)
        cached = self._cache.get(code)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        pending = self._pending.get(code)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[code] = future
        try:
            standard = await self._fetch(code)
        except BaseException as exc:
            future.set_exception(exc)
            # Nobody else may be waiting; don't let the loop complain about an unread exception.
            future.exception()
            raise
        else:
            future.set_result(standard)
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[code] = (time.monotonic() + self._cache_seconds, standard)
            return standard
        finally:
            del self._pending[code]

    async def _fetch(self, code: str) -> dict[str, Any]:
        try:
            response = await self._client.request("GET", f"/v1/services/{quote(code, safe='')}")
        except httpx.HTTPError as exc:
            log.warning("catalogue unreachable: %s", exc)
            raise Problem(503, CATALOG_DOWN, slug="catalog-unavailable", headers={"Retry-After": "5"}) from exc
        if response.status_code == 404:
            raise Problem(404, UNKNOWN_SERVICE, slug="unknown-service", params={"code": code})
        if refused_for_good(response.status_code):
            # No Retry-After: the same request would be refused again; the log says why.
            log.error("catalogue refused the lookup of service %r with %s", code, response.status_code)
            raise Problem(502, CATALOG_REFUSED, slug="catalog-refused")
        if response.status_code != 200:
            log.warning("catalogue answered %s for service %s", response.status_code, code)
            raise Problem(503, CATALOG_DOWN, slug="catalog-unavailable", headers={"Retry-After": "5"})
        try:
            return response.json()
        except ValueError as exc:
            log.warning("catalogue sent a body that is not JSON for service %s", code)
            raise Problem(503, CATALOG_DOWN, slug="catalog-unavailable") from exc

    async def published(self) -> list[dict[str, Any]]:
        """Every published standard's summary (the catalogue's public list, page by page)."""
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
            try:
                response = await self._client.request("GET", "/v1/services", params=params)
            except httpx.HTTPError as exc:
                log.warning("catalogue unreachable: %s", exc)
                raise Problem(503, CATALOG_DOWN, slug="catalog-unavailable", headers={"Retry-After": "5"}) from exc
            if response.status_code != 200:
                log.warning("catalogue answered %s for the list of services", response.status_code)
                raise Problem(503, CATALOG_DOWN, slug="catalog-unavailable", headers={"Retry-After": "5"})
            page = response.json()
            found += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    async def aclose(self) -> None:
        await self._client.aclose()
