"""A control character in any free-text field is refused with a 422 naming the field, and
nothing is written: it would otherwise be accepted now and make issuing fail for ever."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.api.submissions.conftest import VALID_DATA, applicant, officer
from tests.api.submissions.test_surveys import answers

from simpul.submissions.feedback.models import surveys
from simpul.submissions.models import history, outbox, submissions

BAD = ["Siti\u0000", "bel\u0007", "esc\u001b[2J", "del\u007f", "nel\u0085x"]


async def counts(harness) -> tuple[int, ...]:
    async with harness.app.state.engine.connect() as connection:
        return tuple([(await connection.execute(select(func.count()).select_from(table))).scalar_one()
                      for table in (submissions, history, outbox, surveys)])


def problem_fields(response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["field"] for error in response.json()["errors"]]


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("field", ["applicant.name", "applicant.agency", "data.business_name"])
async def test_a_new_submission_with_a_control_character_is_refused_and_not_written(harness, field, bad):
    applicant_body = {"name": "Siti Rahayu", "email": "siti@example.go.id", "agency": "Dinas PMPTSP"}
    body = {"service_code": "IZIN-USAHA", "applicant": applicant_body, "data": dict(VALID_DATA)}
    section, name = field.split(".")
    body[section][name] = bad
    before = await counts(harness)
    response = await harness.client.post("/v1/submissions", json=body, headers=applicant())
    assert problem_fields(response) == [field]
    assert await counts(harness) == before


async def test_a_line_break_in_a_name_is_refused_but_allowed_in_a_note(harness):
    created = await harness.client.post(
        "/v1/submissions", headers=applicant(),
        json={"service_code": "IZIN-USAHA", "applicant": {"name": "Siti\nRahayu", "email": "siti@example.go.id"},
              "data": VALID_DATA})
    assert problem_fields(created) == ["applicant.name"]
    submitted = await harness.submitted()
    assert (await harness.act(submitted["id"], "start_review")).status_code == 200
    assert (await harness.act(submitted["id"], "request_revision", "Baris satu.\r\n\tBaris dua.")).status_code == 200


@pytest.mark.parametrize("bad", BAD)
async def test_decision_notes_cancel_notes_and_survey_comments_refuse_control_characters(harness, bad):
    submitted = await harness.submitted()
    assert (await harness.act(submitted["id"], "start_review")).status_code == 200
    before = await counts(harness)
    assert problem_fields(await harness.act(submitted["id"], "reject", bad)) == ["note"]
    cancel = await harness.client.post(f"/v1/submissions/{submitted['id']}/cancel", json={"note": bad},
                                       headers=applicant())
    assert problem_fields(cancel) == ["note"]
    assert await counts(harness) == before
    assert (await harness.client.get(f"/v1/submissions/{submitted['id']}", headers=officer())).json()[
        "status"] == "in_review"

    rejected = await harness.rejected()
    before = await counts(harness)
    survey = await harness.client.post(f"/v1/submissions/{rejected['id']}/survey", json=answers(comment=bad),
                                       headers=applicant())
    assert problem_fields(survey) == ["comment"]
    assert await counts(harness) == before
