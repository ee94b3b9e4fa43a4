"""The kuitansi (payment receipt) through POST /internal/documents with kind payment_receipt: a
signed PDF that pyHanko accepts trusting only the published root, stating the amount as
Indonesians write it and the payment time in WIB, verifiable like issued documents."""

from __future__ import annotations

import pytest

from tests.api.signatures.conftest import internal, issue_body, officer, public
from tests.api.signatures.test_independent import pyhanko_status
from tests.support.pdf import words

PAYMENT = {"bill_code": "820250000012343", "amount": 150000, "paid_at": "2026-12-03T03:15:00+00:00",
           "reference": "NTPN0A1B2C3D4E5F6", "channel": "treasurer", "fee_legal_basis": "Perda 3/2024"}


def kuitansi_body(submission_id: str = "0190f3a2-7c1e-7b5a-9d3e-00000000beef.kuitansi") -> dict:
    return issue_body(submission_id, kind="payment_receipt", payment=PAYMENT,
                      output={"name": "Kuitansi Pembayaran", "description": "Bukti pembayaran retribusi"})


@pytest.mark.filterwarnings("ignore::UserWarning")
async def test_a_kuitansi_is_signed_verifiable_and_states_the_amount(signatures, tmp_path):
    answer = await signatures.client.post("/internal/documents", json=kuitansi_body(), headers=internal())
    assert answer.status_code == 201, answer.text
    document = answer.json()
    assert document["title"] == "Kuitansi Pembayaran"
    pdf = await signatures.pdf(document["document_id"])
    root = (await signatures.client.get("/v1/pki/ca", headers=public())).content
    status = await pyhanko_status(pdf, root)
    assert status.intact and status.valid and status.trusted
    text = words(pdf, tmp_path, "kuitansi")
    assert "KUITANSI PEMBAYARAN" in text and "Rp 150.000" in text and "3 Desember 2026 10.15 WIB" in text
    assert "820250000012343" in text and document["verify_url"] in text
    verified = await signatures.client.get(f"/v1/verify/{document['document_id']}", headers=public())
    assert verified.status_code == 200 and verified.json()["valid"] is True
    # Its own key: the same bill again is the same kuitansi.
    again = await signatures.client.post("/internal/documents", json=kuitansi_body(), headers=internal())
    assert again.status_code == 200 and again.json()["document_id"] == document["document_id"]


async def test_a_payment_receipt_needs_its_payment_and_a_document_none(signatures):
    body = issue_body("x-1", kind="payment_receipt")
    assert (await signatures.client.post("/internal/documents", json=body, headers=internal())).status_code == 422
    body = issue_body("x-2", payment=PAYMENT)
    assert (await signatures.client.post("/internal/documents", json=body, headers=internal())).status_code == 422
    bad = kuitansi_body("x-3")
    bad["payment"] = {**PAYMENT, "amount": -1}
    assert (await signatures.client.post("/internal/documents", json=bad, headers=internal())).status_code == 422


async def test_the_kuitansi_of_a_voided_payment_is_revoked_by_the_service_only(signatures):
    document = (await signatures.client.post("/internal/documents", json=kuitansi_body("820250000012343.p-1"),
                                             headers=internal())).json()
    path = f"/internal/documents/{document['document_id']}/revoke"
    reason = {"reason": "Pembayaran dibatalkan oleh bendahara"}
    assert (await signatures.client.post(path, json=reason, headers=officer())).status_code == 403
    revoked = await signatures.client.post(path, json=reason, headers=internal())
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert (await signatures.client.post(path, json=reason, headers=internal())).status_code == 409
    verified = (await signatures.client.get(f"/v1/verify/{document['document_id']}", headers=public())).json()
    assert verified["revoked"] is True
