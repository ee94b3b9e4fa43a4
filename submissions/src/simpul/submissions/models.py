"""The submissions service's tables (its own database; no other service reads them).

One MetaData for the whole service, so one migration history: a sub-package declares its tables
on `metadata` in its own models.py (feedback/models.py).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, ForeignKey, Index, Integer, MetaData, String, Table, Text

from simpul.shared.db import UTCDateTime
from simpul.shared.events import outbox_table
from simpul.shared.audit import audit_tables
from simpul.shared.idempotency import idempotency_table
from simpul.shared.personal_data import reads_table

metadata = MetaData()
idempotency = idempotency_table(metadata)
audit = audit_tables(metadata)
outbox = outbox_table(metadata)

# Ids are UUIDv7 strings: ordering by id is ordering by creation time, so one short key serves
# as the stable order of every list and its cursor.
submissions = Table(
    "submissions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tracking_code", String(16), nullable=False, unique=True),
    Column("status", String(24), nullable=False),
    # Optimistic lock: every change is `UPDATE ... WHERE version = <the version read>`.
    Column("version", Integer, nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("service_code", String(100), nullable=False),
    Column("service_version", Integer, nullable=False),
    Column("service_name", String(300), nullable=False),
    # What the submission needs from the service standard, frozen at creation.
    Column("standard", JSON, nullable=False),
    Column("applicant", JSON, nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("sla_working_days", Integer, nullable=False),
    Column("submitted_at", UTCDateTime(), nullable=True),
    Column("due_at", UTCDateTime(), nullable=True),
    Column("paused_at", UTCDateTime(), nullable=True),
    Column("paused_working_days", Integer, nullable=False, server_default="0"),
    Column("stopped_at", UTCDateTime(), nullable=True),
    Column("overdue_from", UTCDateTime(), nullable=True),
    Column("receipt_number", String(100), nullable=True, unique=True),
    Column("receipt_issued_at", UTCDateTime(), nullable=True),
    Column("approved_at", UTCDateTime(), nullable=True),
    Column("approved_by", String(200), nullable=True),
    Column("decision_note", Text, nullable=True),
    Column("issued_documents", JSON, nullable=True),
    # Set only when issuing the output document failed for good: {status, reason, failed_at}.
    Column("issuing", JSON, nullable=True),
    # Working days from submission to decision, revision time left out (the SLA clock's `used`).
    Column("decided_working_days", Integer, nullable=True),
    # Personal data (UU 27/2022): the applicant's email lowercased, for the data subject's export;
    # when a closed submission's personal data is due for erasure (set once it is closed, by the
    # retention worker) and when it was erased.
    Column("applicant_email", String(320), nullable=True),
    Column("erase_after", UTCDateTime(), nullable=True),
    Column("personal_data_erased_at", UTCDateTime(), nullable=True),
    # A procedure with roles (steps.py): the step under review {step, title, role, started_at,
    # due_at, assigned_to}, None outside review; its due time and assignee again as columns for
    # the list filters step_overdue and assigned_to.
    Column("current_step", JSON, nullable=True),
    Column("step_due_at", UTCDateTime(), nullable=True),
    Column("step_assigned_to", String(64), nullable=True),
    # The fee's bill as the submission shows it {code, amount, status, expires_at, paid_at}, kept
    # by the payments sub-domain in the transaction of each change of the bill; None: no bill.
    Column("bill", JSON(none_as_null=True), nullable=True),
)
# One index per way a list is asked for, each ending in id so the page is read in index order.
Index("ix_submissions_tenant", submissions.c.tenant, submissions.c.id)
Index("ix_submissions_tenant_status", submissions.c.tenant, submissions.c.status, submissions.c.id)
Index("ix_submissions_unit", submissions.c.unit, submissions.c.id)
Index("ix_submissions_unit_status", submissions.c.unit, submissions.c.status, submissions.c.id)
Index("ix_submissions_status", submissions.c.status, submissions.c.id)
Index("ix_submissions_service", submissions.c.service_code, submissions.c.id)
Index("ix_submissions_overdue", submissions.c.overdue_from)
# The performance report counts what was received and what was decided in a period (the service
# in the index answers the count from the index alone), and what is running late now.
Index("ix_submissions_submitted_at", submissions.c.submitted_at, submissions.c.service_code)
Index("ix_submissions_stopped_at", submissions.c.stopped_at)
Index("ix_submissions_applicant_email", submissions.c.applicant_email)
Index("ix_submissions_erase_after", submissions.c.erase_after)
Index("ix_submissions_status_overdue", submissions.c.status, submissions.c.overdue_from, submissions.c.service_code)
Index("ix_submissions_step_assigned", submissions.c.step_assigned_to, submissions.c.id)
Index("ix_submissions_step_due", submissions.c.step_due_at)

history = Table(
    "submission_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("submission_id", String(36), ForeignKey("submissions.id"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_status", String(24), nullable=True),
    Column("to_status", String(24), nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("actor_role", String(20), nullable=False),
    Column("note", Text, nullable=True),
    Column("document", JSON, nullable=True),
    # {nip, name, position} of the official the actor's token acted as (the gateway vouches for it).
    Column("official", JSON(none_as_null=True), nullable=True),
    # The procedure step acted on (services with roles), and for a disposition the official it
    # went to {id, nip, name, position}.
    Column("step", Integer, nullable=True),
    Column("assignee", JSON, nullable=True),
)
Index("ix_submission_history_submission", history.c.submission_id, history.c.id)

# Every time a step of a procedure with roles is worked on, from its start to its end (forward,
# return, revision, decision): the per-step report and the overdue worker read these.
step_visits = Table(
    "submission_step_visits",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("submission_id", String(36), ForeignKey("submissions.id"), nullable=False),
    Column("service_code", String(100), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("step", Integer, nullable=False),
    Column("title", String(300), nullable=False),
    Column("role", String(20), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("assigned_to", String(64), nullable=True),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("ended_by", String(32), nullable=True),
    Column("working_days_taken", Integer, nullable=True),
    Column("on_time", Boolean, nullable=True),
    # When `submission.step_overdue` was staged for this visit: once per late step.
    Column("overdue_at", UTCDateTime(), nullable=True),
)
Index("ix_step_visits_open", step_visits.c.submission_id, step_visits.c.ended_at)
Index("ix_step_visits_late", step_visits.c.overdue_at, step_visits.c.ended_at, step_visits.c.due_at)
Index("ix_step_visits_ended", step_visits.c.ended_at, step_visits.c.service_code)

documents = Table(
    "submission_documents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("submission_id", String(36), ForeignKey("submissions.id"), nullable=False),
    Column("requirement_code", String(100), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("filename", String(255), nullable=True),
    Column("uploaded_at", UTCDateTime(), nullable=False),
    Column("uploaded_by", String(200), nullable=False),
    # Set when a newer upload for the same requirement replaces this one; the old one stays.
    Column("replaced_at", UTCDateTime(), nullable=True),
    Column("replaced_by", String(36), nullable=True),
    # The file was deleted from storage when the submission's personal data was erased.
    Column("content_erased_at", UTCDateTime(), nullable=True),
)
Index("ix_submission_documents_submission", documents.c.submission_id, documents.c.requirement_code)

# The last receipt number handed out per unit and year; incremented under the row's write lock.
receipt_counters = Table(
    "receipt_counters",
    metadata,
    Column("unit", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last_number", Integer, nullable=False),
)

# Approved submissions whose output document the signatures service has yet to issue.
issue_jobs = Table(
    "issue_jobs",
    metadata,
    Column("submission_id", String(36), ForeignKey("submissions.id"), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # Due time; while an attempt runs, the end of its lease.
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    # The token of the attempt that holds the lease: only it records the outcome.
    Column("claim", String(36), nullable=True),
    Column("last_error", Text, nullable=True),
    # The job ended: issued, or refused for good when failed_at is set too.
    Column("done_at", UTCDateTime(), nullable=True),
    Column("failed_at", UTCDateTime(), nullable=True),
)
Index("ix_issue_jobs_due", issue_jobs.c.done_at, issue_jobs.c.next_attempt_at)

# Who read whose personal data (simpul.shared.personal_data): officers' and admins' reads.
personal_data_reads = reads_table(metadata, "complaint_id")
