"""Payments through the submissions API: a bill at submission, the public bill, the review held
back until paid (its SLA clock standing still), a provider's signed notification (valid, replayed,
wrongly signed, stale), a mismatch, expiry and a late payment owed back, bad input refused with
nothing written."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from simpul.submissions.models import outbox
from simpul.submissions.payments.codes import luhn_digit
from simpul.submissions.payments.models import bills, payments, refunds
from simpul.shared.identity import Official
from tests.api.submissions.conftest import OTHER_UNIT, PDF, UNIT, admin, applicant, officer
from tests.support.identity import anonymous, as_role

FEE = {"amount": 150000, "currency": "IDR", "legal_basis": "Perda 3/2024", "payment_stage": "before_review",
       "refundable": True}


@pytest.fixture
async def paying(harness):
    harness.catalog.publish("IZIN-USAHA", fee=FEE)
    return harness


async def provider(harness, name: str = "Bank Jatim VA") -> dict:
    response = await harness.client.post("/v1/admin/payment-providers", json={"name": name}, headers=admin())
    assert response.status_code == 201, response.text
    return response.json()


async def notify(harness, secret: str, body: dict | bytes, *, at: datetime | None = None, msg_id: str = "msg_1",
                 signature: str | None = None):
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    at = at or datetime.now(UTC)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature or Webhook(secret).sign(msg_id, at, raw.decode()),
        "content-type": "application/json",
    }
    return await harness.client.post("/v1/payments/notifications", content=raw,
                                     headers={**anonymous("submissions"), **headers})


def paid(bill: dict, reference: str = "NTPN0001", amount: int | None = None) -> dict:
    return {"bill_code": bill["code"], "amount": bill["amount"] if amount is None else amount,
            "paid_at": datetime.now(UTC).isoformat(), "reference": reference}


async def count(harness, table) -> int:
    async with harness.app.state.read_sessions() as session:
        return (await session.execute(select(func.count()).select_from(table))).scalar_one()


async def event_types(harness, submission_id: str) -> list[str]:
    async with harness.app.state.read_sessions() as session:
        rows = await session.execute(select(outbox.c.type).where(outbox.c.subject == f"submissions/{submission_id}")
                                     .order_by(outbox.c.position))
        return [t for (t,) in rows]


async def test_a_free_or_outside_collected_fee_never_sees_a_bill(harness):
    submitted = await harness.submitted()
    assert "bill" not in submitted
    assert "payment_stage" not in submitted["fee"]
    assert await count(harness, bills) == 0


async def test_submitting_a_paying_service_bills_and_review_waits_with_the_clock_still(paying):
    submitted = await paying.submitted()
    bill = submitted["bill"]
    assert bill["amount"] == 150000 and bill["status"] == "unpaid" and bill["paid_at"] is None
    assert len(bill["code"]) == 15 and luhn_digit(bill["code"][:-1]) == bill["code"][-1]
    # The end of the 7th calendar day after today, Asia/Jakarta.
    assert datetime.fromisoformat(bill["expires_at"]).utcoffset() is not None
    assert submitted["sla"]["paused"] is True
    assert submitted["fee"]["payment_stage"] == "before_review"
    refused = await paying.act(submitted["id"], "start_review")
    assert refused.status_code == 409 and refused.json()["bill_status"] == "unpaid"
    unit_view = (await paying.client.get(f"/v1/submissions/{submitted['id']}", headers=officer())).json()
    assert unit_view["bill"] == bill
    assert await event_types(paying, submitted["id"]) == ["submission.status_changed", "submission.submitted",
                                                         "payment.billed"]


async def test_the_public_bill_shows_no_personal_data(paying):
    submitted = await paying.submitted()
    code = submitted["bill"]["code"]
    response = await paying.client.get(f"/v1/bills/{code}", headers=anonymous("submissions"))
    assert response.status_code == 200
    body = response.json()
    assert body == {**submitted["bill"], "currency": "IDR", "service_code": "IZIN-USAHA",
                    "service_name": submitted["service_name"], "unit": UNIT}
    assert "Siti" not in response.text and "example.go.id" not in response.text
    # Spaces as people write it are fine; a wrong check digit or an unknown code is not.
    spaced = await paying.client.get(f"/v1/bills/{code[:5]} {code[5:10]} {code[10:]}", headers=anonymous("submissions"))
    assert spaced.status_code == 200
    wrong_digit = code[:-1] + str((int(code[-1]) + 1) % 10)
    assert (await paying.client.get(f"/v1/bills/{wrong_digit}", headers=anonymous("submissions"))).status_code == 422
    unknown = "1" * 14
    unknown += luhn_digit(unknown)
    missing = await paying.client.get(f"/v1/bills/{unknown}", headers=anonymous("submissions"))
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


async def test_a_signed_notification_pays_the_bill_once_and_review_starts(paying):
    submitted = await paying.submitted()
    secret = (await provider(paying))["secret"]
    assert secret.startswith("whsec_")
    body = paid(submitted["bill"])
    first = await notify(paying, secret, body)
    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "paid" and first.json()["bill_status"] == "paid"
    # The same notification again (a provider's retry, or a replay): the first outcome, nothing new.
    again = await notify(paying, secret, body, msg_id="msg_2")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert await count(paying, payments) == 1
    view = (await paying.client.get(f"/v1/submissions/{submitted['id']}", headers=applicant())).json()
    assert view["bill"]["status"] == "paid" and view["bill"]["paid_at"] is not None
    assert view["sla"]["paused"] is False
    assert (await paying.act(submitted["id"], "start_review")).status_code == 200
    assert "payment.paid" in await event_types(paying, submitted["id"])
    history = (await paying.client.get(f"/v1/submissions/{submitted['id']}/history", headers=applicant())).json()
    assert "bill_paid" in [entry["action"] for entry in history["items"]]


async def test_wrong_or_stale_signatures_are_refused_and_write_nothing(paying, caplog):
    submitted = await paying.submitted()
    secret = (await provider(paying))["secret"]
    other = Webhook("whsec_" + "A" * 43)
    body = paid(submitted["bill"])
    raw = orjson.dumps(body)
    now = datetime.now(UTC)
    forged = await notify(paying, secret, body, signature=other.sign("msg_1", now, raw.decode()))
    stale = await notify(paying, secret, body, at=now - timedelta(minutes=6))
    future = await notify(paying, secret, body, at=now + timedelta(minutes=6))
    garbage = await notify(paying, secret, body, signature="v1")
    for refused in (forged, stale, future, garbage):
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    assert await count(paying, payments) == 0
    assert "payment_notification_refused" in caplog.text


async def test_another_amount_is_a_mismatch_and_never_pays(paying):
    submitted = await paying.submitted()
    secret = (await provider(paying))["secret"]
    response = await notify(paying, secret, paid(submitted["bill"], amount=100000))
    assert response.status_code == 200 and response.json()["outcome"] == "mismatch"
    assert response.json()["bill_status"] == "unpaid"
    assert "payment.mismatch" in await event_types(paying, submitted["id"])
    assert (await paying.act(submitted["id"], "start_review")).status_code == 409


@pytest.mark.parametrize("amount", [150000.0, 150000.5, -150000, 0, "150000", 10**12 + 1])
async def test_amounts_that_are_not_whole_positive_rupiah_within_the_ceiling_are_refused(paying, amount):
    submitted = await paying.submitted()
    secret = (await provider(paying))["secret"]
    response = await notify(paying, secret, paid(submitted["bill"]) | {"amount": amount})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "amount"
    assert await count(paying, payments) == 0


async def test_malformed_or_unknown_codes_in_a_notification_are_refused(paying):
    submitted = await paying.submitted()
    secret = (await provider(paying))["secret"]
    code = submitted["bill"]["code"]
    malformed = await notify(paying, secret, paid(submitted["bill"]) | {"bill_code": code[:-1] + "x"})
    assert malformed.status_code == 422
    unknown = "2" * 14
    unknown += luhn_digit(unknown)
    missing = await notify(paying, secret, paid(submitted["bill"]) | {"bill_code": unknown})
    assert missing.status_code == 404
    assert await count(paying, payments) == 0


async def test_an_expired_bill_takes_no_payment_and_a_late_one_is_owed_back(paying):
    submitted = await paying.submitted()
    secret = (await provider(paying))["secret"]
    paying.clock.advance(timedelta(days=9))
    assert await paying.app.state.payments.expire(submitted["bill"]["code"]) is True
    view = (await paying.client.get(f"/v1/submissions/{submitted['id']}", headers=applicant())).json()
    assert view["bill"]["status"] == "expired"
    assert "payment.expired" in await event_types(paying, submitted["id"])
    late = await notify(paying, secret, paid(submitted["bill"]))
    assert late.status_code == 200 and late.json()["outcome"] == "refund_due"
    assert late.json()["bill_status"] == "expired"
    assert await count(paying, refunds) == 1


async def test_cancelling_cancels_the_unpaid_bill(paying):
    submitted = await paying.submitted()
    response = await paying.client.post(f"/v1/submissions/{submitted['id']}/cancel", json={}, headers=applicant())
    assert response.status_code == 200, response.text
    assert response.json()["bill"]["status"] == "cancelled"


async def test_before_issue_holds_back_approval_until_paid(harness):
    harness.catalog.publish("IZIN-USAHA", fee={**FEE, "payment_stage": "before_issue"})
    submitted = await harness.submitted()
    assert submitted["sla"]["paused"] is False
    assert (await harness.act(submitted["id"], "start_review")).status_code == 200
    assert (await harness.act(submitted["id"], "approve")).status_code == 409
    secret = (await provider(harness))["secret"]
    assert (await notify(harness, secret, paid(submitted["bill"]))).json()["outcome"] == "paid"
    assert (await harness.act(submitted["id"], "approve")).status_code == 200


WIB = timedelta(hours=7)


def wib(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC) - WIB


async def test_a_decision_awaiting_payment_stands_the_clock_until_paid(harness):
    harness.catalog.publish("IZIN-USAHA", fee={**FEE, "payment_stage": "before_issue"})
    harness.clock.set(wib(3, 2))  # Monday; 5 working days: due Monday 9 March
    submitted = await harness.submitted()
    sid = submitted["id"]
    assert submitted["due_at"].startswith("2026-03-09")
    in_review = (await harness.act(sid, "start_review")).json()
    # The unit sees that approve waits for the bill, and that it may await the payment.
    assert "approve" not in in_review["allowed_actions"] and "await_payment" in in_review["allowed_actions"]
    harness.clock.set(wib(3, 3))
    awaiting = await harness.act(sid, "await_payment")
    assert awaiting.status_code == 200, awaiting.text
    view = awaiting.json()
    assert view["status"] == "in_review" and view["sla"]["paused"] is True
    assert "await_payment" not in view["allowed_actions"]
    again = await harness.act(sid, "await_payment")
    assert again.status_code == 409 and again.json()["type"].endswith(":no-payment-to-await")
    assert "sudah menunggu" in again.json()["detail"]
    in_english = await harness.client.post(f"/v1/submissions/{sid}/actions", json={"action": "await_payment"},
                                           headers={**officer(), "Accept-Language": "en"})
    assert "already waits" in in_english.json()["detail"] and "menunggu" not in in_english.json()["detail"]
    assert (await harness.act(sid, "approve")).status_code == 409
    (event,) = [e for e in (await events_of(harness, sid)) if e["type"] == "payment.awaited"]
    assert event["data"]["bill"]["code"] == submitted["bill"]["code"]
    # Paid on Friday: the three working days it stood (4, 5, 6 March) move the due date.
    harness.clock.set(wib(3, 6))
    secret = (await provider(harness))["secret"]
    body = {**paid(submitted["bill"]), "paid_at": wib(3, 6).isoformat()}
    assert (await notify(harness, secret, body)).json()["outcome"] == "paid"
    view = (await harness.client.get(f"/v1/submissions/{sid}", headers=officer())).json()
    assert view["sla"]["paused"] is False and view["due_at"].startswith("2026-03-12")
    assert "approve" in view["allowed_actions"] and "await_payment" not in view["allowed_actions"]
    approved = (await harness.act(sid, "approve")).json()
    # Used: 3 March only (2 March was the day of submission; 4-6 March were the applicant's).
    assert approved["sla"]["used"] == 1 and approved["sla"]["overdue"] is False
    history = (await harness.client.get(f"/v1/submissions/{sid}/history", headers=applicant())).json()["items"]
    assert [entry["action"] for entry in history if entry["action"] in ("await_payment", "bill_paid", "approve")] == [
        "await_payment", "bill_paid", "approve"]


async def events_of(harness, submission_id: str) -> list[dict]:
    async with harness.app.state.read_sessions() as session:
        rows = await session.execute(select(outbox.c.type, outbox.c.data)
                                     .where(outbox.c.subject == f"submissions/{submission_id}")
                                     .order_by(outbox.c.position))
        return [{"type": r.type, "data": r.data} for r in rows]


def official(id: str, nip_end: str, *roles: str) -> Official:
    return Official(id=id, nip=f"1985033020100110{nip_end}", name=f"Pejabat {id}", position="Pejabat uji",
                    roles=roles)


VERIFIER = official("off-verifier", "01", "verifier")
SIGNER = official("off-signer", "04", "signer")


def as_official(who: Official) -> dict[str, str]:
    return as_role("submissions", "officer", UNIT, subject="cli-officer", official=who)


async def test_with_a_procedure_the_signer_awaits_the_payment_and_the_step_is_not_late_meanwhile(harness):
    harness.catalog.publish("IZIN-USAHA", fee={**FEE, "payment_stage": "before_issue"}, sla_working_days=5, procedure=[
        {"step": 1, "title": "Verifikasi", "actor": "Verifikator", "role": "verifier", "working_days": 2},
        {"step": 2, "title": "Penandatanganan", "actor": "Kepala Dinas", "role": "signer", "working_days": 1},
    ])
    for who in (VERIFIER, SIGNER):
        harness.officials.add(who)
    harness.clock.set(wib(3, 2))
    sid = (await harness.submitted())["id"]

    async def act(action: str, who: Official):
        return await harness.client.post(f"/v1/submissions/{sid}/actions", json={"action": action},
                                         headers=as_official(who))

    assert (await act("start_review", VERIFIER)).status_code == 200
    # Not before the last step, where the decision is.
    early = await act("await_payment", VERIFIER)
    assert early.status_code == 409 and early.json()["type"].endswith(":invalid-step")
    forwarded = (await act("forward", VERIFIER)).json()
    assert forwarded["current_step"]["due_at"].startswith("2026-03-03")
    assert "await_payment" in (await harness.client.get(f"/v1/submissions/{sid}",
                                                        headers=as_official(SIGNER))).json()["allowed_actions"]
    assert (await act("await_payment", VERIFIER)).status_code == 403  # the step is the signer's
    assert (await act("await_payment", SIGNER)).status_code == 200
    # A week later the signer's step is past its due time, but it waits for the applicant.
    harness.clock.set(wib(3, 9))
    watch = harness.app.state.step_overdue
    assert await watch.run_once() == 0
    assert (await harness.client.get("/v1/submissions?step_overdue=true", headers=officer())).json()["items"] == []
    # Paid on Monday 9 March: the step stood 3, 4, 5, 6 and 9 March, and is due five working days later.
    secret = (await provider(harness))["secret"]
    body = {**paid((await harness.client.get(f"/v1/submissions/{sid}", headers=officer())).json()["bill"]),
            "paid_at": wib(3, 9).isoformat()}
    assert (await notify(harness, secret, body)).json()["outcome"] == "paid"
    view = (await harness.client.get(f"/v1/submissions/{sid}", headers=as_official(SIGNER))).json()
    assert view["current_step"]["due_at"].startswith("2026-03-10") and view["sla"]["paused"] is False
    assert await watch.run_once() == 0
    assert (await act("approve", SIGNER)).status_code == 200


async def test_await_payment_is_refused_with_nothing_to_await_and_writes_nothing(harness):
    free = await harness.submitted()
    assert (await harness.act(free["id"], "start_review")).status_code == 200
    harness.catalog.publish("IZIN-USAHA", fee={**FEE, "payment_stage": "before_issue"})
    paid_first = await harness.submitted()
    secret = (await provider(harness))["secret"]
    assert (await notify(harness, secret, paid(paid_first["bill"]))).json()["outcome"] == "paid"
    assert (await harness.act(paid_first["id"], "start_review")).status_code == 200
    not_in_review = await harness.submitted()
    for sid, status in ((free["id"], 409), (paid_first["id"], 409), (not_in_review["id"], 409)):
        before = (await harness.client.get(f"/v1/submissions/{sid}/history", headers=admin())).json()["items"]
        refused = await harness.act(sid, "await_payment")
        assert refused.status_code == status and refused.headers["content-type"] == "application/problem+json"
        after = (await harness.client.get(f"/v1/submissions/{sid}/history", headers=admin())).json()["items"]
        assert after == before
    # Applicants never await a payment.
    by_applicant = await harness.client.post(f"/v1/submissions/{paid_first['id']}/actions",
                                             json={"action": "await_payment"}, headers=applicant())
    assert by_applicant.status_code == 403


async def test_only_admins_register_providers_and_names_are_unique(harness):
    assert (await harness.client.post("/v1/admin/payment-providers", json={"name": "X"},
                                      headers=officer())).status_code == 403
    await provider(harness, "QRIS BPD")
    again = await harness.client.post("/v1/admin/payment-providers", json={"name": "QRIS BPD"}, headers=admin())
    assert again.status_code == 409


def treasurer(official_id: str = "off-bendahara-1", roles: tuple[str, ...] = ("treasurer",)) -> dict[str, str]:
    who = Official(id=official_id, nip="198503152010011001", name="Rina Kartika, S.E.", position="Bendahara Penerimaan",
                   roles=roles)
    return as_role("submissions", "officer", UNIT, subject="cli-officer", official=who)


async def test_the_treasurer_records_a_payment_with_its_proof_file_and_another_voids_it(paying):
    submitted = await paying.submitted()
    path = f"/v1/submissions/{submitted['id']}/payments"
    form = {"reference": "NTPN7788990011223344", "amount": "150000", "paid_at": datetime.now(UTC).isoformat()}
    proof = {"file": ("bukti-setor.pdf", PDF, "application/pdf")}
    recorded = await paying.client.post(path, data=form, files=proof, headers=treasurer())
    assert recorded.status_code == 201, recorded.text
    payment = recorded.json()
    assert payment["outcome"] == "paid" and payment["channel"] == "treasurer" and payment["bill_status"] == "paid"
    assert recorded.headers["location"] == f"/v1/payments/{payment['id']}"
    assert (await paying.client.get(f"/v1/payments/{payment['id']}", headers=applicant())).json() == payment
    assert (await paying.client.get(f"/v1/payments/{payment['id']}", headers=applicant("32"))).status_code == 404
    async with paying.app.state.read_sessions() as session:
        (sha,) = (await session.execute(select(payments.c.proof_sha256))).one()
    assert sha is not None and len(sha) == 64
    assert (await paying.act(submitted["id"], "start_review")).status_code == 200
    # The same treasurer may not void what it recorded; another one may, with a reason.
    void = f"/v1/payments/{payment['id']}/void"
    same = await paying.client.post(void, json={"reason": "Salah tagihan"}, headers=treasurer())
    assert same.status_code == 403
    voided = await paying.client.post(void, json={"reason": "Salah tagihan"}, headers=treasurer("off-bendahara-2"))
    assert voided.status_code == 200, voided.text
    assert voided.json()["voided_at"] is not None and voided.json()["bill_status"] == "unpaid"
    again = await paying.client.post(void, json={"reason": "Lagi"}, headers=treasurer("off-bendahara-2"))
    assert again.status_code == 409
    listed = (await paying.client.get(path, headers=applicant())).json()["items"]
    assert [item["id"] for item in listed] == [payment["id"]] and listed[0]["voided_at"] is not None
    view = (await paying.client.get(f"/v1/submissions/{submitted['id']}", headers=officer())).json()
    assert view["bill"]["status"] == "unpaid"
    history = (await paying.client.get(f"/v1/submissions/{submitted['id']}/history", headers=officer())).json()
    actions = [entry["action"] for entry in history["items"]]
    assert actions[-3:] == ["bill_paid", "start_review", "bill_unpaid"]
    assert history["items"][-1]["note"] == "Salah tagihan"


async def test_the_treasurer_records_json_and_only_treasurers_may(paying):
    submitted = await paying.submitted()
    path = f"/v1/submissions/{submitted['id']}/payments"
    body = {"reference": "TRX-001", "amount": 150000, "paid_at": datetime.now(UTC).isoformat()}
    assert (await paying.client.post(path, json=body, headers=officer())).status_code == 403
    assert (await paying.client.post(path, json=body, headers=treasurer(roles=("verifier",)))).status_code == 403
    for bad in ({**body, "amount": 150000.5}, {**body, "amount": -1}, {**body, "amount": 10**13},
                {**body, "paid_at": "2026-12-03T10:00:00"}, {**body, "extra": 1}):
        refused = await paying.client.post(path, json=bad, headers=treasurer())
        assert refused.status_code == 422, (bad, refused.text)
    bad_form = await paying.client.post(path, data={**body, "amount": "150.000"},
                                        files={"file": ("b.pdf", PDF, "application/pdf")}, headers=treasurer())
    assert bad_form.status_code == 422 and bad_form.json()["errors"][0]["field"] == "amount"
    assert await count(paying, payments) == 0
    recorded = await paying.client.post(path, json=body, headers=treasurer())
    assert recorded.status_code == 201 and recorded.json()["outcome"] == "paid"
    # The same reference again changes nothing.
    again = await paying.client.post(path, json=body, headers=treasurer())
    assert again.json()["id"] == recorded.json()["id"] and await count(paying, payments) == 1


async def test_a_paid_bill_gets_its_kuitansi_for_the_bills_amount_once(paying):
    submitted = await paying.submitted()
    secret = (await provider(paying))["secret"]
    assert (await notify(paying, secret, paid(submitted["bill"]))).status_code == 200
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        bill = (await paying.client.get(f"/v1/submissions/{submitted['id']}", headers=applicant())).json()["bill"]
        if "payment_receipt" in bill or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    receipt = bill["payment_receipt"]
    assert set(receipt) == {"document_id", "verify_url"}
    (asked,) = [body for body in paying.signatures.requests if body.get("kind") == "payment_receipt"]
    payment_id = (await paying.client.get(f"/v1/submissions/{submitted['id']}/payments",
                                          headers=applicant())).json()["items"][0]["id"]
    assert asked["submission_id"] == f"{bill['code']}.{payment_id}"
    assert asked["payment"]["amount"] == bill["amount"] == submitted["fee"]["amount"]
    assert asked["payment"]["bill_code"] == bill["code"] and asked["payment"]["channel"] == "provider"
    # The public bill shows no document of the payer's.
    public = (await paying.client.get(f"/v1/bills/{bill['code']}", headers=anonymous("submissions"))).json()
    assert "payment_receipt" not in public


async def test_a_paid_fee_is_owed_back_when_the_submission_ends_and_the_standard_refunds(paying):
    submitted = await paying.submitted()
    secret = (await provider(paying))["secret"]
    assert (await notify(paying, secret, paid(submitted["bill"]))).json()["outcome"] == "paid"
    cancelled = await paying.client.post(f"/v1/submissions/{submitted['id']}/cancel", json={}, headers=applicant())
    assert cancelled.status_code == 200 and cancelled.json()["bill"]["status"] == "paid"
    async with paying.app.state.read_sessions() as session:
        (row,) = (await session.execute(select(refunds))).mappings().all()
    assert row["amount"] == 150000 and row["reason"] == "submission_cancelled"


async def test_a_fee_that_is_not_refundable_is_kept(harness):
    harness.catalog.publish("IZIN-USAHA", fee={**FEE, "refundable": False})
    submitted = await harness.submitted()
    secret = (await provider(harness))["secret"]
    assert (await notify(harness, secret, paid(submitted["bill"]))).json()["outcome"] == "paid"
    assert (await harness.client.post(f"/v1/submissions/{submitted['id']}/cancel", json={},
                                      headers=applicant())).status_code == 200
    assert await count(harness, refunds) == 0


async def test_the_revenue_report_reconciles_per_service_and_day(paying):
    secret = (await provider(paying))["secret"]
    paid_one = await paying.submitted()
    assert (await notify(paying, secret, paid(paid_one["bill"]))).json()["outcome"] == "paid"
    mismatched = await paying.submitted()
    assert (await notify(paying, secret, paid(mismatched["bill"], "R-2", amount=1000))).json()["outcome"] == "mismatch"
    cancelled = await paying.submitted()
    await paying.client.post(f"/v1/submissions/{cancelled['id']}/cancel", json={}, headers=applicant())
    deadline = asyncio.get_running_loop().time() + 5
    while "payment_receipt" not in (await paying.client.get(f"/v1/submissions/{paid_one['id']}",
                                                            headers=applicant())).json()["bill"]:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    report = await paying.client.get("/v1/reports/revenue", headers=officer())
    assert report.status_code == 200, report.text
    body = report.json()
    (row,) = body["items"]
    assert row["service_code"] == "IZIN-USAHA"
    assert row["billed"] == {"count": 3, "amount": 450000}
    assert row["paid"] == {"count": 1, "amount": 150000}
    assert row["outstanding"] == {"count": 1, "amount": 150000}
    assert row["mismatched"] == {"count": 1, "amount": 1000}
    assert body["totals"]["billed"]["amount"] == 450000
    assert body["kuitansi_check"] == {"paid_bills": 1, "with_kuitansi": 1, "missing": [], "wrong_amount": [],
                                      "consistent": True}
    csv = await paying.client.get("/v1/reports/revenue", headers={**officer(), "Accept": "text/csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("date,service_code,billed_count,billed_amount") and lines[-1].startswith("total,")
    # Another unit's officer sees nothing of this unit's revenue; an applicant may not ask.
    other = (await paying.client.get("/v1/reports/revenue", headers=officer(OTHER_UNIT))).json()
    assert other["items"] == [] and other["totals"]["billed"]["count"] == 0
    assert (await paying.client.get("/v1/reports/revenue", params={"unit": UNIT},
                                    headers=officer(OTHER_UNIT))).json()["items"] == []
    assert (await paying.client.get("/v1/reports/revenue", headers=applicant())).status_code == 403
    assert (await paying.client.get("/v1/reports/revenue", params={"from": "2026-02-01", "to": "2026-01-01"},
                                    headers=admin())).status_code == 422
    assert (await paying.client.get("/v1/reports/revenue", params={"unit": UNIT},
                                    headers=admin())).json()["totals"]["paid"]["count"] == 1


async def test_the_public_performance_report_shows_fees_collected_per_service(paying):
    secret = (await provider(paying))["secret"]
    for _ in range(2):
        submitted = await paying.submitted()
        assert (await notify(paying, secret, paid(submitted["bill"], f"R-{submitted['id']}"))).status_code == 200
    await paying.submitted()  # billed, unpaid: not collected
    report = (await paying.client.get("/v1/reports/performance", headers=anonymous("submissions"))).json()
    (row,) = [row for row in report["services"] if row["service_code"] == "IZIN-USAHA"]
    assert row["fees_collected"] == {"count": 2, "amount": 300000}
    assert report["total"]["fees_collected"] == {"count": 2, "amount": 300000}

    # The same figures in the CSV (last columns) and on the page.
    csv_text = (await paying.client.get("/v1/reports/performance",
                                        headers={**anonymous("submissions"), "Accept": "text/csv"})).text
    lines = list(csv.DictReader(io.StringIO(csv_text)))
    assert all(None not in line and None not in line.values() for line in lines)  # every row as wide as the header
    (izin,) = [line for line in lines if line["scope"] == "service" and line["service_code"] == "IZIN-USAHA"]
    assert (izin["fees_collected_count"], izin["fees_collected_amount"]) == ("2", "300000")
    (total,) = [line for line in lines if line["scope"] == "total"]
    assert total["fees_collected_amount"] == "300000"
    page = (await paying.client.get("/v1/reports/performance",
                                    headers={**anonymous("submissions"), "Accept": "text/html"})).text
    assert "Biaya terkumpul" in page and "Rp 300.000 (2 pembayaran)" in page


async def test_treasurer_calls_with_an_idempotency_key_take_effect_once(paying):
    submitted = await paying.submitted()
    path = f"/v1/submissions/{submitted['id']}/payments"
    body = {"reference": "TRX-KEY-1", "amount": 150000, "paid_at": datetime.now(UTC).isoformat()}
    first = await paying.client.post(path, json=body, headers={**treasurer(), "Idempotency-Key": "pay-1"})
    again = await paying.client.post(path, json=body, headers={**treasurer(), "Idempotency-Key": "pay-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    other = await paying.client.post(path, json={**body, "reference": "TRX-KEY-2"},
                                     headers={**treasurer(), "Idempotency-Key": "pay-1"})
    assert other.status_code == 409
    void = f"/v1/payments/{first.json()['id']}/void"
    headers = {**treasurer("off-bendahara-2"), "Idempotency-Key": "void-1"}
    voided = await paying.client.post(void, json={"reason": "Salah"}, headers=headers)
    repeated = await paying.client.post(void, json={"reason": "Salah"}, headers=headers)
    assert voided.status_code == repeated.status_code == 200 and repeated.json() == voided.json()
    assert await count(paying, payments) == 1


async def test_voiding_the_paying_payment_revokes_its_kuitansi_and_a_new_payment_gets_a_new_one(paying):
    submitted = await paying.submitted()
    path = f"/v1/submissions/{submitted['id']}/payments"

    async def bill_when(ready) -> dict:
        deadline = asyncio.get_running_loop().time() + 5
        while not ready(bill := (await paying.client.get(f"/v1/submissions/{submitted['id']}",
                                                         headers=applicant())).json()["bill"]):
            assert asyncio.get_running_loop().time() < deadline, bill
            await asyncio.sleep(0.05)
        return bill

    body = {"reference": "TRX-V-1", "amount": 150000, "paid_at": datetime.now(UTC).isoformat()}
    first = (await paying.client.post(path, json=body, headers=treasurer())).json()
    receipt = (await bill_when(lambda bill: "payment_receipt" in bill))["payment_receipt"]
    voided = await paying.client.post(f"/v1/payments/{first['id']}/void", json={"reason": "NTPN salah"},
                                      headers=treasurer("off-bendahara-2"))
    assert voided.status_code == 200
    assert "payment_receipt" not in (await bill_when(lambda bill: "payment_receipt" not in bill))
    deadline = asyncio.get_running_loop().time() + 5
    while receipt["document_id"] not in paying.signatures.revoked:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    second = (await paying.client.post(path, json={**body, "reference": "TRX-V-2"}, headers=treasurer())).json()
    assert second["outcome"] == "paid"
    renewed = (await bill_when(lambda bill: "payment_receipt" in bill))["payment_receipt"]
    assert renewed["document_id"] != receipt["document_id"]


async def test_a_kuitansi_made_while_its_payment_was_voided_is_revoked_not_kept(paying):
    submitted = await paying.submitted()
    await paying.app.state.kuitansi.stop()  # this test drives the worker's steps itself
    path = f"/v1/submissions/{submitted['id']}/payments"
    body = {"reference": "TRX-R-1", "amount": 150000, "paid_at": datetime.now(UTC).isoformat()}
    payment = (await paying.client.post(path, json=body, headers=treasurer())).json()
    receipts = paying.app.state.receipts
    code = submitted["bill"]["code"]
    # The worker asked signatures; meanwhile the payment is voided; then the answer is recorded.
    asked = await receipts._call({"submission_id": f"{code}.{payment['id']}", "unit": UNIT,
                                  "payment": {"amount": 150000}})
    assert (await paying.client.post(f"/v1/payments/{payment['id']}/void", json={"reason": "x"},
                                     headers=treasurer("off-bendahara-2"))).status_code == 200
    await receipts.record(code, asked, payment["id"])
    assert "payment_receipt" not in (await paying.client.get(f"/v1/submissions/{submitted['id']}",
                                                             headers=applicant())).json()["bill"]
    assert await receipts.issue(code) is True
    assert asked["document_id"] in paying.signatures.revoked
