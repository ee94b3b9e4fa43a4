"""documents keep the unit's full name and the deciding official for the verify page

Revision ID: 0006_document_officials
Revises: 0005_audit
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_document_officials"
down_revision = "0005_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("unit_name", sa.String(300), nullable=True))
    op.add_column("documents", sa.Column("official", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("official")
        batch.drop_column("unit_name")
