"""The tables of feedback: satisfaction surveys, complaints with their entries and attachments.

On the service's one MetaData (`simpul.submissions.models.metadata`): one database, one
migration history.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, SmallInteger, String, Table, Text

from simpul.shared.db import UTCDateTime
from simpul.submissions.feedback.ikm import ELEMENTS
from simpul.submissions.models import metadata

# Satisfaction surveys (SKM): one per submission, each of the nine elements scored 1-4.
SURVEY_ELEMENTS = tuple(ELEMENTS)
surveys = Table(
    "surveys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("submission_id", String(36), ForeignKey("submissions.id"), nullable=False, unique=True),
    Column("tenant", String(64), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("service_code", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=False),
    *(Column(element, SmallInteger, nullable=False) for element in SURVEY_ELEMENTS),
    Column("comment", Text, nullable=True),
)
Index("ix_surveys_period", surveys.c.created_at)
Index("ix_surveys_service_period", surveys.c.service_code, surveys.c.created_at)

# Complaints (pengaduan): filed by an applicant, answered by the owning unit's officers.
complaints = Table(
    "complaints",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("tenant", String(64), nullable=False),
    # The unit that answers; none when the complaint names neither a submission nor a service
    # (then the administrators answer it).
    Column("unit", String(64), nullable=True),
    Column("submission_id", String(36), ForeignKey("submissions.id"), nullable=True),
    Column("service_code", String(100), nullable=True),
    Column("category", String(40), nullable=False),
    Column("text", Text, nullable=False),
    Column("complainant", JSON, nullable=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("verification_due_at", UTCDateTime(), nullable=False),
    Column("follow_up_due_at", UTCDateTime(), nullable=False),
    Column("first_response_at", UTCDateTime(), nullable=True),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("reopen_until", UTCDateTime(), nullable=True),
    Column("reopened_count", Integer, nullable=False, server_default="0"),
    # Set when the reopening period has passed and the closing was recorded.
    Column("closed_at", UTCDateTime(), nullable=True),
    # The deadline currently missed first, kept on the row so `?overdue=true` is an indexed scan.
    Column("overdue_from", UTCDateTime(), nullable=True),
)
Index("ix_complaints_tenant", complaints.c.tenant, complaints.c.id)
Index("ix_complaints_unit", complaints.c.unit, complaints.c.id)
Index("ix_complaints_status", complaints.c.status, complaints.c.id)
Index("ix_complaints_overdue", complaints.c.overdue_from)
Index("ix_complaints_submission", complaints.c.submission_id)
Index("ix_complaints_period", complaints.c.created_at)
Index("ix_complaints_resolved", complaints.c.resolved_at)
Index("ix_complaints_reopen_until", complaints.c.reopen_until)

# Append-only: filing, every response and reply, every state change, every attachment.
complaint_entries = Table(
    "complaint_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("complaint_id", String(36), ForeignKey("complaints.id"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("action", String(20), nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("actor_role", String(20), nullable=False),
    Column("text", Text, nullable=True),
    Column("attachment", JSON, nullable=True),
)
Index("ix_complaint_entries_complaint", complaint_entries.c.complaint_id, complaint_entries.c.id)

complaint_attachments = Table(
    "complaint_attachments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("complaint_id", String(36), ForeignKey("complaints.id"), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("filename", String(255), nullable=True),
    Column("uploaded_at", UTCDateTime(), nullable=False),
    Column("uploaded_by", String(200), nullable=False),
    Column("uploaded_role", String(20), nullable=False),
    # The file was deleted from storage when the submission's personal data was erased.
    Column("content_erased_at", UTCDateTime(), nullable=True),
)
Index("ix_complaint_attachments_complaint", complaint_attachments.c.complaint_id, complaint_attachments.c.id)
