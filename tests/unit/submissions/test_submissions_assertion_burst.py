"""A burst of first requests right after a service starts must not be refused while the
gateway's keys are being fetched (seen as 401s in bench/submissions.py before the fix)."""

from __future__ import annotations

import asyncio
import json

import httpx

from simpul.shared.identity import AssertionVerifier
from tests.support.identity import TEST_INTERNAL_SECRET, assertion, jwks_json


async def test_concurrent_first_verifications_wait_for_one_fetch(monkeypatch):
    fetches = []

    async def slow_get(self, url, **kwargs):
        fetches.append(url)
        await asyncio.sleep(0.05)
        return httpx.Response(200, json=json.loads(jwks_json()), request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx.AsyncClient, "get", slow_get)
    verifier = AssertionVerifier(
        "submissions", internal_secret=TEST_INTERNAL_SECRET, jwks_url="http://gateway.test/.well-known/jwks.json"
    )
    tokens = [assertion("submissions", "officer", "KDN-BH", subject=f"officer-{n}") for n in range(10)]
    identities = await asyncio.gather(*(verifier.verify(token) for token in tokens))
    assert [identity.subject for identity in identities] == [f"officer-{n}" for n in range(10)]
    assert len(fetches) == 1
