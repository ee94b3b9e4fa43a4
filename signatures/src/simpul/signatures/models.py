"""The signatures service's tables (its own database; no other service reads them)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text

from simpul.shared.db import UTCDateTime
from simpul.shared.events import outbox_table
from simpul.shared.audit import audit_tables
from simpul.shared.idempotency import idempotency_table

metadata = MetaData()
idempotency = idempotency_table(metadata)
audit = audit_tables(metadata)
outbox = outbox_table(metadata)

# Every certificate this service holds: the root and issuing CA, the timestamp authority and one
# signer per ministry unit. Ids are UUIDv7 strings, so ordering by id is ordering by creation.
certificates = Table(
    "certificates",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),  # root | issuing_ca | tsa | unit
    Column("unit", String(64), nullable=True),
    # The role a certificate currently fills ("root", "tsa", "unit:KDN-PFK", ...); NULL once it is
    # revoked or replaced. Unique, so two instances starting at once cannot both create one.
    Column("active_role", String(80), nullable=True, unique=True),
    Column("subject", String(500), nullable=False),
    Column("serial", String(64), nullable=False, unique=True),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("not_before", UTCDateTime(), nullable=False),
    Column("not_after", UTCDateTime(), nullable=False),
    Column("certificate", LargeBinary, nullable=False),  # DER
    # PKCS#8 sealed by simpul.shared.envelope (the development PKI's, root included); NULL for
    # keys that live outside the database (PKCS#12 files in production).
    Column("private_key", LargeBinary, nullable=True),
    Column("status", String(16), nullable=False),  # active | replaced | revoked
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revocation_reason", String(40), nullable=True),
    Column("revoked_by", String(200), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

# The audit history of the certificates and their keys: created, replaced, revoked, rewrapped.
certificate_events = Table(
    "certificate_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("certificate_id", String(36), ForeignKey("certificates.id"), nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)
Index("ix_certificate_events_certificate", certificate_events.c.certificate_id, certificate_events.c.id)

# Certificate revocation lists of the issuing CA; the highest number is the current one.
crls = Table(
    "crls",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("this_update", UTCDateTime(), nullable=False),
    Column("next_update", UTCDateTime(), nullable=False),
    Column("der", LargeBinary, nullable=False),
)

# One row per approved submission. It is reserved ("pending") before the PDF is made, so a
# retry after a failure reuses the same id and number; it becomes "issued" once the signed PDF
# is stored, and may later be "revoked".
documents = Table(
    "documents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("submission_id", String(64), nullable=False, unique=True),
    Column("number", String(200), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("tracking_code", String(64), nullable=False),
    Column("service_code", String(100), nullable=False),
    Column("service_version", String(20), nullable=False),
    Column("service_name", String(300), nullable=False),
    Column("title", String(300), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("applicant_name", String(300), nullable=False),
    Column("approved_at", UTCDateTime(), nullable=False),
    Column("approved_by", String(200), nullable=True),
    # The unit's full name and the deciding official {nip, name, position}, when the request gave
    # them: the verify page names people and the unit, not a certificate or a code.
    Column("unit_name", String(300), nullable=True),
    Column("official", JSON(none_as_null=True), nullable=True),
    Column("signer_id", String(36), ForeignKey("certificates.id"), nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("size", Integer, nullable=True),
    Column("pades_level", String(8), nullable=True),
    Column("issued_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revocation_reason", Text, nullable=True),
    Column("revoked_by", String(200), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)
Index("ix_documents_sha256", documents.c.sha256)

# The audit trail of every document: issued, revoked, by whom and why.
document_events = Table(
    "document_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("document_id", String(36), ForeignKey("documents.id"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("actor_role", String(20), nullable=False),
    Column("note", Text, nullable=True),
    Column("details", JSON, nullable=True),
)
Index("ix_document_events_document", document_events.c.document_id, document_events.c.id)

# Document numbers run per unit and year without gaps: a number is taken in the same
# transaction that reserves the document row.
number_sequences = Table(
    "number_sequences",
    metadata,
    Column("scope", String(100), primary_key=True),
    Column("last_value", Integer, nullable=False),
)
