"""Wire format of the submissions API (inputs refuse unknown fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from simpul.submissions.statemachine import HISTORY_ACTIONS, Status
from simpul.shared.openapi import page_examples
from simpul.shared.text import PlainJson, PlainText, SingleLineText

# The README's journey (scripts/walkthrough.sh): Kota Palembang asks for a regional loan recommendation.
SUBMISSION_ID_EXAMPLE = "7d3e2f10-9a8b-4c6d-8e1f-2a3b4c5d6e7f"
APPLICANT_EXAMPLE = {"name": "Bagian Hukum Kota Palembang", "email": "hukum@palembang.go.id", "language": "en"}
FORM_DATA_EXAMPLE = {
    "kode_daerah": "16.71", "sumber_pinjaman": "pt_smi",
    "nama_pemberi_pinjaman": "PT Sarana Multi Infrastruktur (Persero)", "jangka_waktu": "menengah",
    "jumlah_pinjaman": 150000000000, "tenor_bulan": 60,
    "peruntukan": "Pembangunan jaringan drainase dan jalan lingkungan di empat kecamatan", "apbd_tahun": 2026,
    "pendapatan_daerah": 4200000000000, "dscr": 3.1,
    "narahubung": {"nama": "Siti Rahmawati", "email": "siti.rahmawati@palembang.go.id", "telepon": "+62 711 123456"},
}
DOCUMENT_EXAMPLE = {
    "id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "requirement_code": "SURAT-PERMOHONAN",
    "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "size": 48211,
    "content_type": "application/pdf", "filename": "surat-permohonan.pdf", "uploaded_at": "2026-03-02T01:10:00+00:00",
    "replaced_at": None, "replaced_by": None, "content_erased_at": None,
}
FEE_EXAMPLE = {"amount": 0, "currency": "IDR", "legal_basis": "Tidak dipungut biaya."}
SUBMISSION_EXAMPLE = {
    "id": SUBMISSION_ID_EXAMPLE, "tracking_code": "SPL-7Q2M-KX4D", "status": "submitted", "version": 4,
    "service_code": "REKOM-PINJAMAN-DAERAH", "service_name": "Rekomendasi Pinjaman Daerah", "service_version": 1,
    "unit": "KDN-BAKD", "tenant": "16.71", "applicant": {**APPLICANT_EXAMPLE, "phone": None, "agency": None},
    "data": FORM_DATA_EXAMPLE, "fee": FEE_EXAMPLE,
    "requirements": [{"code": "SURAT-PERMOHONAN", "name": "Surat permohonan kepala daerah", "required": True,
                      "content_types": ["application/pdf"], "max_bytes": 10485760}],
    "missing_documents": [], "documents": [DOCUMENT_EXAMPLE], "allowed_actions": ["cancel"],
    "created_at": "2026-03-02T01:00:00+00:00", "updated_at": "2026-03-02T01:12:00+00:00",
    "submitted_at": "2026-03-02T01:12:00+00:00", "due_at": "2026-03-16T09:00:00+00:00",
    "sla": {"working_days": 10, "used": 0, "remaining": 10, "paused": False, "overdue": False,
            "due_at": "2026-03-16T09:00:00+00:00"},
    "receipt": {"number": "TT/KDN-BAKD/2026/000045", "fee": FEE_EXAMPLE, "issued_at": "2026-03-02T01:12:00+00:00",
                "pdf_url": f"/v1/submissions/{SUBMISSION_ID_EXAMPLE}/receipt.pdf"},
    "approved_at": None, "issued_documents": [], "personal_data_erased_at": None, "issuing": None,
    "current_step": None,
}


class ApplicantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SingleLineText = Field(min_length=1, max_length=200)
    email: EmailStr
    phone: SingleLineText | None = Field(default=None, max_length=40, pattern=r"^\+?[0-9 ()\-]{5,40}$")
    agency: SingleLineText | None = Field(default=None, max_length=200)
    language: Literal["id", "en"] = Field(default="id", description="Language of the emails sent to the applicant")


class SubmissionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"service_code": "REKOM-PINJAMAN-DAERAH", "applicant": APPLICANT_EXAMPLE, "data": FORM_DATA_EXAMPLE},
    ]})

    service_code: SingleLineText = Field(min_length=1, max_length=100)
    applicant: ApplicantIn
    data: PlainJson = Field(default_factory=dict, description="Checked against the service's form_schema")


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"action": "approve", "note": "Persyaratan lengkap dan DSCR memenuhi."},
    ]})

    action: Literal["start_review", "request_revision", "approve", "reject", "forward", "return", "assign",
                    "await_payment"] = Field(
        description="forward, return and assign move through the steps of a procedure with roles; await_payment "
                    "(a fee with payment_stage before_issue, its bill unpaid) records that the decision waits for "
                    "the applicant's payment: the SLA clock stands until the bill is paid"
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
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"note": "Diajukan ulang setelah APBD perubahan ditetapkan."},
    ]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [DOCUMENT_EXAMPLE]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [SUBMISSION_EXAMPLE]})

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
    model_config = ConfigDict(json_schema_extra=page_examples(Submission))

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


class SubmissionHistoryEntry(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": 3, "at": "2026-03-02T01:12:00+00:00", "action": "submit", "from": "draft", "to": "submitted",
         "actor": {"client_id": "c-4f1d2a9b7e3c", "role": "applicant"}, "note": None, "document": None,
         "official": None, "step": None, "assignee": None},
    ]})

    id: int
    at: datetime
    action: Literal[HISTORY_ACTIONS]  # type: ignore[valid-type]
    from_: Status | None = Field(alias="from")
    to: Status
    actor: Actor
    note: str | None
    document: HistoryDocument | None = Field(default=None, description="The upload, for upload_document")
    official: HistoryOfficial | None = Field(default=None, description="The named official who acted, when the "
                                             "officer's token acted as one")
    step: int | None = Field(default=None, description="The procedure step acted on (services with roles)")
    assignee: Assignee | None = Field(default=None, description="assign: the official the step went to")


class SubmissionHistoryPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=page_examples(SubmissionHistoryEntry))

    items: list[SubmissionHistoryEntry]
    next_cursor: str | None


class DocumentList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [DOCUMENT_EXAMPLE]}]})

    items: list[Document]


class Tracking(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"tracking_code": "SPL-7Q2M-KX4D", "status": "in_review", "service_code": "REKOM-PINJAMAN-DAERAH",
         "service_name": "Rekomendasi Pinjaman Daerah", "sla_working_days": 10,
         "submitted_at": "2026-03-02T01:12:00+00:00", "due_at": "2026-03-16T09:00:00+00:00",
         "updated_at": "2026-03-03T02:00:00+00:00", "overdue": False, "paused": False},
    ]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"at": "2026-03-03T02:00:00+00:00",
         "reader": {"client_id": "c-9a8b7c6d5e4f", "role": "officer", "unit": "KDN-BAKD",
                    "official": {"nip": "198503142010011002", "name": "Dr. Siti Aminah, M.Si.",
                                 "position": "Direktur Fasilitasi Dana Perimbangan dan Pinjaman Daerah"}},
         "resource": "submission", "submission_id": SUBMISSION_ID_EXAMPLE, "complaint_id": None,
         "request_id": "5c1d9e0f2a3b4c6d"},
    ]})

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
    model_config = ConfigDict(json_schema_extra=page_examples(PersonalDataRead))

    items: list[PersonalDataRead]
    next_cursor: str | None
