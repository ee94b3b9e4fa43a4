"""Revoking a document or a signer through a crash: the process dies after the revocation
committed, before its answer was sent; the retry with the key never revokes twice."""

from __future__ import annotations

import pytest

from tests.api.signatures.conftest import admin


async def test_a_revoked_document_is_shown_again(signatures, deaths):
    client = signatures.client
    document = await signatures.issue()
    path = f"/v1/documents/{document['document_id']}"
    revoked = await deaths.retry_after_death(
        client, f"{path}/revoke", admin(), json={"reason": "Diterbitkan karena kesalahan."}
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert revoked.json() == (await client.get(path, headers=admin())).json()
    trail = (await client.get(f"{path}/history", headers=admin())).json()["items"]
    assert [entry["action"] for entry in trail].count("revoked") == 1
    assert len(await signatures.events.wait_for("document.revoked")) == 1


async def test_a_revoked_signer_is_not_revoked_again(signatures, deaths):
    client = signatures.client
    signer = (await signatures.issue())["signature"]["signer"]
    await deaths.refused_after_death(
        client, f"/v1/signers/{signer['id']}/revoke", admin(), json={"reason": "key_compromise"}
    )
    listed = (await client.get("/v1/signers", params={"limit": 200}, headers=admin())).json()["items"]
    assert [item["status"] for item in listed if item["id"] == signer["id"]] == ["revoked"]
