"""Wire models of the signatures service (inputs only; responses are built in service.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from simpul.shared.text import PlainJson, PlainText, SingleLineText
Short = Annotated[SingleLineText, Field(min_length=1, max_length=300)]
Long = Annotated[PlainText, Field(max_length=4000)]
# Bound on the submission data drawn into a document: a few pages, not a book.
MAX_DATA_BYTES = 64 * 1024


class _Internal(BaseModel):
    # The submissions service may add fields over time; unknown ones are ignored, not refused, so
    # an approval never gets stuck on a version skew.
    model_config = ConfigDict(extra="ignore")


class OutputSpec(_Internal):
    name: Short
    description: Long | None = None
    validity: Long | None = None
    template: Annotated[SingleLineText, Field(max_length=100)] | None = None


class Applicant(_Internal):
    name: Short
    email: Annotated[SingleLineText, Field(max_length=320)] | None = None
    agency: Short | None = None


class DecidingOfficial(_Internal):
    """The official who decided and signs: names the PDF and picks a remote signing credential."""

    nip: Annotated[SingleLineText, Field(pattern=r"^[0-9]{18}$")]
    name: Short
    position: Short


class Approval(_Internal):
    """One act of a named official on the submission, for the document's initials chain (paraf)."""

    nip: Annotated[SingleLineText, Field(pattern=r"^[0-9]{18}$")]
    name: Short
    position: Short
    action: Annotated[SingleLineText, Field(min_length=1, max_length=32)]
    step: int | None = None
    at: datetime


class PaymentFacts(_Internal):
    """The paid bill a payment receipt (kuitansi) states."""

    bill_code: Annotated[SingleLineText, Field(pattern=r"^[0-9]{15}$")]
    amount: int = Field(gt=0, le=10**12, description="Whole rupiah")
    paid_at: AwareDatetime
    reference: Annotated[SingleLineText, Field(min_length=1, max_length=100)]
    channel: Annotated[SingleLineText, Field(min_length=1, max_length=64)]
    fee_legal_basis: Long | None = None


class IssueRequest(_Internal):
    submission_id: Annotated[SingleLineText, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
    tracking_code: Annotated[SingleLineText, Field(min_length=1, max_length=64)]
    service_code: Annotated[SingleLineText, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]
    service_version: int | Annotated[SingleLineText, Field(max_length=20)]
    service_name: Short
    output: OutputSpec
    unit: Annotated[SingleLineText, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$")]
    tenant: Annotated[SingleLineText, Field(min_length=1, max_length=64)]
    applicant: Applicant
    data: PlainJson = Field(default_factory=dict)
    # The service standard's form schema: its titles label the data on the document (absent, the
    # data's keys do). The catalogue bounds it (64 kB); so does MAX_DATA_BYTES here.
    form_schema: PlainJson | None = None
    approved_at: datetime
    approved_by: Annotated[SingleLineText, Field(max_length=200)] | None = None
    official: DecidingOfficial | None = None
    # The unit's full name (from the service standard); without it the document shows the code.
    unit_name: Short | None = None
    # Every act of a named official, oldest first: the initials chain printed on the document.
    approvals: list[Approval] = Field(default_factory=list, max_length=200)
    note: Long | None = None
    # What to make: the issued document (the default, as before), or the kuitansi of a paid bill
    # (`payment` then says what was paid; its `submission_id` is the bill's own key).
    kind: Literal["document", "payment_receipt"] = "document"
    payment: PaymentFacts | None = None

    @model_validator(mode="after")
    def _payment_with_receipt(self) -> IssueRequest:
        if (self.kind == "payment_receipt") != (self.payment is not None):
            raise ValueError("payment is given exactly for a payment_receipt")
        return self

    @field_validator("approved_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a UTC offset")
        return value

    @field_validator("data", "form_schema")
    @classmethod
    def _bounded(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(orjson.dumps(value)) > MAX_DATA_BYTES:
            raise ValueError(f"at most {MAX_DATA_BYTES} bytes of JSON")
        return value


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "Diterbitkan atas data yang keliru; diganti dengan dokumen baru."},
    ]})

    reason: Annotated[PlainText, Field(min_length=3, max_length=2000)]


class RevokeSignerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "key_compromise"}]})

    reason: Literal["key_compromise", "affiliation_changed", "superseded", "cessation_of_operation"]


# -- what the public routes answer (documentation: the routes serialise these shapes themselves) --

DOCUMENT_ID_EXAMPLE = "0b9d8a52-4c1e-4a53-9d0f-6f1c2e8b7a31"
SIGNER_EXAMPLE = {
    "id": "c2f0a6f4-5b7e-4d8c-9a1b-3e4f5a6b7c8d", "kind": "signer", "unit": "KDN-BAKD",
    "subject": "CN=Simpul signer KDN-BAKD", "serial": "5a1f0c3e9b", "not_before": "2026-01-05T00:00:00+00:00",
    "not_after": "2028-01-05T00:00:00+00:00", "fingerprint_sha256": "9f2c4b7e1d0a3c5f8e6b2d4a7c9e1f3b5d7a9c2e4f6b8d0a1c3e5f7b9d2a4e41", "status": "active",
    "revoked_at": None, "revocation_reason": None, "revoked_by": None,
}
SIGNATURE_EXAMPLE = {"format": "PAdES", "level": "B-LT", "signer": SIGNER_EXAMPLE}
PUBLIC_STATUS_EXAMPLE = {
    "document_id": DOCUMENT_ID_EXAMPLE, "valid": True, "state": "valid", "revoked": False, "revoked_at": None,
    "issued_at": "2026-03-02T08:15:00+00:00", "issuer": "Direktorat Jenderal Bina Keuangan Daerah",
    "unit": "KDN-BAKD", "official": {"name": "Dr. Agus Fatoni", "position": "Direktur Jenderal"},
    "number": "KDN-BAKD/2026/000123", "title": "Rekomendasi Pinjaman Daerah",
    "service_code": "REKOM-PINJAMAN-DAERAH", "service_name": "Rekomendasi Pinjaman Daerah",
    "sha256": "3b1f7e2a9c4d6b8e0f1a3c5e7b9d2f4a6c8e0b2d4f6a8c1e3b5d7f9a2c4e9c0d", "signature": SIGNATURE_EXAMPLE,
    "verify_url": f"https://simpul.example.go.id/v1/verify/{DOCUMENT_ID_EXAMPLE}",
}


class SignerCertificate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [SIGNER_EXAMPLE]})

    id: str
    kind: str
    unit: str | None
    subject: str
    serial: str
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str
    status: Literal["active", "replaced", "revoked"]
    revoked_at: datetime | None
    revocation_reason: str | None
    revoked_by: str | None


class SignerPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [SIGNER_EXAMPLE], "next_cursor": None}]})

    items: list[SignerCertificate]
    next_cursor: str | None


class Signature(BaseModel):
    format: Literal["PAdES"]
    level: str
    signer: SignerCertificate | None


class NamedOfficial(BaseModel):
    name: str
    position: str


class DocumentMetadata(BaseModel):
    """An issued document as its applicant, its unit and admins see it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "document_id": DOCUMENT_ID_EXAMPLE, "number": "KDN-BAKD/2026/000123", "status": "issued",
        "submission_id": "7d3e2f10-9a8b-4c6d-8e1f-2a3b4c5d6e7f", "tracking_code": "SPL-7Q2M-KX4D",
        "service_code": "REKOM-PINJAMAN-DAERAH", "service_version": 1, "service_name": "Rekomendasi Pinjaman Daerah",
        "title": "Rekomendasi Pinjaman Daerah", "unit": "KDN-BAKD", "unit_name": "Direktorat Jenderal Bina Keuangan Daerah",
        "official": None, "tenant": "16.71", "applicant": {"name": "Bagian Hukum Kota Palembang"},
        "approved_at": "2026-03-02T08:14:30+00:00", "issued_at": "2026-03-02T08:15:00+00:00",
        "sha256": "3b1f7e2a9c4d6b8e0f1a3c5e7b9d2f4a6c8e0b2d4f6a8c1e3b5d7f9a2c4e9c0d", "size": 48211, "content_type": "application/pdf",
        "content_url": f"https://simpul.example.go.id/v1/documents/{DOCUMENT_ID_EXAMPLE}/content",
        "verify_url": f"https://simpul.example.go.id/v1/verify/{DOCUMENT_ID_EXAMPLE}",
        "signature": SIGNATURE_EXAMPLE, "revoked": False, "revoked_at": None, "revocation_reason": None,
    }]})

    document_id: str
    number: str
    status: Literal["issued", "revoked"]
    submission_id: str
    tracking_code: str
    service_code: str
    service_version: int
    service_name: str
    title: str
    unit: str
    unit_name: str | None
    official: dict[str, Any] | None = Field(description="The deciding official (NIP, name, position), when named")
    tenant: str
    applicant: dict[str, str]
    approved_at: datetime
    issued_at: datetime | None
    sha256: str
    size: int
    content_type: str
    content_url: str = Field(description="Where the signed PDF is (GET, the same token)")
    verify_url: str
    signature: Signature
    revoked: bool
    revoked_at: datetime | None
    revocation_reason: str | None


class DocumentEvent(BaseModel):
    at: datetime
    action: Literal["issued", "signing_refused", "revoked"]
    actor: dict[str, str | None]
    note: str | None


class DocumentHistory(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {"at": "2026-03-02T08:15:00+00:00", "action": "issued",
         "actor": {"id": "submissions", "role": "service"}, "note": None},
    ]}]})

    items: list[DocumentEvent]


class DocumentStatus(BaseModel):
    """What anyone holding the QR code may learn: no personal data."""

    model_config = ConfigDict(json_schema_extra={"examples": [PUBLIC_STATUS_EXAMPLE]})

    document_id: str
    valid: bool
    state: Literal["valid", "revoked", "invalid"]
    revoked: bool
    revoked_at: datetime | None
    issued_at: datetime
    issuer: str
    unit: str
    official: NamedOfficial | None
    number: str
    title: str
    service_code: str
    service_name: str
    sha256: str
    signature: Signature
    verify_url: str


class SignatureCheck(BaseModel):
    field: str | None
    intact: bool
    trusted: bool
    signer: dict[str, str | None]
    signed_at: datetime | None
    timestamp: dict[str, Any] | None
    covers_whole_file: bool
    problems: list[str]


class UploadCheck(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "valid": True, "reasons": [],
        "signatures": [{"field": "Signature1", "intact": True, "trusted": True,
                        "signer": {"subject": "CN=Simpul signer KDN-BAKD", "serial": "5a1f0c3e9b",
                                   "fingerprint_sha256": "9f2c4b7e1d0a3c5f8e6b2d4a7c9e1f3b5d7a9c2e4f6b8d0a1c3e5f7b9d2a4e41"},
                        "signed_at": "2026-03-02T08:15:00+00:00",
                        "timestamp": {"at": "2026-03-02T08:15:01+00:00", "valid": True},
                        "covers_whole_file": True, "problems": []}],
        "document": PUBLIC_STATUS_EXAMPLE,
    }]})

    valid: bool
    reasons: list[str] = Field(description="Why not valid: e.g. signature_invalid, untrusted, unknown_document, "
                                           "revoked, signer_revoked, too_complex")
    signatures: list[SignatureCheck]
    document: DocumentStatus | None
