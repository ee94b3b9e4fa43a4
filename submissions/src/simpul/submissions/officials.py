"""The unit's officials as the submissions service sees them: who a step may be disposed to.

The registry of officials is the gateway's (it mints the assertions that name them); this
module is the only one that knows its internal path and wire format. `assign` looks the
assignee up here, outside the transaction of the change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from simpul.shared.identity import Official
from simpul.shared.internal import InternalClient
from simpul.shared.problems import Problem, Text

log = logging.getLogger("simpul.submissions.officials")

REGISTRY_DOWN = Text(
    "Daftar pejabat sedang tidak dapat dihubungi; coba lagi sebentar lagi.",
    "The registry of officials cannot be reached right now; try again shortly.",
)


@dataclass(frozen=True)
class OfficialRecord:
    official: Official
    unit: str
    active: bool
    # Where the disposition is mailed, when the registry holds an address for the official.
    email: str | None = None


class OfficialDirectory(Protocol):
    async def get(self, official_id: str) -> OfficialRecord | None:
        """The official with this id, active or not; None when there is none."""


class GatewayOfficials:
    """`GET /internal/officials/{id}` on the gateway, with the service token:
    `{id, nip, name, position, roles, unit, active, email?}`; 404 when unknown."""

    def __init__(self, client: InternalClient) -> None:
        self._client = client

    async def get(self, official_id: str) -> OfficialRecord | None:
        try:
            response = await self._client.request("GET", f"/internal/officials/{quote(official_id, safe='')}")
        except httpx.HTTPError as exc:
            log.warning("officials registry unreachable: %s", exc)
            raise Problem(503, REGISTRY_DOWN, slug="officials-unavailable", headers={"Retry-After": "5"}) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            log.warning("officials registry answered %s", response.status_code)
            raise Problem(503, REGISTRY_DOWN, slug="officials-unavailable", headers={"Retry-After": "5"})
        try:
            return record_of(response.json())
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("officials registry sent an unreadable official")
            raise Problem(503, REGISTRY_DOWN, slug="officials-unavailable") from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def record_of(body: dict[str, Any]) -> OfficialRecord:
    official = Official(id=str(body["id"]), nip=str(body["nip"]), name=str(body["name"]),
                        position=str(body["position"]), roles=tuple(str(r) for r in body.get("roles") or ()))
    email = body.get("email")
    return OfficialRecord(official, str(body["unit"]), bool(body["active"]),
                          email if isinstance(email, str) and email else None)
