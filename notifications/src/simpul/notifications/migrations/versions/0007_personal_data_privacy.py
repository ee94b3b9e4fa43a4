"""personal data (UU 27/2022): who read whose notifications; mails found by recipient for the export

Revision ID: 0006_personal_data
Revises: 0006_revoked_client_webhooks
"""
from alembic import op

from simpul.shared.personal_data import create_reads_table, drop_reads_table

revision = "0006_personal_data"
down_revision = "0006_revoked_client_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_recipient", "deliveries", ["recipient", "position"])
    create_reads_table(op, "notification_id")


def downgrade() -> None:
    drop_reads_table(op)
    op.drop_index("ix_deliveries_recipient", "deliveries")
