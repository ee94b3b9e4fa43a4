"""Forged, tampered and stale bearer tokens at the gateway: each is 401 invalid_token, reaches no
service, and writes nothing (an admin action attempted with it leaves no client and no audit row).
Tokens an attacker could only make with the gateway's own private key (expired, from the future,
living too long, for another audience or issuer) are signed with that key here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from simpul.gateway.tokens import ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_TYPE
from tests.api.gateway.conftest import (  # noqa: F401 - fixtures
    ADMIN_ID,
    ADMIN_SECRET,
    fake_service,
    gateway,
    gateway_settings,
    start_gateway,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsigned(header: dict, claims: dict) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def admin_claims(issuer: str, lifetime: int = 300, **changes) -> dict:
    now = int(time.time())
    claims = {"iss": issuer, "aud": ACCESS_TOKEN_AUDIENCE, "sub": ADMIN_ID, "client_id": ADMIN_ID, "role": "admin",
              "tenant": None, "jti": uuid.uuid4().hex, "iat": now, "exp": now + lifetime}
    claims.update(changes)
    return claims


def forgeries(gateway) -> dict[str, str]:
    """What an attacker tries, by name: each a token claiming to be the admin."""
    runtime = gateway.app.state.gateway
    key = runtime.keyring.current
    issuer = runtime.tokens.issuer
    lifetime = runtime.tokens.lifetime_seconds
    header = {"alg": "ES256", "kid": key.kid, "typ": ACCESS_TOKEN_TYPE}
    claims = admin_claims(issuer)

    def signed(claims: dict, **header_changes) -> str:
        return jwt.encode(claims, key.private_key, algorithm="ES256", headers={**header, **header_changes})

    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    public_pem = key.public_key.public_bytes(serialization.Encoding.PEM, spki)
    public_der = key.public_key.public_bytes(serialization.Encoding.DER, spki)
    confused_input = unsigned({**header, "alg": "HS256"}, claims)
    confused = hmac.new(public_pem, confused_input.encode(), hashlib.sha256).digest()
    confused_der = hmac.new(public_der, confused_input.encode(), hashlib.sha256).digest()
    rogue = ec.generate_private_key(ec.SECP256R1())
    rogue_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(rogue.public_key()))
    now = int(time.time())
    genuine = signed(claims)
    genuine_header, genuine_payload, genuine_signature = genuine.split(".")
    raised = dict(claims, role="admin", sub="someone-else", client_id="someone-else")
    return {
        "alg none": unsigned({**header, "alg": "none"}, claims) + ".",
        "alg none, no typ": unsigned({"alg": "none"}, claims) + ".",
        "HS256 keyed with the public key (key confusion)": f"{confused_input}.{b64(confused)}",
        "HS256 keyed with the public key's DER": f"{confused_input}.{b64(confused_der)}",
        "payload swapped under a genuine signature": f"{genuine_header}.{b64(json.dumps(raised).encode())}."
                                                     f"{genuine_signature}",
        "signature cut short": genuine[:-6],
        "expired": signed(admin_claims(issuer, iat=now - 2 * lifetime, exp=now - lifetime)),
        "issued in the future": signed(admin_claims(issuer, iat=now + 3600, exp=now + 3600 + lifetime // 2)),
        "lifetime beyond the configured one": signed(admin_claims(issuer, exp=now + 10 * lifetime)),
        "no exp": signed({k: v for k, v in claims.items() if k != "exp"}),
        "no iat": signed({k: v for k, v in claims.items() if k != "iat"}),
        "another audience (a service's assertion audience)": signed(dict(claims, aud="simpul:submissions")),
        "another issuer": signed(dict(claims, iss="https://attacker.example")),
        "not typed as an access token (an assertion's header)": signed(claims, typ="JWT"),
        "unknown kid": jwt.encode(claims, rogue, algorithm="ES256", headers={**header, "kid": "rogue"}),
        "the genuine kid, another key": jwt.encode(claims, rogue, algorithm="ES256", headers=header),
        "the attacker's key embedded in the header (jwk)": jwt.encode(
            claims, rogue, algorithm="ES256", headers={**header, "jwk": rogue_jwk}),
        "a key URL in the header (jku)": jwt.encode(
            claims, rogue, algorithm="ES256", headers={**header, "jku": "http://127.0.0.1:9/jwks.json"}),
        "ES512 named in the header": unsigned({**header, "alg": "ES512"}, claims) + "." + genuine_signature,
        "subject not a string": signed(dict(claims, sub=123)),
        "oversize": "a" * 5000 + "." + genuine_payload + "." + genuine_signature,
    }


async def written(gateway) -> tuple[int, int]:
    """Clients listed and audit rows, as the genuine admin sees them."""
    admin = await gateway.admin()
    listed = (await gateway.http.get("/v1/admin/clients", params={"limit": 200}, headers=admin)).json()["items"]
    checked = (await gateway.http.get("/v1/admin/audit/gateway/verify", headers=admin)).json()["checked"]
    return len(listed), checked


async def test_forged_tokens_are_refused_and_write_nothing(gateway, fake_service):
    before = await written(gateway)
    forged = forgeries(gateway)
    assert len(forged) >= 18
    for name, token in forged.items():
        headers = {"Authorization": f"Bearer {token}"}
        for method, path, body in (("POST", "/v1/admin/clients", {"name": "Penyusup", "role": "admin"}),
                                   ("GET", "/v1/admin/clients", None),
                                   ("GET", "/v1/submissions", None),
                                   ("POST", "/v1/submissions", {"service_code": "X"})):
            response = await gateway.http.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (name, method, path, response.status_code, response.text)
            assert response.headers["content-type"] == "application/problem+json", name
            assert 'error="invalid_token"' in response.headers["www-authenticate"], name
            assert token not in response.text
    assert fake_service.requests == 0, "a forged token reached a service"
    assert await written(gateway) == before


async def test_a_genuine_token_passes_so_the_refusals_above_are_of_the_forgery(gateway, fake_service):
    runtime = gateway.app.state.gateway
    key = runtime.keyring.current
    token = jwt.encode(admin_claims(runtime.tokens.issuer), key.private_key, algorithm="ES256",
                       headers={"alg": "ES256", "kid": key.kid, "typ": ACCESS_TOKEN_TYPE})
    response = await gateway.http.get("/v1/admin/clients", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


async def test_a_revoked_clients_token_is_refused_and_writes_nothing(gateway, fake_service):
    created, headers = await gateway.client_headers("admin", None)
    assert (await gateway.http.get("/v1/admin/clients", headers=headers)).status_code == 200
    deleted = await gateway.http.delete(f"/v1/admin/clients/{created['client_id']}", headers=await gateway.admin())
    assert deleted.status_code == 204
    before, requests = await written(gateway), fake_service.requests
    for method, path, body in (("POST", "/v1/admin/clients", {"name": "Sisa", "role": "admin"}),
                               ("GET", "/v1/submissions", None)):
        response = await gateway.http.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, response.text
    assert await written(gateway) == before and fake_service.requests == requests


@pytest.mark.parametrize("value", ["Bearer not.a.jwt", "Bearer ", "Bearer a.b", "Bearer \xe9t\xe9", "Token abc",
                                   "Basic " + base64.b64encode(f"{ADMIN_ID}:{ADMIN_SECRET}".encode()).decode(),
                                   "Bearer " + "x" * 70_000])
async def test_malformed_authorization_headers_are_401(gateway, fake_service, value):
    response = await gateway.http.get("/v1/submissions", headers={"Authorization": value.encode("latin-1")})
    assert response.status_code in (401, 431), response.text
    assert fake_service.requests == 0
