"""Lists (cursor pages, filters, stable order) and the SLA clock as the API shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.submissions.conftest import admin, applicant, officer

WIB = timedelta(hours=7)


def wib(year, month, day, hour=10, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - WIB


async def test_pages_walk_every_item_once_newest_first(harness):
    made = [(await harness.create())["id"] for _ in range(7)]
    seen, cursor = [], None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await harness.client.get(f"/v1/submissions{query}", headers=applicant())).json()
        seen += [item["id"] for item in page["items"]]
        assert len(page["items"]) <= 3
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
    bad = await harness.client.get("/v1/submissions?cursor=%%%", headers=applicant())
    assert bad.status_code == 400
    too_many = await harness.client.get("/v1/submissions?limit=201", headers=applicant())
    assert too_many.status_code == 422


async def test_filters(harness):
    draft = await harness.create()
    submitted = await harness.submitted()
    other_service = await harness.submitted(service_code="NPWP-DAERAH")

    async def ids(query):
        response = await harness.client.get(f"/v1/submissions{query}", headers=admin())
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids("?status=submitted") == [other_service["id"], submitted["id"]]
    assert await ids("?status=draft") == [draft["id"]]
    assert set(await ids("?status=draft,submitted")) == {draft["id"], submitted["id"], other_service["id"]}
    assert set(await ids("?status=draft&status=submitted")) == {draft["id"], submitted["id"], other_service["id"]}
    assert await ids("?status=submitted&service_code=IZIN-USAHA") == [submitted["id"]]
    unknown = await harness.client.get("/v1/submissions?status=done", headers=admin())
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "status"
    assert await ids("?overdue=true") == []
    assert set(await ids("?overdue=false")) == {draft["id"], submitted["id"], other_service["id"]}


async def test_overdue_follows_the_clock(harness):
    harness.clock.set(wib(2026, 3, 17))  # Tuesday, the last working day before Nyepi and Eid al-Fitr
    late = await harness.submitted()
    assert late["due_at"] == "2026-03-31T16:59:59+00:00"  # 23:59:59 WIB on the 5th working day
    paused = await harness.submitted()
    await harness.act(paused["id"], "start_review")
    await harness.act(paused["id"], "request_revision", "lengkapi")
    decided = await harness.submitted()
    await harness.act(decided["id"], "start_review")
    await harness.act(decided["id"], "approve")

    harness.clock.set(wib(2026, 3, 31, 23, 0))
    assert (await harness.client.get("/v1/submissions?overdue=true", headers=officer())).json()["items"] == []
    harness.clock.set(wib(2026, 4, 1, 0, 1))
    overdue = (await harness.client.get("/v1/submissions?overdue=true", headers=officer())).json()["items"]
    assert [item["id"] for item in overdue] == [late["id"]]
    assert overdue[0]["sla"] == {
        "working_days": 5, "used": 6, "remaining": 0, "paused": False, "overdue": True, "due_at": late["due_at"],
    }
    tracked = (await harness.client.get(f"/v1/track/{late['tracking_code']}", headers=admin())).json()
    assert tracked["overdue"] is True
    on_time = {item["id"] for item in (await harness.client.get("/v1/submissions?overdue=false", headers=officer())).json()["items"]}
    assert on_time == {paused["id"], decided["id"]}


async def test_revision_pauses_the_clock_and_moves_the_deadline(harness):
    harness.clock.set(wib(2026, 4, 6))  # Monday
    submitted = await harness.submitted()
    assert submitted["due_at"] == "2026-04-13T16:59:59+00:00"  # Mon 13 April
    harness.clock.set(wib(2026, 4, 8))  # Wednesday: two working days used
    await harness.act(submitted["id"], "start_review")
    paused = (await harness.act(submitted["id"], "request_revision", "KTP tidak terbaca")).json()
    assert paused["sla"]["paused"] is True and paused["sla"]["used"] == 2

    harness.clock.set(wib(2026, 4, 20))  # twelve days later: the clock stood still meanwhile
    still = (await harness.client.get(f"/v1/submissions/{submitted['id']}", headers=applicant())).json()
    assert still["sla"]["used"] == 2 and still["sla"]["overdue"] is False
    resumed = (await harness.client.post(f"/v1/submissions/{submitted['id']}/submit", headers=applicant())).json()
    # Thu 9 .. Mon 20 April: 8 working days stood still; 13 April + 8 working days = 23 April.
    assert resumed["due_at"] == "2026-04-23T16:59:59+00:00"
    assert resumed["sla"] == {
        "working_days": 5, "used": 2, "remaining": 3, "paused": False, "overdue": False, "due_at": resumed["due_at"],
    }
    history = (await harness.client.get(f"/v1/submissions/{submitted['id']}/history", headers=applicant())).json()
    assert [e["action"] for e in history["items"]][-3:] == ["start_review", "request_revision", "submit"]
