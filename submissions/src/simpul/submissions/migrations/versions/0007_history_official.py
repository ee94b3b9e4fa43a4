"""history entries name the official who acted ({nip, name, position}, from the assertion)

Revision ID: 0007_history_official
Revises: 0006_audit
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_history_official"
down_revision = "0006_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("submission_history", sa.Column("official", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submission_history") as batch:
        batch.drop_column("official")
