"""Tables of the notifications service. Integer `position` columns give keyset pagination and
work order on every backend; the string `id`s are what clients see."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from simpul.shared.db import UTCDateTime
from simpul.shared.audit import audit_tables
from simpul.shared.idempotency import idempotency_table
from simpul.shared.personal_data import reads_table

metadata = MetaData()
idempotency = idempotency_table(metadata)
audit = audit_tables(metadata)

# Every event received, once: a redelivery finds its row and does nothing.
processed_events = Table(
    "processed_events",
    metadata,
    Column("source", String(100), nullable=False),
    Column("event_id", String(100), nullable=False),
    Column("type", String(100), nullable=False),
    # processed | ignored (a type notifications has nothing to do for) | dead_lettered
    Column("outcome", String(20), nullable=False),
    Column("transport", String(10), nullable=False),
    Column("processed_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("source", "event_id", name="pk_processed_events"),
)

# Events that could not be handled, with the error, for admins to look at and replay.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("source", String(100), nullable=True),
    Column("event_id", String(100), nullable=True),
    Column("type", String(100), nullable=True),
    Column("subject", String(200), nullable=True),
    Column("envelope", JSON, nullable=True),
    Column("error", Text, nullable=False),
    Column("transport", String(10), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("replayed_at", UTCDateTime(), nullable=True),
)

# One row per event that concerns people: the inbox entry of the tenant (and unit).
notifications = Table(
    "notifications",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("source", String(100), nullable=False),
    Column("event_id", String(100), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("tenant", String(50), nullable=True),
    Column("unit", String(50), nullable=True),
    Column("submission_id", String(100), nullable=True),
    Column("complaint_id", String(100), nullable=True),
    Column("tracking_code", String(100), nullable=True),
    # The body webhooks receive (Standard Webhooks shape: type, timestamp, data).
    Column("payload", JSON, nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("source", "event_id", name="uq_notifications_event"),
)
Index("ix_notifications_tenant", notifications.c.tenant, notifications.c.position)
Index("ix_notifications_unit", notifications.c.unit, notifications.c.position)

# One row per (event, channel, recipient): the unique constraint is what makes "never twice to
# the same recipient for the same event" hold even if an event were handled twice.
deliveries = Table(
    "deliveries",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("notification_id", String(36), ForeignKey("notifications.id"), nullable=False),
    Column("event_id", String(100), nullable=False),
    Column("channel", String(20), nullable=False),  # email | webhook
    Column("recipient", String(320), nullable=False),  # an address, or a subscription id
    Column("subscription_id", String(36), nullable=True),
    # pending | sending (an attempt under way, see dispatch.py) | sent | delivered | failed
    Column("status", String(20), nullable=False),
    # Email: the rendered message {language, subject, text, html}.
    Column("content", JSON, nullable=True),
    # Counted when an attempt starts: while `sending`, the number of the one under way.
    Column("attempts", Integer, nullable=False, server_default="0"),
    # When the row is next due; while `sending`, the end of the dispatcher's lease.
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("claim", String(36), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("give_up_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("completed_at", UTCDateTime(), nullable=True),
    UniqueConstraint("event_id", "channel", "recipient", name="uq_deliveries_recipient"),
)
SENDING = "sending"
# The states a dispatcher claims from: pending once due, sending once the lease has run out.
DUE = ("pending", SENDING)


def as_seen(status: str, attempts: int) -> tuple[str, int]:
    """A delivery's status and attempts as clients see them: an attempt under way is not over,
    so the delivery is still pending and the attempt not yet counted."""
    return ("pending", attempts - 1) if status == SENDING else (status, attempts)


Index("ix_deliveries_due", deliveries.c.channel, deliveries.c.status, deliveries.c.next_attempt_at)
Index("ix_deliveries_notification", deliveries.c.notification_id)
Index("ix_deliveries_subscription", deliveries.c.subscription_id, deliveries.c.position)
# The data subject's export finds the mails sent to one address.
Index("ix_deliveries_recipient", deliveries.c.recipient, deliveries.c.position)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(36), ForeignKey("deliveries.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("outcome", String(20), nullable=False),  # sent | delivered | retry | failed
)
Index("ix_delivery_attempts_delivery", delivery_attempts.c.delivery_id, delivery_attempts.c.attempt)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("url", String(2000), nullable=False),
    Column("events", JSON, nullable=False),
    # Who owns it: an applicant's region or an officer's unit.
    Column("owner_role", String(20), nullable=False),
    Column("tenant", String(50), nullable=False),
    Column("created_by", String(200), nullable=False),
    # Kept to sign deliveries, sealed with the key-encryption key (simpul.shared.envelope);
    # shown to the client only when created or rotated.
    Column("sealed_secret", LargeBinary, nullable=False),
    Column("sealed_previous_secret", LargeBinary, nullable=True),
    Column("previous_secret_expires_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("rotated_at", UTCDateTime(), nullable=True),
    Column("deleted_at", UTCDateTime(), nullable=True),
    # Disabled (not deleted: its owner still sees it and its deliveries) when the API client that
    # created it was revoked; `disabled_reason` says why (`client_revoked`).
    Column("disabled_at", UTCDateTime(), nullable=True),
    Column("disabled_reason", String(40), nullable=True),
)
Index("ix_webhook_subscriptions_owner", webhook_subscriptions.c.owner_role, webhook_subscriptions.c.tenant)
Index("ix_webhook_subscriptions_created_by", webhook_subscriptions.c.created_by)

templates = Table(
    "templates",
    metadata,
    Column("event_type", String(100), nullable=False),
    Column("language", String(5), nullable=False),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(200), nullable=True),
    PrimaryKeyConstraint("event_type", "language", name="pk_templates"),
)

# Who read whose personal data (simpul.shared.personal_data): officers' and admins' inbox reads.
personal_data_reads = reads_table(metadata, "notification_id")
