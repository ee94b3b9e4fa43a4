"""Wire models of the notifications API (inputs refuse unknown fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from simpul.shared.text import PlainJson, PlainText, SingleLineText
EventType = Literal["submission.submitted", "submission.status_changed", "submission.issued", "complaint.updated",
                    "submission.issue_failed", "submission.step_assigned", "submission.step_overdue",
                    "payment.billed", "payment.paid", "payment.expired", "payment.mismatch"]
DeliveryStatus = Literal["pending", "sent", "delivered", "failed"]
MAX_GRACE_SECONDS = 7 * 24 * 3600


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: SingleLineText = Field(min_length=1, max_length=2000, examples=["https://apps.example.go.id/simpul/webhook"])
    events: list[EventType] = Field(min_length=1, max_length=7)

    @field_validator("events")
    @classmethod
    def distinct(cls, events: list[str]) -> list[str]:
        if len(set(events)) != len(events):
            raise ValueError("event types must not repeat")
        return events


class Webhook(BaseModel):
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
    secret: str = Field(description="Standard Webhooks signing secret; shown only now.")


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_period_seconds: int | None = Field(
        None, ge=0, le=MAX_GRACE_SECONDS,
        description="How long the previous secret still signs deliveries (default 24 h).",
    )


class RotatedSecret(BaseModel):
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
    id: str
    outcome: Literal["processed"]


class Template(BaseModel):
    event_type: str
    language: Literal["id", "en"]
    subject: str
    text: str
    html: str
    updated_at: datetime
    updated_by: str | None


class TemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: SingleLineText = Field(min_length=1, max_length=1000)
    text: PlainText = Field(min_length=1, max_length=100_000)
    html: PlainText = Field(min_length=1, max_length=200_000)


class TemplatePreviewRequest(BaseModel):
    """Renders the stored template, or these drafts of its parts, with sample or given data."""

    model_config = ConfigDict(extra="forbid")

    subject: SingleLineText | None = Field(None, min_length=1, max_length=1000)
    text: PlainText | None = Field(None, min_length=1, max_length=100_000)
    html: PlainText | None = Field(None, min_length=1, max_length=200_000)
    data: PlainJson | None = Field(None, description="Event data to render with; sample data otherwise.")


class TemplatePreview(BaseModel):
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
