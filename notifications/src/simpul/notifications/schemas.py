"""Wire models of the notifications API (inputs refuse unknown fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from simpul.shared.text import PlainJson, PlainText, SingleLineText
EventType = Literal["submission.submitted", "submission.status_changed", "submission.issued", "complaint.updated",
                    "submission.issue_failed", "submission.step_assigned", "submission.step_overdue",
                    "payment.billed", "payment.paid", "payment.expired", "payment.mismatch",
                    "payment.awaited"]
DeliveryStatus = Literal["pending", "sent", "delivered", "failed"]
MAX_GRACE_SECONDS = 7 * 24 * 3600

WEBHOOK_EXAMPLE = {
    "id": "wh_01HZX3K9M2Q7", "url": "https://apps.example.go.id/simpul/webhook",
    "events": ["submission.status_changed", "submission.issued"], "owner_role": "applicant", "tenant": "16.71",
    "created_at": "2026-03-01T02:10:00+00:00", "rotated_at": None, "previous_secret_expires_at": None,
    "status": "active", "disabled_at": None, "disabled_reason": None,
}
TIMES_EXAMPLE = {"created_at": "2026-03-02T08:15:01+00:00", "updated_at": "2026-03-02T08:15:03+00:00"}
TEMPLATE_EXAMPLE = {
    "event_type": "submission.issued", "language": "en", "subject": "Your document {{ number }} is issued",
    "text": "Hello {{ applicant_name }},\n\nyour document {{ number }} is issued: {{ verify_url }}",
    "html": "<p>Hello {{ applicant_name }},</p><p>your document {{ number }} is issued.</p>",
}


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"url": WEBHOOK_EXAMPLE["url"], "events": WEBHOOK_EXAMPLE["events"]},
    ]})

    url: SingleLineText = Field(min_length=1, max_length=2000, examples=["https://apps.example.go.id/simpul/webhook"])
    events: list[EventType] = Field(min_length=1, max_length=7)

    @field_validator("events")
    @classmethod
    def distinct(cls, events: list[str]) -> list[str]:
        if len(set(events)) != len(events):
            raise ValueError("event types must not repeat")
        return events


class Webhook(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [WEBHOOK_EXAMPLE]})

    id: str
    url: str
    events: list[str]
    owner_role: str
    tenant: str
    created_at: datetime
    rotated_at: datetime | None = None
    previous_secret_expires_at: datetime | None = Field(
        None, description="Until then deliveries are signed with the previous secret as well."
    )
    status: Literal["active", "disabled"] = Field(
        "active", description="`disabled`: nothing is delivered any more (see `disabled_reason`)."
    )
    disabled_at: datetime | None = None
    disabled_reason: Literal["client_revoked"] | None = Field(
        None, description="`client_revoked`: the API client that created it was revoked."
    )


class WebhookCreated(Webhook):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {**WEBHOOK_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqXwbZTqK1aNnU2VHg5cW5uZXR0ZQ=="},
    ]})

    secret: str = Field(description="Standard Webhooks signing secret; shown only now.")


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"grace_period_seconds": 3600}]})

    grace_period_seconds: int | None = Field(
        None, ge=0, le=MAX_GRACE_SECONDS,
        description="How long the previous secret still signs deliveries (default 24 h).",
    )


class RotatedSecret(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": WEBHOOK_EXAMPLE["id"], "secret": "whsec_bmV3LXNlY3JldC1zaG93bi1vbmNlLW9ubHk=",
         "rotated_at": "2026-03-05T01:00:00+00:00", "previous_secret_expires_at": "2026-03-05T02:00:00+00:00"},
    ]})

    id: str
    secret: str
    rotated_at: datetime
    previous_secret_expires_at: datetime


class DeliveryAttempt(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    outcome: Literal["delivered", "retry", "failed"]


class WebhookDelivery(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "msg_2b7c1d9e", "event_id": "9a1c3e5f-7b2d-4f6a-8c0e-1d3f5a7b9c2e", "event_type": "submission.issued",
         "status": "delivered", **TIMES_EXAMPLE, "completed_at": TIMES_EXAMPLE["updated_at"], "next_attempt_at": None,
         "attempts": [{"attempt": 1, "at": TIMES_EXAMPLE["updated_at"], "status_code": 204, "duration_ms": 38,
                       "error": None, "outcome": "delivered"}]},
    ]})

    id: str = Field(description="Also the `webhook-id` header of every attempt.")
    event_id: str
    event_type: str
    status: DeliveryStatus
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    next_attempt_at: datetime | None = Field(None, description="When pending: the next try.")
    attempts: list[DeliveryAttempt]


class ChannelStatus(BaseModel):
    channel: Literal["email", "webhook"]
    recipient: str = Field(description="The email address, or the webhook subscription id.")
    status: DeliveryStatus
    attempts: int
    updated_at: datetime


class Notification(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "3e5f7a9b-1c2d-4e6f-8a0b-2c4d6e8f0a1b", "event_id": "9a1c3e5f-7b2d-4f6a-8c0e-1d3f5a7b9c2e",
         "event_type": "submission.issued", "subject": "submissions/7d3e2f10-9a8b-4c6d-8e1f-2a3b4c5d6e7f",
         "submission_id": "7d3e2f10-9a8b-4c6d-8e1f-2a3b4c5d6e7f", "complaint_id": None,
         "tracking_code": "SPL-7Q2M-KX4D", "tenant": "16.71", "unit": "KDN-BAKD",
         "occurred_at": "2026-03-02T08:15:00+00:00", "created_at": TIMES_EXAMPLE["created_at"],
         "data": {"number": "KDN-BAKD/2026/000123", "status": "issued"},
         "channels": [{"channel": "email", "recipient": "hukum@palembang.go.id", "status": "sent", "attempts": 1,
                       "updated_at": TIMES_EXAMPLE["updated_at"]}]},
    ]})

    id: str
    event_id: str
    event_type: str
    subject: str
    submission_id: str | None
    complaint_id: str | None
    tracking_code: str | None
    tenant: str | None
    unit: str | None
    occurred_at: datetime
    created_at: datetime
    data: dict[str, Any]
    channels: list[ChannelStatus]


class DeadLetter(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "dl_5f3a", "event_id": None, "source": None, "type": None, "subject": None,
         "error": "not a CloudEvents envelope: missing `type`", "transport": "amqp",
         "received_at": "2026-03-02T08:15:01+00:00", "replayed_at": None, "envelope": {"data": {}}},
    ]})

    id: str
    event_id: str | None
    source: str | None
    type: str | None
    subject: str | None
    error: str
    transport: str
    received_at: datetime
    replayed_at: datetime | None
    envelope: Any


class ReplayResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "dl_5f3a", "outcome": "processed"}]})

    id: str
    outcome: Literal["processed"]


class Template(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {**TEMPLATE_EXAMPLE, "updated_at": "2026-03-01T02:00:00+00:00", "updated_by": "simpul-admin"},
    ]})

    event_type: str
    language: Literal["id", "en"]
    subject: str
    text: str
    html: str
    updated_at: datetime
    updated_by: str | None


class TemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {part: TEMPLATE_EXAMPLE[part] for part in ("subject", "text", "html")},
    ]})

    subject: SingleLineText = Field(min_length=1, max_length=1000)
    text: PlainText = Field(min_length=1, max_length=100_000)
    html: PlainText = Field(min_length=1, max_length=200_000)


class TemplateList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [{**TEMPLATE_EXAMPLE, "updated_at": "2026-03-01T02:00:00+00:00", "updated_by": None}]},
    ]})

    items: list[Template]


class TemplatePreviewRequest(BaseModel):
    """Renders the stored template, or these drafts of its parts, with sample or given data."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"subject": TEMPLATE_EXAMPLE["subject"], "data": {"number": "KDN-BAKD/2026/000123"}},
    ]})

    subject: SingleLineText | None = Field(None, min_length=1, max_length=1000)
    text: PlainText | None = Field(None, min_length=1, max_length=100_000)
    html: PlainText | None = Field(None, min_length=1, max_length=200_000)
    data: PlainJson | None = Field(None, description="Event data to render with; sample data otherwise.")


class TemplatePreview(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"event_type": "submission.issued", "language": "en", "subject": "Your document KDN-BAKD/2026/000123 is issued",
         "text": "Hello Bagian Hukum Kota Palembang,\n\nyour document KDN-BAKD/2026/000123 is issued: "
                 "https://simpul.example.go.id/v1/verify/0b9d8a52-4c1e-4a53-9d0f-6f1c2e8b7a31",
         "html": "<p>Hello Bagian Hukum Kota Palembang,</p><p>your document KDN-BAKD/2026/000123 is issued.</p>"},
    ]})

    event_type: str
    language: Literal["id", "en"]
    subject: str
    text: str
    html: str


class EventsAccepted(BaseModel):
    processed: int
    ignored: int
    dead_lettered: int
    duplicate: int


class ClientRevoked(BaseModel):
    """The gateway's word that an API client was revoked (internal)."""

    model_config = ConfigDict(extra="forbid")

    client_id: SingleLineText = Field(min_length=1, max_length=200)
    revoked_at: datetime | None = None
    revoked_by: SingleLineText | None = Field(None, max_length=200)


class ClientRevocationApplied(BaseModel):
    webhooks_disabled: int
    deliveries_cancelled: int
