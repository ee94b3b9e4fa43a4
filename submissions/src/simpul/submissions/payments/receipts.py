"""Paid -> kuitansi: a background worker asks the signatures service for the signed payment receipt,
and revokes it when the payment that paid the bill is voided.

Paying a bill (or voiding the payment of a bill with a kuitansi) sets its `receipt_due_at` in the
same transaction. This worker claims due bills with a compare-and-set that moves `receipt_due_at`
a lease ahead (so two replicas never work on one bill at once, and a dead one's claim lapses). A
voided payment's kuitansi is revoked first (`POST /internal/documents/{id}/revoke`); a paid bill
without one gets it from `POST /internal/documents` with kind `payment_receipt`, keyed by the bill
and the payment that paid it (`<bill code>.<payment id>`: signatures makes one document per key, so
a retry after a lost answer gets the same kuitansi, and a bill paid again after a void a new one).
It is recorded on the bill and on the submission's copy of it. The amount it states is the bill's,
which is the fee of the version the submission was made under. A refusal for good is kept on the
bill (`receipt_error`) and not retried; anything else is retried with backoff.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, case, or_, select, update

from simpul.shared import audit as audit_log
from simpul.shared.audit import Audited
from simpul.shared.balance import IDEMPOTENCY_HEADER
from simpul.shared.identity import Identity
from simpul.shared.internal import InternalClient, refused_for_good
from simpul.shared.worker import Worker, backoff_delay, each
from simpul.submissions.models import audit, submissions
from simpul.submissions.payments.bills import BillStatus
from simpul.submissions.payments.models import bills, payments
from simpul.submissions.payments.service import PaymentService, bill_view

log = logging.getLogger("simpul.submissions.payments.receipts")

SIGNATURES_ACTOR = Identity(subject="service:signatures", role="service")
REVOKE_REASON = "Pembayaran dibatalkan oleh bendahara (payment voided by the treasurer)"
# A bill with work for this worker: a paid one without its kuitansi, or a voided payment's to revoke.
WORK_TO_DO = or_(and_(bills.c.status == BillStatus.PAID.value, bills.c.receipt.is_(None)),
                 bills.c.receipt_revoke.is_not(None))
BATCH = 20
LEASE = timedelta(seconds=60)


def receipt_key(bill_code: str, payment_id: str) -> str:
    """Signatures' key of a kuitansi: one per payment that paid the bill (a voided one's is revoked)."""
    return f"{bill_code}.{payment_id}"


@dataclass(kw_only=True, eq=False)
class ReceiptIssuer:
    payments: PaymentService
    signatures: InternalClient
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0

    async def due(self) -> list[str]:
        now = self.payments.clock()
        async with self.payments.read_sessions() as session:
            rows = await session.execute(
                select(bills.c.code).where(WORK_TO_DO, bills.c.receipt_due_at <= now)
                .order_by(bills.c.receipt_due_at).limit(BATCH))
            return [code for (code,) in rows]

    async def issue(self, code: str) -> bool:
        """One bill's kuitansi made, or its voided one revoked first; False when another replica
        holds it or nothing is left to do."""
        now = self.payments.clock()
        async with self.payments.sessions() as session, session.begin():
            claimed = await session.execute(
                update(bills).where(bills.c.code == code, WORK_TO_DO, bills.c.receipt_due_at <= now)
                .values(receipt_due_at=now + LEASE, receipt_attempts=bills.c.receipt_attempts + 1)
                .returning(bills.c.receipt_attempts))
            attempt = claimed.scalar_one_or_none()
            if attempt is None:
                return False
            bill = dict((await session.execute(select(bills).where(bills.c.code == code))).mappings().one())
            if bill["receipt_revoke"] is None:
                payment = dict((await session.execute(
                    select(payments).where(payments.c.id == bill["paid_by"]))).mappings().one())
                submission = dict((await session.execute(
                    select(submissions).where(submissions.c.id == bill["submission_id"]))).mappings().one())
        try:
            if bill["receipt_revoke"] is not None:
                await self._revoke(bill["receipt_revoke"]["document_id"])
                await self.revoked(code, bill["receipt_revoke"])
                return True
            receipt = await self._call(request_body(bill, payment, submission))
        except ReceiptRefused as exc:
            await self._keep(code, receipt_error=str(exc)[:2000], receipt_due_at=None)
            log.warning("the kuitansi of bill %s was refused for good: %s", code, exc)
            return False
        except (ReceiptFailed, httpx.HTTPError) as exc:
            delay = backoff_delay(attempt, base=self.retry_base_seconds, cap=self.retry_max_seconds)
            await self._keep(code, receipt_error=str(exc)[:2000],
                             receipt_due_at=self.payments.clock() + timedelta(seconds=delay))
            log.info("the kuitansi of bill %s failed (attempt %d), again in %.1f s: %s", code, attempt, delay, exc)
            return False
        await self.record(code, receipt, bill["paid_by"])
        return True

    async def record(self, code: str, receipt: dict[str, Any], payment_id: str) -> None:
        """The kuitansi on its bill, if the payment it states still pays the bill; one voided while it
        was being made is revoked next instead."""
        now = self.payments.clock()
        async with self.payments.sessions() as session, session.begin():
            done = await session.execute(
                update(bills).where(bills.c.code == code, bills.c.receipt.is_(None),
                                    bills.c.status == BillStatus.PAID.value, bills.c.paid_by == payment_id)
                .values(receipt=receipt, receipt_due_at=None, receipt_error=None).returning(*bills.c))
            bill = done.mappings().first()
            if bill is None:
                await session.execute(update(bills).where(bills.c.code == code, bills.c.receipt_revoke.is_(None))
                                      .values(receipt_revoke=receipt, receipt_due_at=now))
                return
            await session.execute(update(submissions).where(submissions.c.id == bill["submission_id"]).values(
                bill=bill_view(dict(bill)), version=submissions.c.version + 1, updated_at=now))
            await audit_log.record_all(session, audit, [Audited(
                SIGNATURES_ACTOR, "bill.receipt_issued", "bill", code,
                {"document_id": receipt["document_id"], "amount": receipt["amount"]})])

    async def revoked(self, code: str, receipt: dict[str, Any]) -> None:
        """The voided payment's kuitansi is revoked; a bill paid again meanwhile gets its own next."""
        now = self.payments.clock()
        async with self.payments.sessions() as session, session.begin():
            await session.execute(update(bills).where(bills.c.code == code).values(
                receipt_revoke=None, receipt_error=None,
                receipt_due_at=case((and_(bills.c.status == BillStatus.PAID.value, bills.c.receipt.is_(None)), now),
                                    else_=None)))
            await audit_log.record_all(session, audit, [Audited(
                SIGNATURES_ACTOR, "bill.receipt_revoked", "bill", code, {"document_id": receipt["document_id"]})])

    async def _revoke(self, document_id: str) -> None:
        response = await self.signatures.request(
            "POST", f"/internal/documents/{document_id}/revoke", json={"reason": REVOKE_REASON})
        # 409: revoked already (a retry after a lost answer).
        if response.status_code in (200, 409):
            return
        if refused_for_good(response.status_code):
            raise ReceiptRefused(f"signatures answered {response.status_code} to the revocation")
        raise ReceiptFailed(f"signatures answered {response.status_code} to the revocation")

    async def _keep(self, code: str, **values: Any) -> None:
        async with self.payments.sessions() as session, session.begin():
            await session.execute(update(bills).where(bills.c.code == code, bills.c.receipt.is_(None)).values(**values))

    async def _call(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.signatures.request("POST", "/internal/documents", json=body,
                                                 headers={IDEMPOTENCY_HEADER: f"issue-{body['submission_id']}"})
        if refused_for_good(response.status_code):
            raise ReceiptRefused(f"signatures answered {response.status_code}")
        if response.status_code not in (200, 201):
            raise ReceiptFailed(f"signatures answered {response.status_code}")
        try:
            document = response.json()
            return {"document_id": str(document["document_id"]), "verify_url": str(document["verify_url"]),
                    "amount": body["payment"]["amount"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise ReceiptFailed("signatures answered without document_id / verify_url") from exc

    def worker(self, poll_seconds: float) -> Worker:
        return Worker("simpul-submissions-kuitansi", claim=self.due, process=each(self.issue),
                      poll_seconds=poll_seconds, batch_size=BATCH, logger=log)


class ReceiptFailed(Exception):
    """An attempt failed in a way that may pass: try again later."""


class ReceiptRefused(Exception):
    """Signatures refused the request as it is: retrying would not help."""


def request_body(bill: dict[str, Any], payment: dict[str, Any], submission: dict[str, Any]) -> dict[str, Any]:
    """What signatures needs for the kuitansi: the bill's amount, never the payment's."""
    standard = submission["standard"]
    return {
        "kind": "payment_receipt",
        "submission_id": receipt_key(bill["code"], bill["paid_by"]),
        "tracking_code": submission["tracking_code"],
        "service_code": submission["service_code"],
        "service_version": submission["service_version"],
        "service_name": submission["service_name"],
        "output": {"name": "Kuitansi Pembayaran", "description": f"Bukti pembayaran tagihan {bill['code']}"},
        "unit": submission["unit"],
        "unit_name": standard.get("unit_name"),
        "tenant": submission["tenant"],
        "applicant": {"name": submission["applicant"]["name"]},
        "approved_at": _iso(bill["paid_at"]),
        "payment": {"bill_code": bill["code"], "amount": bill["amount"], "paid_at": _iso(bill["paid_at"]),
                    "reference": payment["reference"], "channel": payment["channel"].partition(":")[0],
                    "fee_legal_basis": standard["fee"].get("legal_basis")},
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat()
