"""A bill's life and what a payment does to it, without I/O.

    unpaid -> paid       a payment of exactly the amount, made by the expiry
    unpaid -> expired    the expiry passed unpaid (the worker), or a payment made after it
    unpaid -> cancelled  the submission was cancelled or rejected before payment
    paid   -> unpaid     the payment that paid it was voided by a treasurer

A payment of another amount is a mismatch and changes nothing; a payment the bill can no longer
take (expired, cancelled, already paid) is kept and owed back (refund due). So a bill is paid by
at most one payment at a time, and only with its own amount.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class BillStatus(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Outcome(StrEnum):
    """What became of one payment received."""

    PAID = "paid"
    MISMATCH = "mismatch"
    REFUND_DUE = "refund_due"


class PaymentStage(StrEnum):
    NONE = "none"
    BEFORE_REVIEW = "before_review"
    BEFORE_ISSUE = "before_issue"


@dataclass(frozen=True)
class Bill:
    status: BillStatus
    amount: int
    expires_at: datetime
    # The payment that paid it, while it stands.
    paid_by: str | None = None
    paid_at: datetime | None = None


class NotVoidable(Exception):
    """Only the payment that paid a bill can be voided (the others never changed it)."""


def receive(bill: Bill, payment_id: str, amount: int, paid_at: datetime) -> tuple[Outcome, Bill]:
    if amount != bill.amount:
        return Outcome.MISMATCH, bill
    if bill.status is BillStatus.UNPAID:
        if paid_at > bill.expires_at:
            return Outcome.REFUND_DUE, replace(bill, status=BillStatus.EXPIRED)
        return Outcome.PAID, replace(bill, status=BillStatus.PAID, paid_by=payment_id, paid_at=paid_at)
    return Outcome.REFUND_DUE, bill


def expire(bill: Bill, now: datetime) -> Bill:
    if bill.status is BillStatus.UNPAID and now > bill.expires_at:
        return replace(bill, status=BillStatus.EXPIRED)
    return bill


def cancel(bill: Bill) -> Bill:
    """An unpaid bill of a submission that ended; a paid one stays paid (its refund is decided by
    the standard's `refundable`)."""
    if bill.status is BillStatus.UNPAID:
        return replace(bill, status=BillStatus.CANCELLED)
    return bill


def void(bill: Bill, payment_id: str) -> Bill:
    if bill.status is not BillStatus.PAID or bill.paid_by != payment_id:
        raise NotVoidable(payment_id)
    return replace(bill, status=BillStatus.UNPAID, paid_by=None, paid_at=None)


def blocks(stage: str, bill_status: str, action: str) -> bool:
    """Whether an unpaid bill holds back `action` (a submission action's value)."""
    if bill_status == BillStatus.PAID:
        return False
    return (stage == PaymentStage.BEFORE_REVIEW and action == "start_review") or (
        stage == PaymentStage.BEFORE_ISSUE and action == "approve"
    )
