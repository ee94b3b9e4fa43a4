"""HTTP routes of payments: thin, the work is in service.py."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from simpul.shared.identity import Identity
from simpul.shared.negotiation import preferred
from simpul.shared.problems import Problem, Text, request_language
from simpul.submissions.payments.revenue import as_csv
from simpul.submissions.periods import ReportPeriod
from simpul.submissions.payments.schemas import (
    PaymentPage,
    PaymentProvider,
    PaymentRecorded,
    ProviderCreate,
    ProviderNotification,
    PublicBill,
    RevenueReport,
    TreasurerPayment,
    VoidIn,
)
from simpul.submissions.payments.service import PaymentService, invalid
from simpul.submissions.responses import incoming_file, json, roles

router = APIRouter(tags=["payments"])

admin_only = roles("admin")
# Signed by the provider: the headers and body Standard Webhooks signs.
NOTIFICATION_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {
            "schema": ProviderNotification.model_json_schema(),
            "example": {"bill_code": "820240000000018", "amount": 150000,
                        "paid_at": "2026-12-03T10:15:00+07:00", "reference": "NTPN0A1B2C3D4E5F6"},
        }},
    }
}


def problem(description: str) -> dict:
    return {"description": description, "content": {"application/problem+json": {}}}


async def json_body(request: Request, model: type[BaseModel]) -> BaseModel:
    """A JSON body read by hand (the route also takes multipart): refused as the project's 422."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise invalid(exc) from exc


def payments_of(request: Request) -> PaymentService:
    return request.app.state.payments


@router.get(
    "/v1/bills/{code}",
    response_model=PublicBill,
    operation_id="getBill",
    summary="Check a billing code (public)",
    description="A bill by its billing code, for anyone about to pay it: amount, status, expiry, service and "
    "unit; no personal data.",
    responses={404: problem("No bill has this code"), 422: problem("Not a well-formed billing code")},
)
async def get_bill(code: str, request: Request) -> Response:
    return json(await payments_of(request).public_bill(code, request_language(request)))


@router.post(
    "/v1/payments/notifications",
    response_model=PaymentRecorded,
    operation_id="receivePaymentNotification",
    summary="A payment provider confirms a payment",
    description="Sent by a registered payment provider, signed per Standard Webhooks (`webhook-id`, "
    "`webhook-timestamp` within 5 minutes, `webhook-signature` with the provider's secret). Idempotent on "
    "`reference`: a repeat answers the first outcome. Another amount than the bill's is recorded as a "
    "mismatch; a payment the bill can no longer take (expired, cancelled, paid) is recorded and owed back.",
    responses={401: problem("The signature is missing, wrong or outside the time window"),
               404: problem("No bill has this code"), 422: problem("The body is not a valid notification")},
    openapi_extra=NOTIFICATION_BODY,
)
async def receive_notification(request: Request) -> Response:
    body = await request.body()
    headers = {name: request.headers[name] for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
               if name in request.headers}
    return json(await payments_of(request).notification(body, headers, request_language(request)))


@router.post(
    "/v1/admin/payment-providers",
    status_code=201,
    response_model=PaymentProvider,
    operation_id="createPaymentProvider",
    summary="Register a payment provider",
    description="A bank virtual account or QRIS provider that confirms payments by signed callbacks. The "
    "answer shows its signing secret once; Simpul keeps it sealed.",
    responses={409: problem("A provider of this name exists"), 422: problem("The body is not valid")},
    openapi_extra={"requestBody": {"content": {"application/json": {"examples": {
        "bank": {"summary": "A regional bank's virtual accounts", "value": {"name": "Bank Jatim VA"}}}}}}},
)
async def create_provider(body: ProviderCreate, request: Request, identity: Identity = Depends(admin_only)) -> Response:
    created = await payments_of(request).register_provider(identity, body.name, request_language(request))
    return json(created, 201)


PAYMENTS_PATH = "/v1/submissions/{submission_id}/payments"
PAYMENT_PATH = "/v1/payments/{payment_id}"
officer_only = roles("officer")
readers = roles("applicant", "officer", "admin")
TREASURER_EXAMPLE = {"reference": "NTPN0A1B2C3D4E5F6", "amount": 150000, "paid_at": "2026-12-03T10:15:00+07:00"}
TREASURER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": TreasurerPayment.model_json_schema(), "example": TREASURER_EXAMPLE},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["reference", "amount", "paid_at", "file"],
                "properties": {"reference": {"type": "string"}, "amount": {"type": "string", "pattern": "^[0-9]+$"},
                               "paid_at": {"type": "string", "format": "date-time"},
                               "file": {"type": "string", "format": "binary",
                                        "description": "The proof of payment: PDF, JPEG or PNG"}},
            }, "example": {**TREASURER_EXAMPLE, "amount": "150000", "file": "(bukti-setor.pdf)"}},
        },
    }
}


@router.post(
    PAYMENTS_PATH,
    status_code=201,
    response_model=PaymentRecorded,
    operation_id="recordPayment",
    summary="The treasurer records a payment",
    description="An official of the unit with the `treasurer` role confirms a payment from its proof (NTPN or "
    "bank reference, amount, paid_at), as JSON or as multipart with the proof file (`file`). Idempotent on the "
    "reference; another amount than the bill's is a mismatch and never pays it.",
    responses={403: problem("Not an official with the treasurer role"), 404: problem("No such submission or bill"),
               413: problem("The proof file is too large"), 415: problem("Neither JSON nor multipart"),
               422: problem("The payment is not valid")},
    openapi_extra=TREASURER_BODY,
)
async def record_payment(submission_id: str, request: Request, identity: Identity = Depends(officer_only)) -> Response:
    payments = payments_of(request)
    if request.headers.get("content-type", "").startswith("multipart/"):
        recorded = await payments.record_by_treasurer(identity, submission_id, None, incoming_file(request))
    else:
        body = await json_body(request, TreasurerPayment)
        recorded = await payments.record_by_treasurer(identity, submission_id, body, None)
    return json(recorded, 201, {"Location": f"/v1/payments/{recorded['id']}"})


@router.get(
    PAYMENTS_PATH,
    response_model=PaymentPage,
    operation_id="listPayments",
    summary="The payments of a submission's bill",
    description="Every payment received for the submission's bill, voided ones included, oldest first (none "
    "for a submission without a bill).",
    responses={404: problem("No such submission")},
)
async def list_payments(submission_id: str, request: Request, identity: Identity = Depends(readers)) -> Response:
    return json(await payments_of(request).payments_of(identity, submission_id))


@router.get(
    PAYMENT_PATH,
    response_model=PaymentRecorded,
    operation_id="getPayment",
    summary="One payment of a bill",
    description="A payment as recorded, with its bill's status now (the submission's applicant tenant, the "
    "unit's officers, admins).",
    responses={404: problem("No such payment")},
)
async def get_payment(payment_id: str, request: Request, identity: Identity = Depends(readers)) -> Response:
    return json(await payments_of(request).payment(identity, payment_id))


@router.post(
    f"{PAYMENT_PATH}/void",
    response_model=PaymentRecorded,
    operation_id="voidPayment",
    summary="Void a recorded payment",
    description="A treasurer other than the one who recorded it voids a payment, with a reason; it is kept, "
    "never deleted. Voiding the payment that paid the bill makes the bill unpaid again.",
    responses={403: problem("Not another official with the treasurer role"),
               404: problem("No such payment"), 409: problem("Voided already"),
               422: problem("The reason is missing")},
    openapi_extra={"requestBody": {"content": {"application/json": {"examples": {
        "wrong": {"summary": "Recorded against the wrong bill", "value": {"reason": "NTPN milik tagihan lain."}}}}}}},
)
async def void_payment(payment_id: str, body: VoidIn, request: Request,
                       identity: Identity = Depends(officer_only)) -> Response:
    return json(await payments_of(request).void_payment(identity, payment_id, body.reason))


CSV = "text/csv"
NOT_ACCEPTABLE = Text("Laporan tersedia sebagai application/json atau text/csv.",
                      "The report is available as application/json or text/csv.")
unit_readers = roles("officer", "admin")


@router.get(
    "/v1/reports/revenue",
    response_model=RevenueReport,
    operation_id="getRevenueReport",
    summary="Revenue and reconciliation per service and day",
    description="Billed, paid, outstanding, expired, mismatched and refunded (count and rupiah) per service and "
    "local day (Asia/Jakarta) of the period, with totals and the check that every paid bill has exactly one "
    "kuitansi of its amount. The unit's officers see their unit; admins any (`unit`). CSV with "
    "`Accept: text/csv`.",
    responses={200: {"content": {CSV: {"schema": {"type": "string"}}}}, 406: problem("Neither JSON nor CSV accepted"),
               422: problem("The period is not valid")},
)
async def revenue_report(
    request: Request,
    identity: Identity = Depends(unit_readers),
    service_code: str | None = Query(None, max_length=100),
    unit: str | None = Query(None, max_length=64),
    first: date | None = Query(None, alias="from", description="First day (Asia/Jakarta); default 1 January"),
    last: date | None = Query(None, alias="to", description="Last day, included; default today"),
) -> Response:
    form = preferred(request.headers.get("accept"), {"json": ("application/json",), "csv": (CSV,)}, "json")
    if form is None:
        raise Problem(406, NOT_ACCEPTABLE, slug="not-acceptable")
    period = ReportPeriod.parse(first, last, now=request.app.state.clock(), language=request_language(request))
    report = await payments_of(request).revenue(identity, period, unit=unit or None, service_code=service_code or None)
    if form == "csv":
        name = f"revenue-{period.first_day.isoformat()}-{period.last_day.isoformat()}.csv"
        return Response(as_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"', "Vary": "Accept"})
    return json(report, headers={"Vary": "Accept"})
