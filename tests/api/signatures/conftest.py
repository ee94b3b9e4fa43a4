"""The signatures service under a real loopback HTTP server: its signing workers fetch RFC 3161
timestamps from the service's own /internal/tsa over HTTP, as in production."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn

from simpul.shared.identity import ASSERTION_HEADER, mint_service_token
from simpul.signatures.app import create_app
from simpul.signatures.settings import SignaturesSettings
from tests.support.identity import TEST_INTERNAL_SECRET, anonymous, as_role
from tests.support.processes import free_port

SERVICE = "signatures"
UNIT = "KDN-PFK"
OTHER_UNIT = "OTDA"
TENANT = "31"

ISSUE_BODY: dict[str, Any] = {
    "submission_id": "0190f3a2-7c1e-7b5a-9d3e-000000000001",
    "tracking_code": "SPL-7K3M-Q9XZ",
    "service_code": "IZIN-LN-KDH",
    "service_version": 3,
    "service_name": "Izin Perjalanan ke Luar Negeri bagi Kepala Daerah",
    "output": {
        "name": "Surat Izin Perjalanan ke Luar Negeri",
        "description": "Surat izin Menteri Dalam Negeri bagi kepala daerah yang bepergian ke luar negeri.",
        "validity": "Berlaku untuk jadwal perjalanan yang tercantum",
        "template": "izin-luar-negeri",
    },
    "unit": UNIT,
    "tenant": TENANT,
    "applicant": {"name": "Pemerintah Provinsi DKI Jakarta", "email": "biro@jakarta.go.id", "agency": "Biro Pemerintahan"},
    "data": {
        "nama": "Dr. Ir. Siti Nurhaliza Đặng, M.Si.",
        "jabatan": "wakil_gubernur",
        "negara_tujuan": "Jepang",
        "tanggal_berangkat": "2026-12-01",
        "kontak": {"telepon": "+62 812 3456 7890"},
    },
    "approved_at": "2026-11-20T03:00:00+00:00",
    "approved_by": "officer-KDN-PFK",
    "note": "Harap melapor sepulang perjalanan.",
}


def issue_body(submission_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    body = copy.deepcopy(ISSUE_BODY)
    if submission_id:
        body["submission_id"] = submission_id
    body.update(overrides)
    return body


def internal() -> dict[str, str]:
    return {ASSERTION_HEADER: mint_service_token(TEST_INTERNAL_SECRET, "submissions", SERVICE)}


def applicant(tenant: str = TENANT) -> dict[str, str]:
    return as_role(SERVICE, "applicant", tenant)


def officer(unit: str = UNIT) -> dict[str, str]:
    return as_role(SERVICE, "officer", unit)


def admin() -> dict[str, str]:
    return as_role(SERVICE, "admin")


def public() -> dict[str, str]:
    return anonymous(SERVICE)


class CollectedEvents:
    """Where the outbox relay delivers in these tests (the notifications service in real life)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def publish(self, events) -> None:
        self.events.extend(events)

    async def aclose(self) -> None:
        return None

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = [event for event in self.events if event["type"] == kind]
            if len(found) >= count or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.05)


@dataclass
class Served:
    client: httpx.AsyncClient
    app: Any
    settings: SignaturesSettings
    events: CollectedEvents
    issued: list[dict[str, Any]] = field(default_factory=list)

    async def issue(self, submission_id: str | None = None, **overrides: Any) -> dict[str, Any]:
        response = await self.client.post("/internal/documents", json=issue_body(submission_id, **overrides),
                                          headers=internal())
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def pdf(self, document_id: str) -> bytes:
        response = await self.client.get(f"/v1/documents/{document_id}/content", headers=admin())
        assert response.status_code == 200, response.text
        return response.content


async def serve(app, port: int) -> tuple[uvicorn.Server, asyncio.Task]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning"))
    # The test runner owns the signals; the server is stopped through should_exit.
    server.install_signal_handlers = lambda: None
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return server, task


@pytest.fixture
def signatures_overrides() -> dict:
    """Settings a test module changes for its service (override this fixture there)."""
    return {}


@pytest.fixture
async def signatures(settings_for, signatures_overrides) -> AsyncIterator[Served]:
    port = free_port()
    settings = await settings_for(
        SignaturesSettings,
        signatures_url=f"http://127.0.0.1:{port}",
        port=port,
        public_url="https://simpul.example.go.id",
        workers=2,
        key_passphrase="test-passphrase",
        **signatures_overrides,
    )
    events = CollectedEvents()
    app = create_app(settings, event_transport=events)
    server, task = await serve(app, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60.0) as client:
            yield Served(client, app, settings, events)
    finally:
        server.should_exit = True
        await task


def now() -> datetime:
    return datetime.now(UTC)
