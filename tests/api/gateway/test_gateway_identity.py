"""Tokens, keys and API clients at the gateway."""

from __future__ import annotations

import base64
from datetime import datetime

import jwt
from sqlalchemy import select

from simpul.gateway.models import client_events, clients
from simpul.gateway.tokens import ACCESS_TOKEN_AUDIENCE
from tests.api.gateway.conftest import ADMIN_ID, ADMIN_SECRET

FORM = {"grant_type": "client_credentials"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


# --- tokens ----------------------------------------------------------------------------


async def test_token_with_form_credentials_verifies_with_the_jwks(gateway):
    response = await gateway.http.post("/v1/oauth/token", data={**FORM, "client_id": ADMIN_ID, "client_secret": ADMIN_SECRET})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert set(body) == {"access_token", "token_type", "expires_in"}

    jwks = (await gateway.http.get("/.well-known/jwks.json")).json()
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "ES256"
    key = next(jwt.PyJWK(entry).key for entry in jwks["keys"] if entry["kid"] == header["kid"])
    claims = jwt.decode(body["access_token"], key, algorithms=["ES256"], audience=ACCESS_TOKEN_AUDIENCE)
    assert claims["sub"] == ADMIN_ID and claims["role"] == "admin" and claims["tenant"] is None
    assert claims["exp"] - claims["iat"] == 900 and claims["jti"] and claims["iss"] == "http://gateway.test"
    assert all("d" not in entry for entry in jwks["keys"])


async def test_token_with_http_basic(gateway):
    response = await gateway.http.post("/v1/oauth/token", data=FORM, headers=basic(ADMIN_ID, ADMIN_SECRET))
    assert response.status_code == 200, response.text


async def test_bad_credentials_are_invalid_client(gateway):
    for attempt in (
        {"data": {**FORM, "client_id": ADMIN_ID, "client_secret": "wrong"}},
        {"data": {**FORM, "client_id": "nobody", "client_secret": ADMIN_SECRET}},
        {"data": FORM, "headers": basic(ADMIN_ID, "wrong")},
        {"data": FORM},
    ):
        response = await gateway.http.post("/v1/oauth/token", **attempt)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Basic")
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["error"] == "invalid_client" and body["error_description"]
        assert body["status"] == 401 and body["request_id"]


async def test_malformed_token_requests_are_400_with_the_oauth_error(gateway):
    wrong_grant = await gateway.http.post(
        "/v1/oauth/token", data={"grant_type": "password", "client_id": ADMIN_ID, "client_secret": ADMIN_SECRET}
    )
    assert wrong_grant.status_code == 400
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    as_json = await gateway.http.post(
        "/v1/oauth/token", json={**FORM, "client_id": ADMIN_ID, "client_secret": ADMIN_SECRET},
        headers={"Accept-Language": "en"},
    )
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
    assert "x-www-form-urlencoded" in as_json.json()["error_description"]


async def test_revoked_client_gets_no_token_and_its_tokens_stop_at_once(gateway):
    created, headers = await gateway.client_headers("applicant", "31")
    assert (await gateway.http.get("/v1/services", headers=headers)).status_code == 200

    deleted = await gateway.http.delete(f"/v1/admin/clients/{created['client_id']}", headers=await gateway.admin())
    assert deleted.status_code == 204

    refused = await gateway.http.get("/v1/services", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    again = await gateway.http.post(
        "/v1/oauth/token",
        data={**FORM, "client_id": created["client_id"], "client_secret": created["client_secret"]},
    )
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"


# --- clients ---------------------------------------------------------------------------


async def test_create_read_list_revoke_a_client(gateway):
    admin = await gateway.admin()
    response = await gateway.http.post(
        "/v1/admin/clients", json={"name": "Pemprov DKI", "role": "applicant", "tenant": "31"}, headers=admin
    )
    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == f"/v1/admin/clients/{created['client_id']}"
    assert response.headers["cache-control"] == "no-store"
    assert created["client_secret"] and len(created["client_secret"]) >= 32
    assert created["role"] == "applicant" and created["tenant"] == "31" and created["status"] == "active"
    assert created["created_by"] == ADMIN_ID
    assert datetime.fromisoformat(created["created_at"]).utcoffset() is not None

    one = await gateway.http.get(f"/v1/admin/clients/{created['client_id']}", headers=admin)
    assert one.status_code == 200
    assert "client_secret" not in one.json() and "secret_hash" not in one.json()

    officer = await gateway.create_client("officer", "KDN-BH")
    admin_two = await gateway.create_client("admin", None)
    listed = await gateway.http.get("/v1/admin/clients", params={"limit": 2}, headers=admin)
    assert listed.status_code == 200
    first_page = listed.json()
    assert len(first_page["items"]) == 2 and first_page["next_cursor"]
    second_page = (
        await gateway.http.get("/v1/admin/clients", params={"limit": 2, "cursor": first_page["next_cursor"]},
                               headers=admin)
    ).json()
    ids = [item["client_id"] for item in first_page["items"] + second_page["items"]]
    assert ids == [ADMIN_ID, created["client_id"], officer["client_id"], admin_two["client_id"]]
    assert second_page["next_cursor"] is None
    assert all("secret" not in key for page in (first_page, second_page) for item in page["items"] for key in item)

    only_officers = (await gateway.http.get("/v1/admin/clients", params={"role": "officer"}, headers=admin)).json()
    assert [item["client_id"] for item in only_officers["items"]] == [officer["client_id"]]

    assert (await gateway.http.delete(f"/v1/admin/clients/{created['client_id']}", headers=admin)).status_code == 204
    # Revoking twice changes nothing.
    assert (await gateway.http.delete(f"/v1/admin/clients/{created['client_id']}", headers=admin)).status_code == 204
    revoked = (await gateway.http.get(f"/v1/admin/clients/{created['client_id']}", headers=admin)).json()
    assert revoked["status"] == "revoked" and revoked["revoked_by"] == ADMIN_ID and revoked["revoked_at"]
    only_revoked = (await gateway.http.get("/v1/admin/clients", params={"status": "revoked"}, headers=admin)).json()
    assert [item["client_id"] for item in only_revoked["items"]] == [created["client_id"]]

    history = (await gateway.http.get(f"/v1/admin/clients/{created['client_id']}/history", headers=admin)).json()
    assert [(entry["action"], entry["actor"]) for entry in history["items"]] == [
        ("created", ADMIN_ID), ("revoked", ADMIN_ID)
    ]
    assert all(entry["request_id"] for entry in history["items"])


async def test_the_secret_is_stored_only_as_a_scrypt_hash(gateway):
    created = await gateway.create_client("officer", "KDN-BH")
    engine = gateway.app.state.gateway.engine
    async with engine.connect() as connection:
        stored = (await connection.execute(
            select(clients.c.secret_hash).where(clients.c.client_id == created["client_id"])
        )).scalar_one()
    assert stored.startswith("scrypt$") and created["client_secret"] not in stored


async def test_unknown_and_bootstrap_clients(gateway):
    admin = await gateway.admin()
    missing = await gateway.http.get("/v1/admin/clients/cli_nope", headers=admin)
    assert missing.status_code == 404 and missing.json()["type"].endswith("client-not-found")
    assert (await gateway.http.delete("/v1/admin/clients/cli_nope", headers=admin)).status_code == 404
    assert (await gateway.http.get("/v1/admin/clients/cli_nope/history", headers=admin)).status_code == 404
    protected = await gateway.http.delete(f"/v1/admin/clients/{ADMIN_ID}", headers=admin)
    assert protected.status_code == 409
    assert (await gateway.http.get("/v1/admin/clients", headers=admin)).status_code == 200


async def test_admin_routes_need_an_admin(gateway):
    _, applicant = await gateway.client_headers("applicant", "31")
    body = {"name": "x", "role": "admin"}
    anonymous = await gateway.http.post("/v1/admin/clients", json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert (await gateway.http.post("/v1/admin/clients", json=body, headers=applicant)).status_code == 403
    assert (await gateway.http.get("/v1/admin/clients", headers=applicant)).status_code == 403
    assert (await gateway.http.delete(f"/v1/admin/clients/{ADMIN_ID}", headers=applicant)).status_code == 403


async def test_idempotent_client_creation(gateway):
    admin = await gateway.admin()
    body = {"name": "Kota Palembang", "role": "applicant", "tenant": "16.71"}
    first = await gateway.http.post("/v1/admin/clients", json=body, headers={**admin, "Idempotency-Key": "k-1"})
    again = await gateway.http.post("/v1/admin/clients", json=body, headers={**admin, "Idempotency-Key": "k-1"})
    assert first.status_code == 201
    # The answer holds a secret shown once, so it is not kept for replay: the retry is refused
    # and no second client is made.
    assert again.status_code == 409
    assert again.json()["type"].endswith("idempotency-not-replayable")
    assert first.json()["client_secret"] not in again.text
    other_body = await gateway.http.post(
        "/v1/admin/clients", json={**body, "name": "Lain"}, headers={**admin, "Idempotency-Key": "k-1"}
    )
    assert other_body.status_code == 409
    listed = (await gateway.http.get("/v1/admin/clients", params={"role": "applicant"}, headers=admin)).json()
    assert len(listed["items"]) == 1

    # Keys are the caller's own: another admin's same key makes another client.
    other_admin = await gateway.create_client("admin", None)
    other_headers = await gateway.bearer(other_admin["client_id"], other_admin["client_secret"])
    theirs = await gateway.http.post("/v1/admin/clients", json=body, headers={**other_headers, "Idempotency-Key": "k-1"})
    assert theirs.status_code == 201 and theirs.json()["client_id"] != first.json()["client_id"]


async def test_every_change_is_audited(gateway):
    created = await gateway.create_client("officer", "KDN-BH")
    await gateway.http.delete(f"/v1/admin/clients/{created['client_id']}", headers=await gateway.admin())
    engine = gateway.app.state.gateway.engine
    async with engine.connect() as connection:
        rows = (await connection.execute(select(client_events.c.client_id, client_events.c.action)
                                         .order_by(client_events.c.id))).all()
    assert [(row.client_id, row.action) for row in rows] == [
        (ADMIN_ID, "created"), (created["client_id"], "created"), (created["client_id"], "revoked")
    ]


# --- bad input -------------------------------------------------------------------------


async def test_bad_client_bodies_name_the_field_and_write_nothing(gateway):
    admin = {**await gateway.admin(), "Accept-Language": "en"}
    cases = [
        ({"name": "x", "role": "applicant", "tenant": "31", "extra": 1}, "extra"),
        ({"name": 5, "role": "applicant", "tenant": "31"}, "name"),
        ({"name": "x", "role": "root", "tenant": "31"}, "role"),
        ({"name": "x", "role": "applicant", "tenant": "Jakarta"}, "tenant"),
        ({"name": "x", "role": "applicant"}, "tenant"),
        ({"name": "x", "role": "officer", "tenant": "kdn bh"}, "tenant"),
        ({"name": "x", "role": "officer"}, "tenant"),
        ({"name": "x", "role": "admin", "tenant": "31"}, "tenant"),
        ({"name": "   ", "role": "admin"}, "name"),
        ({"role": "admin"}, "name"),
        ({"name": "x", "role": "applicant", "tenant": 31}, "tenant"),
    ]
    for body, field in cases:
        response = await gateway.http.post("/v1/admin/clients", json=body, headers=admin)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [error["field"] for error in response.json()["errors"]], (body, response.json())
    not_json = await gateway.http.post("/v1/admin/clients", content=b"{oops", headers={**admin, "Content-Type": "application/json"})
    assert not_json.status_code == 400
    listed = (await gateway.http.get("/v1/admin/clients", headers=admin)).json()
    assert [item["client_id"] for item in listed["items"]] == [ADMIN_ID]


async def test_tenant_errors_speak_indonesian_by_default(gateway):
    response = await gateway.http.post(
        "/v1/admin/clients", json={"name": "x", "role": "applicant", "tenant": "DKI"}, headers=await gateway.admin()
    )
    assert response.status_code == 422
    assert response.json()["title"] == "Data tidak valid"
    assert "kode wilayah" in response.json()["errors"][0]["message"]


async def test_oversize_bodies_are_413(gateway):
    admin = await gateway.admin()
    huge = {"name": "x" * 100_000, "role": "admin"}
    response = await gateway.http.post("/v1/admin/clients", json=huge, headers=admin)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"

    async def chunks():
        for _ in range(20):
            yield b"x" * 10_000

    chunked = await gateway.http.post("/v1/admin/clients", content=chunks(),
                                      headers={**admin, "Content-Type": "application/json"})
    assert chunked.status_code == 413


async def test_bad_cursors_and_limits(gateway):
    admin = await gateway.admin()
    assert (await gateway.http.get("/v1/admin/clients", params={"cursor": "!!!"}, headers=admin)).status_code == 400
    assert (await gateway.http.get("/v1/admin/clients", params={"limit": 0}, headers=admin)).status_code == 422
    assert (await gateway.http.get("/v1/admin/clients", params={"limit": 201}, headers=admin)).status_code == 422
    assert (await gateway.http.get("/v1/admin/clients", params={"role": "root"}, headers=admin)).status_code == 422
