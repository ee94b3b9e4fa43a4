"""certificates, CRLs, documents, their audit trail, number sequences, outbox

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
        "certificates",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("unit", sa.String(64), nullable=True),
        sa.Column("active_role", sa.String(80), nullable=True, unique=True),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False, unique=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=False),
        sa.Column("certificate", sa.LargeBinary, nullable=False),
        sa.Column("private_key", sa.LargeBinary, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revocation_reason", sa.String(40), nullable=True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "crls",
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("this_update", UTCDateTime(), nullable=False),
        sa.Column("next_update", UTCDateTime(), nullable=False),
        sa.Column("der", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("submission_id", sa.String(64), nullable=False, unique=True),
        sa.Column("number", sa.String(200), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tracking_code", sa.String(64), nullable=False),
        sa.Column("service_code", sa.String(100), nullable=False),
        sa.Column("service_version", sa.String(20), nullable=False),
        sa.Column("service_name", sa.String(300), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("applicant_name", sa.String(300), nullable=False),
        sa.Column("approved_at", UTCDateTime(), nullable=False),
        sa.Column("approved_by", sa.String(200), nullable=True),
        sa.Column("signer_id", sa.String(36), sa.ForeignKey("certificates.id"), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("size", sa.Integer, nullable=True),
        sa.Column("pades_level", sa.String(8), nullable=True),
        sa.Column("issued_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revocation_reason", sa.Text, nullable=True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_documents_sha256", "documents", ["sha256"])
    op.create_table(
        "document_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("document_id", sa.String(36), sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.String(200), nullable=False),
        sa.Column("actor_role", sa.String(20), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("details", sa.JSON, nullable=True),
    )
    op.create_index("ix_document_events_document", "document_events", ["document_id", "id"])
    op.create_table(
        "number_sequences",
        sa.Column("scope", sa.String(100), primary_key=True),
        sa.Column("last_value", sa.Integer, nullable=False),
    )
    op.create_table(OUTBOX_TABLE, *outbox_columns())
    for name, columns in outbox_indexes():
        op.create_index(name, OUTBOX_TABLE, columns)


def downgrade() -> None:
    for name, _ in outbox_indexes():
        op.drop_index(name, table_name=OUTBOX_TABLE)
    op.drop_table(OUTBOX_TABLE)
    op.drop_table("number_sequences")
    op.drop_index("ix_document_events_document", table_name="document_events")
    op.drop_table("document_events")
    op.drop_index("ix_documents_sha256", table_name="documents")
    op.drop_table("documents")
    op.drop_table("crls")
    op.drop_table("certificates")
