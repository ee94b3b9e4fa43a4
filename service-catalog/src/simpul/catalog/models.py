"""Tables of the catalogue: services, their versions and the history of their changes."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, String, Table, Text

from simpul.shared.db import UTCDateTime
from simpul.shared.audit import audit_tables
from simpul.shared.idempotency import idempotency_table

metadata = MetaData()
idempotency = idempotency_table(metadata)
audit = audit_tables(metadata)

# One row per service: what lists filter on, and which version is current.
services = Table(
    "services",
    metadata,
    Column("code", String(40), primary_key=True),
    Column("unit", String(32), nullable=False, index=True),
    Column("category", String(64), nullable=False, index=True),
    Column("status", String(16), nullable=False, index=True),
    Column("current_version", Integer, nullable=False),
    # Lower-cased code, names and description, so `q` is a portable LIKE without lower() in SQL
    # (SQLite's lower() only folds ASCII).
    Column("search_text", Text, nullable=False),
    # The list item of the current version, rendered at write time so lists are spliced, not built.
    Column("summary", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Every version of every service; `document` is exactly the JSON body served for it.
service_versions = Table(
    "service_versions",
    metadata,
    Column("code", String(40), ForeignKey("services.code"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("document", Text, nullable=False),
    Column("etag", String(80), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("published_at", UTCDateTime(), nullable=True),
    Column("retired_at", UTCDateTime(), nullable=True),
    Column("superseded_by", Integer, nullable=True),
)

# Who changed what, when: created, revised, published, retired.
service_history = Table(
    "service_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(40), ForeignKey("services.code"), nullable=False),
    Column("action", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("actor_role", String(32), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_service_history_code_id", "code", "id"),
)
