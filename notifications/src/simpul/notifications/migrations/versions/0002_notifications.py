"""events, deliveries, webhooks, templates

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

from simpul.shared.db import UTCDateTime


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("dead_letters",
    sa.Column("position", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("id", sa.String(length=36), nullable=False),
    sa.Column("source", sa.String(length=100), nullable=True),
    sa.Column("event_id", sa.String(length=100), nullable=True),
    sa.Column("type", sa.String(length=100), nullable=True),
    sa.Column("subject", sa.String(length=200), nullable=True),
    sa.Column("envelope", sa.JSON(), nullable=True),
    sa.Column("error", sa.Text(), nullable=False),
    sa.Column("transport", sa.String(length=10), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("replayed_at", UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint("position"),
    sa.UniqueConstraint("id")
    )
    op.create_table("notifications",
    sa.Column("position", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("id", sa.String(length=36), nullable=False),
    sa.Column("source", sa.String(length=100), nullable=False),
    sa.Column("event_id", sa.String(length=100), nullable=False),
    sa.Column("event_type", sa.String(length=100), nullable=False),
    sa.Column("subject", sa.String(length=200), nullable=False),
    sa.Column("tenant", sa.String(length=50), nullable=True),
    sa.Column("unit", sa.String(length=50), nullable=True),
    sa.Column("submission_id", sa.String(length=100), nullable=True),
    sa.Column("complaint_id", sa.String(length=100), nullable=True),
    sa.Column("tracking_code", sa.String(length=100), nullable=True),
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("position"),
    sa.UniqueConstraint("id"),
    sa.UniqueConstraint("source", "event_id", name="uq_notifications_event")
    )
    op.create_index("ix_notifications_tenant", "notifications", ["tenant", "position"])
    op.create_index("ix_notifications_unit", "notifications", ["unit", "position"])

    op.create_table("processed_events",
    sa.Column("source", sa.String(length=100), nullable=False),
    sa.Column("event_id", sa.String(length=100), nullable=False),
    sa.Column("type", sa.String(length=100), nullable=False),
    sa.Column("outcome", sa.String(length=20), nullable=False),
    sa.Column("transport", sa.String(length=10), nullable=False),
    sa.Column("processed_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("source", "event_id", name="pk_processed_events")
    )
    op.create_table("templates",
    sa.Column("event_type", sa.String(length=100), nullable=False),
    sa.Column("language", sa.String(length=5), nullable=False),
    sa.Column("subject", sa.Text(), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("html", sa.Text(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint("event_type", "language", name="pk_templates")
    )
    op.create_table("webhook_subscriptions",
    sa.Column("position", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("id", sa.String(length=36), nullable=False),
    sa.Column("url", sa.String(length=2000), nullable=False),
    sa.Column("events", sa.JSON(), nullable=False),
    sa.Column("owner_role", sa.String(length=20), nullable=False),
    sa.Column("tenant", sa.String(length=50), nullable=False),
    sa.Column("created_by", sa.String(length=200), nullable=False),
    sa.Column("secret", sa.String(length=100), nullable=False),
    sa.Column("previous_secret", sa.String(length=100), nullable=True),
    sa.Column("previous_secret_expires_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("rotated_at", UTCDateTime(), nullable=True),
    sa.Column("deleted_at", UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint("position"),
    sa.UniqueConstraint("id")
    )
    op.create_index("ix_webhook_subscriptions_owner", "webhook_subscriptions", ["owner_role", "tenant"])

    op.create_table("deliveries",
    sa.Column("position", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("id", sa.String(length=36), nullable=False),
    sa.Column("notification_id", sa.String(length=36), nullable=False),
    sa.Column("event_id", sa.String(length=100), nullable=False),
    sa.Column("channel", sa.String(length=20), nullable=False),
    sa.Column("recipient", sa.String(length=320), nullable=False),
    sa.Column("subscription_id", sa.String(length=36), nullable=True),
    sa.Column("status", sa.String(length=20), nullable=False),
    sa.Column("content", sa.JSON(), nullable=True),
    sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("claim", sa.String(length=36), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("give_up_at", UTCDateTime(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"], ),
    sa.PrimaryKeyConstraint("position"),
    sa.UniqueConstraint("event_id", "channel", "recipient", name="uq_deliveries_recipient"),
    sa.UniqueConstraint("id")
    )
    op.create_index("ix_deliveries_due", "deliveries", ["channel", "status", "next_attempt_at"])
    op.create_index("ix_deliveries_notification", "deliveries", ["notification_id"])
    op.create_index("ix_deliveries_subscription", "deliveries", ["subscription_id", "position"])

    op.create_table("delivery_attempts",
    sa.Column("position", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("delivery_id", sa.String(length=36), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("duration_ms", sa.Integer(), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("outcome", sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], ),
    sa.PrimaryKeyConstraint("position")
    )
    op.create_index("ix_delivery_attempts_delivery", "delivery_attempts", ["delivery_id", "attempt"])


def downgrade() -> None:
    op.drop_index("ix_delivery_attempts_delivery", table_name="delivery_attempts")

    op.drop_table("delivery_attempts")
    op.drop_index("ix_deliveries_subscription", table_name="deliveries")
    op.drop_index("ix_deliveries_notification", table_name="deliveries")
    op.drop_index("ix_deliveries_due", table_name="deliveries")

    op.drop_table("deliveries")
    op.drop_index("ix_webhook_subscriptions_owner", table_name="webhook_subscriptions")

    op.drop_table("webhook_subscriptions")
    op.drop_table("templates")
    op.drop_table("processed_events")
    op.drop_index("ix_notifications_unit", table_name="notifications")
    op.drop_index("ix_notifications_tenant", table_name="notifications")

    op.drop_table("notifications")
    op.drop_table("dead_letters")
