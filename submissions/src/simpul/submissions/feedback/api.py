"""HTTP routes of surveys, complaints and the public reports: thin, the work is in surveys.py,
complaints.py and reports.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from simpul.shared.identity import Identity
from simpul.shared.negotiation import preferred
from simpul.shared.pagination import page_params
from simpul.shared.pages import page_language
from simpul.shared.problems import Problem, Text, request_language
from simpul.shared.openapi import text_answer, upload_body
from simpul.submissions import pages
from simpul.submissions.feedback.complaints import ComplaintService
from simpul.submissions.periods import ReportPeriod
from simpul.submissions.feedback.reports import CSV_COLUMNS, PerformanceService, as_csv
from simpul.submissions.feedback.schemas import (
    Complaint,
    ComplaintAttachment,
    ComplaintCategory,
    ComplaintCreate,
    ComplaintHistory,
    ComplaintPage,
    ComplaintResponseIn,
    IkmReport,
    PerformanceReport,
    Survey,
    SurveyIn,
)
from simpul.submissions.feedback.surveys import SurveyService
from simpul.submissions.responses import FILE_RESPONSES, PROBLEM, download, incoming_file, json, roles, statuses

router = APIRouter()

JSON = "application/json"
CSV = "text/csv"
HTML = ("text/html", "application/xhtml+xml")
# Public figures change slowly; a minute of caching spares the database a crowd of readers.
REPORT_CACHE = {"Cache-Control": "public, max-age=60"}
NOT_ACCEPTABLE = Text(
    "Laporan tersedia sebagai application/json, text/csv atau text/html.",
    "The report is available as application/json, text/csv or text/html."
)
ATTACHMENT_BODY = upload_body("The file: PDF, JPEG or PNG")
COMPLAINT_PATH = "/v1/complaints/{complaint_id}"
# The upload route: its body streams under a bound of its own (app.py exempts it from the JSON bound).
ATTACHMENTS_PATH = f"{COMPLAINT_PATH}/attachments"


applicant_only = roles("applicant")
survey_readers = roles("applicant", "admin")
complaint_parties = roles("applicant", "officer", "admin")


def surveys_of(request: Request) -> SurveyService:
    return request.app.state.surveys


def complaints_of(request: Request) -> ComplaintService:
    return request.app.state.complaints


def performance_of(request: Request) -> PerformanceService:
    return request.app.state.performance


@dataclass(frozen=True)
class ReportScope:
    period: ReportPeriod
    service_code: str | None
    unit: str | None


async def report_scope(
    request: Request,
    service_code: str | None = Query(None, max_length=100),
    unit: str | None = Query(None, max_length=64),
    first: date | None = Query(None, alias="from", description="First day (Asia/Jakarta); default 1 January"),
    last: date | None = Query(None, alias="to", description="Last day, included; default today"),
) -> ReportScope:
    period = ReportPeriod.parse(first, last, now=request.app.state.clock(), language=request_language(request))
    return ReportScope(period, service_code or None, unit or None)


# -- surveys and the IKM ---------------------------------------------------------------------------


@router.post(
    "/v1/submissions/{submission_id}/survey",
    tags=["surveys"],
    status_code=201,
    response_model=Survey,
    responses={404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
    summary="Give the satisfaction survey (SKM) of a finished submission, once",
)
async def give_survey(
    submission_id: str, body: SurveyIn, request: Request, identity: Identity = Depends(applicant_only)
) -> Response:
    """The applicant rates a finished submission on the nine elements of the community satisfaction survey (SKM,
    PermenPANRB 14/2017), each 1-4, once."""
    survey = await surveys_of(request).give(identity, submission_id, body)
    return json(survey, 201, {"Location": f"/v1/submissions/{submission_id}/survey"})


@router.get(
    "/v1/submissions/{submission_id}/survey",
    tags=["surveys"],
    response_model=Survey,
    responses={404: PROBLEM},
    summary="The survey given for a submission (its applicant and admins only)",
)
async def get_survey(submission_id: str, request: Request, identity: Identity = Depends(survey_readers)) -> Response:
    """The survey given for a submission; its applicant and admins only."""
    return json(await surveys_of(request).get(identity, submission_id))


@router.get(
    "/v1/reports/ikm",
    operation_id="getIkmReport",
    tags=["reports"],
    response_model=IkmReport,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}, 422: PROBLEM},
    summary="Community satisfaction index (IKM, PermenPANRB 14/2017) over a period (a page with Accept: text/html)",
)
async def ikm_report(request: Request, scope: ReportScope = Depends(report_scope)) -> Response:
    """The community satisfaction index (IKM) of a service, a unit or everything over a period, published from the
    minimum number of respondents. JSON, or an HTML page."""
    html = preferred(request.headers.get("accept"), {"json": (JSON, "application/*"), "html": HTML}, "json") == "html"
    language = page_language(request) if html else request_language(request)
    body = await surveys_of(request).report(
        scope.period, service_code=scope.service_code, unit=scope.unit, language=language
    )
    if html:
        return pages.pages.render(
            request, "ikm.html", report=body, filters=_filters(scope), elements=pages.elements_chart(body, language),
            per_service=pages.ikm_chart(body["services"] or [], language),
        )
    return json(body, headers={**REPORT_CACHE, "Vary": pages.VARY})


@router.get(
    "/v1/reports/performance",
    operation_id="getPerformanceReport",
    tags=["reports"],
    response_model=PerformanceReport,
    responses={200: {"content": {**text_answer(CSV, ",".join(CSV_COLUMNS) + "\r\n"),
                                  "text/html": {"schema": {"type": "string"}}}}, 406: PROBLEM, 422: PROBLEM},
    summary="Service performance per service over a period (JSON; CSV with Accept: text/csv; a page with text/html)",
)
async def performance_report(request: Request, scope: ReportScope = Depends(report_scope)) -> Response:
    """Per service over a period: submissions received, finished, on time and late, and the median processing time.
    JSON, CSV with Accept: text/csv, or an HTML page."""
    form = preferred(request.headers.get("accept"), {"json": (JSON,), "csv": (CSV,), "html": HTML}, "json")
    if form is None:
        raise Problem(406, NOT_ACCEPTABLE, slug="not-acceptable")
    period = scope.period
    language = page_language(request) if form == "html" else request_language(request)
    report = await performance_of(request).report(
        period, service_code=scope.service_code, unit=scope.unit, language=language
    )
    if form == "html":
        return pages.pages.render(request, "performance.html", report=report, filters=_filters(scope),
                                  sla=pages.sla_chart(report, language))
    if form == "csv":
        name = f"performance-{period.first_day.isoformat()}-{period.last_day.isoformat()}.csv"
        return Response(
            as_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={**REPORT_CACHE, "Content-Disposition": f'attachment; filename="{name}"', "Vary": "Accept"},
        )
    return json(report, headers={**REPORT_CACHE, "Vary": pages.VARY})


def _filters(scope: ReportScope) -> dict[str, str | None]:
    return {"unit": scope.unit, "service_code": scope.service_code}


# -- complaints ------------------------------------------------------------------------------------


@router.post(
    "/v1/complaints",
    tags=["complaints"],
    status_code=201,
    response_model=Complaint,
    responses={403: PROBLEM, 404: PROBLEM, 422: PROBLEM},
    summary="File a complaint (pengaduan)",
)
async def file_complaint(body: ComplaintCreate, request: Request, identity: Identity = Depends(applicant_only)) -> Response:
    """File a complaint (pengaduan) about a submission or a service, in a category, with a text; officers of the
    unit answer it."""
    complaint = await complaints_of(request).file(identity, body, request_language(request))
    return json(complaint, 201, {"Location": f"/v1/complaints/{complaint['id']}"})


@router.get("/v1/complaints", tags=["complaints"], response_model=ComplaintPage, responses={422: PROBLEM}, summary="List complaints")
async def list_complaints(
    request: Request,
    status: list[str] | None = Query(None, description="One or more states, repeated or comma-separated"),
    overdue: bool | None = Query(None, description="true: only those past the deadline of the awaited step"),
    submission_id: str | None = Query(None, max_length=36),
    category: ComplaintCategory | None = Query(None),
    page: tuple[int, str | None] = Depends(page_params),
    identity: Identity = Depends(complaint_parties),
) -> Response:
    """Complaints the caller may see (its own, its unit's, or all for admins), filtered by status, a page at a
    time."""
    limit, cursor = page
    result = await complaints_of(request).list(
        identity,
        statuses=statuses(status),
        overdue=overdue,
        submission_id=submission_id,
        category=category,
        limit=limit,
        cursor=cursor,
    )
    return json(result)


@router.get(
    COMPLAINT_PATH, tags=["complaints"], response_model=Complaint, responses={404: PROBLEM}, summary="One complaint"
)
async def get_complaint(
    complaint_id: str, request: Request, identity: Identity = Depends(complaint_parties)
) -> Response:
    """One complaint with its status, category, text and answers."""
    return json(await complaints_of(request).get(identity, complaint_id))


@router.get(
    f"{COMPLAINT_PATH}/history",
    tags=["complaints"],
    operation_id="getComplaintHistory",
    response_model=ComplaintHistory,
    responses={404: PROBLEM},
    summary="Every step of a complaint",
)
async def complaint_history(
    complaint_id: str,
    request: Request,
    page: tuple[int, str | None] = Depends(page_params),
    identity: Identity = Depends(complaint_parties),
) -> Response:
    """Every step of a complaint, oldest first: filed, responded, replied, resolved, reopened."""
    limit, cursor = page
    return json(await complaints_of(request).history(identity, complaint_id, limit=limit, cursor=cursor))


@router.post(
    f"{COMPLAINT_PATH}/responses",
    operation_id="respondToComplaint",
    tags=["complaints"],
    status_code=201,
    response_model=Complaint,
    responses={403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
    summary="Respond (officer; resolve=true resolves) or reply (the applicant; reopens a resolved one)",
)
async def respond(
    complaint_id: str, body: ComplaintResponseIn, request: Request, identity: Identity = Depends(complaint_parties)
) -> Response:
    """An officer responds to a complaint of its unit (`resolve: true` resolves it); the applicant replies, which
    reopens a resolved one."""
    complaint = await complaints_of(request).respond(identity, complaint_id, body, request_language(request))
    return json(complaint, 201, {"Location": f"/v1/complaints/{complaint_id}"})


@router.post(
    ATTACHMENTS_PATH,
    operation_id="attachToComplaint",
    tags=["complaints"],
    status_code=201,
    response_model=ComplaintAttachment,
    responses={404: PROBLEM, 409: PROBLEM, 413: PROBLEM, 415: PROBLEM, 422: PROBLEM},
    openapi_extra=ATTACHMENT_BODY,
    summary="Attach a file (PDF, JPEG or PNG) to a complaint",
)
async def attach(complaint_id: str, request: Request, identity: Identity = Depends(complaint_parties)) -> Response:
    """Attach a file (PDF, JPEG or PNG) to a complaint, as multipart `file`."""
    attachment = await complaints_of(request).attach(identity, complaint_id, incoming_file(request))
    location = f"/v1/complaints/{complaint_id}/attachments/{attachment['id']}"
    return json(attachment, 201, {"Location": location})


@router.get(
    f"{COMPLAINT_PATH}/attachments/{{attachment_id}}",
    tags=["complaints"],
    operation_id="getComplaintAttachment",
    response_model=ComplaintAttachment,
    responses={404: PROBLEM},
    summary="One attachment",
)
async def get_attachment(
    complaint_id: str, attachment_id: str, request: Request, identity: Identity = Depends(complaint_parties)
) -> Response:
    """The metadata of one attachment: file name, type, size and SHA-256."""
    return json(await complaints_of(request).attachment(identity, complaint_id, attachment_id))


@router.get(
    f"{COMPLAINT_PATH}/attachments/{{attachment_id}}/content",
    tags=["complaints"],
    operation_id="getComplaintAttachmentContent",
    responses=FILE_RESPONSES,
    response_class=Response,
    summary="The attached file",
)
async def attachment_content(
    complaint_id: str, attachment_id: str, request: Request, identity: Identity = Depends(complaint_parties)
) -> Response:
    """The attached file itself, with the media type it was uploaded as."""
    service = complaints_of(request)
    attachment = await service.attachment(identity, complaint_id, attachment_id, content=True)
    return download(await service.attachment_content(attachment), attachment, fallback_name=attachment["id"])
