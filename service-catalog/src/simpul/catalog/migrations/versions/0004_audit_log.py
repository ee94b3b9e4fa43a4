"""the hash-chained audit log and the timestamps of its head (see simpul.shared.audit)

Revision ID: 0004_audit
Revises: 0003
"""
from alembic import op

from simpul.shared.audit import create_audit_tables, drop_audit_tables

revision = "0004_audit"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_tables(op)


def downgrade() -> None:
    drop_audit_tables(op)
