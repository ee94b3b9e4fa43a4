"""Who read whose personal data (UU 27/2022), the same way in every service that serves it: one
append-only `personal_data_reads` table per service, a row per subject read by an officer or an
admin, written before the answer goes out (a read that cannot be recorded is not served).
Applicants reading their own region's data, the services and the public are not recorded: only
officials and admins read someone else's data.

Not in the audit chain (simpul.shared.audit): reads are many times the changes (every officer
GET), the chain's one lock would serialise them, and its rows hold no personal data while these
name the person; the subject's email here is replaced by the pseudonym when the data is erased.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table

from simpul.shared.db import UTCDateTime
from simpul.shared.identity import Identity
from simpul.shared.requestid import current_request_id

READS_TABLE = "personal_data_reads"
RECORDED_ROLES = frozenset({"officer", "admin"})


def _reads_columns(extra: Iterable[str]) -> list[Column]:
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", UTCDateTime(), nullable=False),
        Column("reader", String(200), nullable=False),
        Column("reader_role", String(20), nullable=False),
        Column("reader_tenant", String(64), nullable=True),
        # {nip, name, position} when the reader's token acts as a named official.
        Column("official", JSON, nullable=True),
        # What was read (the service's names: submission, history, document_content, inbox...).
        Column("resource", String(40), nullable=False),
        Column("submission_id", String(36), nullable=True),
        # The service's own object read besides the submission (a complaint, a notification).
        *(Column(name, String(36), nullable=True) for name in extra),
        Column("subject_email", String(320), nullable=True),
        Column("request_id", String(128), nullable=True),
    ]


def reads_table(metadata: MetaData, *extra: str) -> Table:
    table = Table(READS_TABLE, metadata, *_reads_columns(extra))
    Index("ix_personal_data_reads_submission", table.c.submission_id, table.c.id)
    Index("ix_personal_data_reads_email", table.c.subject_email, table.c.id)
    return table


def create_reads_table(op: Any, *extra: str) -> None:
    """In a service's migration (`op` is alembic's)."""
    op.create_table(READS_TABLE, *_reads_columns(extra))
    op.create_index("ix_personal_data_reads_submission", READS_TABLE, ["submission_id", "id"])
    op.create_index("ix_personal_data_reads_email", READS_TABLE, ["subject_email", "id"])


def drop_reads_table(op: Any) -> None:
    op.drop_index("ix_personal_data_reads_email", READS_TABLE)
    op.drop_index("ix_personal_data_reads_submission", READS_TABLE)
    op.drop_table(READS_TABLE)


def recorded(identity: Identity) -> bool:
    return identity.role in RECORDED_ROLES


def email_of(applicant: Any) -> str | None:
    """The lowercased email of an applicant (or complainant) JSON object, if any."""
    email = applicant.get("email") if isinstance(applicant, dict) else None
    return str(email).lower() if email else None


def read_rows(identity: Identity, resource: str, subjects: Iterable[dict[str, Any]], at: datetime) -> list[dict]:
    """The rows of one read: `subjects` are dicts of `subject_email`, `submission_id` and the
    service's own id columns."""
    official = identity.official
    common = {
        "at": at,
        "reader": identity.subject,
        "reader_role": identity.role,
        "reader_tenant": identity.tenant,
        "official": {"nip": official.nip, "name": official.name, "position": official.position}
        if official is not None else None,
        "resource": resource,
        "request_id": current_request_id(),
    }
    return [{**common, **subject} for subject in subjects]


def read_view(row: Any, *extra: str) -> dict[str, Any]:
    """One read as the data subject and the export see it."""
    row = dict(row)
    return {
        "at": row["at"],
        "reader": {
            "client_id": row["reader"],
            "role": row["reader_role"],
            "unit": row["reader_tenant"] if row["reader_role"] == "officer" else None,
            "official": row["official"],
        },
        "resource": row["resource"],
        "submission_id": row["submission_id"],
        **{name: row[name] for name in extra},
        "request_id": row["request_id"],
    }
