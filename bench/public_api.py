"""The benchmarks' side of the public API, through the gateway: a service standard made for load
tests, tokens and API clients, and one call that checks the answer's status."""

from __future__ import annotations

import json
import uuid

import aiohttp

UNIT = "BENCH-UNIT"
# The smallest file the upload checks take for a PDF requirement.
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n" + b"%" * 2000 + b"\n"


def service_body(code: str, with_document: bool) -> dict:
    requirements = [
        {"code": "SURAT", "name": "Surat permohonan", "description": "", "required": True,
         "content_types": ["application/pdf"], "max_bytes": 1_000_000}
    ] if with_document else []
    return {
        "code": code,
        "name": "Layanan uji beban",
        "description": "Layanan untuk uji beban.",
        "unit": UNIT,
        "category": "uji",
        "legal_basis": ["Undang-Undang Nomor 25 Tahun 2009 tentang Pelayanan Publik"],
        "requirements": requirements,
        "form_schema": {
            "type": "object",
            "required": ["perihal"],
            "properties": {"perihal": {"type": "string", "minLength": 3}, "jumlah": {"type": "integer"}},
            "additionalProperties": False,
        },
        "procedure": [{"step": 1, "title": "Verifikasi berkas", "actor": "Petugas"}],
        "sla_working_days": 5,
        "fee": {"amount": 50000, "currency": "IDR", "legal_basis": "PP 1/2026"},
        "output": {"name": "Surat Keterangan", "description": "Surat keterangan hasil layanan"},
        "complaint_channels": [{"channel": "email", "contact": "pengaduan@example.go.id"}],
        "standard": {key: "Sesuai maklumat pelayanan" for key in (
            "facilities", "staff_competence", "internal_supervision", "complaint_handling", "number_of_staff",
            "service_guarantee", "security_guarantee", "performance_evaluation")},
    }


async def token(http: aiohttp.ClientSession, url: str, client_id: str, secret: str) -> str:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    async with http.post(f"{url}/v1/oauth/token", data=form) as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"token: {response.status} {body}")
        return body["access_token"]


async def call(http, method, url, bearer, *, ok, keyed=False, **kwargs):
    """One request; RuntimeError unless it answers `ok`. `keyed` sends a fresh Idempotency-Key,
    as a client that may retry its POSTs does."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    if keyed:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    async with http.request(method, url, headers=headers, **kwargs) as response:
        body = await response.read()
        if response.status != ok:
            raise RuntimeError(f"{method} {url}: {response.status} {body[:300]!r}")
        return json.loads(body) if body else None


async def publish_services(http: aiohttp.ClientSession, url: str, admin: str) -> dict[str, str]:
    """Two published services of UNIT, a fresh code each: `upload` requires one PDF, `plain` none."""
    suffix = uuid.uuid4().hex[:6].upper()
    codes = {}
    for kind, with_document in (("upload", True), ("plain", False)):
        code = f"BENCH-{kind.upper()}-{suffix}"
        await call(http, "POST", f"{url}/v1/services", admin, json=service_body(code, with_document), ok=201)
        await call(http, "POST", f"{url}/v1/services/{code}/publish", admin, ok=200)
        codes[kind] = code
    return codes


async def client_token(http: aiohttp.ClientSession, url: str, admin: str, role: str, tenant: str) -> str:
    """A new API client (made by the admin) and an access token for it."""
    created = await call(http, "POST", f"{url}/v1/admin/clients", admin,
                         json={"name": f"bench {role} {tenant}", "role": role, "tenant": tenant}, ok=201)
    return await token(http, url, created["client_id"], created["client_secret"])
