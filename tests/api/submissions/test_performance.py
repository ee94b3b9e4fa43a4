"""The public performance report on a fixed data set, every figure worked out by hand."""

from __future__ import annotations

import asyncio
import time
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.submissions.conftest import JPEG, OTHER_UNIT, admin, applicant, officer
from tests.support.identity import anonymous

WIB = timedelta(hours=7)
FEBRUARY = "from=2026-02-01&to=2026-02-28"


def wib(month, day, hour=10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC) - WIB


@pytest.fixture
async def february(harness):
    """IZIN-USAHA (SLA 5 working days) and NPWP-DAERAH in February 2026 (16-17 February: Imlek)."""
    at = harness.clock.set

    async def submit(day):
        at(wib(2, day))
        return await harness.submitted()

    s1 = await submit(2)  # Mon; approved Thu 5th: 3 working days, due 9th -> on time
    s2 = await submit(3)  # Tue; revision 4th-9th (3 days stood still), rejected 11th: 6 - 3 = 3, due 13th
    s3 = await submit(4)  # Wed; approved Fri 20th: 10 working days, due 11th -> late
    s4 = await submit(5)  # Thu; still in review, due 12th -> overdue now
    at(wib(2, 6))
    await harness.create()  # a draft is not received
    at(wib(2, 10))
    npwp = await harness.submitted(service_code="NPWP-DAERAH")
    assert (await harness.client.post(f"/v1/submissions/{npwp['id']}/cancel", headers=applicant())).status_code == 200

    for submission in (s1, s2, s3, s4):
        at(wib(2, 4 if submission is s2 else 5, 9))
        assert (await harness.act(submission["id"], "start_review")).status_code == 200
    at(wib(2, 4, 11))
    assert (await harness.act(s2["id"], "request_revision", "Lengkapi KTP")).status_code == 200
    at(wib(2, 5, 12))
    assert (await harness.act(s1["id"], "approve", "Lengkap")).status_code == 200
    at(wib(2, 9))
    assert (await harness.upload(s2["id"], "ktp", JPEG)).status_code == 201
    assert (await harness.client.post(f"/v1/submissions/{s2['id']}/submit", headers=applicant())).status_code == 200
    assert (await harness.act(s2["id"], "start_review")).status_code == 200
    at(wib(2, 11))
    assert (await harness.act(s2["id"], "reject", "Tidak memenuhi syarat")).status_code == 200
    at(wib(2, 20))
    assert (await harness.act(s3["id"], "approve", "Lengkap")).status_code == 200

    # Complaints: one about s1, resolved on time; one about NPWP-DAERAH, still open.
    at(wib(2, 6))
    c1 = (await harness.client.post("/v1/complaints", json={"submission_id": s1["id"], "category": "timeliness",
                                                            "text": "Mohon dipercepat"}, headers=applicant())).json()
    at(wib(2, 9))
    resolved = await harness.client.post(f"/v1/complaints/{c1['id']}/responses",
                                         json={"text": "Sudah disetujui", "resolve": True}, headers=officer())
    assert resolved.status_code == 201
    at(wib(2, 10))
    assert (await harness.client.post("/v1/complaints", json={"service_code": "NPWP-DAERAH", "category": "cost",
                                                              "text": "Biaya tidak jelas"},
                                      headers=applicant())).status_code == 201
    at(wib(2, 12))
    survey = dict.fromkeys(("requirements", "procedure", "timeliness", "cost", "product", "competence",
                            "behaviour", "complaint_handling", "facilities"), 4)
    given = await harness.client.post(f"/v1/submissions/{s2['id']}/survey", json=survey, headers=applicant())
    assert given.status_code == 201, given.text
    at(wib(3, 2))
    return s1, s2, s3, s4


async def test_figures_per_service_and_in_total(harness, february):
    response = await harness.client.get(f"/v1/reports/performance?{FEBRUARY}", headers=anonymous("submissions"))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, max-age=60"
    body = response.json()
    assert body["period"] == {"from": "2026-02-01", "to": "2026-02-28", "time_zone": "Asia/Jakarta"}
    rows = {row["service_code"]: row for row in body["services"]}
    izin = rows["IZIN-USAHA"]
    assert izin["steps"] == []  # no roles in its procedure: no per-step figures
    assert izin["fees_collected"] == {"count": 0, "amount": 0}  # its fee is collected outside Simpul
    assert {k: v for k, v in izin.items() if k not in ("ikm", "steps", "fees_collected")} == {
        "service_code": "IZIN-USAHA",
        "received": 4,
        "completed": 3,
        "approved": 2,
        "rejected": 1,
        "median_completion_working_days": 3.0,  # of 3, 3, 10
        "completed_within_sla": 2,
        "completed_within_sla_share": 0.6667,
        "overdue_now": 1,
        "complaints_received": 1,
        "complaints_resolved": 1,
        "complaints_resolved_within_deadline": 1,
    }
    # One respondent, under the minimum: the count only, never that person's scores.
    assert (izin["ikm"]["respondents"], izin["ikm"]["ikm"], izin["ikm"]["grade"]) == (1, None, None)
    npwp = rows["NPWP-DAERAH"]
    assert (npwp["received"], npwp["completed"], npwp["median_completion_working_days"],
            npwp["completed_within_sla_share"], npwp["complaints_received"], npwp["complaints_resolved"]) == (
        1, 0, None, None, 1, 0)
    assert npwp["ikm"]["respondents"] == 0 and npwp["ikm"]["ikm"] is None
    total = body["total"]
    assert total["service_code"] is None
    assert (total["received"], total["completed"], total["overdue_now"], total["complaints_received"],
            total["complaints_resolved_within_deadline"], total["ikm"]["ikm"]) == (5, 3, 1, 2, 1, None)

    one = (await harness.client.get(f"/v1/reports/performance?{FEBRUARY}&service_code=NPWP-DAERAH",
                                    headers=anonymous("submissions"))).json()
    assert [row["service_code"] for row in one["services"]] == ["NPWP-DAERAH"]
    assert one["total"]["received"] == 1
    by_unit = (await harness.client.get(f"/v1/reports/performance?{FEBRUARY}&unit={OTHER_UNIT}",
                                        headers=anonymous("submissions"))).json()
    assert [row["service_code"] for row in by_unit["services"]] == ["NPWP-DAERAH"]
    march = (await harness.client.get("/v1/reports/performance?from=2026-03-01&to=2026-03-31",
                                      headers=anonymous("submissions"))).json()
    # Nothing received or decided in March; what is overdue is overdue now, whatever the period.
    assert march["total"]["received"] == 0 and march["total"]["overdue_now"] == 1


async def test_csv_on_request(harness, february):
    response = await harness.client.get(f"/v1/reports/performance?{FEBRUARY}",
                                        headers={**anonymous("submissions"), "Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="performance-2026-02-01-2026-02-28.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["scope"], r["service_code"]) for r in rows] == [
        ("service", "IZIN-USAHA"), ("service", "NPWP-DAERAH"), ("total", "")]
    izin = rows[0]
    assert (izin["received"], izin["completed"], izin["median_completion_working_days"],
            izin["completed_within_sla_share"], izin["ikm"], izin["ikm_grade"]) == ("4", "3", "3.0", "0.6667", "", "")
    assert rows[1]["median_completion_working_days"] == "" and rows[1]["ikm"] == ""
    prefers_json = await harness.client.get(
        f"/v1/reports/performance?{FEBRUARY}", headers={**anonymous("submissions"), "Accept": "text/csv;q=0.5, application/json"}
    )
    assert prefers_json.headers["content-type"] == "application/json"
    refused = await harness.client.get("/v1/reports/performance", headers={**anonymous("submissions"), "Accept": "application/xml"})
    assert refused.status_code == 406 and refused.headers["content-type"].startswith("application/problem+json")


async def test_reports_are_public_but_carry_nobody(harness, february):
    body = (await harness.client.get(f"/v1/reports/performance?{FEBRUARY}", headers=anonymous("submissions"))).text
    assert "Siti" not in body and "siti@" not in body and february[0]["tracking_code"] not in body
    assert (await harness.client.get(f"/v1/reports/performance?{FEBRUARY}", headers=admin())).status_code == 200


class TestReportCache:
    @pytest.fixture
    def harness_overrides(self):
        return {"report_cache_seconds": 1.0}

    async def test_a_report_is_served_again_for_a_while(self, harness):
        async def total_received():
            response = await harness.client.get(f"/v1/reports/performance?{FEBRUARY}", headers=anonymous("submissions"))
            assert response.status_code == 200
            return response.json()["total"]["received"], response.json()["generated_at"]

        harness.clock.set(wib(2, 2))
        await harness.submitted()
        started = time.monotonic()
        first = await total_received()
        together = await asyncio.gather(*(total_received() for _ in range(5)))
        again = await total_received()
        await harness.submitted()
        kept = await total_received()
        if time.monotonic() - started < 1.0:  # (a loaded machine may have outlived the cache)
            assert set(together) == {first} == {again} == {kept}  # the same run, not seven
        await asyncio.sleep(1.05)
        assert (await total_received())[0] == 2
