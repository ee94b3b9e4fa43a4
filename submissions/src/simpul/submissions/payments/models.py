"""The tables of payments, on the service's one MetaData (one database, one migration history).

A payment is never deleted: a voided one keeps its row with who voided it, when and why.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, String, Table, Text, UniqueConstraint

from simpul.shared.db import UTCDateTime
from simpul.submissions.models import metadata

bills = Table(
    "bills",
    metadata,
    Column("code", String(15), primary_key=True),
    Column("submission_id", String(36), ForeignKey("submissions.id"), nullable=False, unique=True),
    Column("unit", String(64), nullable=False),
    Column("service_code", String(100), nullable=False),
    Column("service_version", BigInteger, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("paid_at", UTCDateTime(), nullable=True),
    Column("paid_by", String(36), nullable=True),
    Column("ended_at", UTCDateTime(), nullable=True),
    # The kuitansi of the paid bill {document_id, verify_url, amount}, and the worker's state until
    # it exists (receipts.py): when to ask signatures next, how often it was asked, its last error.
    Column("receipt", JSON(none_as_null=True), nullable=True),
    Column("receipt_due_at", UTCDateTime(), nullable=True),
    Column("receipt_attempts", Integer, nullable=False, server_default="0"),
    Column("receipt_error", Text, nullable=True),
    # A kuitansi to revoke {document_id, verify_url, amount}: its payment was voided.
    Column("receipt_revoke", JSON(none_as_null=True), nullable=True),
)
Index("ix_bills_receipt_due", bills.c.receipt_due_at)
# The expiry worker's scan, and the revenue report's.
Index("ix_bills_due", bills.c.status, bills.c.expires_at)
Index("ix_bills_created", bills.c.created_at, bills.c.service_code)

payment_providers = Table(
    "payment_providers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    # The Standard Webhooks secret, sealed (simpul.shared.envelope): HMAC needs it in the clear.
    Column("sealed_secret", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=False),
)

payments = Table(
    "bill_payments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("bill_code", String(15), ForeignKey("bills.code"), nullable=False),
    # `provider:<id>` or `treasurer`: the channel, and the reference is unique within it.
    Column("channel", String(64), nullable=False),
    Column("reference", String(100), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("paid_at", UTCDateTime(), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("recorded_by", String(200), nullable=False),
    # The treasurer who recorded it {id, nip, name, position}, and the proof file's sha256.
    Column("official", Text, nullable=True),
    Column("proof_sha256", String(64), nullable=True),
    Column("voided_at", UTCDateTime(), nullable=True),
    Column("voided_by", String(200), nullable=True),
    Column("void_reason", Text, nullable=True),
    UniqueConstraint("channel", "reference", name="uq_bill_payments_reference"),
)
Index("ix_bill_payments_bill", payments.c.bill_code, payments.c.received_at)

# Money owed back: a payment the bill could not take, or a paid fee of a submission rejected or
# cancelled under a standard that refunds it.
refunds = Table(
    "bill_refunds",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("bill_code", String(15), ForeignKey("bills.code"), nullable=False),
    Column("payment_id", String(36), ForeignKey("bill_payments.id"), nullable=False, unique=True),
    Column("amount", BigInteger, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
