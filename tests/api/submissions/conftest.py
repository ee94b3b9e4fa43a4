from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from simpul.submissions.app import create_app
from simpul.submissions.settings import SubmissionsSettings
from tests.api.submissions.fakes import (
    OTHER_UNIT,
    UNIT,
    VALID_DATA,
    CollectedEvents,
    FakeCatalog,
    FakeOfficialsRegistry,
    FakeSignatures,
)
from tests.support.asgi import running
from tests.support.identity import as_role

SERVICE = "submissions"
PDF = b"%PDF-1.7\n" + b"0" * 2000 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 500
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 500
GIF = b"GIF89a" + b"\x00" * 500


def applicant(tenant: str = "31", subject: str | None = None) -> dict[str, str]:
    return as_role(SERVICE, "applicant", tenant, subject)


def officer(unit: str = UNIT, subject: str | None = None) -> dict[str, str]:
    return as_role(SERVICE, "officer", unit, subject)


def admin() -> dict[str, str]:
    return as_role(SERVICE, "admin")


class ShiftedClock:
    """The app's notion of now: real time moved by whatever offset the test sets."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(UTC)

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class Harness:
    client: httpx.AsyncClient
    app: object
    catalog: FakeCatalog
    signatures: FakeSignatures
    clock: ShiftedClock
    published: CollectedEvents
    officials: FakeOfficialsRegistry

    async def create(self, tenant: str = "31", service_code: str = "IZIN-USAHA", **overrides) -> dict:
        body = {
            "service_code": service_code,
            "applicant": {"name": "Siti Rahayu", "email": "siti@example.go.id", "agency": "Dinas PMPTSP"},
            "data": VALID_DATA,
        }
        body.update(overrides)
        response = await self.client.post("/v1/submissions", json=body, headers=applicant(tenant))
        assert response.status_code == 201, response.text
        return response.json()

    async def upload(self, submission_id: str, code: str, content: bytes, tenant: str = "31", filename: str = "f.bin"):
        return await self.client.post(
            f"/v1/submissions/{submission_id}/documents",
            data={"requirement_code": code},
            files={"file": (filename, content, "application/octet-stream")},
            headers=applicant(tenant),
        )

    async def submitted(self, tenant: str = "31", service_code: str = "IZIN-USAHA") -> dict:
        created = await self.create(tenant, service_code)
        for code, content in (("ktp", JPEG), ("domicile", PDF)):
            assert (await self.upload(created["id"], code, content, tenant)).status_code == 201
        response = await self.client.post(f"/v1/submissions/{created['id']}/submit", headers=applicant(tenant))
        assert response.status_code == 200, response.text
        return response.json()

    async def rejected(self, tenant: str = "31", service_code: str = "IZIN-USAHA") -> dict:
        submitted = await self.submitted(tenant, service_code)
        unit = submitted["unit"]
        assert (await self.act(submitted["id"], "start_review", unit=unit)).status_code == 200
        response = await self.act(submitted["id"], "reject", "Persyaratan tidak sesuai", unit=unit)
        assert response.status_code == 200, response.text
        return response.json()

    async def act(self, submission_id: str, action: str, note: str | None = None, unit: str = UNIT):
        body = {"action": action} if note is None else {"action": action, "note": note}
        return await self.client.post(f"/v1/submissions/{submission_id}/actions", json=body, headers=officer(unit))

    async def wait_for_status(self, submission_id: str, status: str, timeout: float = 5.0) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            body = (await self.client.get(f"/v1/submissions/{submission_id}", headers=admin())).json()
            if body["status"] == status or asyncio.get_running_loop().time() > deadline:
                return body
            await asyncio.sleep(0.02)


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def harness_overrides() -> dict:
    """Settings a test module changes for its harness (override this fixture there)."""
    return {}


@pytest.fixture
async def harness(settings_for, clock, harness_overrides) -> AsyncIterator[Harness]:
    catalog = FakeCatalog()
    signatures = FakeSignatures()
    published = CollectedEvents()
    officials = FakeOfficialsRegistry()
    settings = await settings_for(
        SubmissionsSettings,
        issue_poll_seconds=0.05,
        issue_retry_base_seconds=0.01,
        issue_retry_max_seconds=0.05,
        catalog_cache_seconds=0,
        **harness_overrides,
    )
    app = create_app(
        settings,
        catalog_transport=catalog.transport(),
        signatures_transport=signatures.transport(),
        event_transport=published,
        clock=clock,
        gateway_transport=officials.transport(),
    )
    async with running(app) as client:
        yield Harness(client, app, catalog, signatures, clock, published, officials)


__all__ = ["OTHER_UNIT", "UNIT", "PDF", "PNG", "JPEG", "applicant", "officer", "admin"]
