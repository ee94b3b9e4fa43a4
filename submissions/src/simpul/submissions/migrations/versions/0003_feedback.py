"""surveys, complaints with their entries and attachments; period indexes for the reports

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

from simpul.shared.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SURVEY_ELEMENTS = (
    "requirements", "procedure", "timeliness", "cost", "product",
    "competence", "behaviour", "complaint_handling", "facilities",
)


def upgrade() -> None:
    op.add_column("submissions", sa.Column("decided_working_days", sa.Integer, nullable=True))
    op.create_index("ix_submissions_submitted_at", "submissions", ["submitted_at", "service_code"])
    op.create_index("ix_submissions_stopped_at", "submissions", ["stopped_at"])
    op.create_index("ix_submissions_status_overdue", "submissions", ["status", "overdue_from", "service_code"])

    op.create_table(
        "surveys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("submission_id", sa.String(36), sa.ForeignKey("submissions.id"), nullable=False, unique=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("service_code", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        *(sa.Column(element, sa.SmallInteger, nullable=False) for element in SURVEY_ELEMENTS),
        sa.Column("comment", sa.Text, nullable=True),
    )
    op.create_index("ix_surveys_period", "surveys", ["created_at"])
    op.create_index("ix_surveys_service_period", "surveys", ["service_code", "created_at"])

    op.create_table(
        "complaints",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(64), nullable=True),
        sa.Column("submission_id", sa.String(36), sa.ForeignKey("submissions.id"), nullable=True),
        sa.Column("service_code", sa.String(100), nullable=True),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("complainant", sa.JSON, nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("verification_due_at", UTCDateTime(), nullable=False),
        sa.Column("follow_up_due_at", UTCDateTime(), nullable=False),
        sa.Column("first_response_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("reopen_until", UTCDateTime(), nullable=True),
        sa.Column("reopened_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("overdue_from", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_complaints_tenant", "complaints", ["tenant", "id"])
    op.create_index("ix_complaints_unit", "complaints", ["unit", "id"])
    op.create_index("ix_complaints_status", "complaints", ["status", "id"])
    op.create_index("ix_complaints_overdue", "complaints", ["overdue_from"])
    op.create_index("ix_complaints_submission", "complaints", ["submission_id"])
    op.create_index("ix_complaints_period", "complaints", ["created_at"])
    op.create_index("ix_complaints_resolved", "complaints", ["resolved_at"])
    op.create_index("ix_complaints_reopen_until", "complaints", ["reopen_until"])

    op.create_table(
        "complaint_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("complaint_id", sa.String(36), sa.ForeignKey("complaints.id"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(200), nullable=False),
        sa.Column("actor_role", sa.String(20), nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("attachment", sa.JSON, nullable=True),
    )
    op.create_index("ix_complaint_entries_complaint", "complaint_entries", ["complaint_id", "id"])

    op.create_table(
        "complaint_attachments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("complaint_id", sa.String(36), sa.ForeignKey("complaints.id"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("filename", sa.String(255), nullable=True),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.Column("uploaded_by", sa.String(200), nullable=False),
        sa.Column("uploaded_role", sa.String(20), nullable=False),
    )
    op.create_index("ix_complaint_attachments_complaint", "complaint_attachments", ["complaint_id", "id"])


def downgrade() -> None:
    op.drop_table("complaint_attachments")
    op.drop_table("complaint_entries")
    op.drop_table("complaints")
    op.drop_table("surveys")
    op.drop_index("ix_submissions_status_overdue", "submissions")
    op.drop_index("ix_submissions_stopped_at", "submissions")
    op.drop_index("ix_submissions_submitted_at", "submissions")
    op.drop_column("submissions", "decided_working_days")
