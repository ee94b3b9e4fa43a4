"""The wire format of the catalogue: what admins send, and what everyone reads.

Inputs forbid unknown fields. Responses are served pre-serialised (see documents.py); the output
models below describe them for the OpenAPI document and for tests that check the bodies.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from simpul.shared.openapi import page_examples
from simpul.shared.text import PlainJson, PlainText, SingleLineText

# The examples are the demo catalogue's first service, as an admin would send it and as it is served.
SERVICE_EXAMPLE: dict[str, Any] = json.loads((Path(__file__).parent / "demo_services.json").read_text())[0]
STAMPS_EXAMPLE = {"created_at": "2026-03-01T02:00:00+00:00", "updated_at": "2026-03-01T02:05:00+00:00",
                  "published_at": "2026-03-01T02:05:00+00:00"}
SUMMARY_EXAMPLE = {
    **{key: SERVICE_EXAMPLE[key] for key in ("code", "name", "name_en", "description", "unit", "category",
                                             "sla_working_days")},
    "version": 1, "status": "published", "fee": {"amount": SERVICE_EXAMPLE["fee"]["amount"], "currency": "IDR"},
    **STAMPS_EXAMPLE,
}
CODE_PATTERN = r"^[A-Z][A-Z0-9-]{1,39}$"
UNIT_PATTERN = r"^[A-Z0-9][A-Z0-9.-]{1,31}$"
CATEGORY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
REQUIREMENT_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# type/subtype, or type/* for "any image" and the like.
MIME_PATTERN = r"^[a-z]+/([a-z0-9][a-z0-9.+-]{0,126}|\*)$"
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
# PostgreSQL text cannot hold NUL (the search query; bodies use simpul.shared.text).
NO_NUL = r"^[^\x00]*$"
# A trillion rupiah: far above any public service fee, well inside what every JSON reader handles.
MAX_FEE = 10**12


class ServiceStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


ShortText = Annotated[SingleLineText, Field(min_length=1, max_length=200)]
LongText = Annotated[PlainText, Field(min_length=1, max_length=4000)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RequirementIn(_Input):
    code: SingleLineText = Field(pattern=REQUIREMENT_CODE_PATTERN, description="Unique within the service")
    name: ShortText
    description: PlainText = Field(default="", max_length=4000)
    required: StrictBool = True
    content_types: list[Annotated[SingleLineText, Field(pattern=MIME_PATTERN)]] = Field(
        min_length=1, max_length=20, description="MIME types accepted for this document"
    )
    max_bytes: StrictInt = Field(ge=1, le=MAX_UPLOAD_BYTES, description="Largest accepted file (at most 100 MiB)")


# The roles an official of a unit may hold (the gateway's officials registry uses the same list).
StepRole = Literal["verifier", "reviewer", "signer", "treasurer"]


class StepIn(_Input):
    step: StrictInt = Field(ge=1, description="1, 2, 3, ... in order")
    title: ShortText
    actor: ShortText = Field(description="Who carries out the step")
    description: PlainText | None = Field(default=None, max_length=4000)
    role: StepRole | None = Field(
        default=None,
        description="The role an official must hold to act on this step; when one step has a role, every step "
        "must, and the last must be `signer`. Without roles a submission has the single review step.",
    )
    # At least one: the calendar counts whole working days, and a 0-day step begun outside working
    # hours (or on a holiday) would be late the moment it began.
    working_days: StrictInt | None = Field(
        default=None, ge=1, le=365,
        description="The step's time target in working days (with roles, required; the sum of all steps is at "
        "most sla_working_days)",
    )


class FeeIn(_Input):
    amount: StrictInt = Field(ge=0, le=MAX_FEE, description="Integer rupiah; 0 when free of charge")
    currency: Literal["IDR"] = "IDR"
    legal_basis: LongText = Field(description="The regulation that sets the fee, or why there is none")
    payment_stage: Literal["none", "before_review", "before_issue"] = Field(
        default="none",
        description="Where Simpul waits for payment: `none` (collected outside Simpul, no bill), "
        "`before_review` (review starts once paid) or `before_issue` (approval waits until paid)",
    )
    refundable: bool = Field(
        default=False, description="Whether a paid fee is refunded when the submission is rejected or cancelled"
    )


class OutputIn(_Input):
    name: ShortText = Field(description="The document that is issued")
    description: LongText
    validity: PlainText | None = Field(
        default=None, max_length=500, description="How long the document is valid"
    )
    template: SingleLineText | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="Template the signatures service renders"
    )


class ComplaintChannelIn(_Input):
    channel: SingleLineText = Field(min_length=1, max_length=64, description="e.g. email, telepon, SP4N-LAPOR!")
    contact: ShortText = Field(description="Address, number or URL")
    description: PlainText | None = Field(default=None, max_length=1000)


class StandardIn(_Input):
    """The components of PermenPANRB 15/2014 that are not fields of their own."""

    facilities: LongText = Field(description="Sarana, prasarana dan/atau fasilitas")
    staff_competence: LongText = Field(description="Kompetensi pelaksana")
    internal_supervision: LongText = Field(description="Pengawasan internal")
    complaint_handling: LongText = Field(description="Penanganan pengaduan, saran dan masukan")
    number_of_staff: LongText = Field(description="Jumlah pelaksana")
    service_guarantee: LongText = Field(description="Jaminan pelayanan")
    security_guarantee: LongText = Field(description="Jaminan keamanan dan keselamatan pelayanan")
    performance_evaluation: LongText = Field(description="Evaluasi kinerja pelaksana")


class ServiceFields(_Input):
    """Everything of a service standard that an admin writes (PUT replaces all of it)."""

    name: ShortText = Field(description="Name in Indonesian")
    name_en: ShortText | None = Field(default=None, description="Name in English")
    description: LongText
    unit: SingleLineText = Field(pattern=UNIT_PATTERN, description="Ministry unit that owns the service, e.g. KDN-BH")
    unit_name: ShortText | None = Field(
        default=None, description="The unit's full name, as issued documents and the verify page state it "
        "(e.g. Direktorat Jenderal Bina Keuangan Daerah); without it they show the unit code")
    category: SingleLineText = Field(pattern=CATEGORY_PATTERN)
    legal_basis: list[Annotated[SingleLineText, Field(min_length=1, max_length=500)]] = Field(
        min_length=1, max_length=50
    )
    requirements: list[RequirementIn] = Field(max_length=50, description="Documents to upload; codes unique")
    form_schema: PlainJson = Field(description="JSON Schema (2020-12, an object schema) of a submission's data")
    procedure: list[StepIn] = Field(min_length=1, max_length=50)
    sla_working_days: StrictInt = Field(gt=0, le=365, description="Completion time in working days")
    fee: FeeIn
    output: OutputIn
    complaint_channels: list[ComplaintChannelIn] = Field(min_length=1, max_length=20)
    standard: StandardIn
    personal_data_retention_days: StrictInt | None = Field(
        default=None, ge=0, le=36500,
        description="Days an applicant's personal data is kept after a submission is closed (issued, rejected, "
        "cancelled), then erased (UU 27/2022); unset: the submissions service's default "
        "(SIMPUL_SUBMISSIONS_PERSONAL_DATA_RETENTION_DAYS); 0: at the next retention round after closing",
    )


class ServiceCreate(ServiceFields):
    model_config = ConfigDict(json_schema_extra={"examples": [SERVICE_EXAMPLE]})

    code: SingleLineText = Field(pattern=CODE_PATTERN, description="Stable identifier, e.g. IZIN-LN-KDH")


class ServiceRevision(ServiceFields):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {**SERVICE_EXAMPLE, "sla_working_days": SERVICE_EXAMPLE["sla_working_days"] + 1},
    ]})

    code: SingleLineText | None = Field(default=None, description="If sent, must equal the code in the path")


# -- responses -------------------------------------------------------------------------------------


class ServiceDocument(BaseModel):
    """One version of a service standard, as served."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {**SERVICE_EXAMPLE, "version": 1, "status": "published", **STAMPS_EXAMPLE, "retired_at": None,
         "superseded_by": None},
    ]})

    code: str
    version: int
    status: ServiceStatus = Field(description="For an old version: `retired` once a newer one replaced it")
    name: str
    name_en: str | None
    description: str
    unit: str
    unit_name: str | None = None
    category: str
    legal_basis: list[str]
    requirements: list[RequirementIn]
    form_schema: dict[str, Any]
    procedure: list[StepIn]
    sla_working_days: int
    fee: FeeIn
    output: OutputIn
    complaint_channels: list[ComplaintChannelIn]
    standard: StandardIn
    personal_data_retention_days: int | None = Field(
        default=None, description="Present when the standard sets its own retention period of personal data"
    )
    created_at: datetime = Field(description="When this version was created")
    updated_at: datetime = Field(description="When this version last changed")
    published_at: datetime | None
    retired_at: datetime | None
    superseded_by: int | None = Field(description="The version that replaced this one")


class FeeSummary(BaseModel):
    amount: int
    currency: Literal["IDR"]


class ServiceSummary(BaseModel):
    """A service in lists: its current version in brief."""

    model_config = ConfigDict(json_schema_extra={"examples": [SUMMARY_EXAMPLE]})

    code: str
    version: int
    status: ServiceStatus
    name: str
    name_en: str | None
    description: str
    unit: str
    category: str
    sla_working_days: int
    fee: FeeSummary
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None


class ServicePage(BaseModel):
    model_config = ConfigDict(json_schema_extra=page_examples(ServiceSummary))

    items: list[ServiceSummary]
    next_cursor: str | None


class VersionSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"version": 1, "status": "published", "current": True, **STAMPS_EXAMPLE, "retired_at": None,
         "superseded_by": None},
    ]})

    version: int
    status: ServiceStatus
    current: bool
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    retired_at: datetime | None
    superseded_by: int | None


class VersionPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=page_examples(VersionSummary))

    items: list[VersionSummary]
    next_cursor: str | None


class Actor(BaseModel):
    client_id: str
    role: str


class ServiceHistoryEntry(BaseModel):
    model_config = ConfigDict(populate_by_name=True, json_schema_extra={"examples": [
        {"at": "2026-03-01T02:05:00+00:00", "action": "published", "version": 1, "from": "draft", "to": "published",
         "actor": {"client_id": "simpul-admin", "role": "admin"}},
    ]})

    at: datetime
    action: Literal["created", "revised", "published", "retired"]
    version: int
    from_: ServiceStatus | None = Field(alias="from")
    to: ServiceStatus
    actor: Actor


class ServiceHistoryPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=page_examples(ServiceHistoryEntry))

    items: list[ServiceHistoryEntry]
    next_cursor: str | None
