"""Stand-ins for the catalogue and signatures services, served through httpx.MockTransport."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from typing import Any

import httpx

from simpul.shared.identity import ASSERTION_HEADER

UNIT = "KDN-BH"
OTHER_UNIT = "KEU-PJK"

FORM_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["nik", "business_name", "address"],
    "properties": {
        "nik": {"type": "string", "pattern": "^[0-9]{16}$"},
        "business_name": {"type": "string", "minLength": 3},
        "employees": {"type": "integer", "minimum": 1},
        "address": {
            "type": "object",
            "required": ["city"],
            "properties": {"city": {"type": "string"}, "postal_code": {"type": "string", "pattern": "^[0-9]{5}$"}},
        },
    },
    "additionalProperties": False,
}

VALID_DATA = {"nik": "3171234567890001", "business_name": "Warung Sejahtera", "address": {"city": "Jakarta"}}


def standard(code: str = "IZIN-USAHA", *, unit: str = UNIT, version: int = 3, status: str = "published") -> dict[str, Any]:
    return {
        "code": code,
        "name": "Izin Usaha Mikro",
        "description": "Izin usaha untuk usaha mikro",
        "unit": unit,
        "category": "perizinan",
        "version": version,
        "status": status,
        "legal_basis": ["PP 7/2021"],
        "requirements": [
            {
                "code": "ktp",
                "name": "KTP pemohon",
                "description": "",
                "required": True,
                "content_types": ["image/jpeg", "image/png", "application/pdf"],
                "max_bytes": 200_000,
            },
            {
                "code": "domicile",
                "name": "Surat keterangan domisili",
                "description": "",
                "required": True,
                "content_types": ["application/pdf"],
                "max_bytes": 1_000_000,
            },
            {
                "code": "photo",
                "name": "Foto tempat usaha",
                "description": "",
                "required": False,
                "content_types": ["image/*"],
                "max_bytes": 500_000,
            },
        ],
        "form_schema": FORM_SCHEMA,
        "procedure": [{"step": 1, "title": "Verifikasi", "actor": "officer"}],
        "sla_working_days": 5,
        "fee": {"amount": 150000, "currency": "IDR", "legal_basis": "PP 7/2021 pasal 10"},
        "output": {"type": "permit", "title": "Izin Usaha Mikro", "template": "izin-usaha"},
        "complaint_channels": [],
    }


class FakeCatalog:
    def __init__(self) -> None:
        self.services: dict[str, dict[str, Any]] = {
            "IZIN-USAHA": standard(),
            "NPWP-DAERAH": standard("NPWP-DAERAH", unit=OTHER_UNIT, version=1),
            "IZIN-LAMA": standard("IZIN-LAMA", status="retired"),
        }
        self.calls: list[httpx.Request] = []
        self.down = False

    def publish(self, code: str, **changes: Any) -> None:
        revised = copy.deepcopy(self.services[code])
        revised.update(changes)
        revised["version"] += 1
        self.services[code] = revised

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        assert request.headers.get(ASSERTION_HEADER), "internal calls carry a service token"
        if self.down:
            raise httpx.ConnectError("connection refused by catalog.test", request=request)
        parts = request.url.path.split("/")
        if len(parts) == 4 and parts[:3] == ["", "v1", "services"] and parts[3] in self.services:
            return httpx.Response(200, json=self.services[parts[3]])
        if parts == ["", "v1", "services"]:
            # The public list: the published ones, as summaries, in one page.
            return httpx.Response(200, json={"items": [
                {key: service[key] for key in ("code", "name", "description", "unit", "category", "version")}
                for service in self.services.values() if service["status"] == "published"
            ], "next_cursor": None})
        return httpx.Response(404, json={"type": "urn:simpul:problem:not-found", "status": 404})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


class FakeSignatures:
    """Idempotent on submission_id, like the real one; `fail_next` answers 503 that many times;
    `refuse_with` answers that 4xx (naming applicant.name) while set. Each call
    takes `latency` seconds; `max_in_flight` is the most calls at once, `overlapping` the
    submissions asked for again while a call for them was still running."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        self.refuse_with: int | None = None
        self.lose_answers = 0
        self.latency = 0.0
        self.in_flight: set[str] = set()
        self.max_in_flight = 0
        self.overlapping: list[str] = []
        self.revoked: set[str] = set()

    async def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path.endswith("/revoke"):
            # A kuitansi whose payment was voided: revoked once, 409 after.
            document_id = request.url.path.split("/")[-2]
            status = 409 if document_id in self.revoked else 200
            self.revoked.add(document_id)
            return httpx.Response(status, json={"document_id": document_id, "revoked": True})
        submission_id = body["submission_id"]
        if submission_id in self.in_flight:
            self.overlapping.append(submission_id)
        self.in_flight.add(submission_id)
        self.max_in_flight = max(self.max_in_flight, len(self.in_flight))
        try:
            await asyncio.sleep(self.latency)
            return self._answer(request, body)
        finally:
            self.in_flight.discard(submission_id)

    def _answer(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        assert request.url.path == "/internal/documents"
        assert request.headers.get(ASSERTION_HEADER)
        self.requests.append(body)
        if self.fail_next:
            self.fail_next -= 1
            return httpx.Response(503, json={"status": 503})
        if self.refuse_with is not None:
            return httpx.Response(self.refuse_with, json={
                "status": self.refuse_with, "detail": "The request is not valid.",
                "errors": [{"field": "applicant.name", "message": "contains a control character"}],
            })
        existing = self.documents.get(body["submission_id"])
        if existing is None:
            document_id = str(uuid.uuid4())
            existing = {
                "document_id": document_id,
                "number": f"{body['unit']}/2026/{len(self.documents) + 1:06d}",
                "verify_url": f"http://gateway.test/v1/verify/{document_id}",
                "sha256": "ab" * 32,
                "issued_at": "2026-11-23T10:00:00+00:00",
            }
            self.documents[body["submission_id"]] = existing
            status = 201
        else:
            status = 200
        if self.lose_answers:
            # The document was made but the answer never arrives: the caller must retry safely.
            self.lose_answers -= 1
            raise httpx.ReadTimeout("answer lost", request=request)
        return httpx.Response(status, json=existing)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


class FakeOfficialsRegistry:
    """The gateway's `GET /internal/officials/{id}` (the officials branch builds the real one):
    officials by id, each with its unit and active flag."""

    def __init__(self) -> None:
        self.officials: dict[str, dict[str, Any]] = {}
        self.calls: list[httpx.Request] = []

    def add(self, official: Any, unit: str = UNIT, *, active: bool = True, email: str | None = None) -> None:
        self.officials[official.id] = {**official.claims(), "unit": unit, "active": active, "email": email}

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        assert request.headers.get(ASSERTION_HEADER), "internal calls carry a service token"
        parts = request.url.path.split("/")
        if len(parts) == 4 and parts[:3] == ["", "internal", "officials"] and parts[3] in self.officials:
            return httpx.Response(200, json=self.officials[parts[3]])
        return httpx.Response(404, json={"type": "urn:simpul:problem:not-found", "status": 404})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


class CollectedEvents:
    """Where the outbox relay delivers in API tests (the notifications service in real life)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def publish(self, events) -> None:
        self.events.extend(events)

    async def aclose(self) -> None:
        return None
