"""Every creating POST of the submissions service through a crash: the process dies before or
after the effect commits, and the retry with the key either answers from the committed effect or
runs once. Never a second effect, never "in progress" past a lease."""

from __future__ import annotations

import asyncio

from sqlalchemy import MetaData, func, select

from simpul.shared.identity import Identity
from simpul.shared.idempotency import Claim, Settlement, _current_claim, idempotency_table, scope_hash, settle
from simpul.submissions.feedback.models import complaint_attachments, complaint_entries, surveys
from simpul.submissions.models import documents, history, submissions
from simpul.submissions.schemas import SubmissionCreate
from tests.api.submissions.conftest import JPEG, PDF, admin, applicant, officer
from tests.api.submissions.fakes import VALID_DATA
from tests.support.idempotency import abandon_key, end_lease

# What is left of the lease of a claim an older version left when its process died.
LEASE = 30

BOUNDARY = "simpul-retry-boundary"
DRAFT = {
    "service_code": "IZIN-USAHA",
    "applicant": {"name": "Siti Rahayu", "email": "siti@example.go.id"},
    "data": VALID_DATA,
}
SURVEY = {e: 3 for e in ("requirements", "procedure", "timeliness", "cost", "product", "competence", "behaviour",
                         "complaint_handling", "facilities")}


async def count(harness, table, *where) -> int:
    async with harness.app.state.engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(table).where(*where))).scalar_one()


async def replay_after_death(harness, deaths, path: str, headers: dict, **request):
    return await deaths.retry_after_death(harness.client, path, headers, **request)


def upload_request(code: str, content: bytes) -> dict:
    # A retry resends the same bytes, multipart boundary included.
    return {
        "data": {"requirement_code": code},
        "files": {"file": (f"{code}.bin", content, "application/octet-stream")},
    }


def with_boundary(headers: dict) -> dict:
    return {**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


async def test_a_draft_and_its_documents(harness, deaths):
    replay = await replay_after_death(harness, deaths, "/v1/submissions", applicant(), json=DRAFT)
    assert replay.status_code == 201
    draft = replay.json()
    assert replay.headers["location"] == f"/v1/submissions/{draft['id']}"
    shown = await harness.client.get(replay.headers["location"], headers=applicant())
    assert draft == shown.json()
    assert await count(harness, submissions) == 1

    path = f"/v1/submissions/{draft['id']}/documents"
    replay = await replay_after_death(harness, deaths, path, with_boundary(applicant()), **upload_request("ktp", JPEG))
    assert replay.status_code == 201
    assert replay.json() == (await harness.client.get(replay.headers["location"], headers=applicant())).json()
    assert await count(harness, documents) == 1


async def test_submit_review_and_cancel(harness, deaths):
    draft = await harness.create()
    for code, content in (("ktp", JPEG), ("domicile", PDF)):
        assert (await harness.upload(draft["id"], code, content)).status_code == 201
    path = f"/v1/submissions/{draft['id']}"
    submitted = await replay_after_death(harness, deaths, f"{path}/submit", applicant())
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
    assert submitted.json()["receipt"]["number"].endswith("/000001")

    reviewed = await replay_after_death(harness, deaths, f"{path}/actions", officer(), json={"action": "start_review"})
    assert reviewed.json()["status"] == "in_review"
    assert await count(harness, history, history.c.action == "start_review") == 1

    other = await harness.create()
    cancelled = await replay_after_death(harness, deaths, f"/v1/submissions/{other['id']}/cancel", applicant())
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert await count(harness, history, history.c.action.in_(["submit", "cancel"])) == 2


async def test_survey_complaint_response_and_attachment(harness, deaths):
    rejected = await harness.rejected()
    survey = await replay_after_death(
        harness, deaths, f"/v1/submissions/{rejected['id']}/survey", applicant(), json=SURVEY
    )
    assert survey.status_code == 201 and survey.headers["location"].endswith("/survey")
    assert await count(harness, surveys) == 1

    filed = await replay_after_death(
        harness, deaths, "/v1/complaints", applicant(),
        json={"category": "timeliness", "text": "Belum ada tanggapan.", "submission_id": rejected["id"]},
    )
    assert filed.status_code == 201
    complaint_path = filed.headers["location"]
    assert filed.json() == (await harness.client.get(complaint_path, headers=applicant())).json()

    responded = await replay_after_death(
        harness, deaths, f"{complaint_path}/responses", officer(rejected["unit"]), json={"text": "Kami periksa."}
    )
    assert responded.status_code == 201 and responded.headers["location"] == complaint_path
    assert await count(harness, complaint_entries) == 2  # the filing and one response

    attached = await replay_after_death(
        harness, deaths, f"{complaint_path}/attachments", with_boundary(applicant()),
        files={"file": ("bukti.pdf", PDF, "application/pdf")},
    )
    assert attached.status_code == 201
    assert await count(harness, complaint_attachments) == 1


async def test_a_claim_left_by_an_older_version_holds_the_key_for_its_lease_then_the_retry_runs_once(harness):
    engine = harness.app.state.engine
    await abandon_key(engine, "applicant-31", "/v1/submissions", "create-1", lease_left=LEASE)
    headers = {**applicant(), "Idempotency-Key": "create-1"}
    waiting = await harness.client.post("/v1/submissions", json=DRAFT, headers=headers)
    assert waiting.status_code == 409 and waiting.json()["type"].endswith("idempotency-in-progress")
    assert LEASE - 1 <= int(waiting.headers["retry-after"]) <= LEASE

    await end_lease(engine, "applicant-31", "/v1/submissions", "create-1")
    created = await harness.client.post("/v1/submissions", json=DRAFT, headers=headers)
    assert created.status_code == 201 and "idempotent-replayed" not in created.headers
    assert (await harness.client.post("/v1/submissions", json=DRAFT, headers=headers)).json() == created.json()
    assert await count(harness, submissions) == 1

    for code, content in (("ktp", JPEG), ("domicile", PDF)):
        assert (await harness.upload(created.json()["id"], code, content)).status_code == 201
    path = f"/v1/submissions/{created.json()['id']}/submit"
    await abandon_key(engine, "applicant-31", path, "submit-1")
    submitted = await harness.client.post(path, headers={**applicant(), "Idempotency-Key": "submit-1"})
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"


async def test_a_draft_whose_key_is_done_already_is_left_out_of_its_group(harness):
    """Drafts written together: the one whose key another request settled first is not written;
    the rest are."""
    service = harness.app.state.submissions
    table = idempotency_table(MetaData())
    identity = Identity(subject="applicant-31", role="applicant", tenant="31")
    done = Claim(table, scope_hash(identity.subject, "/v1/submissions", "draft-3"))
    async with harness.app.state.engine.begin() as connection:
        await settle(connection, Settlement(done, 201, "/v1/submissions/x", "/v1/submissions/x"))

    async def create(number: int):
        _current_claim.set(Claim(table, scope_hash(identity.subject, "/v1/submissions", f"draft-{number}")))
        return await service.create(identity, SubmissionCreate.model_validate(DRAFT), "en")

    outcomes = await asyncio.gather(*(create(n) for n in range(6)), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refused) == 1 and refused[0].slug == "idempotency-key-taken"
    assert await count(harness, submissions) == 5
    listed = (await harness.client.get("/v1/submissions", headers=admin())).json()["items"]
    assert len(listed) == 5
