"""webhooks of a revoked client are disabled, with the reason, rather than deleted

Revision ID: 0006_revoked_client_webhooks
Revises: 0005_sealed_secrets
"""
import sqlalchemy as sa
from alembic import op

from simpul.shared.db import UTCDateTime

revision = "0006_revoked_client_webhooks"
down_revision = "0005_sealed_secrets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("disabled_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("disabled_reason", sa.String(40), nullable=True))
    op.create_index("ix_webhook_subscriptions_created_by", "webhook_subscriptions", ["created_by"])


def downgrade() -> None:
    op.drop_index("ix_webhook_subscriptions_created_by", "webhook_subscriptions")
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.drop_column("disabled_reason")
        batch.drop_column("disabled_at")
