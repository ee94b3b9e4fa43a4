"""Answers to requests that carried credentials are kept from every cache; public ones are not."""

from __future__ import annotations


async def test_authenticated_answers_are_no_store_whatever_the_service_said(gateway):
    _, headers = await gateway.client_headers("applicant", "31")
    forwarded = await gateway.http.get("/v1/submissions/some", headers=headers)
    assert forwarded.status_code == 200
    assert forwarded.headers["cache-control"] == "no-store"

    own = await gateway.http.get("/v1/admin/clients", headers=await gateway.admin())
    assert own.status_code == 200
    assert own.headers["cache-control"] == "no-store"

    refused = await gateway.http.get("/v1/admin/clients", headers=headers)
    assert refused.status_code == 403
    assert refused.headers["cache-control"] == "no-store"

    bad_token = await gateway.http.get("/v1/submissions", headers={"Authorization": "Bearer not-a-token"})
    assert bad_token.status_code == 401
    assert bad_token.headers["cache-control"] == "no-store"


async def test_public_answers_keep_their_caching(gateway):
    forwarded = await gateway.http.get("/v1/services")
    assert forwarded.headers["cache-control"] == "public, max-age=60"
    keys = await gateway.http.get("/.well-known/jwks.json")
    assert keys.headers["cache-control"] == "public, max-age=300"
