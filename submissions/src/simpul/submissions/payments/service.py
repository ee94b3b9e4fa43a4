"""Payments: the use cases, plain Python over the database.

A bill is made in the transaction of the first submit (`changed`, one of the core's change hooks),
so a submitted submission of a paying service always has one. Every change of a bill runs in one
transaction that locks the bill row, then its submission's row, writes the payment, the bill, the
submission's copy of the bill (and its SLA clock), a history entry, the audit row and the events:
all of it exists or none of it does. Locks are taken in that order everywhere (bill, then
submission), and a submission's own changes lock only the submission.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from simpul.shared import audit as audit_log
from simpul.shared import idempotency
from simpul.shared.audit import Audited
from simpul.shared.envelope import ReloadingKeys
from simpul.shared.events import envelope
from simpul.shared.identity import Identity
from simpul.shared.logs import security_event
from simpul.shared.problems import Problem, Text
from simpul.shared.visibility import Visibility
from simpul.shared.worker import Worker, each
from simpul.submissions.access import UseCases, new_id, visible_submission
from simpul.submissions.calendar import end_of_day, local_date
from simpul.submissions.periods import ReportPeriod
from simpul.submissions.models import audit, history, step_visits, submissions
from simpul.submissions.payments.bills import (
    Bill,
    BillStatus,
    Outcome,
    PaymentStage,
    blocks,
    cancel,
    expire,
    receive,
    void,
)
from simpul.submissions.payments.codes import new_bill_code, normalise_bill_code
from simpul.submissions.payments.models import bills, payment_providers, payments, refunds
from simpul.submissions.payments.revenue import aggregate
from simpul.submissions.payments.schemas import ProviderNotification, TreasurerPayment
from simpul.submissions.statemachine import Action, Status, Transition
from simpul.submissions.steps import postponed, step_of_row, step_values
from simpul.submissions.store import EVENT_SOURCE, INSERT_OUTBOX, Executor, history_row
from simpul.submissions.uploads import EVIDENCE_TYPES, Incoming, keep_upload, read_upload
from simpul.submissions.views import clock_of, clock_values

log = logging.getLogger("simpul.submissions.payments")

EXPIRY = Identity(subject="service:submissions", role="service")
BATCH = 100

PAYMENT_REQUIRED = Text(
    "Tagihan {code} belum dibayar (status {status}); tindakan '{action}' menunggu pembayaran.",
    "The bill {code} is not paid (status {status}); the action '{action}' waits for payment.",
)
NOTHING_TO_AWAIT = Text(
    "Tidak ada pembayaran yang ditunggu: tagihan {code} berstatus {status}, tahap {stage}.",
    "There is no payment to await: the bill {code} is {status}, its stage {stage}.",
)
ALREADY_AWAITING = Text(
    "Keputusan sudah menunggu pembayaran tagihan {code}.",
    "The decision already waits for the payment of the bill {code}.",
)
BILL_NOT_FOUND = Text("Kode billing tidak dikenal.", "Unknown billing code.")
MALFORMED_CODE = Text(
    "Kode billing tidak valid: 15 angka dengan angka pemeriksa yang benar.",
    "Not a billing code: 15 digits with a correct check digit.",
)
MALFORMED_FIELD = Text("bukan kode billing yang valid", "is not a valid billing code")
BAD_SIGNATURE = Text(
    "Tanda tangan notifikasi pembayaran tidak valid atau sudah kedaluwarsa.",
    "The payment notification's signature is not valid or is outside the allowed time window.",
)
TREASURER = "treasurer"
TREASURER_ONLY = Text(
    "Pembayaran dicatat oleh pejabat berperan bendahara (token dengan official=<NIP>).",
    "Payments are recorded by an official with the treasurer role (a token with official=<NIP>).",
)
FOUR_EYES = Text(
    "Pembayaran hanya dapat dibatalkan oleh bendahara lain daripada yang mencatatnya.",
    "A payment can only be voided by another treasurer than the one who recorded it.",
)
ALREADY_VOIDED = Text("Pembayaran ini sudah dibatalkan.", "This payment was voided already.")
NO_BILL = Text("Permohonan ini tidak memiliki tagihan.", "This submission has no bill.")
PAYMENT_NOT_FOUND = Text("Pembayaran tidak ditemukan.", "There is no such payment.")
INVALID_PAYMENT = Text("Data pembayaran tidak valid.", "The payment is not valid.")
WRONG_PROOF_TYPE = Text(
    "Bukti bayar bertipe {found} tidak diterima (diterima: {allowed}).",
    "A proof of payment of type {found} is not accepted (accepted: {allowed}).",
)
PAYMENT_FIELDS = ("reference", "amount", "paid_at")
PROVIDER_EXISTS = Text("Penyedia pembayaran '{name}' sudah terdaftar.", "The payment provider '{name}' exists already.")


def bill_path(code: str) -> str:
    return f"/v1/bills/{code}"


def _bill_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": row["code"],
        "amount": row["amount"],
        "status": row["status"],
        "expires_at": _iso(row["expires_at"]),
        "paid_at": _iso(row["paid_at"]),
    }


def bill_view(row: dict[str, Any]) -> dict[str, Any]:
    """The bill as the submission shows it (and keeps it, in its `bill` column): with its kuitansi
    {document_id, verify_url} once signed."""
    receipt = row.get("receipt")
    if not receipt:
        return _bill_fields(row)
    return {**_bill_fields(row),
            "payment_receipt": {"document_id": receipt["document_id"], "verify_url": receipt["verify_url"]}}


def payment_path(payment_id: str) -> str:
    return f"/v1/payments/{payment_id}"


def invalid(exc: ValidationError) -> Problem:
    """A refused payment body as the 422 the project answers, naming each field."""
    return Problem(422, INVALID_PAYMENT, slug="invalid-payment", errors=[
        {"field": ".".join(str(part) for part in error["loc"]) or "body", "message": error["msg"]}
        for error in exc.errors(include_url=False, include_input=False)
    ])


def treasurer_payment(fields: dict[str, str], language: str) -> TreasurerPayment:
    """The multipart form's fields as a payment: the amount only when written as a whole number."""
    raw = dict(fields)
    amount = raw.get("amount")
    if amount is not None and amount.lstrip("-").isdigit() and amount.isascii():
        raw["amount"] = int(amount)
    try:
        return TreasurerPayment.model_validate(raw)
    except ValidationError as exc:
        raise invalid(exc) from exc


def public_bill_view(row: dict[str, Any], service_name: str) -> dict[str, Any]:
    """What anyone holding the code sees: no personal data."""
    return {
        **_bill_fields(row),
        "currency": "IDR",
        "service_code": row["service_code"],
        "service_name": service_name,
        "unit": row["unit"],
    }


def payment_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "bill_code": row["bill_code"],
        "channel": row["channel"],
        "reference": row["reference"],
        "amount": row["amount"],
        "paid_at": _iso(row["paid_at"]),
        "outcome": row["outcome"],
        "received_at": _iso(row["received_at"]),
        "voided_at": _iso(row["voided_at"]),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def bill_state(row: dict[str, Any]) -> Bill:
    return Bill(BillStatus(row["status"]), row["amount"], row["expires_at"], row["paid_by"], row["paid_at"])


def stage_of(submission: dict[str, Any]) -> str:
    return submission["standard"]["fee"].get("payment_stage", PaymentStage.NONE)


def payment_event(submission: dict[str, Any], event_type: str, bill: dict[str, Any], at: datetime,
                  **extra: Any) -> dict[str, Any]:
    """An outbox row of a payment.* event: who is told (the applicant, the tenant's and unit's
    subscriptions) as submission events say it, and the bill."""
    applicant = submission["applicant"]
    data = {
        "submission_id": submission["id"],
        "tracking_code": submission["tracking_code"],
        "service_code": submission["service_code"],
        "service_name": submission["service_name"],
        "service_name_en": submission["standard"].get("name_en"),
        "unit": submission["unit"],
        "tenant": submission["tenant"],
        "applicant": {"name": applicant["name"], "email": applicant["email"],
                      "language": applicant.get("language", "id")},
        "bill": bill,
        "at": at.isoformat(),
        **extra,
    }
    event = envelope(type=event_type, source=EVENT_SOURCE, subject=f"submissions/{submission['id']}", data=data)
    return {key: event[key] for key in ("id", "type", "source", "subject", "data")} | {"occurred_at": at}


def awaiting(submission: dict[str, Any]) -> bool:
    """The decision waits for the payment (await_payment): in review, the clock standing. Nothing
    else stands the clock in review (a revision leaves it)."""
    return submission["status"] == Status.IN_REVIEW and submission["paused_at"] is not None


def may_await(submission: dict[str, Any]) -> bool:
    """An unpaid bill holds back the decision and the clock still runs."""
    bill = submission.get("bill")
    return (bill is not None and bill["status"] == BillStatus.UNPAID and stage_of(submission) == PaymentStage.BEFORE_ISSUE
            and submission["status"] == Status.IN_REVIEW and not awaiting(submission))


def provider_identity(provider_id: str) -> Identity:
    return Identity(subject=f"payment-provider:{provider_id}", role="service")


def secret_context(provider_id: str) -> bytes:
    return f"payment-provider:{provider_id}".encode()


@dataclass(frozen=True)
class Received:
    """One payment as it arrived: from a provider (its id) or a treasurer."""

    channel: str
    reference: str
    amount: int
    paid_at: datetime
    actor: Identity
    official: dict[str, Any] | None = None
    proof_sha256: str | None = None


@dataclass(kw_only=True, eq=False)
class PaymentService(UseCases):
    keks: ReloadingKeys
    expiry_days: int
    max_proof_bytes: int
    # Called once a kuitansi is to be made or revoked: wakes the receipts worker (app.py).
    wake_receipts: Callable[[], None] = lambda: None

    # -- the core's change hooks ------------------------------------------------------------------

    def check(self, row: dict[str, Any], action: Action) -> None:
        bill = row.get("bill")
        if action is Action.AWAIT_PAYMENT:
            if not may_await(row):
                status = bill["status"] if bill else "none"
                code = bill["code"] if bill else "-"
                text = ALREADY_AWAITING if awaiting(row) else NOTHING_TO_AWAIT
                raise Problem(409, text, slug="no-payment-to-await",
                              params={"code": code, "status": status, "stage": stage_of(row)}, bill_status=status)
            return
        if bill and blocks(stage_of(row), bill["status"], action.value):
            raise Problem(409, PAYMENT_REQUIRED, slug="payment-required",
                          params={"code": bill["code"], "status": bill["status"], "action": action.value},
                          bill_status=bill["status"])

    def actions(self, row: dict[str, Any], allowed: list[str]) -> list[str]:
        """Without the actions an unpaid bill holds back, and without await_payment unless the
        decision may wait for a payment."""
        bill = row.get("bill")

        def open_to(action: str) -> bool:
            if bill and blocks(stage_of(row), bill["status"], action):
                return False
            return action != Action.AWAIT_PAYMENT or may_await(row)

        return [action for action in allowed if open_to(action)]

    async def changed(self, connection: Executor, row: dict[str, Any], move: Transition, values: dict[str, Any],
                      identity: Identity, now: datetime) -> list[dict[str, Any]]:
        if move.action is Action.AWAIT_PAYMENT:
            # The unit is ready to decide: from now until paid the time is the applicant's.
            clock = clock_of({**row, **values})
            if clock is not None:
                values.update(clock_values(clock.pause(now)))
            return [payment_event({**row, **values}, "payment.awaited", row["bill"], now)]
        fee = row["standard"]["fee"]
        stage = fee.get("payment_stage", PaymentStage.NONE)
        if stage == PaymentStage.NONE or fee["amount"] <= 0:
            return []
        if move.source is Status.DRAFT and move.target is Status.SUBMITTED:
            return await self._bill(connection, row, stage, values, identity, now)
        if move.target in (Status.CANCELLED, Status.REJECTED) and row.get("bill"):
            await self._close(connection, row, move.target, values, identity, now)
        return []

    async def _bill(self, connection: Executor, row: dict[str, Any], stage: str, values: dict[str, Any],
                    identity: Identity, now: datetime) -> list[dict[str, Any]]:
        expires = end_of_day(local_date(now) + timedelta(days=self.expiry_days))
        bill = {
            "code": new_bill_code(), "submission_id": row["id"], "unit": row["unit"],
            "service_code": row["service_code"], "service_version": row["service_version"], "stage": stage,
            "amount": row["standard"]["fee"]["amount"], "status": BillStatus.UNPAID.value, "created_at": now,
            "expires_at": expires, "paid_at": None, "paid_by": None, "ended_at": None,
        }
        await connection.execute(insert(bills).values(**bill))
        view = bill_view(bill)
        values["bill"] = view
        if stage == PaymentStage.BEFORE_REVIEW:
            # Review waits for the applicant's payment: the clock stands still until it is paid.
            clock = clock_of({**row, **values})
            if clock is not None:
                values.update(clock_values(clock.pause(now)))
        await audit_log.record_all(connection, audit, [Audited(
            identity, "bill.created", "bill", bill["code"],
            {"submission_id": row["id"], "amount": bill["amount"], "stage": stage, "expires_at": view["expires_at"]},
        )])
        return [payment_event({**row, **values}, "payment.billed", view, now)]

    async def _close(self, connection: Executor, row: dict[str, Any], target: Status, values: dict[str, Any],
                     identity: Identity, now: datetime) -> None:
        """The submission ended: an unpaid bill is cancelled; a paid fee the standard refunds is owed back."""
        found = (await connection.execute(
            select(bills).where(bills.c.submission_id == row["id"]).with_for_update()
        )).mappings().one()
        current = bill_state(dict(found))
        after = cancel(current)
        if after.status is not current.status:
            await connection.execute(update(bills).where(bills.c.code == found["code"])
                                     .values(status=after.status.value, ended_at=now))
            values["bill"] = {**row["bill"], "status": after.status.value}
            await audit_log.record_all(connection, audit, [Audited(
                identity, "bill.cancelled", "bill", found["code"], {"submission_id": row["id"], "because": target.value},
            )])
        elif current.status is BillStatus.PAID and row["standard"]["fee"].get("refundable"):
            await self._owe(connection, found["code"], current.paid_by, found["amount"], f"submission_{target.value}",
                            identity, now)

    async def _owe(self, connection: Executor, code: str, payment_id: str | None, amount: int, reason: str,
                   identity: Identity, now: datetime) -> None:
        assert payment_id is not None
        refund_id = new_id()
        await connection.execute(insert(refunds).values(
            id=refund_id, bill_code=code, payment_id=payment_id, amount=amount, reason=reason, created_at=now))
        await audit_log.record_all(connection, audit, [Audited(
            identity, "refund.created", "bill", code, {"refund_id": refund_id, "payment_id": payment_id,
                                                       "amount": amount, "reason": reason},
        )])

    # -- reading ----------------------------------------------------------------------------------

    async def public_bill(self, raw_code: str, language: str) -> dict[str, Any]:
        code = self._code(raw_code, language, "code")
        async with self.read_sessions() as session:
            found = (await session.execute(
                select(bills, submissions.c.service_name).join(submissions, submissions.c.id == bills.c.submission_id)
                .where(bills.c.code == code)
            )).mappings().first()
        if found is None:
            security_event("bill_lookup_refused", "unknown billing code")
            raise Problem(404, BILL_NOT_FOUND, slug="bill-not-found")
        return public_bill_view(dict(found), found["service_name"])

    @staticmethod
    def _code(raw: str, language: str, field: str) -> str:
        code = normalise_bill_code(raw)
        if code is None:
            security_event("bill_lookup_refused", "malformed billing code")
            raise Problem(422, MALFORMED_CODE, slug="malformed-bill-code",
                          errors=[{"field": field, "message": MALFORMED_FIELD.render(language)}])
        return code

    # -- providers --------------------------------------------------------------------------------

    async def register_provider(self, identity: Identity, name: str, language: str) -> dict[str, Any]:
        provider_id = new_id()
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        now = self.clock()
        row = {"id": provider_id, "name": name, "created_at": now, "created_by": identity.subject,
               "sealed_secret": self.keks.seal(secret.encode(), secret_context(provider_id))}
        try:
            async with self.sessions() as session, session.begin():
                await session.execute(insert(payment_providers).values(**row))
                await audit_log.record_all(session, audit, [Audited(
                    identity, "payment_provider.created", "payment_provider", provider_id, {"name": name})])
                # The answer shows the secret once: a replay is refused, never answered with it again.
                await idempotency.settle(session, idempotency.not_replayable())
        except IntegrityError as exc:
            raise Problem(409, PROVIDER_EXISTS, slug="payment-provider-exists", params={"name": name}) from exc
        return {"id": provider_id, "name": name, "secret": secret, "created_at": now.isoformat()}

    async def _provider_for(self, body: bytes, headers: dict[str, str]) -> str:
        """The provider whose secret signed the request (Standard Webhooks: HMAC over id, timestamp
        and body, the timestamp within 5 minutes), or 401. Providers are few; each is tried."""
        async with self.read_sessions() as session:
            rows = (await session.execute(select(payment_providers.c.id, payment_providers.c.sealed_secret))).all()
        reason = "no payment provider registered"
        for provider_id, sealed in rows:
            secret = self.keks.open(sealed, secret_context(provider_id)).decode()
            try:
                Webhook(secret).verify(body, headers, json_parse=False)
                return provider_id
            except WebhookVerificationError as exc:
                reason = str(exc)
                # A stale or malformed timestamp fails the same way for every provider.
                if reason != "No matching signature found":
                    break
            except ValueError:
                reason = "malformed signature header"
                break
        security_event("payment_notification_refused", reason)
        raise Problem(401, BAD_SIGNATURE, slug="bad-webhook-signature")

    async def notification(self, body: bytes, headers: dict[str, str], language: str) -> dict[str, Any]:
        provider_id = await self._provider_for(body, headers)
        try:
            notice = ProviderNotification.model_validate_json(body)
        except ValidationError as exc:
            log.warning("payment notification refused: invalid body from provider %s", provider_id)
            raise invalid(exc) from exc
        code = self._code(notice.bill_code, language, "bill_code")
        received = Received(channel=f"provider:{provider_id}", reference=notice.reference, amount=notice.amount,
                            paid_at=notice.paid_at, actor=provider_identity(provider_id))
        return await self.record(code, received)

    # -- recording a payment ----------------------------------------------------------------------

    async def record(self, code: str, received: Received,
                     settlement: Callable[[str], idempotency.Settlement | None] = lambda _: idempotency.not_replayable(),
                     ) -> dict[str, Any]:
        """Record one payment against the bill `code`: idempotent on (channel, reference).
        `settlement` settles the request's Idempotency-Key, given the new payment's id (a provider's
        answer is not kept for a replay: its reference is its key)."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            found = (await connection.execute(select(bills).where(bills.c.code == code).with_for_update())).mappings().first()
            if found is None:
                security_event("payment_refused", "unknown billing code", channel=received.channel)
                raise Problem(404, BILL_NOT_FOUND, slug="bill-not-found")
            bill_row = dict(found)
            earlier = (await connection.execute(select(payments).where(
                payments.c.channel == received.channel, payments.c.reference == received.reference
            ))).mappings().first()
            if earlier is not None:
                # A retry of a payment already recorded (or a replayed notification): its first outcome.
                return {**payment_view(dict(earlier)), "bill_status": bill_row["status"]}
            payment_id = new_id()
            outcome, after = receive(bill_state(bill_row), payment_id, received.amount, received.paid_at)
            payment = {
                "id": payment_id, "bill_code": code, "channel": received.channel, "reference": received.reference,
                "amount": received.amount, "paid_at": received.paid_at, "outcome": outcome.value, "received_at": now,
                "recorded_by": received.actor.subject,
                "official": orjson.dumps(received.official).decode() if received.official else None,
                "proof_sha256": received.proof_sha256, "voided_at": None, "voided_by": None, "void_reason": None,
            }
            await connection.execute(insert(payments).values(**payment))
            details = {"payment_id": payment_id, "channel": received.channel, "amount": received.amount,
                       "outcome": outcome.value}
            audited = [Audited(received.actor, f"payment.{outcome.value}", "bill", code, details)]
            events: list[dict[str, Any]] = []
            submission = dict((await connection.execute(
                select(submissions).where(submissions.c.id == bill_row["submission_id"]).with_for_update()
            )).mappings().one())
            if after != bill_state(bill_row):
                bill_values = {"status": after.status.value, "paid_by": after.paid_by, "paid_at": after.paid_at}
                if after.status is not BillStatus.UNPAID:
                    bill_values["ended_at"] = now
                if after.status is BillStatus.PAID and bill_row["receipt"] is None:
                    # The kuitansi is made by receipts.py's worker, from this commit on.
                    bill_values["receipt_due_at"] = now
                await connection.execute(update(bills).where(bills.c.code == code).values(**bill_values))
                bill_row.update(bill_values)
                audited.append(Audited(received.actor, f"bill.{after.status.value}", "bill", code,
                                       {"submission_id": submission["id"], "payment_id": payment_id}))
                await self._bill_changed(connection, submission, bill_row, received.actor, now,
                                         note=f"{outcome.value}: {received.reference}")
            view = bill_view(bill_row)
            if outcome is Outcome.PAID:
                events.append(payment_event(submission, "payment.paid", view, now, payment=payment_view(payment)))
            elif outcome is Outcome.MISMATCH:
                events.append(payment_event(submission, "payment.mismatch", view, now, payment=payment_view(payment)))
            else:
                await self._owe(connection, code, payment_id, received.amount, "not_payable", received.actor, now)
            if events:
                await session.execute(INSERT_OUTBOX, events)
            await audit_log.record_all(connection, audit, audited)
            await idempotency.settle(connection, settlement(payment_id))
        if outcome is Outcome.PAID:
            self.wake_receipts()
        return {**payment_view(payment), "bill_status": bill_row["status"]}

    async def _bill_changed(self, connection: Executor, submission: dict[str, Any], bill_row: dict[str, Any],
                            actor: Identity, now: datetime, note: str | None = None) -> None:
        """The submission's copy of its bill, its clock (review waited for this payment) and a
        history entry; the submission's version moves, so a change read before this one retries."""
        values: dict[str, Any] = {"bill": bill_view(bill_row), "version": submission["version"] + 1, "updated_at": now}
        clock = clock_of(submission)
        review_waits = bill_row["stage"] == PaymentStage.BEFORE_REVIEW and submission["status"] == Status.SUBMITTED
        if review_waits and clock is not None:
            # Review waits for payment: the clock runs once paid, and stands again if that payment is voided.
            if bill_row["status"] == BillStatus.PAID and clock.paused:
                values.update(clock_values(clock.resume(self.calendar, now)))
            elif bill_row["status"] == BillStatus.UNPAID and not clock.paused:
                values.update(clock_values(clock.pause(now)))
        elif awaiting(submission) and bill_row["status"] == BillStatus.PAID and clock is not None:
            # The decision waited for this payment: the clock and the step at hand run on, their due
            # moved by the working days they stood. (A void later does not stand them again: the
            # unit awaits anew if it has not decided yet.)
            resumed = clock.resume(self.calendar, now)
            values.update(clock_values(resumed))
            await self._postpone_step(connection, submission, values, resumed.paused_working_days
                                      - clock.paused_working_days)
        await connection.execute(update(submissions).where(submissions.c.id == submission["id"]).values(**values))
        status = Status(submission["status"])
        await connection.execute(insert(history).values(**history_row(
            submission["id"], now, f"bill_{bill_row['status']}", status, status, actor, note=note)))
        submission.update(values)

    async def _postpone_step(self, connection: Executor, submission: dict[str, Any], values: dict[str, Any],
                             working_days: int) -> None:
        """The step at hand (a procedure with roles) and its open visit due `working_days` later."""
        current = step_of_row(submission)
        if current is None or working_days <= 0:
            return
        later = postponed(current, self.calendar, working_days)
        values.update(step_values(later))
        await connection.execute(update(step_visits).where(
            (step_visits.c.submission_id == submission["id"]) & step_visits.c.ended_at.is_(None)
        ).values(due_at=later.due_at))

    # -- the treasurer ----------------------------------------------------------------------------

    def _treasurer(self, identity: Identity) -> dict[str, Any]:
        """The official the caller acts as, who must hold the treasurer role (403 otherwise)."""
        official = identity.official
        if official is None or TREASURER not in official.roles:
            raise Problem(403, TREASURER_ONLY, slug="treasurer-required", role=TREASURER)
        return {"id": official.id, "nip": official.nip, "name": official.name, "position": official.position}

    async def _billed(self, identity: Identity, submission_id: str) -> dict[str, Any]:
        async with self.read_sessions() as session:
            submission = await visible_submission(session, identity, submission_id)
        if not submission.get("bill"):
            raise Problem(404, NO_BILL, slug="bill-not-found")
        return submission

    async def record_by_treasurer(self, identity: Identity, submission_id: str, body: TreasurerPayment | None,
                                  incoming: Incoming | None) -> dict[str, Any]:
        """A payment the unit's treasurer confirms from its proof (NTPN or bank reference), with the
        proof file when sent as multipart (`file`, beside the fields)."""
        # Another unit's submission is unknown (404) before the caller's role is looked at.
        submission = await self._billed(identity, submission_id)
        official = self._treasurer(identity)
        proof = None
        if incoming is not None:
            upload = await read_upload(incoming, store=self.store, limit_for=lambda _: self.max_proof_bytes,
                                       code_field=None, text_fields=PAYMENT_FIELDS)
            try:
                body = treasurer_payment(upload.fields, incoming.language)
            except Problem:
                await upload.writer.abort()
                raise
            _, proof = await keep_upload(upload, EVIDENCE_TYPES, wrong_type=WRONG_PROOF_TYPE, language=incoming.language)
        assert body is not None
        received = Received(channel=TREASURER, reference=body.reference, amount=body.amount, paid_at=body.paid_at,
                            actor=identity, official=official, proof_sha256=proof)
        return await self.record(submission["bill"]["code"], received,
                                 lambda payment_id: idempotency.created(payment_path(payment_id)))

    async def payments_of(self, identity: Identity, submission_id: str) -> dict[str, Any]:
        """The payments of the submission's bill, oldest first; none without a bill."""
        async with self.read_sessions() as session:
            submission = await visible_submission(session, identity, submission_id)
            items = []
            if submission.get("bill"):
                rows = await session.execute(select(payments).where(payments.c.bill_code == submission["bill"]["code"])
                                             .order_by(payments.c.received_at, payments.c.id))
                items = [payment_view(dict(r)) for r in rows.mappings()]
        return {"items": items, "next_cursor": None}

    async def _visible_payment(self, session: Executor, identity: Identity, payment_id: str,
                               lock: bool = False) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """A payment with its bill and submission as the caller may see them (404 otherwise); with
        `lock`, the bill's write lock first (the order every change of a bill takes)."""
        found = (await session.execute(
            select(payments.c.bill_code).where(payments.c.id == payment_id))).scalar_one_or_none()
        bill_query = select(bills).where(bills.c.code == found)
        bill_row = (await session.execute(bill_query.with_for_update() if lock else bill_query)).mappings().first()
        submission = None
        if bill_row is not None:
            submission = (await session.execute(
                select(submissions).where(submissions.c.id == bill_row["submission_id"]))).mappings().first()
        if submission is None or not Visibility.of(identity).allows(submission):
            raise Problem(404, PAYMENT_NOT_FOUND, slug="payment-not-found")
        payment = (await session.execute(select(payments).where(payments.c.id == payment_id))).mappings().one()
        return dict(payment), dict(bill_row), dict(submission)

    async def payment(self, identity: Identity, payment_id: str) -> dict[str, Any]:
        async with self.read_sessions() as session:
            payment, bill_row, _ = await self._visible_payment(session, identity, payment_id)
        return {**payment_view(payment), "bill_status": bill_row["status"]}

    async def void_payment(self, identity: Identity, payment_id: str, reason: str) -> dict[str, Any]:
        """A recorded payment voided by a treasurer other than the one who recorded it; never
        deleted. Voiding the payment that paid the bill makes it unpaid again."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            # Another unit's payment is unknown (404) before the caller's role is looked at.
            payment, bill_row, _ = await self._visible_payment(connection, identity, payment_id, lock=True)
            official = self._treasurer(identity)
            code = bill_row["code"]
            if payment["voided_at"] is not None:
                raise Problem(409, ALREADY_VOIDED, slug="payment-already-voided")
            recorder = orjson.loads(payment["official"]) if payment["official"] else None
            if recorder is not None and recorder["id"] == official["id"]:
                raise Problem(403, FOUR_EYES, slug="another-treasurer-required")
            voided = {"voided_at": now, "voided_by": identity.subject, "void_reason": reason}
            await connection.execute(update(payments).where(payments.c.id == payment_id).values(**voided))
            payment.update(voided)
            audited = [Audited(identity, "payment.voided", "bill", code,
                               {"payment_id": payment_id, "official": official["id"]})]
            if bill_row["paid_by"] == payment_id:
                after = void(bill_state(bill_row), payment_id)
                bill_values = {"status": after.status.value, "paid_by": None, "paid_at": None, "ended_at": None,
                               "receipt_due_at": None}
                if bill_row["receipt"] is not None:
                    # Its kuitansi no longer holds: the receipts worker revokes it.
                    bill_values.update(receipt=None, receipt_revoke=bill_row["receipt"], receipt_due_at=now)
                await connection.execute(update(bills).where(bills.c.code == code).values(**bill_values))
                bill_row.update(bill_values)
                locked = dict((await connection.execute(
                    select(submissions).where(submissions.c.id == bill_row["submission_id"]).with_for_update()
                )).mappings().one())
                await self._bill_changed(connection, locked, bill_row, identity, now, note=reason)
                audited.append(Audited(identity, "bill.unpaid", "bill", code, {"payment_id": payment_id}))
            await audit_log.record_all(connection, audit, audited)
            await idempotency.settle(connection, idempotency.changed(payment_path(payment_id)))
        if bill_row.get("receipt_revoke"):
            self.wake_receipts()
        return {**payment_view(payment), "bill_status": bill_row["status"]}

    # -- reconciliation ---------------------------------------------------------------------------

    async def revenue(self, identity: Identity, period: ReportPeriod, *, unit: str | None,
                      service_code: str | None) -> dict[str, Any]:
        """The revenue report of the caller's unit (an officer), or of any unit (an admin)."""
        if identity.role != "admin":
            # An officer sees its own unit's revenue, whatever unit it names: another's is empty.
            unit = identity.tenant if unit in (None, identity.tenant) else None
            if unit is None:
                return {"period": period.view(), "unit": None, "service_code": service_code,
                        **aggregate([], [], [], period.first_day, period.last_day)}
        scope = []
        if unit is not None:
            scope.append(bills.c.unit == unit)
        if service_code is not None:
            scope.append(bills.c.service_code == service_code)
        start, end = period.start, period.end
        touched = or_(*(and_(column >= start, column < end)
                        for column in (bills.c.created_at, bills.c.paid_at, bills.c.ended_at)))
        async with self.read_sessions() as session:
            bill_rows = [dict(r) for r in (await session.execute(select(bills).where(touched, *scope))).mappings()]
            mismatches = [dict(r) for r in (await session.execute(
                select(payments.c.amount, payments.c.received_at, bills.c.service_code)
                .join(bills, bills.c.code == payments.c.bill_code)
                .where(payments.c.outcome == Outcome.MISMATCH.value, payments.c.voided_at.is_(None),
                       payments.c.received_at >= start, payments.c.received_at < end, *scope))).mappings()]
            refund_rows = [dict(r) for r in (await session.execute(
                select(refunds.c.amount, refunds.c.created_at, bills.c.service_code)
                .join(bills, bills.c.code == refunds.c.bill_code)
                .where(refunds.c.created_at >= start, refunds.c.created_at < end, *scope))).mappings()]
        return {"period": period.view(), "unit": unit, "service_code": service_code,
                **aggregate(bill_rows, mismatches, refund_rows, period.first_day, period.last_day)}

    async def fees_collected(self, period: ReportPeriod, service_code: str | None,
                             unit: str | None) -> dict[str, tuple[int, int]]:
        """Bills paid in the period per service: (count, rupiah), for the public performance report."""
        query = (select(bills.c.service_code, func.count(), func.sum(bills.c.amount))
                 .where(bills.c.status == BillStatus.PAID.value, bills.c.paid_at >= period.start,
                        bills.c.paid_at < period.end).group_by(bills.c.service_code))
        if service_code:
            query = query.where(bills.c.service_code == service_code)
        if unit:
            query = query.where(bills.c.unit == unit)
        async with self.read_sessions() as session:
            return {code: (count, int(amount or 0)) for code, count, amount in await session.execute(query)}

    # -- expiry -----------------------------------------------------------------------------------

    async def due_for_expiry(self) -> list[str]:
        async with self.read_sessions() as session:
            rows = await session.execute(
                select(bills.c.code).where(bills.c.status == BillStatus.UNPAID.value, bills.c.expires_at < self.clock())
                .order_by(bills.c.expires_at).limit(BATCH)
            )
            return [code for (code,) in rows]

    async def expire(self, code: str) -> bool:
        """Unpaid past its expiry -> expired, with `payment.expired`; False when it was paid or
        expired meanwhile (another replica, a payment that came first)."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            connection = await session.connection()
            bill_row = dict((await connection.execute(
                select(bills).where(bills.c.code == code).with_for_update())).mappings().one())
            after = expire(bill_state(bill_row), now)
            if after.status is BillStatus(bill_row["status"]):
                return False
            await connection.execute(update(bills).where(bills.c.code == code, bills.c.status == BillStatus.UNPAID.value)
                                     .values(status=after.status.value, ended_at=now))
            bill_row.update(status=after.status.value, ended_at=now)
            submission = dict((await connection.execute(
                select(submissions).where(submissions.c.id == bill_row["submission_id"]).with_for_update()
            )).mappings().one())
            await self._bill_changed(connection, submission, bill_row, EXPIRY, now)
            await session.execute(INSERT_OUTBOX, [payment_event(submission, "payment.expired", bill_view(bill_row), now)])
            await audit_log.record_all(connection, audit, [Audited(
                EXPIRY, "bill.expired", "bill", code, {"submission_id": submission["id"]})])
        return True

    def expiry_worker(self, poll_seconds: float) -> Worker:
        return Worker("simpul-submissions-bill-expiry", claim=self.due_for_expiry, process=each(self.expire),
                      poll_seconds=poll_seconds, batch_size=BATCH, logger=log)
