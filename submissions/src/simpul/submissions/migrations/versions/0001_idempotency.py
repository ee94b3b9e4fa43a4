"""idempotency keys

Revision ID: 0001
Revises:
"""
from alembic import op

from simpul.shared.idempotency import TABLE_NAME, initial_idempotency_columns

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(TABLE_NAME, *initial_idempotency_columns())


def downgrade() -> None:
    op.drop_table(TABLE_NAME)
