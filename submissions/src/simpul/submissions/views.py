"""The wire form of a submission and of what belongs to it, rendered from its rows, and the SLA
clock a row holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simpul.shared.identity import Identity
from simpul.submissions.calendar import WorkingCalendar
from simpul.submissions.sla import SlaClock
from simpul.submissions.statemachine import EDITABLE, Status, allowed_actions
from simpul.submissions.steps import STEP_ACTIONS, allowed_step_actions, procedure_of, step_of_row


def clock_of(row: dict[str, Any]) -> SlaClock | None:
    if row["submitted_at"] is None:
        return None
    return SlaClock(
        working_days=row["sla_working_days"],
        submitted_at=row["submitted_at"],
        due_at=row["due_at"],
        paused_at=row["paused_at"],
        paused_working_days=row["paused_working_days"],
        stopped_at=row["stopped_at"],
    )


def clock_values(clock: SlaClock | None) -> dict[str, Any]:
    if clock is None:
        return {}
    return {
        "submitted_at": clock.submitted_at,
        "due_at": clock.due_at,
        "paused_at": clock.paused_at,
        "paused_working_days": clock.paused_working_days,
        "stopped_at": clock.stopped_at,
        "overdue_from": clock.overdue_from(),
    }


def document_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "requirement_code": row["requirement_code"],
        "sha256": row["sha256"],
        "size": row["size"],
        "content_type": row["content_type"],
        "filename": row["filename"],
        "uploaded_at": row["uploaded_at"],
        "replaced_at": row["replaced_at"],
        "replaced_by": row["replaced_by"],
        # Only once the file was deleted at the end of the retention period.
        **({"content_erased_at": row["content_erased_at"]} if row.get("content_erased_at") else {}),
    }


def submission_view(
    row: dict[str, Any],
    identity: Identity,
    now: datetime,
    calendar: WorkingCalendar,
    current_documents: list[dict] | None,
    held: set[str] | None = None,
) -> dict[str, Any]:
    """The wire form; `held` (requirement codes with a current document) stands in for the
    documents themselves in lists."""
    standard = row["standard"]
    status = Status(row["status"])
    clock = clock_of(row)
    sla = None
    if clock is not None:
        report = clock.report(calendar, now)
        sla = {
            "working_days": report.working_days,
            "used": report.used,
            "remaining": report.remaining,
            "paused": report.paused,
            "overdue": report.overdue,
            "due_at": clock.due_at,
        }
    missing: list[str] = []
    if held is None and current_documents is not None:
        held = {d["requirement_code"] for d in current_documents}
    if held is not None and status in EDITABLE:
        missing = [r["code"] for r in standard["requirements"] if r["required"] and r["code"] not in held]
    receipt = None
    if row["receipt_number"]:
        receipt = {
            "number": row["receipt_number"],
            "fee": standard["fee"],
            "issued_at": row["receipt_issued_at"],
            "pdf_url": f"/v1/submissions/{row['id']}/receipt.pdf",
        }
    return {
        "id": row["id"],
        "tracking_code": row["tracking_code"],
        "status": status.value,
        "version": row["version"],
        "service_code": row["service_code"],
        "service_name": row["service_name"],
        "service_version": row["service_version"],
        "unit": row["unit"],
        "tenant": row["tenant"],
        "applicant": row["applicant"],
        "data": row["data"],
        "fee": standard["fee"],
        "requirements": standard["requirements"],
        "missing_documents": missing,
        "documents": [document_view(d) for d in current_documents] if current_documents is not None else None,
        "allowed_actions": [a.value for a in actions_for(row, status, identity)],
        "current_step": current_step_view(row),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "submitted_at": row["submitted_at"],
        "due_at": row["due_at"],
        "sla": sla,
        "receipt": receipt,
        "approved_at": row["approved_at"],
        "issued_documents": row["issued_documents"] or [],
        # Only for a fee Simpul collects (payments/): v1 answers stay as they were.
        **({"bill": row["bill"]} if row.get("bill") else {}),
        # Only when issuing failed for good: v1 answers stay as they were.
        **({"issuing": row["issuing"]} if row.get("issuing") else {}),
        # Only once the retention period ended and the applicant's data was pseudonymised.
        **({"personal_data_erased_at": row["personal_data_erased_at"]} if row.get("personal_data_erased_at") else {}),
    }


def actions_for(row: dict[str, Any], status: Status, identity: Identity) -> list:
    """What the caller may do next: a procedure with roles lists the actions of the step at hand
    for an official holding its role. (The payments hook then takes out what a bill holds back,
    and await_payment unless a payment can be awaited: SubmissionService._view.)"""
    procedure = procedure_of(row["standard"])
    if not procedure:
        return [action for action in allowed_actions(status, identity.role) if action not in STEP_ACTIONS]
    if identity.role != "officer":
        return allowed_actions(status, identity.role)
    return allowed_step_actions(procedure, status, step_of_row(row), identity.role, identity.official)


def current_step_view(row: dict[str, Any]) -> dict[str, Any] | None:
    """The step under review of a service with roles: {step, title, role, started_at, due_at,
    assigned_to}; None otherwise."""
    current = step_of_row(row)
    if current is None:
        return None
    return {"step": current.step, "title": current.title, "role": current.role, "started_at": current.started_at,
            "due_at": current.due_at, "assigned_to": current.assigned_to}


def step_view(row: dict[str, Any]) -> dict[str, Any]:
    """What every history entry (of a submission, of a complaint) says: when, which action, from
    and to which state, and who took it."""
    return {
        "id": row["id"],
        "at": row["at"],
        "action": row["action"],
        "from": row["from_status"],
        "to": row["to_status"],
        "actor": {"client_id": row["actor_id"], "role": row["actor_role"]},
    }


def history_entry_view(row: dict[str, Any]) -> dict[str, Any]:
    entry = {**step_view(row), "note": row["note"], "document": row["document"], "official": row["official"],
             "step": row["step"]}
    if row["assignee"] is not None:
        entry["assignee"] = row["assignee"]
    return entry


def tracking_view(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What anyone with the tracking code sees: no personal data."""
    clock = clock_of(row)
    return {
        "tracking_code": row["tracking_code"],
        "status": row["status"],
        "service_code": row["service_code"],
        "service_name": row["service_name"],
        "sla_working_days": row["sla_working_days"],
        "submitted_at": row["submitted_at"],
        "due_at": row["due_at"],
        "updated_at": row["updated_at"],
        "overdue": clock.is_overdue(now) if clock else False,
        "paused": clock.paused if clock else False,
    }
