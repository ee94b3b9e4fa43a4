"""the procedure as the workflow: a submission's current step, history entries' step and
assignee, and every visit of a step (issue 14, items 3, 4, 7)

Revision ID: 0007_procedure_steps
Revises: 0007_personal_data
"""
import sqlalchemy as sa
from alembic import op

from simpul.shared.db import UTCDateTime

revision = "0007_procedure_steps"
down_revision = "0007_personal_data"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("current_step", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("step_due_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("step_assigned_to", sa.String(64), nullable=True))
    op.create_index("ix_submissions_step_assigned", "submissions", ["step_assigned_to", "id"])
    op.create_index("ix_submissions_step_due", "submissions", ["step_due_at"])
    with op.batch_alter_table("submission_history") as batch:
        batch.add_column(sa.Column("step", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("assignee", sa.JSON(), nullable=True))
    op.create_table(
        "submission_step_visits",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("submission_id", sa.String(36), sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("service_code", sa.String(100), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("assigned_to", sa.String(64), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("ended_by", sa.String(32), nullable=True),
        sa.Column("working_days_taken", sa.Integer(), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("overdue_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_step_visits_open", "submission_step_visits", ["submission_id", "ended_at"])
    op.create_index("ix_step_visits_late", "submission_step_visits", ["overdue_at", "ended_at", "due_at"])
    op.create_index("ix_step_visits_ended", "submission_step_visits", ["ended_at", "service_code"])


def downgrade() -> None:
    op.drop_table("submission_step_visits")
    with op.batch_alter_table("submission_history") as batch:
        batch.drop_column("assignee")
        batch.drop_column("step")
    op.drop_index("ix_submissions_step_due", "submissions")
    op.drop_index("ix_submissions_step_assigned", "submissions")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("step_assigned_to")
        batch.drop_column("step_due_at")
        batch.drop_column("current_step")
