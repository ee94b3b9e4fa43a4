"""revocations still to be told to notifications (the revoked client's webhooks)

Revision ID: 0005_revocation_notices
Revises: 0004_audit
"""
import sqlalchemy as sa
from alembic import op

from simpul.shared.db import UTCDateTime

revision = "0005_revocation_notices"
down_revision = "0004_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_revocation_notices",
        sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.client_id"), primary_key=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_by", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("notified_at", UTCDateTime(), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_client_revocation_notices_pending", "client_revocation_notices",
                    ["notified_at", "failed_at"])
    # Clients revoked before this revision may still have live webhooks: they are told too.
    clients = sa.table("clients", sa.column("client_id", sa.String), sa.column("revoked_at", UTCDateTime()),
                       sa.column("revoked_by", sa.String))
    op.execute(sa.table("client_revocation_notices", sa.column("client_id"), sa.column("revoked_at"),
                        sa.column("revoked_by")).insert().from_select(
        ["client_id", "revoked_at", "revoked_by"],
        sa.select(clients.c.client_id, clients.c.revoked_at, sa.func.coalesce(clients.c.revoked_by, "unknown"))
        .where(clients.c.revoked_at.is_not(None))))


def downgrade() -> None:
    op.drop_index("ix_client_revocation_notices_pending", "client_revocation_notices")
    op.drop_table("client_revocation_notices")
