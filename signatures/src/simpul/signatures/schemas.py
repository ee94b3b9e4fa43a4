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
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[PlainText, Field(min_length=3, max_length=2000)]


class RevokeSignerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Literal["key_compromise", "affiliation_changed", "superseded", "cessation_of_operation"]
