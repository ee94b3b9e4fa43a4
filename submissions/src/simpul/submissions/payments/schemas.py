"""The wire models of payments. Inputs refuse unknown fields; amounts are whole rupiah (an integer,
never a float or a string), positive and at most the catalogue's fee ceiling."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from simpul.shared.text import PlainText, SingleLineText

# The catalogue's ceiling of a fee (service-catalog schemas.MAX_FEE): no payment can be larger.
MAX_FEE = 10**12

Amount = StrictInt


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderNotification(_Input):
    bill_code: SingleLineText = Field(min_length=1, max_length=40, description="The 15-digit billing code")
    amount: Amount = Field(gt=0, le=MAX_FEE, description="Whole rupiah paid")
    paid_at: AwareDatetime = Field(description="When it was paid, RFC 3339 with offset")
    reference: SingleLineText = Field(min_length=1, max_length=100,
                                      description="The provider's reference (NTPN, bank or QRIS reference); "
                                                  "a notification with a reference seen before changes nothing")


class ProviderCreate(_Input):
    name: SingleLineText = Field(min_length=1, max_length=200, description="e.g. Bank Jatim VA, QRIS BPD DIY")


class TreasurerPayment(_Input):
    reference: SingleLineText = Field(min_length=1, max_length=100, description="NTPN or bank reference")
    amount: Amount = Field(gt=0, le=MAX_FEE, description="Whole rupiah paid")
    paid_at: AwareDatetime


class VoidIn(_Input):
    reason: PlainText = Field(min_length=1, max_length=2000)


class PaymentProvider(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "01938c2e-5a7b-7f00-9c1d-2b3e4f5a6b7c", "name": "Bank Jatim VA",
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "created_at": "2026-12-03T03:00:00+00:00"}]})

    id: str
    name: str
    secret: str = Field(description="The Standard Webhooks signing secret (whsec_...), shown only in this answer")
    created_at: datetime


class PublicBill(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "code": "820250000012343", "amount": 150000, "currency": "IDR", "status": "unpaid",
        "expires_at": "2026-12-10T16:59:59+00:00", "paid_at": None, "service_code": "IZIN-USAHA",
        "service_name": "Izin Usaha Mikro", "unit": "DPMPTSP"}]})

    code: str
    amount: int = Field(description="Whole rupiah")
    currency: Literal["IDR"]
    status: Literal["unpaid", "paid", "expired", "cancelled"]
    expires_at: datetime
    paid_at: datetime | None
    service_code: str
    service_name: str
    unit: str


PAYMENT_EXAMPLE = {
    "id": "01938c2e-6b8c-7f00-9c1d-2b3e4f5a6b7c", "bill_code": "820250000012343", "channel": "treasurer",
    "reference": "NTPN0A1B2C3D4E5F6", "amount": 150000, "paid_at": "2026-12-03T03:15:00+00:00", "outcome": "paid",
    "received_at": "2026-12-03T03:16:00+00:00", "voided_at": None, "bill_status": "paid"}


class PaymentRecorded(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [PAYMENT_EXAMPLE]})

    id: str
    bill_code: str
    channel: str = Field(description="`provider:<id>` or `treasurer`")
    reference: str
    amount: int
    paid_at: datetime
    outcome: Literal["paid", "mismatch", "refund_due"] = Field(
        description="paid: the bill is paid; mismatch: another amount, the bill is unchanged; refund_due: the bill "
        "could not take it (expired, cancelled, paid already), it is owed back")
    received_at: datetime
    voided_at: datetime | None
    bill_status: Literal["unpaid", "paid", "expired", "cancelled"] | None = Field(
        default=None, description="The bill's status after this payment (not in lists)")


class PaymentPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [PAYMENT_EXAMPLE], "next_cursor": None}]})

    items: list[PaymentRecorded]
    next_cursor: str | None


class Tally(BaseModel):
    count: int
    amount: int = Field(description="Whole rupiah")


class RevenueRow(BaseModel):
    date: str = Field(description="Local day (Asia/Jakarta)")
    service_code: str
    billed: Tally
    paid: Tally
    outstanding: Tally = Field(description="Billed that day and still unpaid")
    expired: Tally
    mismatched: Tally = Field(description="Payments received that day with another amount than their bill")
    refunded: Tally = Field(description="Payments owed back, recorded that day")


class RevenueTotals(BaseModel):
    billed: Tally
    paid: Tally
    outstanding: Tally
    expired: Tally
    mismatched: Tally
    refunded: Tally


class KuitansiCheck(BaseModel):
    paid_bills: int = Field(description="Bills paid in the period")
    with_kuitansi: int = Field(description="Of those, with exactly one kuitansi stating the bill's amount")
    missing: list[str] = Field(description="Billing codes paid without a kuitansi yet")
    wrong_amount: list[str] = Field(description="Billing codes whose kuitansi states another amount")
    consistent: bool


TALLY = {"count": 1, "amount": 150000}
NONE = {"count": 0, "amount": 0}
REVENUE_FIGURES = {"billed": TALLY, "paid": TALLY, "outstanding": NONE, "expired": NONE, "mismatched": NONE,
                   "refunded": NONE}


class RevenueReport(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "period": {"from": "2026-12-01", "to": "2026-12-31", "time_zone": "Asia/Jakarta"}, "unit": "DPMPTSP",
        "service_code": None, "currency": "IDR",
        "items": [{"date": "2026-12-03", "service_code": "IZIN-USAHA", **REVENUE_FIGURES}],
        "totals": REVENUE_FIGURES,
        "kuitansi_check": {"paid_bills": 1, "with_kuitansi": 1, "missing": [], "wrong_amount": [],
                           "consistent": True}}]})

    period: dict[str, str]
    unit: str | None
    service_code: str | None
    currency: Literal["IDR"]
    items: list[RevenueRow]
    totals: RevenueTotals
    kuitansi_check: KuitansiCheck
