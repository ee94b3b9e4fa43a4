"""HTTP routes of the submissions service: thin, the work is in service.py."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from simpul.shared.identity import Identity
from simpul.shared.pagination import page_params
from simpul.shared.pages import wants_html
from simpul.shared.problems import Problem, request_language
from simpul.shared.openapi import file_answer, upload_body
from simpul.submissions import pages
from simpul.submissions.reads import Resource
from simpul.submissions.receipt import receipt_pdf
from simpul.submissions.responses import FILE_RESPONSES, PROBLEM, download, incoming_file, json, roles, statuses
from simpul.submissions.schemas import (
    ActionIn,
    CancelIn,
    Document,
    DocumentList,
    SubmissionHistoryPage,
    Submission,
    SubmissionCreate,
    SubmissionPage,
    Tracking,
)
from simpul.submissions.service import SubmissionService

router = APIRouter()

applicant_only = roles("applicant")
officer_only = roles("officer")
readers = roles("applicant", "officer", "admin")


ID_PATH = "/v1/submissions/{submission_id}"
# The upload route: its body streams, bounded by the requirement (app.py exempts it from the JSON bound).
DOCUMENTS_PATH = f"{ID_PATH}/documents"
UPLOAD_BODY = upload_body(
    "The file: PDF, JPEG or PNG",
    requirement_code={"type": "string", "description": "The service requirement the file answers",
                      "examples": ["SURAT-PERMOHONAN"]},
)


def submissions_of(request: Request) -> SubmissionService:
    """The use cases `create_app` built once; a plain call rather than a dependency, on hot paths."""
    return request.app.state.submissions


@router.post(
    "/v1/submissions",
    tags=["submissions"],
    status_code=201,
    response_model=Submission,
    responses={404: PROBLEM, 422: PROBLEM},
    summary="Create a draft submission",
)
async def create_submission(
    body: SubmissionCreate, request: Request, identity: Identity = Depends(applicant_only)
) -> Response:
    """Create a draft submission for a published service: the applicant, and `data` that must satisfy the service's
    `form_schema`. The answer carries the id and the tracking code."""
    created = await submissions_of(request).create(identity, body, request_language(request))
    return json(created, 201, {"Location": f"/v1/submissions/{created['id']}"})


@router.get("/v1/submissions", tags=["submissions"], response_model=SubmissionPage, summary="List submissions")
async def list_submissions(
    request: Request,
    status: list[str] | None = Query(None, description="One or more states, repeated or comma-separated"),
    service_code: str | None = Query(None, max_length=100),
    overdue: bool | None = Query(None, description="true: only overdue; false: only on time"),
    step_overdue: bool | None = Query(
        None, description="true: only those whose current procedure step is late; false: only those on time"
    ),
    assigned_to: str | None = Query(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="me (the official the token acts as) or an official's id: the steps disposed to them",
    ),
    page: tuple[int, str | None] = Depends(page_params),
    identity: Identity = Depends(readers),
) -> Response:
    """Submissions the caller may see (an applicant its region's, an officer its unit's, an admin all), newest
    first, filtered by status or service, a page at a time."""
    limit, cursor = page
    result = await submissions_of(request).list(
        identity, statuses=statuses(status), service_code=service_code, overdue=overdue, limit=limit, cursor=cursor,
        step_overdue=step_overdue, assigned_to=assigned_to, language=request_language(request),
    )
    return json(result)


@router.get(
    ID_PATH, tags=["submissions"], response_model=Submission, responses={404: PROBLEM}, summary="One submission"
)
async def get_submission(submission_id: str, request: Request, identity: Identity = Depends(readers)) -> Response:
    """One submission: status, applicant, data, documents, due date, and the issued documents once issued."""
    return json(await submissions_of(request).get(identity, submission_id))


@router.get(
    f"{ID_PATH}/history",
    tags=["submissions"],
    operation_id="getSubmissionHistory",
    response_model=SubmissionHistoryPage,
    responses={404: PROBLEM},
    summary="A submission's history",
)
async def get_history(
    submission_id: str,
    request: Request,
    page: tuple[int, str | None] = Depends(page_params),
    identity: Identity = Depends(readers),
) -> Response:
    """Every step of the submission, oldest first: created, documents uploaded, submitted, reviewed, issued; who
    acted and from which status to which."""
    limit, cursor = page
    return json(await submissions_of(request).history(identity, submission_id, limit=limit, cursor=cursor))


@router.post(
    DOCUMENTS_PATH,
    tags=["submissions"],
    status_code=201,
    response_model=Document,
    responses={404: PROBLEM, 409: PROBLEM, 413: PROBLEM, 415: PROBLEM, 422: PROBLEM},
    openapi_extra=UPLOAD_BODY,
    summary="Upload (or replace) the document for one requirement",
)
async def upload_document(
    submission_id: str, request: Request, identity: Identity = Depends(applicant_only)
) -> Response:
    """Upload the file (PDF, JPEG or PNG) for one of the service's requirements, as multipart `requirement_code`
    and `file`; a second upload for the same requirement replaces the first. Drafts and revision requests only."""
    document = await submissions_of(request).upload(identity, submission_id, incoming_file(request))
    return json(document, 201, {"Location": f"/v1/submissions/{submission_id}/documents/{document['id']}"})


@router.get(
    f"{ID_PATH}/documents",
    tags=["submissions"],
    operation_id="listSubmissionDocuments",
    response_model=DocumentList,
    responses={404: PROBLEM},
    summary="A submission's documents",
)
async def list_documents(
    submission_id: str,
    request: Request,
    include_replaced: bool = Query(False, description="Also the documents later uploads replaced"),
    identity: Identity = Depends(readers),
) -> Response:
    """The documents uploaded for the submission, one per requirement."""
    items = await submissions_of(request).documents(identity, submission_id, include_replaced=include_replaced)
    return json({"items": items})


@router.get(
    f"{ID_PATH}/documents/{{document_id}}",
    tags=["submissions"],
    operation_id="getSubmissionDocument",
    summary="One uploaded document",
    response_model=Document,
    responses={404: PROBLEM},
)
async def get_document(
    submission_id: str, document_id: str, request: Request, identity: Identity = Depends(readers)
) -> Response:
    """The metadata of one uploaded document: requirement, file name, type, size and SHA-256."""
    return json(await submissions_of(request).document(identity, submission_id, document_id))


@router.get(
    f"{ID_PATH}/documents/{{document_id}}/content",
    tags=["submissions"],
    operation_id="getSubmissionDocumentContent",
    responses=FILE_RESPONSES,
    response_class=Response,
    summary="The uploaded file",
)
async def document_content(
    submission_id: str, document_id: str, request: Request, identity: Identity = Depends(readers)
) -> Response:
    """The uploaded file itself, with the media type it was uploaded as."""
    service = submissions_of(request)
    document = await service.document(identity, submission_id, document_id, Resource.DOCUMENT_CONTENT)
    return download(await service.document_content(document), document, fallback_name=document["requirement_code"])


@router.post(
    f"{ID_PATH}/submit",
    operation_id="submitSubmission",
    tags=["submissions"],
    response_model=Submission,
    responses={404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
    summary="Submit (or resubmit after a revision request)",
)
async def submit(submission_id: str, request: Request, identity: Identity = Depends(applicant_only)) -> Response:
    """Submit a draft (or resubmit after a revision request) once every required document is uploaded: the answer
    carries the receipt and the due date in working days, holidays excluded."""
    return json(await submissions_of(request).submit(identity, submission_id, request_language(request)))


@router.post(
    f"{ID_PATH}/actions",
    operation_id="actOnSubmission",
    tags=["submissions"],
    response_model=Submission,
    responses={403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
    summary="Review: start_review, request_revision, approve, reject; forward, return, assign; await_payment",
)
async def act(
    submission_id: str, body: ActionIn, request: Request, identity: Identity = Depends(officer_only)
) -> Response:
    """An officer's decision on a submission of its unit: start_review, request_revision (with a note), approve or
    reject (with a note); between the steps of a procedure with roles, forward, return or assign. Approval
    starts the issuing of the signed document. When an unpaid bill (fee payment_stage before_issue) holds
    back approval, await_payment records that the decision waits for the applicant's payment: the SLA
    clock stands until the bill is paid."""
    changed = await submissions_of(request).act(
        identity,
        submission_id,
        body.action,
        body.note,
        request_language(request),
        to_step=body.to_step,
        official_id=body.official_id,
    )
    return json(changed)


@router.post(
    f"{ID_PATH}/cancel",
    operation_id="cancelSubmission",
    tags=["submissions"],
    response_model=Submission,
    responses={404: PROBLEM, 409: PROBLEM},
    summary="Cancel before review",
)
async def cancel(
    submission_id: str,
    request: Request,
    body: CancelIn | None = None,
    identity: Identity = Depends(applicant_only),
) -> Response:
    """The applicant withdraws a draft or a submitted submission before its review starts."""
    note = body.note if body else None
    return json(await submissions_of(request).cancel(identity, submission_id, note, request_language(request)))


@router.get(
    f"{ID_PATH}/receipt.pdf",
    operation_id="getReceipt",
    tags=["submissions"],
    response_class=Response,
    responses={200: file_answer("application/pdf", "The receipt"), 404: PROBLEM},
    summary="The receipt as PDF",
)
async def receipt(submission_id: str, request: Request, identity: Identity = Depends(readers)) -> Response:
    """The receipt (tanda terima) of a submitted submission as a PDF."""
    row = await submissions_of(request).receipt_data(identity, submission_id)
    settings = request.app.state.settings
    track_url = f"{settings.public_url.rstrip('/')}/v1/track/{row['tracking_code']}"
    # Layout and compression are CPU work: off the event loop.
    content = await anyio.to_thread.run_sync(receipt_pdf, row, track_url)
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="receipt-{row["tracking_code"]}.pdf"'},
    )


@router.get(
    "/v1/track/{tracking_code}",
    tags=["tracking"],
    operation_id="trackSubmission",
    response_model=Tracking,
    summary="Public tracking (a page with Accept: text/html)",
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}, 404: PROBLEM},
)
async def track(tracking_code: str, request: Request) -> Response:
    # Open to every caller, anonymous included: the answer carries no personal data.
    """Anyone follows a submission by its tracking code: status, service and due date, with no personal data. An
    HTML page for browsers."""
    if not wants_html(request):
        return json(await submissions_of(request).track(tracking_code), headers={"Vary": pages.VARY})
    try:
        tracking = await submissions_of(request).track(tracking_code)
    except Problem as problem:
        if problem.status == 404:
            return pages.pages.not_found(request)
        raise
    return pages.pages.render(request, "track.html", tracking=tracking, **pages.tracking_context(tracking, request))
