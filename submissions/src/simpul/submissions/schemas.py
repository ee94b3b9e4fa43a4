"""Wire format of the submissions API (inputs refuse unknown fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from simpul.submissions.statemachine import Status
from simpul.shared.text import PlainJson, PlainText, SingleLineText


class ApplicantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SingleLineText = Field(min_length=1, max_length=200)
    email: EmailStr
    phone: SingleLineText | None = Field(default=None, max_length=40, pattern=r"^\+?[0-9 ()\-]{5,40}$")
    agency: SingleLineText | None = Field(default=None, max_length=200)
    language: Literal["id", "en"] = Field(default="id", description="Language of the emails sent to the applicant")


class SubmissionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_code: SingleLineText = Field(min_length=1, max_length=100)
    applicant: ApplicantIn
    data: PlainJson = Field(default_factory=dict, description="Checked against the service's form_schema")


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["start_review", "request_revision", "approve", "reject", "forward", "return", "assign"] = Field(
        description="forward, return and assign move through the steps of a procedure with roles"
    )
    note: PlainText | None = Field(
        default=None, max_length=4000,
        description="Required for request_revision, reject, return (why) and assign (the instruction)",
    )
    to_step: int | None = Field(default=None, ge=1, le=50, description="return: the earlier step that begins again")
    official_id: SingleLineText | None = Field(
        default=None, min_length=1, max_length=64, description="assign: the official of the unit the step goes to"
    )


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: PlainText | None = Field(default=None, max_length=4000)


class Fee(BaseModel):
    amount: int
    currency: str
    legal_basis: str | None = None
    payment_stage: Literal["before_review", "before_issue"] | None = Field(
        default=None, description="Present when Simpul collects the fee: what waits for payment")
    refundable: bool | None = Field(default=None, description="Present with payment_stage")


class SubmissionBill(BaseModel):
    code: str = Field(description="The 15-digit billing code (kode billing), the last digit a Luhn check digit")
    amount: int = Field(description="Whole rupiah: the fee of the version the submission was made under")
    status: Literal["unpaid", "paid", "expired", "cancelled"]
    expires_at: datetime
    paid_at: datetime | None


class Applicant(BaseModel):
    name: str
    email: str
    phone: str | None = None
    agency: str | None = None
    language: Literal["id", "en"] = "id"


class Requirement(BaseModel):
    code: str
    name: str
    required: bool
    content_types: list[str]
    max_bytes: int


class Receipt(BaseModel):
    number: str
    fee: Fee
    issued_at: datetime
    pdf_url: str = Field(description="Path of the receipt as PDF")


class Sla(BaseModel):
    working_days: int = Field(description="Working days the service standard allows")
    used: int = Field(description="Working days used so far (the clock stops while revision is requested)")
    remaining: int
    paused: bool
    overdue: bool
    due_at: datetime


class IssuedDocument(BaseModel):
    document_id: str
    verify_url: str
    number: str | None = None
    sha256: str | None = None
    issued_at: datetime | None = None


class Issuing(BaseModel):
    status: Literal["failed"]
    reason: str = Field(description="Why the signatures service refused to make the document")
    failed_at: datetime


class Document(BaseModel):
    id: str
    requirement_code: str
    sha256: str
    size: int
    content_type: str
    filename: str | None
    uploaded_at: datetime
    replaced_at: datetime | None = None
    replaced_by: str | None = None
    content_erased_at: datetime | None = Field(
        default=None, description="Present once the file was deleted at the end of the personal data retention period"
    )


class Submission(BaseModel):
    id: str
    tracking_code: str
    status: Status
    version: int = Field(description="Increases with every change")
    service_code: str
    service_name: str
    service_version: int
    unit: str
    tenant: str
    applicant: Applicant
    data: dict[str, Any]
    fee: Fee
    requirements: list[Requirement]
    missing_documents: list[str] = Field(description="Codes of required documents not uploaded yet")
    documents: list[Document] | None = Field(default=None, description="Current documents (not in lists)")
    allowed_actions: list[str] = Field(description="What the caller may do next")
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    due_at: datetime | None
    sla: Sla | None
    receipt: Receipt | None
    approved_at: datetime | None
    issued_documents: list[IssuedDocument]
    personal_data_erased_at: datetime | None = Field(
        default=None,
        description="Present once the retention period ended: the applicant's data is a pseudonym, the form data "
        "and uploaded files are gone, the record, history, receipt and issued documents stay",
    )
    issuing: Issuing | None = Field(
        default=None, description="Present only when issuing the output document failed for good (the status stays approved)"
    )
    current_step: CurrentStep | None = Field(
        default=None, description="Under review, for a service whose procedure has roles: the step it is at"
    )
    bill: SubmissionBill | None = Field(
        default=None, description="Present when the service's fee has a payment stage and an amount: its bill"
    )


class CurrentStep(BaseModel):
    step: int
    title: str
    role: Literal["verifier", "reviewer", "signer", "treasurer"]
    started_at: datetime
    due_at: datetime = Field(description="End of the step's last working day")
    assigned_to: str | None = Field(description="The official the step was disposed to, if any")


class SubmissionPage(BaseModel):
    items: list[Submission]
    next_cursor: str | None


class Actor(BaseModel):
    client_id: str
    role: str


class HistoryDocument(BaseModel):
    id: str
    requirement_code: str
    sha256: str
    size: int
    content_type: str
    filename: str | None
    replaces: str | None = Field(description="The document this upload replaced")


class HistoryOfficial(BaseModel):
    nip: str
    name: str
    position: str


class Assignee(BaseModel):
    id: str
    nip: str
    name: str
    position: str


class HistoryEntry(BaseModel):
    id: int
    at: datetime
    action: str
    from_: Status | None = Field(alias="from")
    to: Status
    actor: Actor
    note: str | None
    document: HistoryDocument | None = Field(default=None, description="The upload, for upload_document")
    official: HistoryOfficial | None = Field(default=None, description="The named official who acted, when the "
                                             "officer's token acted as one")
    step: int | None = Field(default=None, description="The procedure step acted on (services with roles)")
    assignee: Assignee | None = Field(default=None, description="assign: the official the step went to")


class HistoryPage(BaseModel):
    items: list[HistoryEntry]
    next_cursor: str | None


class DocumentList(BaseModel):
    items: list[Document]


class Tracking(BaseModel):
    tracking_code: str
    status: Status
    service_code: str
    service_name: str
    sla_working_days: int | None = None
    submitted_at: datetime | None
    due_at: datetime | None
    updated_at: datetime
    overdue: bool
    paused: bool


class ReadOfficial(BaseModel):
    nip: str
    name: str
    position: str


class Reader(BaseModel):
    client_id: str
    role: str
    unit: str | None = Field(description="The officer's unit")
    official: ReadOfficial | None = Field(description="The named official the officer's token acted as")


class PersonalDataRead(BaseModel):
    at: datetime
    reader: Reader
    resource: str = Field(
        description="What was read: submission, submission_list, history, documents, document_content, receipt, "
        "complaint, complaint_list, complaint_attachment, data_subject_export"
    )
    submission_id: str | None
    complaint_id: str | None
    request_id: str | None


class PersonalDataReadPage(BaseModel):
    items: list[PersonalDataRead]
    next_cursor: str | None
