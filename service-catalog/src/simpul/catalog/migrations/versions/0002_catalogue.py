"""services, their versions and history

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from simpul.shared.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_services_unit", "services", ["unit"])
    op.create_index("ix_services_category", "services", ["category"])
    op.create_index("ix_services_status", "services", ["status"])
    op.create_table(
        "service_versions",
        sa.Column("code", sa.String(40), sa.ForeignKey("services.code"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("etag", sa.String(80), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.Column("superseded_by", sa.Integer, nullable=True),
    )
    op.create_table(
        "service_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(40), sa.ForeignKey("services.code"), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(200), nullable=False),
        sa.Column("actor_role", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_service_history_code_id", "service_history", ["code", "id"])


def downgrade() -> None:
    op.drop_index("ix_service_history_code_id", table_name="service_history")
    op.drop_table("service_history")
    op.drop_table("service_versions")
    op.drop_index("ix_services_status", table_name="services")
    op.drop_index("ix_services_category", table_name="services")
    op.drop_index("ix_services_unit", table_name="services")
    op.drop_table("services")
