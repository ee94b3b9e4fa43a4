"""Bodies, headers and checks shared by the catalogue API tests."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from simpul.shared.identity import ASSERTION_HEADER, mint_service_token
from tests.support.identity import TEST_INTERNAL_SECRET, anonymous, as_role

SERVICE = "catalog"

FORM_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["perihal", "tanggal"],
    "properties": {
        "perihal": {"type": "string", "minLength": 3},
        "tanggal": {"type": "string", "format": "date"},
        "jenis": {"enum": ["dinas", "pribadi"]},
    },
    "additionalProperties": False,
}


def service_body(code: str = "UJI-LAYANAN", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "name": "Layanan uji",
        "name_en": "Test service",
        "description": "Layanan untuk pengujian katalog.",
        "unit": "KDN-BH",
        "category": "perizinan",
        "legal_basis": ["Undang-Undang Nomor 25 Tahun 2009 tentang Pelayanan Publik"],
        "requirements": [
            {
                "code": "SURAT",
                "name": "Surat permohonan",
                "description": "Ditandatangani kepala daerah",
                "required": True,
                "content_types": ["application/pdf"],
                "max_bytes": 5_000_000,
            },
            {
                "code": "FOTO",
                "name": "Foto",
                "required": False,
                "content_types": ["image/jpeg", "image/png"],
                "max_bytes": 1_000_000,
            },
        ],
        "form_schema": copy.deepcopy(FORM_SCHEMA),
        "procedure": [
            {"step": 1, "title": "Mengajukan permohonan", "actor": "Pemohon"},
            {"step": 2, "title": "Verifikasi berkas", "actor": "Petugas"},
        ],
        "sla_working_days": 5,
        "fee": {"amount": 0, "currency": "IDR", "legal_basis": "Tidak dipungut biaya"},
        "output": {"name": "Surat Keterangan", "description": "Surat keterangan hasil layanan"},
        "complaint_channels": [{"channel": "email", "contact": "pengaduan@example.go.id"}],
        "standard": {
            "facilities": "Loket daring",
            "staff_competence": "Analis hukum",
            "internal_supervision": "Inspektorat Jenderal",
            "complaint_handling": "Ditanggapi dalam 3 hari kerja",
            "number_of_staff": "4 orang",
            "service_guarantee": "Maklumat pelayanan",
            "security_guarantee": "Dokumen ditandatangani secara elektronik",
            "performance_evaluation": "Survei kepuasan masyarakat tiap semester",
        },
    }
    body.update(overrides)
    return body


def admin(subject: str = "admin-1") -> dict[str, str]:
    return as_role(SERVICE, "admin", subject=subject)


def public() -> dict[str, str]:
    return anonymous(SERVICE)


def role(name: str, tenant: str | None = None) -> dict[str, str]:
    if name == "service":
        # Another service calling in, as the submissions service does (HS256, internal secret).
        return {ASSERTION_HEADER: mint_service_token(TEST_INTERNAL_SECRET, "submissions", SERVICE)}
    return as_role(SERVICE, name, tenant)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "request_id"} <= body.keys()
    return body


def fields_of(problem: dict[str, Any]) -> list[str]:
    return [error["field"] for error in problem["errors"]]


async def create(client: httpx.AsyncClient, code: str = "UJI-LAYANAN", **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/services", json=service_body(code, **overrides), headers=admin())
    assert response.status_code == 201, response.text
    return response.json()


async def publish(client: httpx.AsyncClient, code: str) -> dict[str, Any]:
    response = await client.post(f"/v1/services/{code}/publish", headers=admin())
    assert response.status_code == 200, response.text
    return response.json()
