"""Who sees what: each endpoint x applicant own/other tenant x officer own/other unit x admin.

Outside the caller's tenant or unit is 404, never 403, so ids leak nothing; a role that may
never take an action gets 403 whatever the id.
"""

from __future__ import annotations

import pytest

from tests.api.submissions.conftest import JPEG, OTHER_UNIT, UNIT, admin, applicant, officer

CALLERS = {
    "applicant_own": lambda: applicant("31"),
    "applicant_other": lambda: applicant("32"),
    "officer_own": lambda: officer(UNIT),
    "officer_other": lambda: officer(OTHER_UNIT),
    "admin": admin,
}
ORDER = ["applicant_own", "applicant_other", "officer_own", "officer_other", "admin"]
READ = [200, 404, 200, 404, 200]
# The submission is in review: the owner's writes reach the state check (409) and stop there.
APPLICANT_WRITE = [409, 404, 403, 403, 403]
OFFICER_WRITE = [403, 403, 409, 404, 403]

MATRIX = [
    ("GET", "{s}", None, READ),
    ("GET", "{s}/history", None, READ),
    ("GET", "{s}/documents", None, READ),
    ("GET", "{s}/documents/{d}", None, READ),
    ("GET", "{s}/documents/{d}/content", None, READ),
    ("GET", "{s}/receipt.pdf", None, READ),
    ("POST", "{s}/documents", "upload", APPLICANT_WRITE),
    ("POST", "{s}/submit", None, APPLICANT_WRITE),
    ("POST", "{s}/cancel", None, APPLICANT_WRITE),
    ("POST", "{s}/actions", {"action": "start_review"}, OFFICER_WRITE),
]


@pytest.fixture
async def reviewed(harness):
    submitted = await harness.submitted()
    assert (await harness.act(submitted["id"], "start_review")).status_code == 200
    documents = (await harness.client.get(f"/v1/submissions/{submitted['id']}/documents", headers=admin())).json()
    return submitted["id"], documents["items"][0]["id"]


@pytest.mark.parametrize(("method", "template", "body", "expected"), MATRIX, ids=[f"{m} {t}" for m, t, _, _ in MATRIX])
async def test_matrix(harness, reviewed, method, template, body, expected):
    submission_id, document_id = reviewed
    path = "/v1/submissions/" + template.format(s=submission_id, d=document_id)
    got = []
    for caller in ORDER:
        headers = CALLERS[caller]()
        if body == "upload":
            response = await harness.client.post(
                path, data={"requirement_code": "ktp"}, files={"file": ("k.jpg", JPEG)}, headers=headers
            )
        elif method == "POST":
            response = await harness.client.post(path, json=body, headers=headers)
        else:
            response = await harness.client.get(path, headers=headers)
        got.append(response.status_code)
        if response.status_code == 404:
            # Indistinguishable from an id that doesn't exist at all.
            missing = await harness.client.request(
                method, path.replace(submission_id, "00000000-0000-7000-8000-000000000000"),
                json=body if isinstance(body, dict) else None, headers=headers,
            )
            assert missing.status_code == 404
            assert missing.json()["detail"] == response.json()["detail"]
    assert dict(zip(ORDER, got)) == dict(zip(ORDER, expected))


async def test_lists_and_history_stay_inside(harness, reviewed):
    submission_id, _ = reviewed
    foreign_unit = await harness.submitted(service_code="NPWP-DAERAH")
    foreign_tenant = await harness.submitted(tenant="32")

    async def ids(headers, query=""):
        return {item["id"] for item in (await harness.client.get(f"/v1/submissions{query}", headers=headers)).json()["items"]}

    assert await ids(applicant("31")) == {submission_id, foreign_unit["id"]}
    assert await ids(applicant("32")) == {foreign_tenant["id"]}
    assert await ids(officer(UNIT)) == {submission_id, foreign_tenant["id"]}
    assert await ids(officer(OTHER_UNIT)) == {foreign_unit["id"]}
    assert await ids(admin()) == {submission_id, foreign_unit["id"], foreign_tenant["id"]}
    assert await ids(officer(OTHER_UNIT), "?service_code=IZIN-USAHA") == set()
    assert await ids(applicant("99")) == set()
