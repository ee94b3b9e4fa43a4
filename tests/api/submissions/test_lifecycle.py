"""The whole life of a submission through the API: create, documents, submit, review, issue."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sqlalchemy import select

from simpul.shared.internal import InternalClient
from simpul.shared.problems import Problem
from simpul.submissions.catalog import CatalogClient
from simpul.submissions.models import outbox
from tests.api.submissions.fakes import FakeCatalog
from tests.api.submissions.conftest import JPEG, PDF, UNIT, admin, applicant, officer
from tests.support.identity import TEST_INTERNAL_SECRET, anonymous


async def events_of(harness, submission_id: str) -> list[dict]:
    async with harness.app.state.read_sessions() as session:
        rows = await session.execute(
            select(outbox.c.id, outbox.c.type, outbox.c.source, outbox.c.subject, outbox.c.data)
            .order_by(outbox.c.position)
        )
        return [dict(r._mapping) for r in rows if r.subject == f"submissions/{submission_id}"]


async def test_create_records_the_version_and_answers_as_the_contract_says(harness):
    created = await harness.create()
    assert created["status"] == "draft"
    assert created["service_version"] == 3
    assert created["fee"] == {"amount": 150000, "currency": "IDR", "legal_basis": "PP 7/2021 pasal 10"}
    assert len(created["tracking_code"]) == 12
    assert created["missing_documents"] == ["domicile", "ktp"] or set(created["missing_documents"]) == {"ktp", "domicile"}
    assert created["applicant"]["language"] == "id"
    # A later revision of the service changes nothing for this submission.
    harness.catalog.publish("IZIN-USAHA", fee={"amount": 999, "currency": "IDR", "legal_basis": "baru"}, sla_working_days=1)
    again = (await harness.client.get(f"/v1/submissions/{created['id']}", headers=applicant())).json()
    assert again["service_version"] == 3
    assert again["fee"]["amount"] == 150000
    newer = await harness.create()
    assert newer["service_version"] == 4 and newer["fee"]["amount"] == 999


async def test_form_errors_name_each_field(harness):
    response = await harness.client.post(
        "/v1/submissions",
        json={
            "service_code": "IZIN-USAHA",
            "applicant": {"name": "Siti", "email": "siti@example.go.id"},
            "data": {"nik": "12", "employees": 0, "address": {"postal_code": "x"}, "extra": 1},
        },
        headers={**applicant(), "Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {
        "data.nik", "data.business_name", "data.employees", "data.address.city", "data.address.postal_code", "data.extra",
    }


async def test_unknown_and_retired_services(harness):
    body = {"applicant": {"name": "Siti", "email": "siti@example.go.id"}, "data": {}}
    unknown = await harness.client.post("/v1/submissions", json={**body, "service_code": "NOPE"}, headers=applicant())
    assert unknown.status_code == 404
    retired = await harness.client.post("/v1/submissions", json={**body, "service_code": "IZIN-LAMA"}, headers=applicant())
    assert retired.status_code == 422
    assert retired.json()["errors"][0]["field"] == "service_code"


async def test_only_applicants_create(harness):
    body = {"service_code": "IZIN-USAHA", "applicant": {"name": "S", "email": "s@example.go.id"}, "data": {}}
    assert (await harness.client.post("/v1/submissions", json=body, headers=officer())).status_code == 403
    assert (await harness.client.post("/v1/submissions", json=body, headers=anonymous("submissions"))).status_code == 401


async def test_submit_lists_each_missing_document(harness):
    created = await harness.create()
    response = await harness.client.post(f"/v1/submissions/{created['id']}/submit", headers=applicant())
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"documents.ktp", "documents.domicile"}
    assert (await harness.upload(created["id"], "ktp", JPEG)).status_code == 201
    response = await harness.client.post(f"/v1/submissions/{created['id']}/submit", headers=applicant())
    assert [e["field"] for e in response.json()["errors"]] == ["documents.domicile"]


async def test_submit_gives_due_date_and_receipt(harness):
    submitted = await harness.submitted()
    assert submitted["status"] == "submitted"
    assert submitted["submitted_at"] and submitted["due_at"]
    receipt = submitted["receipt"]
    assert receipt["number"].startswith(f"{UNIT}/")
    assert receipt["fee"]["amount"] == 150000
    assert receipt["issued_at"]
    assert submitted["sla"] == {
        "working_days": 5, "used": 0, "remaining": 5, "paused": False, "overdue": False, "due_at": submitted["due_at"],
    }
    pdf = await harness.client.get(receipt["pdf_url"], headers=applicant())
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert pdf.headers["cache-control"] == "no-store"  # a receipt names the applicant
    assert (await harness.client.get(receipt["pdf_url"], headers=officer())).status_code == 200
    foreign = await harness.client.get(receipt["pdf_url"], headers=applicant("32"))
    assert foreign.status_code == 404 and foreign.headers["cache-control"] == "no-store"


async def test_receipt_numbers_are_sequential_per_unit_even_when_submitted_together(harness):
    drafts = [await harness.create() for _ in range(8)]
    for draft in drafts:
        await harness.upload(draft["id"], "ktp", JPEG)
        await harness.upload(draft["id"], "domicile", PDF)
    other = await harness.create(service_code="NPWP-DAERAH")
    await harness.upload(other["id"], "ktp", JPEG)
    await harness.upload(other["id"], "domicile", PDF)
    responses = await asyncio.gather(
        *(harness.client.post(f"/v1/submissions/{d['id']}/submit", headers=applicant()) for d in [*drafts, other])
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    numbers = sorted(r.json()["receipt"]["number"] for r in responses[:-1])
    year = numbers[0].split("/")[1]
    assert numbers == [f"{UNIT}/{year}/{n:06d}" for n in range(1, 9)]
    assert responses[-1].json()["receipt"]["number"] == f"KEU-PJK/{year}/000001"


async def test_review_to_issued_with_history_and_events(harness):
    submitted = await harness.submitted()
    sid = submitted["id"]
    assert (await harness.act(sid, "approve")).status_code == 409  # not in review yet
    started = await harness.act(sid, "start_review")
    assert started.status_code == 200 and started.json()["status"] == "in_review"
    missing_note = await harness.act(sid, "request_revision")
    assert missing_note.status_code == 422
    assert missing_note.json()["errors"][0]["field"] == "note"
    revision = await harness.act(sid, "request_revision", "KTP buram, unggah ulang")
    assert revision.json()["status"] == "revision_requested"
    assert revision.json()["sla"]["paused"] is True
    replaced = await harness.upload(sid, "ktp", JPEG + b"sharper")
    assert replaced.status_code == 201
    resubmitted = await harness.client.post(f"/v1/submissions/{sid}/submit", headers=applicant())
    assert resubmitted.status_code == 200
    assert resubmitted.json()["receipt"]["number"] == submitted["receipt"]["number"]
    await harness.act(sid, "start_review")
    approved = await harness.act(sid, "approve", "Lengkap")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"

    issued = await harness.wait_for_status(sid, "issued")
    assert issued["status"] == "issued"
    document = harness.signatures.documents[sid]
    assert issued["issued_documents"][0]["document_id"] == document["document_id"]
    assert issued["issued_documents"][0]["verify_url"] == document["verify_url"]
    call = harness.signatures.requests[0]
    assert call["submission_id"] == sid and call["tenant"] == "31" and call["unit"] == UNIT
    assert call["output"]["template"] == "izin-usaha" and call["data"]["nik"] == "3171234567890001"
    assert call["applicant"] == {"name": "Siti Rahayu", "email": "siti@example.go.id", "agency": "Dinas PMPTSP"}
    assert call["note"] == "Lengkap" and call["approved_by"]

    entries = (await harness.client.get(f"/v1/submissions/{sid}/history", headers=applicant())).json()["items"]
    moves = [(e["action"], e["from"], e["to"]) for e in entries]
    assert moves == [
        ("create", None, "draft"),
        ("upload_document", "draft", "draft"),
        ("upload_document", "draft", "draft"),
        ("submit", "draft", "submitted"),
        ("start_review", "submitted", "in_review"),
        ("request_revision", "in_review", "revision_requested"),
        ("upload_document", "revision_requested", "revision_requested"),
        ("submit", "revision_requested", "submitted"),
        ("start_review", "submitted", "in_review"),
        ("approve", "in_review", "approved"),
        ("issue", "approved", "issued"),
    ]
    assert entries[5]["note"] == "KTP buram, unggah ulang"
    assert entries[5]["actor"]["role"] == "officer"
    assert entries[6]["document"]["replaces"] == entries[1]["document"]["id"]
    assert entries[-1]["actor"] == {"client_id": "service:signatures", "role": "service"}

    events = await events_of(harness, sid)
    changes = [(e["type"], e["data"]["from"], e["data"]["to"]) for e in events]
    assert changes == [
        ("submission.status_changed", "draft", "submitted"),
        ("submission.submitted", "draft", "submitted"),
        ("submission.status_changed", "submitted", "in_review"),
        ("submission.status_changed", "in_review", "revision_requested"),
        ("submission.status_changed", "revision_requested", "submitted"),
        ("submission.submitted", "revision_requested", "submitted"),
        ("submission.status_changed", "submitted", "in_review"),
        ("submission.status_changed", "in_review", "approved"),
        ("submission.status_changed", "approved", "issued"),
        ("submission.issued", "approved", "issued"),
    ]
    last = events[-1]
    assert last["source"] == "simpul/submissions"
    data = last["data"]
    assert data["issued_documents"] == issued["issued_documents"]
    assert data["applicant"] == {"name": "Siti Rahayu", "email": "siti@example.go.id", "language": "id"}
    for key in ("submission_id", "tracking_code", "service_code", "service_name", "service_version", "unit",
                "tenant", "at", "due_at", "note"):
        assert key in data

    # The relay hands them on, in the order they were staged.
    staged = [e["id"] for e in events]
    for _ in range(200):
        delivered = [e["id"] for e in harness.published.events if e["subject"] == f"submissions/{sid}"]
        if delivered == staged:
            break
        await asyncio.sleep(0.02)
    assert delivered == staged


async def test_reject_needs_a_note_and_ends_the_clock(harness):
    submitted = await harness.submitted()
    await harness.act(submitted["id"], "start_review")
    assert (await harness.act(submitted["id"], "reject", "  ")).status_code == 422
    rejected = await harness.act(submitted["id"], "reject", "Bukan usaha mikro")
    assert rejected.json()["status"] == "rejected"
    again = await harness.act(submitted["id"], "approve")
    assert again.status_code == 409
    assert "rejected" in again.json()["detail"]
    assert again.json()["current_status"] == "rejected"


async def test_cancel_only_before_review(harness):
    draft = await harness.create()
    cancelled = await harness.client.post(f"/v1/submissions/{draft['id']}/cancel", headers=applicant())
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    submitted = await harness.submitted()
    with_note = await harness.client.post(
        f"/v1/submissions/{submitted['id']}/cancel", json={"note": "salah layanan"}, headers=applicant()
    )
    assert with_note.json()["status"] == "cancelled"
    reviewed = await harness.submitted()
    await harness.act(reviewed["id"], "start_review")
    late = await harness.client.post(f"/v1/submissions/{reviewed['id']}/cancel", headers=applicant())
    assert late.status_code == 409
    assert "in_review" in late.json()["detail"]
    # Officers can't cancel on the applicant's behalf, nor applicants review.
    assert (await harness.client.post(f"/v1/submissions/{reviewed['id']}/cancel", headers=officer())).status_code == 403
    assert (
        await harness.client.post(f"/v1/submissions/{reviewed['id']}/actions", json={"action": "approve"}, headers=applicant())
    ).status_code == 403


async def test_track_is_public_and_without_personal_data(harness):
    submitted = await harness.submitted()
    code = submitted["tracking_code"]
    spaced = f"{code[:4].lower()}-{code[4:8]} {code[8:]}"
    response = await harness.client.get(f"/v1/track/{spaced}", headers=anonymous("submissions"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "submitted" and body["service_code"] == "IZIN-USAHA"
    assert set(body) == {
        "tracking_code", "status", "service_code", "service_name", "sla_working_days", "submitted_at", "due_at",
        "updated_at", "overdue", "paused",
    }
    assert "Siti" not in response.text and "3171234567890001" not in response.text
    assert (await harness.client.get("/v1/track/AAAAAAAAAAAA", headers=anonymous("submissions"))).status_code == 404
    assert (await harness.client.get("/v1/track/0O1IL", headers=anonymous("submissions"))).status_code == 404


async def test_issuing_retries_without_issuing_twice(harness):
    harness.signatures.fail_next = 2
    harness.signatures.lose_answers = 1
    submitted = await harness.submitted()
    await harness.act(submitted["id"], "start_review")
    await harness.act(submitted["id"], "approve")
    issued = await harness.wait_for_status(submitted["id"], "issued")
    assert issued["status"] == "issued"
    assert len(harness.signatures.requests) == 4  # two refusals, one lost answer, one replay
    assert len(harness.signatures.documents) == 1
    assert issued["issued_documents"][0]["document_id"] == harness.signatures.documents[submitted["id"]]["document_id"]
    # Running the worker again finds nothing left to do.
    assert await harness.app.state.issuer.run_once() == 0
    events = [e["type"] for e in await events_of(harness, submitted["id"])]
    assert events.count("submission.issued") == 1


async def test_idempotency_key_on_create_and_actions(harness):
    body = {
        "service_code": "IZIN-USAHA",
        "applicant": {"name": "Siti", "email": "siti@example.go.id"},
        "data": {"nik": "3171234567890001", "business_name": "Toko", "address": {"city": "Bogor"}},
    }
    headers = {**applicant(subject="client-a"), "Idempotency-Key": "create-1"}
    first = await harness.client.post("/v1/submissions", json=body, headers=headers)
    second = await harness.client.post("/v1/submissions", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("idempotent-replayed") == "true"
    changed = await harness.client.post("/v1/submissions", json={**body, "data": {}}, headers=headers)
    assert changed.status_code == 409

    draft = await harness.create()
    await harness.upload(draft["id"], "ktp", JPEG)
    await harness.upload(draft["id"], "domicile", PDF)
    submit_headers = {**applicant(subject="client-a"), "Idempotency-Key": "submit-1"}
    once = await harness.client.post(f"/v1/submissions/{draft['id']}/submit", headers=submit_headers)
    twice = await harness.client.post(f"/v1/submissions/{draft['id']}/submit", headers=submit_headers)
    assert once.status_code == twice.status_code == 200
    assert once.json()["receipt"] == twice.json()["receipt"]
    without_key = await harness.client.post(f"/v1/submissions/{draft['id']}/submit", headers=applicant())
    assert without_key.status_code == 409

    submitted = await harness.submitted()
    action_headers = {**officer(subject="officer-a"), "Idempotency-Key": "review-1"}
    path = f"/v1/submissions/{submitted['id']}/actions"
    one = await harness.client.post(path, json={"action": "start_review"}, headers=action_headers)
    two = await harness.client.post(path, json={"action": "start_review"}, headers=action_headers)
    assert one.status_code == two.status_code == 200
    entries = (await harness.client.get(f"/v1/submissions/{submitted['id']}/history", headers=admin())).json()["items"]
    assert [e["action"] for e in entries].count("start_review") == 1



async def test_catalogue_answers_are_reused_briefly():
    fake = FakeCatalog()
    client = CatalogClient(
        InternalClient(caller="submissions", target="catalog", base_url="http://catalog.test",
                       secret=TEST_INTERNAL_SECRET, transport=fake.transport()),
        cache_seconds=0.3,
    )
    first = await asyncio.gather(*(client.current("IZIN-USAHA") for _ in range(5)))
    assert len(fake.calls) == 1  # concurrent misses share one call
    fake.publish("IZIN-USAHA")
    assert (await client.current("IZIN-USAHA"))["version"] == first[0]["version"]
    await asyncio.sleep(0.35)
    assert (await client.current("IZIN-USAHA"))["version"] == first[0]["version"] + 1
    fake.down = True
    await asyncio.sleep(0.35)
    for _ in range(2):  # failures are not cached
        with pytest.raises(Problem):
            await client.current("IZIN-USAHA")
    assert len(fake.calls) == 4
    await client.aclose()


async def test_catalogue_down_is_503(harness):
    harness.catalog.down = True
    response = await harness.client.post(
        "/v1/submissions",
        json={"service_code": "IZIN-USAHA", "applicant": {"name": "S", "email": "s@example.go.id"}, "data": {}},
        headers=applicant(),
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "refused" not in response.text and "catalog.test" not in response.text


async def test_a_replay_after_a_later_change_returns_the_original_answer(harness):
    body = {
        "service_code": "IZIN-USAHA",
        "applicant": {"name": "Siti", "email": "siti@example.go.id"},
        "data": {"nik": "3171234567890001", "business_name": "Toko", "address": {"city": "Bogor"}},
    }
    create_headers = {**applicant(subject="client-a"), "Idempotency-Key": "create-kept"}
    created = await harness.client.post("/v1/submissions", json=body, headers=create_headers)
    assert created.status_code == 201 and created.json()["status"] == "draft"
    draft = created.json()
    await harness.upload(draft["id"], "ktp", JPEG)
    await harness.upload(draft["id"], "domicile", PDF)
    submit_headers = {**applicant(subject="client-a"), "Idempotency-Key": "submit-kept"}
    submitted = await harness.client.post(f"/v1/submissions/{draft['id']}/submit", headers=submit_headers)
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
    await harness.app.state.idempotency_answers.flush()
    review = await harness.client.post(f"/v1/submissions/{draft['id']}/actions", json={"action": "start_review"},
                                       headers=officer(subject="officer-a"))
    assert review.status_code == 200

    create_again = await harness.client.post("/v1/submissions", json=body, headers=create_headers)
    assert create_again.status_code == 201 and create_again.headers["idempotent-replayed"] == "true"
    assert create_again.content == created.content and create_again.json()["status"] == "draft"
    assert create_again.headers["location"] == created.headers["location"]
    assert create_again.headers["content-type"] == created.headers["content-type"]
    submit_again = await harness.client.post(f"/v1/submissions/{draft['id']}/submit", headers=submit_headers)
    assert submit_again.status_code == 200 and submit_again.content == submitted.content


@pytest.mark.parametrize(("status", "answered", "retry_after"), [(400, 502, None), (422, 502, None),
                                                                 (401, 503, "5"), (500, 503, "5")])
async def test_a_catalogue_refusal_for_good_is_not_told_as_a_retry(status, answered, retry_after):
    client = CatalogClient(
        InternalClient(caller="submissions", target="catalog", base_url="http://catalog.test",
                       secret=TEST_INTERNAL_SECRET,
                       transport=httpx.MockTransport(lambda request: httpx.Response(status, json={}))),
    )
    with pytest.raises(Problem) as raised:
        await client.current("IZIN-USAHA")
    assert raised.value.status == answered
    assert raised.value.headers.get("Retry-After") == retry_after
    await client.aclose()
