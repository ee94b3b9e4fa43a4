"""The gateway's security and access logs: each refusal with its reason, and never a secret,
token or personal datum."""

from __future__ import annotations

import json
import logging
import time

import jwt
import pytest

from simpul.gateway.keys import ALGORITHM
from simpul.gateway.tokens import ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_TYPE
from simpul.shared.logs import ACCESS_LOGGER, SECURITY_LOGGER
from tests.api.gateway.conftest import ADMIN_ID, ADMIN_SECRET

FORM = {"grant_type": "client_credentials"}
EMAIL = "siti.rahma@example.id"
PERSON = "Siti Rahma"


def events(caplog: pytest.LogCaptureFixture, logger: str = SECURITY_LOGGER) -> list[dict]:
    return [json.loads(record.getMessage()) for record in caplog.records if record.name == logger]


@pytest.fixture
def captured(caplog):
    caplog.set_level(logging.INFO, ACCESS_LOGGER)
    caplog.set_level(logging.INFO, SECURITY_LOGGER)
    return caplog


async def test_token_endpoint_failures_name_the_client_and_the_reason(gateway, captured):
    created = await gateway.create_client("applicant", "31", name=PERSON)
    await gateway.http.delete(f"/v1/admin/clients/{created['client_id']}", headers=await gateway.admin())
    captured.clear()
    attempts = [
        ({**FORM, "client_id": ADMIN_ID, "client_secret": EMAIL}, "bad secret", ADMIN_ID),
        ({**FORM, "client_id": "nobody-here", "client_secret": ADMIN_SECRET}, "unknown client", "nobody-here"),
        ({**FORM, "client_id": created["client_id"], "client_secret": created["client_secret"]}, "client revoked",
         created["client_id"]),
        ({"grant_type": "password", "client_id": ADMIN_ID, "client_secret": ADMIN_SECRET},
         "unsupported_grant_type: Only grant_type=client_credentials is supported.", None),
    ]
    for form, _, _ in attempts:
        response = await gateway.http.post("/v1/oauth/token", data=form)
        assert response.status_code in (400, 401)
    logged = [event for event in events(captured) if event["event"] == "token_refused"]
    assert [(event["reason"], event.get("client_id")) for event in logged] == [
        (reason, client) for _, reason, client in attempts
    ]
    assert all(event["role"] == "anonymous" for event in logged)
    assert all(event["address"] == "127.0.0.1" and event["request_id"] for event in logged)
    for secret in (ADMIN_SECRET, EMAIL, created["client_secret"], PERSON):
        assert secret not in captured.text


def forged(gateway, **claims) -> str:
    key = gateway.app.state.gateway.keyring.current
    now = int(time.time())
    body = {"iss": "http://gateway.test", "aud": ACCESS_TOKEN_AUDIENCE, "sub": ADMIN_ID, "jti": "j",
            "iat": now, "exp": now + 60, **claims}
    return jwt.encode(body, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": ACCESS_TOKEN_TYPE})


async def test_refused_tokens_are_logged_with_why(gateway, fake_service, captured):
    token = await gateway.token(ADMIN_ID, ADMIN_SECRET)
    past = int(time.time()) - 3600
    cases = {
        "Bearer " + forged(gateway, iat=past - 60, exp=past): "Signature has expired",
        "Bearer " + forged(gateway, aud="elsewhere"): "Audience doesn't match",
        "Bearer " + token[:-6] + "AAAAAA": "Signature verification failed",
        "Bearer " + jwt.encode({"sub": ADMIN_ID}, "x" * 32, algorithm="HS256"): "not an access token",
        "Basic basic-credentials-not-logged": "not a bearer token",
    }
    captured.clear()
    for authorization, _ in cases.items():
        response = await gateway.http.get("/v1/services/akta?email=" + EMAIL, headers={"Authorization": authorization})
        assert response.status_code == 401
    refused = [event for event in events(captured) if event["event"] == "token_rejected"]
    assert [event["reason"] for event in refused] == list(cases.values())
    assert all(event["method"] == "GET" and "route" not in event for event in refused)
    access = events(captured, ACCESS_LOGGER)
    assert [(line["route"], line["status"]) for line in access] == [("/v1/services/*", 401)] * len(cases)
    assert fake_service.requests == 0
    for secret in (token, token[:-6], EMAIL, "basic-credentials-not-logged"):
        assert secret not in captured.text


async def test_a_403_is_a_refusal_with_its_rule(gateway, captured):
    created, applicant = await gateway.client_headers("applicant", "31")
    captured.clear()
    response = await gateway.http.get("/v1/admin/clients", headers=applicant)
    assert response.status_code == 403
    (refusal,) = events(captured)
    assert refusal["event"] == "forbidden" and refusal["reason"] == "forbidden"
    assert refusal["rule"] == "Your role may not do this."
    assert (refusal["client"], refusal["role"], refusal["route"]) == (created["client_id"], "applicant",
                                                                       "/v1/admin/clients")
    (line,) = events(captured, ACCESS_LOGGER)
    assert line["request_id"] == refusal["request_id"] == response.headers["x-request-id"]
    assert (line["route"], line["status"], line["client"]) == ("/v1/admin/clients", 403, created["client_id"])


async def test_a_forwarded_request_is_logged_under_the_identity_that_made_it(gateway, fake_service, captured):
    created, officer = await gateway.client_headers("officer", "KDN-BH")
    captured.clear()
    response = await gateway.http.get("/v1/services/akta?q=" + EMAIL, headers=officer)
    (line,) = events(captured, ACCESS_LOGGER)
    assert line["request_id"] == response.headers["x-request-id"] and line["status"] == response.status_code
    assert (line["client"], line["role"], line["tenant"]) == (created["client_id"], "officer", "KDN-BH")
    assert EMAIL not in captured.text and "akta" not in line["route"]


async def test_the_access_log_can_be_turned_off_and_refusals_still_show(start_gateway, captured):
    async with start_gateway(access_log=False, trusted_proxies="127.0.0.1") as gateway:
        response = await gateway.http.get("/v1/services", headers={"Authorization": "Bearer x.y.z",
                                                                   "X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 401
    assert events(captured, ACCESS_LOGGER) == []
    (refusal,) = events(captured)
    assert (refusal["event"], refusal["address"]) == ("token_rejected", "203.0.113.9")


async def test_a_malformed_trusted_proxy_list_stops_the_gateway(gateway_settings):
    with pytest.raises(ValueError, match="SIMPUL_FORWARDED_ALLOW_IPS: not an address or network: 'nginx'"):
        await gateway_settings(trusted_proxies="10.0.0.0/8, nginx")


async def test_the_access_line_carries_the_request_id_the_client_sent_and_got_back(gateway, captured):
    response = await gateway.http.get("/v1/services", headers={"X-Request-Id": "loket-31-000042"})
    assert response.headers["x-request-id"] == "loket-31-000042"
    (line,) = events(captured, ACCESS_LOGGER)
    assert (line["request_id"], line["status"]) == ("loket-31-000042", response.status_code)
