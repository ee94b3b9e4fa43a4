"""units' officials (NIP, name, position, roles) and the history of their changes

Revision ID: 0005_officials_registry
Revises: 0005_revocation_notices
"""
import sqlalchemy as sa
from alembic import op

from simpul.shared.db import UTCDateTime

revision = "0005_officials_registry"
down_revision = "0005_revocation_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "officials",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("nip", sa.String(18), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("position", sa.String(200), nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deactivated_at", UTCDateTime(), nullable=True),
        sa.Column("deactivated_by", sa.String(64), nullable=True),
        sa.Column("active_nip", sa.String(18), nullable=True),
        sa.UniqueConstraint("unit", "active_nip", name="uq_officials_unit_active_nip"),
    )
    op.create_index("ix_officials_unit", "officials", ["unit", "created_at", "id"])
    op.create_index("ix_officials_created", "officials", ["created_at", "id"])
    op.create_index("ix_officials_updated_at", "officials", ["updated_at"])
    op.create_table(
        "official_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("official_id", sa.String(40), sa.ForeignKey("officials.id"), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
    )
    op.create_index("ix_official_events_official", "official_events", ["official_id", "id"])


def downgrade() -> None:
    op.drop_table("official_events")
    op.drop_table("officials")
