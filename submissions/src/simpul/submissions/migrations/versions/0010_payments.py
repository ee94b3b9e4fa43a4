"""payments: bills with a billing code, payments from providers and treasurers, providers,
refunds, and the submission's copy of its bill (issue 15)

Revision ID: 0010_payments
Revises: 0007_procedure_steps
"""
import sqlalchemy as sa
from alembic import op

from simpul.shared.db import UTCDateTime

revision = "0010_payments"
down_revision = "0007_procedure_steps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("bill", sa.JSON(none_as_null=True), nullable=True))
    op.create_table(
        "bills",
        sa.Column("code", sa.String(15), primary_key=True),
        sa.Column("submission_id", sa.String(36), sa.ForeignKey("submissions.id"), nullable=False, unique=True),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("service_code", sa.String(100), nullable=False),
        sa.Column("service_version", sa.BigInteger(), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=True),
        sa.Column("paid_by", sa.String(36), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("receipt", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("receipt_due_at", UTCDateTime(), nullable=True),
        sa.Column("receipt_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("receipt_error", sa.Text(), nullable=True),
        sa.Column("receipt_revoke", sa.JSON(none_as_null=True), nullable=True),
    )
    op.create_index("ix_bills_receipt_due", "bills", ["receipt_due_at"])
    op.create_index("ix_bills_due", "bills", ["status", "expires_at"])
    op.create_index("ix_bills_created", "bills", ["created_at", "service_code"])
    op.create_table(
        "payment_providers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "bill_payments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("bill_code", sa.String(15), sa.ForeignKey("bills.code"), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(100), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("official", sa.Text(), nullable=True),
        sa.Column("proof_sha256", sa.String(64), nullable=True),
        sa.Column("voided_at", UTCDateTime(), nullable=True),
        sa.Column("voided_by", sa.String(200), nullable=True),
        sa.Column("void_reason", sa.Text(), nullable=True),
        sa.UniqueConstraint("channel", "reference", name="uq_bill_payments_reference"),
    )
    op.create_index("ix_bill_payments_bill", "bill_payments", ["bill_code", "received_at"])
    op.create_table(
        "bill_refunds",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("bill_code", sa.String(15), sa.ForeignKey("bills.code"), nullable=False),
        sa.Column("payment_id", sa.String(36), sa.ForeignKey("bill_payments.id"), nullable=False, unique=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bill_refunds")
    op.drop_index("ix_bill_payments_bill", "bill_payments")
    op.drop_table("bill_payments")
    op.drop_table("payment_providers")
    op.drop_index("ix_bills_created", "bills")
    op.drop_index("ix_bills_due", "bills")
    op.drop_index("ix_bills_receipt_due", "bills")
    op.drop_table("bills")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("bill")
