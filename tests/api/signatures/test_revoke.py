"""POST /v1/documents/{id}/revoke: by an admin or the issuing unit's officers, audited, announced,
and shown by every verification path."""

from __future__ import annotations

from sqlalchemy import update

from simpul.signatures.models import documents
from tests.api.signatures.conftest import OTHER_UNIT, UNIT, admin, applicant, officer, public


async def test_officer_of_the_unit_revokes(signatures):
    client = signatures.client
    document = await signatures.issue()
    path = f"/v1/documents/{document['document_id']}"
    reason = "Data pemohon keliru; diganti dokumen baru."

    # An applicant may not revoke at all (403 for any id); another unit's officer finds nothing.
    refused = await client.post(f"{path}/revoke", json={"reason": reason}, headers=applicant())
    assert refused.status_code == 403
    refused = await client.post(f"{path}/revoke", json={"reason": reason}, headers=officer(OTHER_UNIT))
    assert refused.status_code == 404
    assert (await client.post(f"{path}/revoke", json={"reason": reason}, headers=public())).status_code == 401
    assert (await client.post(f"{path}/revoke", json={}, headers=officer(UNIT))).status_code == 422

    revoked = await client.post(f"{path}/revoke", json={"reason": reason}, headers=officer(UNIT))
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert body["status"] == "revoked" and body["revoked"] is True
    assert body["revocation_reason"] == reason and body["revoked_at"]

    again = await client.post(f"{path}/revoke", json={"reason": reason}, headers=admin())
    assert again.status_code == 409
    assert again.json()["type"].endswith("already-revoked")

    history = (await client.get(f"{path}/history", headers=applicant())).json()["items"]
    assert [(entry["action"], entry["actor"]["role"]) for entry in history] == [("issued", "service"),
                                                                                ("revoked", "officer")]
    assert history[1]["note"] == reason

    status = (await client.get(f"/v1/verify/{document['document_id']}", headers=public())).json()
    assert status["valid"] is False and status["revoked"] is True and status["state"] == "revoked"
    assert "revocation_reason" not in status  # the reason stays with those who may see the document

    events = await signatures.events.wait_for("document.revoked")
    assert len(events) == 1 and events[0]["data"]["reason"] == reason

    # The signed file itself is unchanged and still downloadable by its owners.
    assert (await client.get(f"{path}/content", headers=applicant())).status_code == 200


async def test_admin_revokes_and_idempotency_key_replays(signatures):
    document = await signatures.issue()
    path = f"/v1/documents/{document['document_id']}/revoke"
    headers = {**admin(), "Idempotency-Key": "revoke-1"}
    first = await signatures.client.post(path, json={"reason": "Diterbitkan karena kesalahan."}, headers=headers)
    # The key was settled with the revocation: the replay is rebuilt from the document at once.
    replay = await signatures.client.post(path, json={"reason": "Diterbitkan karena kesalahan."}, headers=headers)
    assert first.status_code == replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == first.json()
    other = await signatures.client.post(path, json={"reason": "Alasan lain sama sekali."}, headers=headers)
    assert other.status_code == 409


async def test_a_replayed_revocation_answers_as_first_after_the_document_changed(signatures):
    document = await signatures.issue()
    path = f"/v1/documents/{document['document_id']}/revoke"
    headers = {**admin(), "Idempotency-Key": "revoke-kept"}
    first = await signatures.client.post(path, json={"reason": "Diterbitkan karena kesalahan."}, headers=headers)
    assert first.status_code == 200
    await signatures.app.state.idempotency_answers.flush()
    async with signatures.app.state.sessions() as session, session.begin():
        await session.execute(update(documents).where(documents.c.id == document["document_id"])
                              .values(revocation_reason="Diubah kemudian."))

    replay = await signatures.client.post(path, json={"reason": "Diterbitkan karena kesalahan."}, headers=headers)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content
    assert replay.json()["revocation_reason"] == "Diterbitkan karena kesalahan."
