"""Payments through the gateway, every service a real process (SQLite by default, PostgreSQL with
SIMPUL_TEST_POSTGRES): a paid service from submission to a paid bill, by a provider's signed
callback and by the unit's treasurer with a proof file, the public bill, and the events in the
applicant's inbox, and the kuitansi validated by pyHanko trusting only the published root."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from tests.api.signatures.test_independent import pyhanko_status
from tests.e2e.test_foundation import service_body
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET

pytestmark = [pytest.mark.e2e, pytest.mark.shared_system]  # see tests/e2e/conftest.py

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
FEE = {"amount": 150000, "currency": "IDR", "legal_basis": "Perda Kota Uji 3/2024 tentang Retribusi",
       "payment_stage": "before_review"}
TREASURERS = (("198503302010011011", "Rina Kartika, S.E."), ("198503302010011012", "Yusuf Hakim, S.E."))


@pytest.fixture(scope="module")
def paying(api, system):
    admin = api.as_client(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    unit = f"E2E-{uuid.uuid4().hex[:6].upper()}"
    code = f"BAYAR-{uuid.uuid4().hex[:8].upper()}"
    assert admin.post("/v1/services", json={**service_body(code, unit), "fee": FEE}).status_code == 201
    assert admin.post(f"/v1/services/{code}/publish").status_code == 200
    officer = api.create_client(admin, "officer", unit)
    officer_client = api.as_client(officer["client_id"], officer["client_secret"])
    treasurers = []
    for nip, name in TREASURERS:
        registered = officer_client.post("/v1/officials", json={
            "nip": nip, "name": name, "position": "Bendahara Penerimaan", "roles": ["treasurer"]})
        assert registered.status_code == 201, registered.text
        grant = api.http.post("/v1/oauth/token", data={
            "grant_type": "client_credentials", "client_id": officer["client_id"],
            "client_secret": officer["client_secret"], "official": nip})
        assert grant.status_code == 200, grant.text
        treasurers.append(httpx.Client(base_url=api.base_url, timeout=30.0,
                                       headers={"Authorization": f"Bearer {grant.json()['access_token']}"}))
    anonymous = httpx.Client(base_url=system.gateway_url, timeout=30.0)
    applicant = api.client_for(admin, "applicant", "31")
    yield {"code": code, "unit": unit, "admin": admin, "officer": officer_client, "treasurers": treasurers,
           "anonymous": anonymous, "applicant": applicant}
    for client in (admin, officer_client, anonymous, applicant, *treasurers):
        client.close()


def submitted(paying: dict, code: str | None = None) -> dict:
    applicant = paying["applicant"]
    created = applicant.post("/v1/submissions", json={
        "service_code": code or paying["code"], "applicant": {"name": "Siti Rahma", "email": "siti.bayar@example.go.id"},
        "data": {"perihal": "Permohonan izin berbayar"}})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    uploaded = applicant.post(f"/v1/submissions/{sid}/documents", data={"requirement_code": "SURAT"},
                              files={"file": ("surat.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    answer = applicant.post(f"/v1/submissions/{sid}/submit")
    assert answer.status_code == 200, answer.text
    return answer.json()


def signed(secret: str, body: dict, at: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(body)
    at = at or datetime.now(UTC)
    message_id = f"msg_{uuid.uuid4().hex}"
    return raw, {"content-type": "application/json", "webhook-id": message_id,
                 "webhook-timestamp": str(int(at.timestamp())),
                 "webhook-signature": Webhook(secret).sign(message_id, at, raw.decode())}


def inbox_types(applicant: httpx.Client, submission_id: str, wanted: set[str], timeout: float = 30.0) -> set[str]:
    deadline = time.monotonic() + timeout
    while True:
        items = applicant.get("/v1/notifications", params={"limit": 200}).json()["items"]
        found = {item["event_type"] for item in items if item.get("submission_id") == submission_id}
        if wanted <= found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def wait_for_receipt(applicant: httpx.Client, sid: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while "payment_receipt" not in (bill := applicant.get(f"/v1/submissions/{sid}").json()["bill"]):
        assert time.monotonic() < deadline, bill
        time.sleep(0.2)
    return bill["payment_receipt"]


def test_a_provider_pays_the_bill_and_review_starts(paying):
    submission = submitted(paying)
    bill = submission["bill"]
    assert bill["amount"] == 150000 and bill["status"] == "unpaid" and submission["sla"]["paused"] is True
    sid = submission["id"]
    public = paying["anonymous"].get(f"/v1/bills/{bill['code']}")
    assert public.status_code == 200, public.text
    assert public.json()["service_code"] == paying["code"] and public.json()["unit"] == paying["unit"]
    assert "Siti" not in public.text and "siti.bayar" not in public.text
    assert paying["anonymous"].get("/v1/bills/123456789012345").status_code in (404, 422)
    held = paying["officer"].post(f"/v1/submissions/{sid}/actions", json={"action": "start_review"})
    assert held.status_code == 409, held.text

    provider = paying["admin"].post("/v1/admin/payment-providers", json={"name": f"Bank Uji {uuid.uuid4().hex[:6]}"})
    assert provider.status_code == 201, provider.text
    secret = provider.json()["secret"]
    assert paying["officer"].post("/v1/admin/payment-providers", json={"name": "x"}).status_code == 403
    body = {"bill_code": bill["code"], "amount": 150000, "paid_at": datetime.now(UTC).isoformat(),
            "reference": f"VA-{uuid.uuid4().hex[:10]}"}
    stale_raw, stale_headers = signed(secret, body, datetime.now(UTC) - timedelta(minutes=10))
    assert paying["anonymous"].post("/v1/payments/notifications", content=stale_raw,
                                    headers=stale_headers).status_code == 401
    raw, headers = signed(secret, body)
    forged = dict(headers, **{"webhook-signature": Webhook("whsec_" + "B" * 43).sign(
        headers["webhook-id"], datetime.now(UTC), raw.decode())})
    assert paying["anonymous"].post("/v1/payments/notifications", content=raw, headers=forged).status_code == 401
    paid = paying["anonymous"].post("/v1/payments/notifications", content=raw, headers=headers)
    assert paid.status_code == 200, paid.text
    assert paid.json()["outcome"] == "paid"
    replayed = paying["anonymous"].post("/v1/payments/notifications", content=raw, headers=headers)
    assert replayed.status_code == 200 and replayed.json()["id"] == paid.json()["id"]

    view = paying["applicant"].get(f"/v1/submissions/{sid}").json()
    assert view["bill"]["status"] == "paid" and view["sla"]["paused"] is False
    started = paying["officer"].post(f"/v1/submissions/{sid}/actions", json={"action": "start_review"})
    assert started.status_code == 200, started.text
    assert {"payment.billed", "payment.paid"} <= inbox_types(paying["applicant"], sid,
                                                             {"payment.billed", "payment.paid"})

    # The kuitansi: signed by the signatures service, for the bill's amount, valid for pyHanko's
    # validator trusting only the published root, and verifiable at /v1/verify/{id}.
    receipt = wait_for_receipt(paying["applicant"], sid)
    document = paying["applicant"].get(f"/v1/documents/{receipt['document_id']}")
    assert document.status_code == 200, document.text
    assert document.json()["title"] == "Kuitansi Pembayaran"
    pdf = paying["applicant"].get(f"/v1/documents/{receipt['document_id']}/content").content
    root = paying["anonymous"].get("/v1/pki/ca").content
    status = asyncio.run(pyhanko_status(pdf, root))
    assert status.intact and status.valid and status.trusted
    verified = paying["anonymous"].get(f"/v1/verify/{receipt['document_id']}")
    assert verified.status_code == 200 and verified.json()["valid"] is True


def test_the_treasurer_records_a_payment_with_proof_and_another_voids_it(paying):
    submission = submitted(paying)
    sid = submission["id"]
    first, second = paying["treasurers"]
    form = {"reference": f"NTPN{uuid.uuid4().hex[:12].upper()}", "amount": "150000",
            "paid_at": datetime.now(UTC).isoformat()}
    recorded = first.post(f"/v1/submissions/{sid}/payments", data=form,
                          files={"file": ("bukti.pdf", PDF, "application/pdf")})
    assert recorded.status_code == 201, recorded.text
    payment = recorded.json()
    assert payment["outcome"] == "paid" and payment["bill_status"] == "paid"
    assert paying["officer"].post(f"/v1/submissions/{sid}/payments", json={
        "reference": "X-1", "amount": 150000, "paid_at": form["paid_at"]}).status_code == 403
    receipt = wait_for_receipt(paying["applicant"], sid)
    assert first.post(f"/v1/payments/{payment['id']}/void", json={"reason": "Salah"}).status_code == 403
    voided = second.post(f"/v1/payments/{payment['id']}/void", json={"reason": "NTPN milik tagihan lain"})
    assert voided.status_code == 200, voided.text
    assert voided.json()["bill_status"] == "unpaid"
    assert paying["applicant"].get(f"/v1/submissions/{sid}").json()["bill"]["status"] == "unpaid"
    listed = paying["applicant"].get(f"/v1/submissions/{sid}/payments").json()["items"]
    assert [item["voided_at"] is not None for item in listed] == [True]
    # The voided payment's kuitansi is revoked.
    deadline = time.monotonic() + 60
    while not paying["anonymous"].get(f"/v1/verify/{receipt['document_id']}").json()["revoked"]:
        assert time.monotonic() < deadline, "the voided payment's kuitansi was not revoked"
        time.sleep(0.2)


def test_a_decision_awaits_the_payment_with_its_clock_standing_then_the_document_is_issued(paying):
    code = f"BAYAR-{uuid.uuid4().hex[:8].upper()}"
    admin, officer = paying["admin"], paying["officer"]
    fee = {**FEE, "payment_stage": "before_issue"}
    assert admin.post("/v1/services", json={**service_body(code, paying["unit"]), "fee": fee}).status_code == 201
    assert admin.post(f"/v1/services/{code}/publish").status_code == 200
    submission = submitted(paying, code)
    sid, bill = submission["id"], submission["bill"]
    assert submission["sla"]["paused"] is False
    actions = f"/v1/submissions/{sid}/actions"
    in_review = officer.post(actions, json={"action": "start_review"}).json()
    assert "await_payment" in in_review["allowed_actions"] and "approve" not in in_review["allowed_actions"]
    assert officer.post(actions, json={"action": "approve"}).status_code == 409
    awaiting = officer.post(actions, json={"action": "await_payment"})
    assert awaiting.status_code == 200, awaiting.text
    assert awaiting.json()["sla"]["paused"] is True and awaiting.json()["status"] == "in_review"
    assert officer.post(actions, json={"action": "await_payment"}).status_code == 409
    # The applicant learns the decision waits for the payment.
    assert "payment.awaited" in inbox_types(paying["applicant"], sid, {"payment.awaited"})

    provider = admin.post("/v1/admin/payment-providers", json={"name": f"QRIS Uji {uuid.uuid4().hex[:6]}"})
    raw, headers = signed(provider.json()["secret"], {
        "bill_code": bill["code"], "amount": 150000, "paid_at": datetime.now(UTC).isoformat(),
        "reference": f"QRIS-{uuid.uuid4().hex[:10]}"})
    assert paying["anonymous"].post("/v1/payments/notifications", content=raw, headers=headers).json()[
        "outcome"] == "paid"
    view = paying["applicant"].get(f"/v1/submissions/{sid}").json()
    assert view["sla"]["paused"] is False and view["bill"]["status"] == "paid"
    approved = officer.post(actions, json={"action": "approve", "note": "Lengkap"})
    assert approved.status_code == 200, approved.text
    deadline = time.monotonic() + 60
    while (view := paying["applicant"].get(f"/v1/submissions/{sid}").json())["status"] != "issued":
        assert time.monotonic() < deadline, view["status"]
        time.sleep(0.2)
    history = paying["applicant"].get(f"/v1/submissions/{sid}/history").json()["items"]
    assert [e["action"] for e in history if e["action"] in ("await_payment", "bill_paid", "approve", "issue")] == [
        "await_payment", "bill_paid", "approve", "issue"]
