"""submissions, history, documents, receipt counters, issue jobs, outbox

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from simpul.shared.db import UTCDateTime
from simpul.shared.events import OUTBOX_TABLE, outbox_columns, outbox_indexes

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tracking_code", sa.String(16), nullable=False, unique=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("service_code", sa.String(100), nullable=False),
        sa.Column("service_version", sa.Integer, nullable=False),
        sa.Column("service_name", sa.String(300), nullable=False),
        sa.Column("standard", sa.JSON, nullable=False),
        sa.Column("applicant", sa.JSON, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sla_working_days", sa.Integer, nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("paused_at", UTCDateTime(), nullable=True),
        sa.Column("paused_working_days", sa.Integer, nullable=False, server_default="0"),
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
        sa.Column("overdue_from", UTCDateTime(), nullable=True),
        sa.Column("receipt_number", sa.String(100), nullable=True, unique=True),
        sa.Column("receipt_issued_at", UTCDateTime(), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.Column("approved_by", sa.String(200), nullable=True),
        sa.Column("decision_note", sa.Text, nullable=True),
        sa.Column("issued_documents", sa.JSON, nullable=True),
    )
    op.create_index("ix_submissions_tenant", "submissions", ["tenant", "id"])
    op.create_index("ix_submissions_tenant_status", "submissions", ["tenant", "status", "id"])
    op.create_index("ix_submissions_unit", "submissions", ["unit", "id"])
    op.create_index("ix_submissions_unit_status", "submissions", ["unit", "status", "id"])
    op.create_index("ix_submissions_status", "submissions", ["status", "id"])
    op.create_index("ix_submissions_service", "submissions", ["service_code", "id"])
    op.create_index("ix_submissions_overdue", "submissions", ["overdue_from"])

    op.create_table(
        "submission_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("submission_id", sa.String(36), sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(24), nullable=True),
        sa.Column("to_status", sa.String(24), nullable=False),
        sa.Column("actor_id", sa.String(200), nullable=False),
        sa.Column("actor_role", sa.String(20), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("document", sa.JSON, nullable=True),
    )
    op.create_index("ix_submission_history_submission", "submission_history", ["submission_id", "id"])

    op.create_table(
        "submission_documents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("submission_id", sa.String(36), sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("requirement_code", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("filename", sa.String(255), nullable=True),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.Column("uploaded_by", sa.String(200), nullable=False),
        sa.Column("replaced_at", UTCDateTime(), nullable=True),
        sa.Column("replaced_by", sa.String(36), nullable=True),
    )
    op.create_index(
        "ix_submission_documents_submission", "submission_documents", ["submission_id", "requirement_code"]
    )

    op.create_table(
        "receipt_counters",
        sa.Column("unit", sa.String(64), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("last_number", sa.Integer, nullable=False),
    )

    op.create_table(
        "issue_jobs",
        sa.Column("submission_id", sa.String(36), sa.ForeignKey("submissions.id"), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("done_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_issue_jobs_due", "issue_jobs", ["done_at", "next_attempt_at"])

    op.create_table(OUTBOX_TABLE, *outbox_columns())
    for name, columns in outbox_indexes():
        op.create_index(name, OUTBOX_TABLE, columns)


def downgrade() -> None:
    for name, _ in outbox_indexes():
        op.drop_index(name, OUTBOX_TABLE)
    op.drop_table(OUTBOX_TABLE)
    op.drop_table("issue_jobs")
    op.drop_table("receipt_counters")
    op.drop_table("submission_documents")
    op.drop_table("submission_history")
    op.drop_table("submissions")
