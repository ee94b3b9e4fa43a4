"""The gateway's own tables: API clients, their audit history, token signing keys, units' officials."""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, UniqueConstraint

from simpul.shared.db import UTCDateTime
from simpul.shared.audit import audit_tables
from simpul.shared.idempotency import idempotency_table

metadata = MetaData()

clients = Table(
    "clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("tenant", String(64), nullable=True),
    # scrypt$N$r$p$salt$hash; the secret itself is never stored.
    Column("secret_hash", String(255), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(64), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revoked_by", String(64), nullable=True),
    Index("ix_clients_created", "created_at", "client_id"),
    Index("ix_clients_revoked_at", "revoked_at"),
)

client_events = Table(
    "client_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(64), ForeignKey("clients.client_id"), nullable=False),
    # created | revoked | secret_rotated
    Column("action", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_client_events_client", "client_id", "id"),
)

# A revocation still to be told to the services that act for the client on their own (notifications:
# its webhooks), written in the revoking transaction and sent until answered: outages lose none.
revocation_notices = Table(
    "client_revocation_notices",
    metadata,
    Column("client_id", String(64), ForeignKey("clients.client_id"), primary_key=True),
    Column("revoked_at", UTCDateTime(), nullable=False),
    Column("revoked_by", String(64), nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", String(300), nullable=True),
    # Answered (notified_at) or refused for good (failed_at, with last_error); neither: pending.
    Column("notified_at", UTCDateTime(), nullable=True),
    Column("failed_at", UTCDateTime(), nullable=True),
    Index("ix_client_revocation_notices_pending", "notified_at", "failed_at"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    # PKCS#8 DER sealed by simpul.shared.envelope; never stored in the clear.
    Column("sealed_private_key", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # It signs from then on (a little after it is made, so every replica knows it first).
    Column("signs_from", UTCDateTime(), nullable=False),
    # It stops verifying then (set when a newer key replaces it), and is dropped.
    Column("retired_at", UTCDateTime(), nullable=True),
)

# The audit history of the signing keys (no foreign key: it outlives the dropped keys).
signing_key_events = Table(
    "signing_key_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kid", String(64), nullable=False),
    # created | retiring | dropped | rewrapped
    Column("action", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_signing_key_events_kid", "kid", "id"),
)

idempotency = idempotency_table(metadata)
audit = audit_tables(metadata)

# A unit's named officials (NIP, name, position, roles): an officer token may act as one. Never
# deleted: deactivation keeps the row and its history.
officials = Table(
    "officials",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("unit", String(64), nullable=False),
    Column("nip", String(18), nullable=False),
    Column("name", String(200), nullable=False),
    Column("position", String(200), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("email", String(254), nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("deactivated_at", UTCDateTime(), nullable=True),
    Column("deactivated_by", String(64), nullable=True),
    # The NIP while active, NULL once deactivated: unique per unit, so a NIP is held by one active
    # official of a unit at a time (NULLs never collide, on SQLite and PostgreSQL alike).
    Column("active_nip", String(18), nullable=True),
    UniqueConstraint("unit", "active_nip", name="uq_officials_unit_active_nip"),
    Index("ix_officials_unit", "unit", "created_at", "id"),
    Index("ix_officials_created", "created_at", "id"),
    # What replicas poll for changes (deactivations, new roles) to their cached officials.
    Index("ix_officials_updated_at", "updated_at"),
)

official_events = Table(
    "official_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("official_id", String(40), ForeignKey("officials.id"), nullable=False),
    # created | updated | deactivated
    Column("action", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    # {field: {"from": old, "to": new}} of what the action changed (everything, when created).
    Column("changes", JSON, nullable=False),
    Index("ix_official_events_official", "official_id", "id"),
)
