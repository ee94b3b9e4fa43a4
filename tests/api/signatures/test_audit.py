"""The signatures service's audit log: certificates made, documents issued and revoked, signers
revoked; its head timestamped by the service's own TSA."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from tests.api.signatures.conftest import UNIT, admin, officer
from tests.support.audit import assert_admins_only, assert_tampering_found, audit_entries, verification


@pytest.fixture
def signatures_overrides() -> dict:
    return {"audit_stamp_seconds": 0.2}


async def test_issue_and_revocations_are_audited(signatures):
    client = signatures.client
    document = await signatures.issue()
    path = f"/v1/documents/{document['document_id']}"
    reason = "Data pemohon keliru; diganti dokumen baru."
    assert (await client.post(f"{path}/revoke", json={"reason": reason},
                              headers={**officer(UNIT), "X-Request-Id": "req-revoke"})).status_code == 200
    signer = document["signature"]["signer"]
    assert (await client.post(f"/v1/signers/{signer['id']}/revoke", json={"reason": "key_compromise"},
                              headers=admin())).status_code == 200

    entries = await audit_entries(client, "signatures", admin())
    created = [entry for entry in entries if entry["action"] == "certificate.created"]
    # The development PKI (root, issuing CA, TSA) and the unit's signer, made by the service itself.
    assert {entry["details"]["kind"] for entry in created} >= {"root", "issuing_ca", "tsa", "unit"}
    assert all(entry["actor"]["role"] == "system" for entry in created)
    rest = [(entry["action"], entry["object"]["id"], entry["actor"]["role"]) for entry in entries
            if entry["action"] != "certificate.created"]
    assert rest == [
        ("document.issued", document["document_id"], "service"),
        ("document.revoked", document["document_id"], "officer"),
        ("certificate.revoked", signer["id"], "admin"),
    ]
    revoked = next(entry for entry in entries if entry["action"] == "document.revoked")
    assert revoked["request_id"] == "req-revoke"
    assert reason not in str(entries)  # the officer's text stays in the document's history


async def test_the_head_is_timestamped_and_tampering_found(signatures):
    client, app = signatures.client, signatures.app
    await signatures.issue()
    head = (await audit_entries(client, "signatures", admin()))[-1]
    stamps = app.state.audit.tables.stamps
    for _ in range(100):
        async with app.state.audit.read_sessions() as session:
            stamped = dict((await session.execute(select(stamps.c.seq, stamps.c.head_hash))).all())
        if head["seq"] in stamped:
            break
        await asyncio.sleep(0.05)
    # Earlier heads (the PKI's creation) may have been stamped too, each once.
    assert stamped[head["seq"]] == head["hash"]
    assert (await verification(client, "signatures", admin()))["valid"] is True
    await assert_tampering_found(client, app, "signatures", admin(), seq=head["seq"])
    await assert_admins_only(client, "signatures", officer(UNIT))
