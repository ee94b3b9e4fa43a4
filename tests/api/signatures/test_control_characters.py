"""Control characters are refused at the door of the signatures service, naming the field."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from simpul.signatures.models import document_events, documents
from tests.api.signatures.conftest import UNIT, internal, issue_body, officer


async def counts(signatures) -> tuple[int, int]:
    async with signatures.app.state.engine.connect() as connection:
        return tuple([(await connection.execute(select(func.count()).select_from(table))).scalar_one()
                      for table in (documents, document_events)])


@pytest.mark.parametrize(("field", "value"), [
    ("applicant.name", "Pemerintah\u0000"), ("applicant.agency", "Biro\u0007"), ("note", "catatan\u001b"),
    ("service_name", "Izin\nbaru"), ("data.nama", "Siti\u0085x"),
])
async def test_an_issue_request_with_a_control_character_is_refused_and_nothing_made(signatures, field, value):
    body = issue_body("0190f3a2-7c1e-7b5a-9d3e-0000000000c1")
    *parents, name = field.split(".")
    target = body
    for parent in parents:
        target = target[parent]
    target[name] = value
    before = await counts(signatures)
    response = await signatures.client.post("/internal/documents", json=body, headers=internal())
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert await counts(signatures) == before


async def test_a_revocation_reason_with_a_nul_is_refused(signatures):
    document = await signatures.issue()
    before = await counts(signatures)
    response = await signatures.client.post(f"/v1/documents/{document['document_id']}/revoke",
                                            json={"reason": "salah\u0000ketik"}, headers=officer(UNIT))
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["reason"]
    assert await counts(signatures) == before
