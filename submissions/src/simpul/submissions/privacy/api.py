"""Routes of personal data: the data subject sees who read its submission; the gateway gathers
the admin's export of one email from here (an internal path, never routed to the public)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from simpul.shared.datasubject import subject_email
from simpul.shared.identity import Identity
from simpul.shared.pagination import page_params
from simpul.shared.problems import request_language
from simpul.submissions.api import ID_PATH
from simpul.submissions.privacy.export import SubjectExport
from simpul.submissions.reads import ReadLog
from simpul.submissions.responses import PROBLEM, json, roles
from simpul.submissions.schemas import PersonalDataReadPage

router = APIRouter()

# The applicant the data is about, and admins; the officers whose reads are listed are not the audience.
subject_or_admin = roles("applicant", "admin")
# The gateway calls with the asking admin's own assertion, so the export is recorded as that admin's read.
admin_only = roles("admin")


def reads_of(request: Request) -> ReadLog:
    return request.app.state.reads


def exports_of(request: Request) -> SubjectExport:
    return request.app.state.subject_export


@router.get(
    f"{ID_PATH}/reads",
    operation_id="listSubmissionReads",
    tags=["submissions"],
    response_model=PersonalDataReadPage,
    responses={404: PROBLEM},
    summary="Who read this submission's personal data (officers and admins), oldest first",
)
async def submission_reads(
    submission_id: str,
    request: Request,
    page: tuple[int, str | None] = Depends(page_params),
    identity: Identity = Depends(subject_or_admin),
) -> Response:
    """Who read this submission's personal data and when (officers and admins), oldest first, as UU 27/2022 asks to
    be able to tell a data subject."""
    limit, cursor = page
    return json(await reads_of(request).of_submission(identity, submission_id, limit=limit, cursor=cursor))


@router.get("/internal/data-subjects/{email}", include_in_schema=False)
async def data_subject(email: str, request: Request, identity: Identity = Depends(admin_only)) -> Response:
    checked = subject_email(email, request_language(request))
    return json(await exports_of(request).export(identity, checked))
