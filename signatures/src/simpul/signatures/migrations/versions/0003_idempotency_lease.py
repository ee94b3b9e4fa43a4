"""idempotency keys get a lease and a recovery point (see simpul.shared.idempotency)

Revision ID: 0003
Revises: 0002
"""
from alembic import op

from simpul.shared.idempotency import add_lease_columns, drop_lease_columns

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_lease_columns(op)


def downgrade() -> None:
    drop_lease_columns(op)
