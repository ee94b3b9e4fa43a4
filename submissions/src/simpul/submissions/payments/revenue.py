"""The revenue report (reconciliation), aggregated without I/O from the rows of a period: per
service and local day (Asia/Jakarta), what was billed, paid, is still outstanding, expired, came
with a wrong amount and is owed back; and the check that every paid bill has exactly one kuitansi
stating its amount."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from simpul.submissions.calendar import local_date
from simpul.submissions.payments.bills import BillStatus

MEASURES = ("billed", "paid", "outstanding", "expired", "mismatched", "refunded")


def _empty() -> dict[str, dict[str, int]]:
    return {measure: {"count": 0, "amount": 0} for measure in MEASURES}


def _inside(moment: datetime | None, first: date, last: date) -> date | None:
    if moment is None:
        return None
    day = local_date(moment)
    return day if first <= day <= last else None


def aggregate(bills: Iterable[dict[str, Any]], mismatches: Iterable[dict[str, Any]],
              refunds: Iterable[dict[str, Any]], first: date, last: date) -> dict[str, Any]:
    """`bills`: rows with code, service_code, amount, status, created_at, paid_at, ended_at and
    receipt; `mismatches`: payments (amount, received_at, service_code); `refunds`: (amount,
    created_at, service_code)."""
    cells: dict[tuple[str, date], dict[str, dict[str, int]]] = {}

    def add(service_code: str, day: date | None, measure: str, amount: int) -> None:
        if day is not None:
            cell = cells.setdefault((service_code, day), _empty())[measure]
            cell["count"] += 1
            cell["amount"] += amount

    check = {"paid_bills": 0, "with_kuitansi": 0, "missing": [], "wrong_amount": []}
    for bill in bills:
        service, amount = bill["service_code"], bill["amount"]
        billed_on = _inside(bill["created_at"], first, last)
        add(service, billed_on, "billed", amount)
        if bill["status"] == BillStatus.UNPAID:
            add(service, billed_on, "outstanding", amount)
        elif bill["status"] == BillStatus.PAID:
            paid_on = _inside(bill["paid_at"], first, last)
            add(service, paid_on, "paid", amount)
            if paid_on is not None:
                check["paid_bills"] += 1
                receipt = bill["receipt"]
                if receipt is None:
                    check["missing"].append(bill["code"])
                elif receipt.get("amount") != amount:
                    check["wrong_amount"].append(bill["code"])
                else:
                    check["with_kuitansi"] += 1
        elif bill["status"] == BillStatus.EXPIRED:
            add(service, _inside(bill["ended_at"], first, last), "expired", amount)
    for payment in mismatches:
        add(payment["service_code"], _inside(payment["received_at"], first, last), "mismatched", payment["amount"])
    for refund in refunds:
        add(refund["service_code"], _inside(refund["created_at"], first, last), "refunded", refund["amount"])
    items = [{"date": day.isoformat(), "service_code": service, **measures}
             for (service, day), measures in sorted(cells.items(), key=lambda item: (item[0][1], item[0][0]))]
    totals = _empty()
    for item in items:
        for measure in MEASURES:
            totals[measure]["count"] += item[measure]["count"]
            totals[measure]["amount"] += item[measure]["amount"]
    check["consistent"] = not check["missing"] and not check["wrong_amount"]
    return {"currency": "IDR", "items": items, "totals": totals, "kuitansi_check": check}


CSV_COLUMNS = ["date", "service_code"] + [f"{measure}_{part}" for measure in MEASURES for part in ("count", "amount")]


def as_csv(report: dict[str, Any]) -> str:
    """One line per service and day, and a last line `total`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in [*report["items"], {"date": "total", "service_code": "", **report["totals"]}]:
        writer.writerow([row["date"], row["service_code"]]
                        + [row[measure][part] for measure in MEASURES for part in ("count", "amount")])
    return out.getvalue()
