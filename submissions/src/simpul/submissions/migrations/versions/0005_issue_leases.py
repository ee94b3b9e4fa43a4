"""issue jobs get a claim token per attempt and a permanent failure; submissions show the failure

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

from simpul.shared.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("issue_jobs", sa.Column("claim", sa.String(36), nullable=True))
    op.add_column("issue_jobs", sa.Column("failed_at", UTCDateTime(), nullable=True))
    op.add_column("submissions", sa.Column("issuing", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("submissions", "issuing")
    op.drop_column("issue_jobs", "failed_at")
    op.drop_column("issue_jobs", "claim")
