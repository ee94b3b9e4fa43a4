"""Wire format of surveys, complaints and the public reports (inputs refuse unknown fields)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictInt, StringConstraints

from simpul.shared.openapi import page_examples
from simpul.shared.text import MULTI_LINE, PlainText, SingleLineText
from simpul.submissions.schemas import SUBMISSION_ID_EXAMPLE, Actor

# Whole numbers only: true, 3.0 or "3" are refused rather than read as a score.
Score = Annotated[StrictInt, Field(ge=1, le=4)]
ComplaintCategory = Literal[
    "requirements", "procedure", "timeliness", "cost", "staff_conduct", "information", "facilities",
    "maladministration", "other",
]
ComplaintStatus = Literal["open", "in_progress", "resolved"]
# Blank or whitespace-only text says nothing: refused, not stored.
Message = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000), MULTI_LINE]

SCORES_EXAMPLE = {"requirements": 4, "procedure": 3, "timeliness": 3, "cost": 4, "product": 3, "competence": 4,
                  "behaviour": 4, "complaint_handling": 3, "facilities": 3}
PERIOD_EXAMPLE = {"from": "2026-01-01", "to": "2026-12-31", "time_zone": "Asia/Jakarta"}
IKM_EXAMPLE = {"respondents": 52, "ikm": 87.26, "index": 3.49, "grade": "B", "quality": "Baik",
               "elements": [{"code": "requirements", "name": "Persyaratan", "mean": 3.62}]}
APPLICANT_ACTOR_EXAMPLE = {"client_id": "c-4f1d2a9b7e3c", "role": "applicant"}
ATTACHMENT_EXAMPLE = {
    "id": "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d", "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "size": 20480, "content_type": "image/jpeg", "filename": "antrean.jpg", "uploaded_at": "2026-03-20T03:05:00+00:00",
    "uploaded_by": APPLICANT_ACTOR_EXAMPLE,
}
COMPLAINT_ENTRY_EXAMPLE = {
    "id": 1, "at": "2026-03-20T03:00:00+00:00", "action": "file", "from": None, "to": "open",
    "actor": APPLICANT_ACTOR_EXAMPLE, "text": "Mohon informasi jadwal penyerahan surat asli.", "attachment": None,
}
COMPLAINT_EXAMPLE = {
    "id": "8e9f0a1b-2c3d-4e5f-8a6b-7c8d9e0f1a2b", "status": "open", "closed": False, "closed_at": None, "version": 1,
    "category": "timeliness", "text": "Mohon informasi jadwal penyerahan surat asli.",
    "submission_id": SUBMISSION_ID_EXAMPLE, "service_code": "REKOM-PINJAMAN-DAERAH", "unit": "KDN-BAKD",
    "tenant": "16.71", "complainant": None, "created_at": "2026-03-20T03:00:00+00:00",
    "updated_at": "2026-03-20T03:00:00+00:00",
    "deadlines": {"verification_due_at": "2026-03-23T09:00:00+00:00", "follow_up_due_at": "2026-04-03T09:00:00+00:00"},
    "response_due_at": "2026-03-23T09:00:00+00:00", "overdue": False, "first_response_at": None, "resolved_at": None,
    "reopen_until": None, "reopened_count": 0, "allowed_actions": ["reply", "attach"], "responses": [],
    "attachments": [],
}


class SurveyIn(BaseModel):
    """The nine elements of PermenPANRB 14/2017, each scored 1 (not good) to 4 (very good)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {**SCORES_EXAMPLE, "comment": "Proses cepat dan jelas."},
    ]})

    requirements: Score
    procedure: Score
    timeliness: Score
    cost: Score
    product: Score
    competence: Score
    behaviour: Score
    complaint_handling: Score
    facilities: Score
    comment: PlainText | None = Field(default=None, max_length=2000)


class Survey(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "4d5e6f7a-8b9c-4d0e-8f1a-2b3c4d5e6f7a", "submission_id": SUBMISSION_ID_EXAMPLE,
         "service_code": "REKOM-PINJAMAN-DAERAH", "scores": SCORES_EXAMPLE, "comment": "Proses cepat dan jelas.",
         "created_at": "2026-03-10T04:00:00+00:00"},
    ]})

    id: str
    submission_id: str
    service_code: str
    scores: dict[str, StrictInt]
    comment: str | None
    created_at: datetime


class Period(BaseModel):
    from_: date = Field(alias="from")
    to: date
    time_zone: str


class IkmElement(BaseModel):
    code: str
    name: str
    mean: float = Field(description="Mean score, 1-4, rounded to two decimals")


class IkmFigures(BaseModel):
    respondents: int
    ikm: float | None = Field(description="Converted index, 25-100, two decimals; null below the respondent minimum")
    index: float | None = Field(description="The index on the 1-4 scale (sum of element means x 1/9)")
    grade: Literal["A", "B", "C", "D"] | None
    quality: str | None = Field(description="Sangat Baik, Baik, Kurang Baik or Tidak Baik")
    elements: list[IkmElement] | None


class IkmService(IkmFigures):
    service_code: str


class IkmReport(IkmFigures):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {**IKM_EXAMPLE, "period": PERIOD_EXAMPLE, "service_code": "REKOM-PINJAMAN-DAERAH", "unit": None,
         "minimum_respondents": 30, "services": None},
    ]})

    period: Period
    service_code: str | None
    unit: str | None
    minimum_respondents: int
    services: list[IkmService] | None = Field(description="Per service, when no service_code was asked for")


class ComplainantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SingleLineText = Field(min_length=1, max_length=200)
    email: EmailStr
    language: Literal["id", "en"] = "id"


class ComplaintCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"submission_id": SUBMISSION_ID_EXAMPLE, "category": "timeliness",
         "text": "Mohon informasi jadwal penyerahan surat asli."},
    ]})

    submission_id: SingleLineText | None = Field(
        default=None, min_length=1, max_length=36, description="One of the caller's submissions"
    )
    service_code: SingleLineText | None = Field(
        default=None, min_length=1, max_length=100, description="The service complained about, when no submission is named"
    )
    category: ComplaintCategory
    text: Message
    complainant: ComplainantIn | None = Field(
        default=None, description="Whom to notify; the submission's applicant when omitted"
    )


class ComplaintResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Surat asli dapat diambil di loket Ditjen Bina Keuangan Daerah mulai Senin.", "resolve": True},
    ]})

    text: Message
    resolve: bool = Field(default=False, description="Officers: this response resolves the complaint")


class ComplaintAttachment(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ATTACHMENT_EXAMPLE]})

    id: str
    sha256: str
    size: int
    content_type: str
    filename: str | None
    uploaded_at: datetime
    uploaded_by: Actor


class ComplaintEntry(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [COMPLAINT_ENTRY_EXAMPLE]})

    id: int
    at: datetime
    action: Literal["file", "respond", "resolve", "reply", "reopen", "attach", "close"]
    from_: ComplaintStatus | None = Field(alias="from")
    to: ComplaintStatus
    actor: Actor
    text: str | None
    attachment: dict | None = None


class ComplaintDeadlines(BaseModel):
    verification_due_at: datetime = Field(description="First response by the unit (working days from filing)")
    follow_up_due_at: datetime = Field(description="Resolution (working days from filing or reopening)")


class Complainant(BaseModel):
    name: str
    email: str
    language: Literal["id", "en"] = "id"


class Complaint(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [COMPLAINT_EXAMPLE]})

    id: str
    status: ComplaintStatus
    closed: bool = Field(description="Resolved and past the period in which the applicant may reopen it")
    closed_at: datetime | None = Field(description="When the reopening period ended")
    version: int
    category: ComplaintCategory
    text: str
    submission_id: str | None
    service_code: str | None
    unit: str | None
    tenant: str
    complainant: Complainant | None
    created_at: datetime
    updated_at: datetime
    deadlines: ComplaintDeadlines
    response_due_at: datetime | None = Field(description="The deadline of the step awaited now; null once resolved")
    overdue: bool
    first_response_at: datetime | None
    resolved_at: datetime | None
    reopen_until: datetime | None
    reopened_count: int
    allowed_actions: list[str]
    responses: list[ComplaintEntry] | None = Field(default=None, description="Responses and replies (not in lists)")
    attachments: list[ComplaintAttachment] | None = Field(default=None, description="Not in lists")


class ComplaintPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=page_examples(Complaint))

    items: list[Complaint]
    next_cursor: str | None


class ComplaintHistory(BaseModel):
    model_config = ConfigDict(json_schema_extra=page_examples(ComplaintEntry))

    items: list[ComplaintEntry]
    next_cursor: str | None


class StepFigures(BaseModel):
    step: int
    role: str
    title: str
    completed: int = Field(description="Times the step ended in the period (forwarded, returned, revision, decision)")
    median_working_days: float | None
    on_time: int = Field(description="Of those, ended by the step's due time")
    on_time_share: float | None = Field(description="0-1, four decimals")


PERFORMANCE_ROW_EXAMPLE = {
    "service_code": None, "received": 64, "completed": 58, "approved": 55, "rejected": 3,
    "median_completion_working_days": 6.0, "completed_within_sla": 54, "completed_within_sla_share": 0.931,
    "overdue_now": 1, "complaints_received": 4, "complaints_resolved": 4, "complaints_resolved_within_deadline": 3,
    "ikm": IKM_EXAMPLE, "steps": [],
}


class PerformanceRow(BaseModel):
    service_code: str | None = Field(description="null in the totals")
    received: int = Field(description="Submitted for the first time in the period")
    completed: int = Field(description="Decided (approved or rejected) in the period")
    approved: int
    rejected: int
    median_completion_working_days: float | None
    completed_within_sla: int
    completed_within_sla_share: float | None = Field(description="0-1, four decimals")
    overdue_now: int = Field(description="In submitted or in_review and past due now")
    complaints_received: int
    complaints_resolved: int
    complaints_resolved_within_deadline: int
    ikm: IkmFigures
    steps: list[StepFigures] = Field(
        default_factory=list,
        description="Per step of a procedure with roles; empty for other services and in the totals",
    )
    fees_collected: FeesCollected | None = Field(
        default=None, description="Fees Simpul collected in the period (bills paid); JSON only")


class FeesCollected(BaseModel):
    count: int = Field(description="Bills paid in the period")
    amount: int = Field(description="Whole rupiah")


class PerformanceReport(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "period": PERIOD_EXAMPLE, "generated_at": "2026-12-31T17:00:00+00:00",
        "services": [{**PERFORMANCE_ROW_EXAMPLE, "service_code": "REKOM-PINJAMAN-DAERAH"}],
        "total": PERFORMANCE_ROW_EXAMPLE,
    }]})

    period: Period
    generated_at: datetime
    services: list[PerformanceRow]
    total: PerformanceRow
