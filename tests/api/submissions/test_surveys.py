"""Satisfaction surveys (SKM) and the public IKM report on a fixed data set."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from simpul.submissions.settings import SubmissionsSettings
from tests.api.submissions.conftest import admin, applicant, officer
from tests.support.identity import anonymous

ELEMENTS = ("requirements", "procedure", "timeliness", "cost", "product", "competence", "behaviour",
            "complaint_handling", "facilities")
# Four respondents, worked out by hand in tests/unit/submissions/test_submissions_ikm.py:
# element means 3.5 3.25 2.75 4 3.25 3.25 3.75 2.75 2.75, IKM 3.25 -> 81.25, grade B (Baik).
RESPONSES = [
    (4, 4, 3, 4, 3, 3, 4, 3, 3),
    (3, 3, 3, 4, 3, 3, 3, 3, 3),
    (4, 3, 2, 4, 3, 4, 4, 3, 2),
    (3, 3, 3, 4, 4, 3, 4, 2, 3),
]


@pytest.fixture
def harness_overrides() -> dict:
    """The fixed data set has four respondents for one service and one for another."""
    return {"ikm_min_respondents": 4}


def answers(scores=(4,) * 9, **extra) -> dict:
    return {**dict(zip(ELEMENTS, scores, strict=True)), **extra}


async def give(harness, submission_id: str, body: dict, tenant: str = "31"):
    return await harness.client.post(f"/v1/submissions/{submission_id}/survey", json=body, headers=applicant(tenant))


async def test_only_after_the_submission_is_finished_and_only_once(harness):
    submitted = await harness.submitted()
    early = await give(harness, submitted["id"], answers())
    assert early.status_code == 409 and early.json()["current_status"] == "submitted"

    rejected = await harness.rejected()
    given = await give(harness, rejected["id"], answers(RESPONSES[0], comment="  Petugas ramah  "))
    assert given.status_code == 201, given.text
    body = given.json()
    assert body["scores"] == dict(zip(ELEMENTS, RESPONSES[0], strict=True))
    assert body["comment"] == "Petugas ramah" and body["service_code"] == "IZIN-USAHA"
    assert given.headers["location"] == f"/v1/submissions/{rejected['id']}/survey"

    again = await give(harness, rejected["id"], answers())
    assert again.status_code == 409 and again.json()["type"].endswith("survey-already-given")
    mine = await harness.client.get(f"/v1/submissions/{rejected['id']}/survey", headers=applicant())
    assert mine.status_code == 200 and mine.json() == body


async def test_after_issue_too(harness):
    submitted = await harness.submitted()
    await harness.act(submitted["id"], "start_review")
    await harness.act(submitted["id"], "approve", "Lengkap")
    issued = await harness.wait_for_status(submitted["id"], "issued")
    assert issued["status"] == "issued"
    assert (await give(harness, submitted["id"], answers())).status_code == 201


async def test_two_surveys_at_the_same_moment_keep_one(harness):
    rejected = await harness.rejected()
    results = await asyncio.gather(*(give(harness, rejected["id"], answers()) for _ in range(4)))
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409]


@pytest.mark.parametrize(
    "bad",
    [
        {"cost": 5}, {"cost": 0}, {"cost": "3"}, {"cost": 3.0}, {"cost": True}, {"cost": None},
        {"colour": 3}, {"comment": "x" * 2001},
    ],
)
async def test_each_element_is_a_whole_score_from_1_to_4(harness, bad):
    rejected = await harness.rejected()
    body = {**answers(), **bad}
    response = await give(harness, rejected["id"], body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"]
    missing = answers()
    del missing["facilities"]
    response = await give(harness, rejected["id"], missing)
    assert response.status_code == 422
    assert any(e["field"].endswith("facilities") for e in response.json()["errors"])
    # Nothing half-written: the good survey still goes in afterwards.
    assert (await give(harness, rejected["id"], answers())).status_code == 201


async def test_who_may_give_and_read_a_survey(harness):
    rejected = await harness.rejected()
    sid = rejected["id"]
    assert (await give(harness, sid, answers(), tenant="32")).status_code == 404
    refused = await harness.client.post(f"/v1/submissions/{sid}/survey", json=answers(), headers=officer())
    assert refused.status_code == 403
    assert (await give(harness, sid, answers())).status_code == 201
    path = f"/v1/submissions/{sid}/survey"
    assert (await harness.client.get(path, headers=applicant("32"))).status_code == 404
    # The unit being rated never reads who gave which score.
    assert (await harness.client.get(path, headers=officer())).status_code == 403
    assert (await harness.client.get(path, headers=admin())).status_code == 200
    assert (await harness.client.get(path, headers=anonymous("submissions"))).status_code == 401


async def test_ikm_report_of_a_fixed_data_set(harness):
    harness.clock.set(datetime(2026, 6, 10, 3, 0, tzinfo=UTC))
    for scores in RESPONSES:
        rejected = await harness.rejected()
        assert (await give(harness, rejected["id"], answers(scores))).status_code == 201
    other = await harness.rejected(service_code="NPWP-DAERAH")
    assert (await give(harness, other["id"], answers((1,) * 9))).status_code == 201

    public = anonymous("submissions")
    report = await harness.client.get(
        "/v1/reports/ikm?service_code=IZIN-USAHA&from=2026-06-01&to=2026-06-30", headers=public
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["respondents"] == 4
    assert body["ikm"] == 81.25 and body["index"] == 3.25
    assert body["grade"] == "B" and body["quality"] == "Baik"
    assert [(e["code"], e["mean"]) for e in body["elements"]] == list(zip(
        ELEMENTS, [3.5, 3.25, 2.75, 4.0, 3.25, 3.25, 3.75, 2.75, 2.75], strict=True
    ))
    assert body["period"] == {"from": "2026-06-01", "to": "2026-06-30", "time_zone": "Asia/Jakarta"}
    assert "comment" not in report.text and "31" not in {str(v) for v in body.values()}

    everything = (await harness.client.get("/v1/reports/ikm?from=2026-06-01&to=2026-06-30", headers=public)).json()
    # Five respondents: element sums 14+1 13+1 11+1 16+1 13+1 13+1 15+1 11+1 11+1 = 126; 25 x 126 / 45 = 70.00
    assert everything["respondents"] == 5 and everything["ikm"] == 70.0 and everything["grade"] == "C"
    per_service = {s["service_code"]: (s["respondents"], s["ikm"], s["grade"]) for s in everything["services"]}
    # One respondent: the count only, never that person's scores.
    assert per_service == {"IZIN-USAHA": (4, 81.25, "B"), "NPWP-DAERAH": (1, None, None)}
    english = (await harness.client.get(
        "/v1/reports/ikm?service_code=IZIN-USAHA&from=2026-06-01&to=2026-06-30",
        headers={**public, "Accept-Language": "en"},
    )).json()
    assert english["quality"] == "Good" and english["elements"][0]["name"] == "Requirements"
    alone = (await harness.client.get(
        "/v1/reports/ikm?service_code=NPWP-DAERAH&from=2026-06-01&to=2026-06-30", headers=public)).json()
    assert alone["respondents"] == 1 and alone["ikm"] is None and alone["elements"] is None

    before = (await harness.client.get("/v1/reports/ikm?from=2026-05-01&to=2026-05-31", headers=public)).json()
    assert before["respondents"] == 0 and before["ikm"] is None and before["grade"] is None


async def test_period_edges_are_local_days(harness):
    # 23:30 WIB on 30 June is still June in Jakarta (16:30 UTC).
    harness.clock.set(datetime(2026, 6, 30, 16, 30, tzinfo=UTC))
    rejected = await harness.rejected()
    assert (await give(harness, rejected["id"], answers())).status_code == 201
    public = anonymous("submissions")
    june = (await harness.client.get("/v1/reports/ikm?from=2026-06-30&to=2026-06-30", headers=public)).json()
    july = (await harness.client.get("/v1/reports/ikm?from=2026-07-01&to=2026-07-01", headers=public)).json()
    assert (june["respondents"], july["respondents"]) == (1, 0)


@pytest.mark.parametrize(
    ("query", "field"),
    [("from=2026-07-01&to=2026-06-01", "from"), ("from=2026-02-30", "from"), ("to=9999-12-31", "to"),
     ("from=1990-01-01&to=2026-01-01", "from")],
)
async def test_bad_periods(harness, query, field):
    response = await harness.client.get(f"/v1/reports/ikm?{query}", headers=anonymous("submissions"))
    assert response.status_code == 422, response.text
    assert any(e["field"].endswith(field) for e in response.json()["errors"])


class TestMinimumRespondents:
    @pytest.fixture
    def harness_overrides(self):
        return {"ikm_min_respondents": 3}

    async def test_no_figures_below_the_minimum(self, harness):
        for scores in RESPONSES[:2]:
            rejected = await harness.rejected()
            assert (await give(harness, rejected["id"], answers(scores))).status_code == 201
        public = anonymous("submissions")
        body = (await harness.client.get("/v1/reports/ikm?service_code=IZIN-USAHA", headers=public)).json()
        assert body["minimum_respondents"] == 3
        assert body["respondents"] == 2
        assert body["ikm"] is None and body["elements"] is None and body["grade"] is None
        rejected = await harness.rejected()
        assert (await give(harness, rejected["id"], answers(RESPONSES[2]))).status_code == 201
        body = (await harness.client.get("/v1/reports/ikm?service_code=IZIN-USAHA", headers=public)).json()
        # Element sums 11 10 8 12 9 10 11 9 8 = 88 over 3 respondents: 25 x 88 / 27 = 81.48
        assert body["respondents"] == 3 and body["ikm"] == 81.48


def test_one_persons_scores_are_never_a_report():
    assert SubmissionsSettings().ikm_min_respondents == 5
    with pytest.raises(ValidationError):
        SubmissionsSettings(ikm_min_respondents=1)
