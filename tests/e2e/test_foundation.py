"""The foundation through the gateway, with every service a real process on loopback."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import jwt
import pytest

from tests.e2e.conftest import start_system
from tests.support.processes import ALL_SERVICES, ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET

pytestmark = pytest.mark.shared_system  # see tests/e2e/conftest.py


def service_body(code: str, unit: str = "KDN-BH") -> dict:
    return {
        "code": code,
        "name": "Layanan uji",
        "name_en": "Test service",
        "description": "Layanan untuk pengujian ujung ke ujung.",
        "unit": unit,
        "category": "uji",
        "legal_basis": ["Undang-Undang Nomor 25 Tahun 2009 tentang Pelayanan Publik"],
        "requirements": [
            {
                "code": "SURAT",
                "name": "Surat permohonan",
                "description": "Surat permohonan yang ditandatangani kepala daerah",
                "required": True,
                "content_types": ["application/pdf"],
                "max_bytes": 5_000_000,
            }
        ],
        "form_schema": {
            "type": "object",
            "required": ["perihal"],
            "properties": {"perihal": {"type": "string", "minLength": 3}},
            "additionalProperties": False,
        },
        "procedure": [{"step": 1, "title": "Verifikasi berkas", "actor": "Petugas"}],
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


def test_tokens_are_jwts_that_the_published_keys_verify(api):
    token = api.token(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    jwks = api.http.get("/.well-known/jwks.json").json()
    header = jwt.get_unverified_header(token)
    key = next(jwt.PyJWK(entry).key for entry in jwks["keys"] if entry["kid"] == header["kid"])
    claims = jwt.decode(token, key, algorithms=[header["alg"]], options={"verify_aud": False})
    assert claims["sub"] == ADMIN_CLIENT_ID
    assert claims["role"] == "admin"


def test_bad_credentials_are_invalid_client(api):
    response = api.http.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": ADMIN_CLIENT_ID, "client_secret": "wrong"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_client_lifecycle_and_revocation_at_once(api, admin):
    created = api.create_client(admin, "applicant", "31")
    assert created["client_secret"]
    listed = admin.get("/v1/admin/clients", params={"limit": 200}).json()
    assert all("client_secret" not in item for item in listed["items"])

    applicant = api.as_client(created["client_id"], created["client_secret"])
    assert applicant.get("/v1/services").status_code == 200
    assert admin.delete(f"/v1/admin/clients/{created['client_id']}").status_code == 204
    refused = applicant.get("/v1/services")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    with_old_secret = api.http.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": created["client_id"],
            "client_secret": created["client_secret"],
        },
    )
    assert with_old_secret.status_code == 401


def test_catalogue_create_revise_publish_list(api, admin):
    code = f"UJI-{uuid.uuid4().hex[:8].upper()}"
    created = admin.post("/v1/services", json=service_body(code), headers={"Idempotency-Key": code})
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft"
    assert api.http.get(f"/v1/services/{code}").status_code == 404

    published = admin.post(f"/v1/services/{code}/publish")
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"

    revised_body = service_body(code)
    revised_body["sla_working_days"] = 7
    revised = admin.put(f"/v1/services/{code}", json=revised_body)
    assert revised.status_code == 200, revised.text
    assert revised.json()["version"] == 2

    public = api.http.get(f"/v1/services/{code}").json()
    assert public["version"] == 2 and public["sla_working_days"] == 7
    first = api.http.get(f"/v1/services/{code}/versions/1").json()
    assert first["sla_working_days"] == 5

    codes = [item["code"] for item in api.http.get("/v1/services", params={"unit": "KDN-BH", "limit": 200}).json()["items"]]
    assert code in codes

    applicant = api.client_for(admin, "applicant", "31")
    refused = applicant.post("/v1/services", json=service_body(f"UJI-{uuid.uuid4().hex[:8].upper()}"))
    assert refused.status_code == 403


def test_demo_catalogue_is_loaded(api):
    items = api.http.get("/v1/services").json()["items"]
    assert len([item for item in items if item["status"] == "published"]) >= 3


def test_protected_calls_need_a_token(api):
    response = api.http.post("/v1/services", json=service_body("UJI-NOTOKEN"))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    garbage = api.http.get("/v1/services", headers={"Authorization": "Bearer not.a.jwt"})
    assert garbage.status_code == 401


def test_what_the_services_write_is_readable_by_their_user_alone(system, api):
    api.token(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)  # something written after the start, too
    written = [path for path in (system.directory / "var").rglob("*")]
    assert any(path.is_file() for path in written)  # keys at least; SQLite files on the embedded default
    exposed = {str(path.relative_to(system.directory)): oct(path.stat().st_mode & 0o777)
               for path in written if path.stat().st_mode & 0o077}
    assert exposed == {}


def test_service_ports_refuse_calls_without_the_gateway(system):
    for name in ALL_SERVICES[1:]:
        response = httpx.get(f"{system[name].url}/v1/services")
        assert response.status_code == 401, name
        assert response.json()["status"] == 401


def test_request_id_and_traceparent_pass_through(api):
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = api.http.get("/v1/services", headers={"X-Request-ID": "trace-me-1", "traceparent": traceparent})
    assert response.headers["x-request-id"] == "trace-me-1"
    assert "ratelimit-limit" in response.headers


def test_openapi_covers_every_public_path(api):
    document = api.http.get("/openapi.json").json()
    paths = document["paths"]
    for path in ("/v1/oauth/token", "/v1/admin/clients", "/v1/services", "/v1/services/{code}"):
        assert path in paths, path
    assert not any(path.startswith("/internal") for path in paths)
    assert api.http.get("/docs").status_code == 200


def test_a_stopped_service_is_a_503_problem(tmp_path):
    system, databases = start_system(tmp_path, services=("gateway", "catalog"))
    try:
        public = httpx.Client(base_url=system.gateway_url, timeout=30.0)
        assert public.get("/v1/services").status_code == 200
        system["catalog"].stop()
        response = public.get("/v1/services")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 503 and body["request_id"]
        assert "127.0.0.1" not in response.text and "Traceback" not in response.text
    finally:
        system.stop()
        asyncio.run(databases.drop_all())
