"""POST /internal/documents: one document per approved submission, however often it is asked."""

from __future__ import annotations

import asyncio
import hashlib

from simpul.shared.identity import ASSERTION_HEADER, mint_service_token
from tests.api.signatures.conftest import UNIT, admin, applicant, internal, issue_body, officer
from tests.support.identity import TEST_INTERNAL_SECRET


async def test_first_call_creates_repeats_return_the_same_document(signatures):
    client = signatures.client
    first = await client.post("/internal/documents", json=issue_body(), headers=internal())
    assert first.status_code == 201, first.text
    document = first.json()
    assert first.headers["location"] == f"/v1/documents/{document['document_id']}"
    assert document["status"] == "issued" and document["revoked"] is False
    assert document["verify_url"] == f"https://simpul.example.go.id/v1/verify/{document['document_id']}"
    assert document["number"] == f"000001/{UNIT}/IZIN-LN-KDH/2026"
    assert document["signature"]["level"] == "B-LT"
    assert document["signature"]["signer"]["unit"] == UNIT
    assert document["applicant"] == {"name": "Pemerintah Provinsi DKI Jakarta"}

    again = await client.post("/internal/documents", json=issue_body(), headers=internal())
    assert again.status_code == 200
    assert again.json() == document

    pdf = await signatures.pdf(document["document_id"])
    assert hashlib.sha256(pdf).hexdigest() == document["sha256"] and len(pdf) == document["size"]
    assert pdf.startswith(b"%PDF-")

    issued = await signatures.events.wait_for("document.issued")
    assert len(issued) == 1
    assert issued[0]["subject"] == f"documents/{document['document_id']}"
    assert issued[0]["data"]["submission_id"] == issue_body()["submission_id"]
    assert issued[0]["data"]["verify_url"] == document["verify_url"]


async def test_concurrent_calls_yield_exactly_one_document(signatures):
    body = issue_body("0190f3a2-7c1e-7b5a-9d3e-00000000c0c0")
    responses = await asyncio.gather(*(
        signatures.client.post("/internal/documents", json=body, headers=internal()) for _ in range(6)
    ))
    assert all(response.status_code in (200, 201) for response in responses), [r.text for r in responses]
    assert [response.status_code for response in responses].count(201) == 1
    assert len({response.json()["document_id"] for response in responses}) == 1
    assert len({response.json()["sha256"] for response in responses}) == 1
    history = await signatures.client.get(f"/v1/documents/{responses[0].json()['document_id']}/history",
                                          headers=admin())
    assert [entry["action"] for entry in history.json()["items"]] == ["issued"]
    assert len(await signatures.events.wait_for("document.issued")) == 1


async def test_numbers_run_per_unit_without_gaps(signatures):
    numbers = []
    for index, unit in enumerate(["KDN-PFK", "OTDA", "KDN-PFK", "KDN-PFK", "OTDA"]):
        document = await signatures.issue(f"sub-{index}", unit=unit)
        numbers.append(document["number"])
    assert numbers == [
        "000001/KDN-PFK/IZIN-LN-KDH/2026",
        "000001/OTDA/IZIN-LN-KDH/2026",
        "000002/KDN-PFK/IZIN-LN-KDH/2026",
        "000003/KDN-PFK/IZIN-LN-KDH/2026",
        "000002/OTDA/IZIN-LN-KDH/2026",
    ]
    signers = await signatures.client.get("/v1/signers", headers=admin())
    units = sorted(item["unit"] for item in signers.json()["items"] if item["kind"] == "unit")
    assert units == ["KDN-PFK", "OTDA"]


async def test_only_services_may_issue_and_bodies_are_checked(signatures):
    client = signatures.client
    for headers in (officer(), admin(), applicant()):
        assert (await client.post("/internal/documents", json=issue_body(), headers=headers)).status_code == 403
    assert (await client.post("/internal/documents", json=issue_body())).status_code == 401
    wrong_audience = {ASSERTION_HEADER: mint_service_token(TEST_INTERNAL_SECRET, "submissions", "catalog")}
    assert (await client.post("/internal/documents", json=issue_body(), headers=wrong_audience)).status_code == 401

    missing = issue_body()
    del missing["unit"]
    response = await client.post("/internal/documents", json=missing, headers=internal())
    assert response.status_code == 422
    assert {"field": "unit", "message": "wajib diisi"} in response.json()["errors"]
    naive = issue_body(approved_at="2026-11-20T03:00:00")
    assert (await client.post("/internal/documents", json=naive, headers=internal())).status_code == 422
    huge = issue_body(data={"uraian": "x" * 70_000})
    assert (await client.post("/internal/documents", json=huge, headers=internal())).status_code == 422
    bad_unit = issue_body(unit="../etc")
    assert (await client.post("/internal/documents", json=bad_unit, headers=internal())).status_code == 422
    # The submissions service may grow fields: unknown ones are ignored.
    extra = issue_body("sub-extra")
    extra["future_field"] = {"anything": True}
    assert (await client.post("/internal/documents", json=extra, headers=internal())).status_code == 201


async def test_first_documents_of_a_new_unit_at_once_get_distinct_numbers(signatures):
    bodies = [issue_body(f"sub-new-{index}", unit="BARU") for index in range(6)]
    responses = await asyncio.gather(*(
        signatures.client.post("/internal/documents", json=body, headers=internal()) for body in bodies
    ))
    assert [response.status_code for response in responses] == [201] * 6, [r.text for r in responses]
    numbers = sorted(response.json()["number"] for response in responses)
    assert numbers == [f"{index:06d}/BARU/IZIN-LN-KDH/2026" for index in range(1, 7)]
