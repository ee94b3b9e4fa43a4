"""Wire format of surveys, complaints and the public reports (inputs refuse unknown fields)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictInt, StringConstraints

from simpul.shared.text import MULTI_LINE, PlainText, SingleLineText
from simpul.submissions.schemas import Actor

# Whole numbers only: true, 3.0 or "3" are refused rather than read as a score.
Score = Annotated[StrictInt, Field(ge=1, le=4)]
ComplaintCategory = Literal[
    "requirements", "procedure", "timeliness", "cost", "staff_conduct", "information", "facilities",
    "maladministration", "other",
]
ComplaintStatus = Literal["open", "in_progress", "resolved"]
# Blank or whitespace-only text says nothing: refused, not stored.
Message = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000), MULTI_LINE]


class SurveyIn(BaseModel):
    """The nine elements of PermenPANRB 14/2017, each scored 1 (not good) to 4 (very good)."""

    model_config = ConfigDict(extra="forbid")

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
    model_config = ConfigDict(extra="forbid")

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
    model_config = ConfigDict(extra="forbid")

    text: Message
    resolve: bool = Field(default=False, description="Officers: this response resolves the complaint")


class ComplaintAttachment(BaseModel):
    id: str
    sha256: str
    size: int
    content_type: str
    filename: str | None
    uploaded_at: datetime
    uploaded_by: Actor


class ComplaintEntry(BaseModel):
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
    items: list[Complaint]
    next_cursor: str | None


class ComplaintHistory(BaseModel):
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
    period: Period
    generated_at: datetime
    services: list[PerformanceRow]
    total: PerformanceRow
