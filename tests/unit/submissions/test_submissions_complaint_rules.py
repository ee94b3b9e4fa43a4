"""The complaint rules as plain Python: who moves a complaint where, and which deadline it awaits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simpul.submissions.calendar import WorkingCalendar
from simpul.submissions.feedback.complaints import (
    AlreadyResolved,
    ComplaintAction,
    ComplaintClosed,
    ComplaintPolicy,
    ComplaintStatus,
    ResolveNotAllowed,
    allowed_actions,
    awaited_deadline,
    is_closed,
    step,
)

OPEN, IN_PROGRESS, RESOLVED = ComplaintStatus.OPEN, ComplaintStatus.IN_PROGRESS, ComplaintStatus.RESOLVED


@pytest.mark.parametrize(
    ("status", "role", "resolve", "action", "target"),
    [
        (OPEN, "officer", False, ComplaintAction.RESPOND, IN_PROGRESS),
        (OPEN, "officer", True, ComplaintAction.RESOLVE, RESOLVED),
        (IN_PROGRESS, "officer", False, ComplaintAction.RESPOND, IN_PROGRESS),
        (IN_PROGRESS, "admin", True, ComplaintAction.RESOLVE, RESOLVED),
        (OPEN, "applicant", False, ComplaintAction.REPLY, OPEN),
        (IN_PROGRESS, "applicant", False, ComplaintAction.REPLY, IN_PROGRESS),
        (RESOLVED, "applicant", False, ComplaintAction.REOPEN, IN_PROGRESS),
    ],
)
def test_steps(status, role, resolve, action, target):
    move = step(status, role, resolve=resolve, closed=False)
    assert (move.action, move.source, move.target) == (action, status, target)


def test_refusals():
    with pytest.raises(AlreadyResolved):
        step(RESOLVED, "officer", resolve=False, closed=False)
    with pytest.raises(ResolveNotAllowed):
        step(IN_PROGRESS, "applicant", resolve=True, closed=False)
    for role in ("officer", "applicant"):
        with pytest.raises(ComplaintClosed):
            step(RESOLVED, role, resolve=False, closed=True)


def row(**values):
    base = {
        "status": "open", "first_response_at": None, "reopen_until": None, "closed_at": None,
        "verification_due_at": datetime(2026, 3, 27, 16, 59, 59, tzinfo=UTC),
        "follow_up_due_at": datetime(2026, 4, 14, 16, 59, 59, tzinfo=UTC),
    }
    return {**base, **values}


def test_awaited_deadline_and_closing():
    answered = datetime(2026, 3, 25, tzinfo=UTC)
    assert awaited_deadline(row()) == datetime(2026, 3, 27, 16, 59, 59, tzinfo=UTC)
    assert awaited_deadline(row(status="in_progress", first_response_at=answered)).day == 14
    # Replies by the applicant don't count as the unit's first answer.
    assert awaited_deadline(row(status="open")).day == 27
    until = datetime(2026, 4, 7, 16, 59, 59, tzinfo=UTC)
    resolved = row(status="resolved", first_response_at=answered, reopen_until=until)
    assert awaited_deadline(resolved) is None
    assert not is_closed(resolved, until) and is_closed(resolved, until + timedelta(seconds=1))
    assert allowed_actions(resolved, "applicant", until) == ["reopen"]
    assert allowed_actions(resolved, "applicant", until + timedelta(days=1)) == []
    assert allowed_actions(row(), "officer", until) == ["respond", "resolve", "attach"]


def test_deadlines_in_working_days():
    calendar = WorkingCalendar()
    policy = ComplaintPolicy(verification_working_days=3, follow_up_working_days=14, reopen_working_days=5)
    # Filed Tuesday 17 March 2026, 10:00 WIB: Nyepi, Eid al-Fitr and their cuti bersama run 18-24 March.
    filed = datetime(2026, 3, 17, 3, tzinfo=UTC)
    assert policy.deadline(calendar, filed, 3) == datetime(2026, 3, 27, 16, 59, 59, tzinfo=UTC)
    # Filed at 23:30 WIB on Friday 27 March (16:30 UTC) counts from that local day.
    late_evening = datetime(2026, 3, 27, 16, 30, tzinfo=UTC)
    assert policy.deadline(calendar, late_evening, 3) == datetime(2026, 4, 1, 16, 59, 59, tzinfo=UTC)
