"""The state machine and SLA clock under any sequence of actions (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from simpul.submissions.calendar import WorkingCalendar
from simpul.submissions.sla import clock_after
from simpul.submissions.statemachine import (
    CLOCK_RUNNING,
    TERMINAL,
    Action,
    RoleNotAllowed,
    Status,
    TransitionNotAllowed,
    allowed_actions,
    transition,
)

CALENDAR = WorkingCalendar()
ROLES = ["applicant", "officer", "admin", "service"]


def test_the_contract_path():
    status = Status.DRAFT
    for action, role in [
        (Action.SUBMIT, "applicant"), (Action.START_REVIEW, "officer"), (Action.REQUEST_REVISION, "officer"),
        (Action.SUBMIT, "applicant"), (Action.START_REVIEW, "officer"), (Action.APPROVE, "officer"),
        (Action.ISSUE, "service"),
    ]:
        status = transition(status, action, role).target
    assert status is Status.ISSUED


def test_refusals_name_the_state_and_the_role():
    with pytest.raises(TransitionNotAllowed) as refused:
        transition(Status.SUBMITTED, Action.APPROVE, "officer")
    assert refused.value.status is Status.SUBMITTED
    with pytest.raises(RoleNotAllowed):
        transition(Status.IN_REVIEW, Action.APPROVE, "applicant")
    with pytest.raises(TransitionNotAllowed):
        transition(Status.IN_REVIEW, Action.CANCEL, "applicant")


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.status = Status.DRAFT
        self.clock = None
        self.now = datetime(2026, 1, 5, 2, tzinfo=UTC)
        self.history: list[tuple[Status, Status, datetime]] = []
        self.due_history: list[datetime] = []

    @rule(action=st.sampled_from(list(Action)), role=st.sampled_from(ROLES),
          hours=st.integers(min_value=0, max_value=24 * 12))
    def act(self, action, role, hours):
        self.now += timedelta(hours=hours)
        allowed = action in allowed_actions(self.status, role)
        try:
            move = transition(self.status, action, role)
        except (TransitionNotAllowed, RoleNotAllowed):
            assert not allowed
            return
        assert allowed
        self.clock = clock_after(move, self.clock, calendar=CALENDAR, at=self.now, working_days=5)
        self.history.append((move.source, move.target, self.now))
        self.status = move.target
        if self.clock is not None:
            self.due_history.append(self.clock.due_at)

    @invariant()
    def history_is_a_chain(self):
        previous = Status.DRAFT
        for source, target, _ in self.history:
            assert source is previous
            previous = target
        assert previous is self.status

    @invariant()
    def terminal_states_accept_nothing(self):
        if self.status in TERMINAL:
            assert all(not allowed_actions(self.status, role) for role in ROLES)

    @invariant()
    def clock_matches_the_state(self):
        if self.clock is None:
            assert self.status in (Status.DRAFT, Status.CANCELLED)
            return
        assert self.clock.paused == (self.status is Status.REVISION_REQUESTED)
        assert (self.clock.stopped_at is None) == (self.status in CLOCK_RUNNING or self.status is Status.REVISION_REQUESTED)
        report = self.clock.report(CALENDAR, self.now)
        assert report.used + report.remaining >= report.working_days
        assert report.remaining == max(0, report.working_days - report.used)
        # The deadline only ever moves later, and only by resumption.
        assert self.due_history == sorted(self.due_history)
        if report.overdue:
            assert report.used > report.working_days or self.now > self.clock.due_at


Lifecycle.TestCase.settings = settings(max_examples=300, stateful_step_count=30, deadline=None)
TestLifecycle = Lifecycle.TestCase
