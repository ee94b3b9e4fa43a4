"""personal data (UU 27/2022): who read whose data, retention and erasure of closed submissions

Revision ID: 0007_personal_data
Revises: 0007_history_official
"""
import sqlalchemy as sa
from alembic import op

from simpul.shared.db import UTCDateTime
from simpul.shared.personal_data import create_reads_table, drop_reads_table

revision = "0007_personal_data"
down_revision = "0007_history_official"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("submissions", sa.Column("applicant_email", sa.String(320), nullable=True))
    op.add_column("submissions", sa.Column("erase_after", UTCDateTime(), nullable=True))
    op.add_column("submissions", sa.Column("personal_data_erased_at", UTCDateTime(), nullable=True))
    op.add_column("submission_documents", sa.Column("content_erased_at", UTCDateTime(), nullable=True))
    op.add_column("complaint_attachments", sa.Column("content_erased_at", UTCDateTime(), nullable=True))
    # The export finds a person's submissions by email: filled in for the rows that exist.
    connection = op.get_bind()
    table = sa.table("submissions", sa.column("id", sa.String), sa.column("applicant", sa.JSON),
                     sa.column("applicant_email", sa.String))
    rows = connection.execute(sa.select(table.c.id, table.c.applicant)).all()
    for submission_id, applicant in rows:
        email = (applicant or {}).get("email")
        if email:
            connection.execute(sa.update(table).where(table.c.id == submission_id)
                               .values(applicant_email=str(email).lower()))
    op.create_index("ix_submissions_applicant_email", "submissions", ["applicant_email"])
    op.create_index("ix_submissions_erase_after", "submissions", ["erase_after"])
    create_reads_table(op, "complaint_id")


def downgrade() -> None:
    drop_reads_table(op)
    op.drop_index("ix_submissions_erase_after", "submissions")
    op.drop_index("ix_submissions_applicant_email", "submissions")
    op.drop_column("complaint_attachments", "content_erased_at")
    op.drop_column("submission_documents", "content_erased_at")
    op.drop_column("submissions", "personal_data_erased_at")
    op.drop_column("submissions", "erase_after")
    op.drop_column("submissions", "applicant_email")
