"""Complaints: filing, responses, resolution, reopening, closing, deadlines in working days,
overdue, attachments, events and who sees what."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.submissions.conftest import GIF, JPEG, OTHER_UNIT, PDF, UNIT, admin, applicant, officer
from tests.support.identity import anonymous

WIB = timedelta(hours=7)


def wib(year, month, day, hour=10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC) - WIB


async def file(harness, tenant="31", **body):
    payload = {"category": "timeliness", "text": "Permohonan saya belum diproses."}
    payload.update(body)
    return await harness.client.post("/v1/complaints", json=payload, headers=applicant(tenant))


async def respond(harness, complaint_id, headers, text="Sedang kami periksa.", **extra):
    return await harness.client.post(
        f"/v1/complaints/{complaint_id}/responses", json={"text": text, **extra}, headers=headers
    )


async def attach(harness, complaint_id, content, headers, name="bukti.pdf"):
    return await harness.client.post(
        f"/v1/complaints/{complaint_id}/attachments", files={"file": (name, content, "application/pdf")}, headers=headers
    )


def complaint_events(harness, complaint_id):
    return [e for e in harness.published.events
            if e["type"] == "complaint.updated" and e["data"]["complaint_id"] == complaint_id]


async def wait_for_events(harness, complaint_id, count):
    for _ in range(200):
        if len(complaint_events(harness, complaint_id)) >= count:
            break
        await asyncio.sleep(0.02)
    return complaint_events(harness, complaint_id)


async def test_from_filing_through_reopening_to_closed(harness):
    harness.clock.set(wib(2026, 3, 17))  # Tuesday, the last working day before Nyepi and Eid al-Fitr
    submitted = await harness.submitted()
    filed = await file(harness, submission_id=submitted["id"])
    assert filed.status_code == 201, filed.text
    complaint = filed.json()
    cid = complaint["id"]
    assert filed.headers["location"] == f"/v1/complaints/{cid}"
    assert complaint["status"] == "open" and complaint["closed"] is False
    assert (complaint["unit"], complaint["service_code"], complaint["tenant"]) == (UNIT, "IZIN-USAHA", "31")
    assert complaint["complainant"] == {"name": "Siti Rahayu", "email": "siti@example.go.id", "language": "id"}
    # 18-24 March are Nyepi, Eid al-Fitr and their cuti bersama: the 3rd working day is Friday 27 March,
    # the 14th is 14 April (3 April is Good Friday), each until 23:59:59 WIB.
    assert complaint["deadlines"] == {
        "verification_due_at": "2026-03-27T16:59:59+00:00",
        "follow_up_due_at": "2026-04-14T16:59:59+00:00",
    }
    assert complaint["response_due_at"] == "2026-03-27T16:59:59+00:00"
    assert complaint["allowed_actions"] == ["reply", "attach"]

    harness.clock.set(wib(2026, 3, 25))
    answered = await respond(harness, cid, officer())
    assert answered.status_code == 201, answered.text
    body = answered.json()
    assert body["status"] == "in_progress" and body["first_response_at"].startswith("2026-03-25T03:00")
    assert body["response_due_at"] == "2026-04-14T16:59:59+00:00"

    replied = await respond(harness, cid, applicant(), text="Terima kasih, saya tunggu.")
    assert replied.status_code == 201 and replied.json()["status"] == "in_progress"

    harness.clock.set(wib(2026, 3, 30))
    resolved = await respond(harness, cid, officer(), text="Permohonan sudah diproses.", resolve=True)
    assert resolved.status_code == 201, resolved.text
    body = resolved.json()
    assert body["status"] == "resolved" and body["response_due_at"] is None and body["overdue"] is False
    # Five working days to reopen: 31 March, 1, 2, 6, 7 April.
    assert body["reopen_until"] == "2026-04-07T16:59:59+00:00"
    assert (await respond(harness, cid, officer(), text="Tambahan")).status_code == 409

    harness.clock.set(wib(2026, 4, 6))
    reopened = await respond(harness, cid, applicant(), text="Ternyata dokumen saya belum diterima.")
    assert reopened.status_code == 201
    body = reopened.json()
    assert body["status"] == "in_progress" and body["reopened_count"] == 1 and body["resolved_at"] is None
    # The follow-up deadline starts again from the reopening: 14 working days after 6 April.
    assert body["deadlines"]["follow_up_due_at"] == "2026-04-24T16:59:59+00:00"

    resolved = await respond(harness, cid, officer(), text="Dokumen sudah dikirim ulang.", resolve=True)
    assert resolved.json()["status"] == "resolved"
    harness.clock.advance(timedelta(days=30))
    closed = (await harness.client.get(f"/v1/complaints/{cid}", headers=applicant())).json()
    assert closed["closed"] is True and closed["status"] == "resolved" and closed["allowed_actions"] == []
    # Closed for every reader at once; the closing worker then records it, once.
    assert closed["closed_at"] == closed["reopen_until"]
    assert await harness.app.state.complaints.close_due() == 1
    assert await harness.app.state.complaints.close_due() == 0
    late = await respond(harness, cid, applicant(), text="Masih ada masalah.")
    assert late.status_code == 409 and late.json()["type"].endswith("complaint-closed")
    assert (await attach(harness, cid, PDF, applicant())).status_code == 409

    assert [r["text"] for r in closed["responses"]] == [
        "Sedang kami periksa.", "Terima kasih, saya tunggu.", "Permohonan sudah diproses.",
        "Ternyata dokumen saya belum diterima.", "Dokumen sudah dikirim ulang.",
    ]
    history = (await harness.client.get(f"/v1/complaints/{cid}/history", headers=officer())).json()["items"]
    assert [(e["action"], e["from"], e["to"], e["actor"]["role"]) for e in history] == [
        ("file", None, "open", "applicant"),
        ("respond", "open", "in_progress", "officer"),
        ("reply", "in_progress", "in_progress", "applicant"),
        ("resolve", "in_progress", "resolved", "officer"),
        ("reopen", "resolved", "in_progress", "applicant"),
        ("resolve", "in_progress", "resolved", "officer"),
        ("close", "resolved", "resolved", "service"),
    ]
    events = await wait_for_events(harness, cid, 7)
    assert [(e["data"]["action"], e["data"]["status"], e["data"]["closed"]) for e in events] == [
        ("file", "open", False), ("respond", "in_progress", False), ("reply", "in_progress", False),
        ("resolve", "resolved", False), ("reopen", "in_progress", False), ("resolve", "resolved", False),
        ("close", "resolved", True),
    ]
    assert events[1]["data"]["text"] == "Sedang kami periksa."
    first = events[0]
    assert first["subject"] == f"complaints/{cid}" and first["data"]["unit"] == UNIT
    assert first["data"]["applicant"]["email"] == "siti@example.go.id"


async def test_deadlines_across_new_year(harness):
    harness.clock.set(wib(2026, 12, 23))  # Wednesday; 24-25 December Christmas, 1 January, 5 January Isra' Mi'raj
    complaint = (await file(harness)).json()
    assert complaint["deadlines"] == {
        "verification_due_at": "2026-12-30T16:59:59+00:00",  # 28, 29, 30 December
        "follow_up_due_at": "2027-01-18T16:59:59+00:00",  # 28-31 Dec, 4, 6-8, 11-15, 18 Jan
    }


async def test_overdue_follows_the_awaited_step(harness):
    harness.clock.set(wib(2026, 3, 17))
    waiting = (await file(harness)).json()
    answered = (await file(harness)).json()
    assert (await respond(harness, answered["id"], officer())).status_code == 404  # no service: admins answer
    assert (await respond(harness, answered["id"], admin())).status_code == 201

    async def overdue_ids(flag="true"):
        response = await harness.client.get(f"/v1/complaints?overdue={flag}", headers=admin())
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert await overdue_ids() == set()
    harness.clock.set(wib(2026, 3, 28))  # after the verification deadline of 27 March
    assert await overdue_ids() == {waiting["id"]}
    assert await overdue_ids("false") == {answered["id"]}
    one = (await harness.client.get(f"/v1/complaints/{waiting['id']}", headers=admin())).json()
    assert one["overdue"] is True
    harness.clock.set(wib(2026, 4, 15))  # after the follow-up deadline of 14 April
    assert await overdue_ids() == {waiting["id"], answered["id"]}
    assert (await respond(harness, answered["id"], admin(), text="Selesai", resolve=True)).status_code == 201
    assert await overdue_ids() == {waiting["id"]}


async def test_unit_comes_from_the_submission_or_the_service(harness):
    submitted = await harness.submitted()
    by_service = (await file(harness, service_code="NPWP-DAERAH")).json()
    assert (by_service["unit"], by_service["service_code"], by_service["complainant"]) == (OTHER_UNIT, "NPWP-DAERAH", None)
    mismatch = await file(harness, submission_id=submitted["id"], service_code="NPWP-DAERAH")
    assert mismatch.status_code == 422 and mismatch.json()["errors"][0]["field"] == "service_code"
    foreign = await file(harness, tenant="32", submission_id=submitted["id"])
    assert foreign.status_code == 404
    unknown = await file(harness, service_code="TIDAK-ADA")
    assert unknown.status_code == 404
    contact = await file(harness, complainant={"name": "Budi", "email": "budi@example.go.id", "language": "en"})
    assert contact.status_code == 201 and contact.json()["complainant"]["language"] == "en"


@pytest.mark.parametrize(
    "bad",
    [{"category": "weather"}, {"text": "   "}, {"text": "x" * 4001}, {"extra": 1},
     {"complainant": {"name": "B", "email": "not-an-address"}}],
)
async def test_bad_complaints_are_refused(harness, bad):
    response = await file(harness, **bad)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]
    listed = (await harness.client.get("/v1/complaints", headers=applicant())).json()
    assert listed["items"] == []


async def test_who_may_do_what(harness):
    submitted = await harness.submitted()
    cid = (await file(harness, submission_id=submitted["id"])).json()["id"]
    aid = (await attach(harness, cid, PDF, applicant())).json()["id"]
    callers = {
        "applicant_own": applicant("31"), "applicant_other": applicant("32"),
        "officer_own": officer(UNIT), "officer_other": officer(OTHER_UNIT), "admin": admin(),
    }
    reads = [f"/v1/complaints/{cid}", f"/v1/complaints/{cid}/history", f"/v1/complaints/{cid}/attachments/{aid}",
             f"/v1/complaints/{cid}/attachments/{aid}/content"]
    for path in reads:
        got = {name: (await harness.client.get(path, headers=h)).status_code for name, h in callers.items()}
        assert got == {"applicant_own": 200, "applicant_other": 404, "officer_own": 200, "officer_other": 404,
                       "admin": 200}, path
        assert (await harness.client.get(path, headers=anonymous("submissions"))).status_code == 401
    for name, headers in callers.items():
        listed = {c["id"] for c in (await harness.client.get("/v1/complaints", headers=headers)).json()["items"]}
        assert (cid in listed) == (name in ("applicant_own", "officer_own", "admin")), name
    assert (await respond(harness, cid, applicant("32"))).status_code == 404
    assert (await respond(harness, cid, officer(OTHER_UNIT))).status_code == 404
    assert (await respond(harness, cid, applicant(), resolve=True)).status_code == 403
    assert (await harness.client.post("/v1/complaints", json={"category": "other", "text": "x"},
                                      headers=officer())).status_code == 403
    missing = await harness.client.get("/v1/complaints/00000000-0000-7000-8000-000000000000", headers=applicant())
    foreign = await harness.client.get(f"/v1/complaints/{cid}", headers=applicant("32"))
    assert missing.status_code == foreign.status_code == 404
    assert missing.json()["detail"] == foreign.json()["detail"]


async def test_attachments(harness):
    cid = (await file(harness)).json()["id"]
    stored = await attach(harness, cid, PDF, applicant(), name="../../bukti transfer.pdf")
    assert stored.status_code == 201, stored.text
    body = stored.json()
    assert body["content_type"] == "application/pdf" and body["size"] == len(PDF)
    assert body["filename"] == "bukti transfer.pdf" and body["uploaded_by"]["role"] == "applicant"
    content = await harness.client.get(f"/v1/complaints/{cid}/attachments/{body['id']}/content", headers=admin())
    assert content.content == PDF and content.headers["content-type"] == "application/pdf"
    photo = await attach(harness, cid, JPEG, admin(), name="foto.jpg")
    assert photo.status_code == 201 and photo.json()["content_type"] == "image/jpeg"
    wrong = await attach(harness, cid, GIF, applicant(), name="a.pdf")
    assert wrong.status_code == 415
    empty = await attach(harness, cid, b"", applicant())
    assert empty.status_code == 422
    listed = (await harness.client.get(f"/v1/complaints/{cid}", headers=applicant())).json()["attachments"]
    assert [a["content_type"] for a in listed] == ["application/pdf", "image/jpeg"]
    history = (await harness.client.get(f"/v1/complaints/{cid}/history", headers=applicant())).json()["items"]
    assert [e["action"] for e in history] == ["file", "attach", "attach"]
    assert history[1]["attachment"]["sha256"] == body["sha256"]


class TestAttachmentLimits:
    @pytest.fixture
    def harness_overrides(self):
        return {"complaint_max_attachments": 2, "complaint_attachment_max_bytes": 4000}

    async def test_size_and_count(self, harness):
        cid = (await file(harness)).json()["id"]
        too_big = await attach(harness, cid, PDF + b"0" * 4000, applicant())
        assert too_big.status_code == 413
        assert (await attach(harness, cid, PDF, applicant())).status_code == 201
        assert (await attach(harness, cid, PDF, applicant())).status_code == 201
        third = await attach(harness, cid, PDF, applicant())
        assert third.status_code == 409 and third.json()["type"].endswith("too-many-attachments")


async def test_two_resolutions_at_the_same_moment(harness):
    submitted = await harness.submitted()
    cid = (await file(harness, submission_id=submitted["id"])).json()["id"]
    results = await asyncio.gather(*(respond(harness, cid, officer(), text=f"Selesai {n}", resolve=True)
                                     for n in range(3)))
    assert sorted(r.status_code for r in results) == [201, 409, 409]
    history = (await harness.client.get(f"/v1/complaints/{cid}/history", headers=admin())).json()["items"]
    assert [e["action"] for e in history] == ["file", "resolve"]


async def test_lists_filter_and_page(harness):
    made = [(await file(harness, category="cost" if n % 2 else "other")).json()["id"] for n in range(5)]
    await respond(harness, made[0], admin())
    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await harness.client.get(f"/v1/complaints{query}", headers=applicant())).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))

    async def ids(query):
        response = await harness.client.get(f"/v1/complaints?{query}", headers=applicant())
        assert response.status_code == 200, response.text
        return {c["id"] for c in response.json()["items"]}

    assert await ids("status=in_progress") == {made[0]}
    assert await ids("status=open,in_progress") == set(made)
    assert await ids("category=cost") == {made[1], made[3]}
    assert (await harness.client.get("/v1/complaints?status=closed", headers=applicant())).status_code == 422
    assert (await harness.client.get("/v1/complaints?category=x", headers=applicant())).status_code == 422


class TestClosingWorker:
    @pytest.fixture
    def harness_overrides(self):
        return {"complaint_close_poll_seconds": 0.05, "complaint_reopen_working_days": 1}

    async def test_the_worker_records_closings(self, harness):
        harness.clock.set(wib(2026, 3, 2))
        cid = (await file(harness)).json()["id"]
        assert (await respond(harness, cid, admin(), text="Selesai", resolve=True)).status_code == 201
        harness.clock.set(wib(2026, 3, 4))  # the one working day to reopen (3 March) is over
        for _ in range(200):
            history = (await harness.client.get(f"/v1/complaints/{cid}/history", headers=admin())).json()["items"]
            if history[-1]["action"] == "close":
                break
            await asyncio.sleep(0.02)
        assert [e["action"] for e in history] == ["file", "resolve", "close"]
        body = (await harness.client.get(f"/v1/complaints/{cid}", headers=admin())).json()
        assert body["closed_at"] == "2026-03-03T16:59:59+00:00"


    async def test_replicas_closing_at_once_record_each_closing_once(self, harness):
        await harness.app.state.closer.stop()  # the test plays the replicas' closers
        harness.clock.set(wib(2026, 3, 2))
        ids = [(await file(harness)).json()["id"] for _ in range(6)]
        for cid in ids:
            assert (await respond(harness, cid, admin(), text="Selesai", resolve=True)).status_code == 201
        harness.clock.set(wib(2026, 3, 4))
        complaints = harness.app.state.complaints
        # Each on its own connection: both read the same due complaints, one records each closing.
        closed = await asyncio.gather(complaints.close_due(), complaints.close_due(), complaints.close_due())
        assert sum(closed) == len(ids)
        for cid in ids:
            history = (await harness.client.get(f"/v1/complaints/{cid}/history", headers=admin())).json()["items"]
            assert [e["action"] for e in history] == ["file", "resolve", "close"]


@pytest.mark.parametrize(("where", "on_sqlite"), [("query", 200), ("path", 404)])
async def test_a_nul_character_is_refused_where_it_cannot_be_stored(harness, where, on_sqlite):
    await file(harness)  # a complaint among which to look
    if where == "query":
        response = await harness.client.get("/v1/complaints?submission_id=a%00b", headers=applicant())
    else:
        response = await harness.client.get("/v1/complaints/a%00b", headers=applicant())
    # SQLite stores NUL; PostgreSQL refuses it, which the client hears as a 400, never a 500.
    postgres = harness.app.state.settings.database_url.startswith("postgresql")
    if postgres:
        assert response.status_code == 400, response.text
        assert response.json()["type"].endswith("unstorable-character")
    else:
        assert response.status_code == on_sqlite, response.text


@pytest.mark.parametrize("text", ["ada\u0000nul", "bel\u0007", "c1\u0085 tengah", "esc\u001b[2J"])
async def test_control_characters_in_complaint_texts_are_refused_on_every_backend(harness, text):
    cid = (await file(harness)).json()["id"]
    filed = await file(harness, text=text)
    assert filed.status_code == 422, filed.text
    assert [error["field"] for error in filed.json()["errors"]] == ["text"]
    answered = await respond(harness, cid, applicant(), text=text)
    assert answered.status_code == 422, answered.text
    assert answered.headers["content-type"] == "application/problem+json"
    history = (await harness.client.get(f"/v1/complaints/{cid}/history", headers=applicant())).json()["items"]
    assert len(history) == 1
    listed = (await harness.client.get("/v1/complaints", headers=applicant())).json()["items"]
    assert len(listed) == 1
