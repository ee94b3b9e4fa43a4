"""Every answer matches the models the OpenAPI document publishes for it."""

from __future__ import annotations

from tests.api.submissions.conftest import JPEG, admin, applicant, officer
from tests.support.identity import anonymous

from simpul.submissions.schemas import (
    Document,
    DocumentList,
    SubmissionHistoryPage,
    Submission,
    SubmissionPage,
    Tracking,
)


async def test_answers_match_their_models(harness):
    draft = await harness.create()
    Submission.model_validate(draft)
    Document.model_validate((await harness.upload(draft["id"], "photo", JPEG)).json())
    submitted = await harness.submitted()
    Submission.model_validate(submitted)
    reviewed = (await harness.act(submitted["id"], "start_review")).json()
    Submission.model_validate(reviewed)
    await harness.act(submitted["id"], "approve")
    issued = await harness.wait_for_status(submitted["id"], "issued")
    Submission.model_validate(issued)
    sid = submitted["id"]
    for headers in (applicant(), officer(), admin()):
        SubmissionPage.model_validate((await harness.client.get("/v1/submissions", headers=headers)).json())
        Submission.model_validate((await harness.client.get(f"/v1/submissions/{sid}", headers=headers)).json())
        page = (await harness.client.get(f"/v1/submissions/{sid}/history", headers=headers)).json()
        SubmissionHistoryPage.model_validate(page)
        DocumentList.model_validate((await harness.client.get(f"/v1/submissions/{sid}/documents", headers=headers)).json())
    Tracking.model_validate((await harness.client.get(f"/v1/track/{issued['tracking_code']}", headers=anonymous("submissions"))).json())
    # Timestamps carry an offset.
    assert issued["created_at"].endswith("+00:00") and issued["due_at"].endswith("+00:00")
