"""The procedure's step machine (steps.py) under any sequence of actions by any officials
(hypothesis): the submission is always at a valid step, its history replays to where it is, and
no step is ever worked by an official without its role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from simpul.shared.identity import Official
from simpul.submissions.calendar import WorkingCalendar
from simpul.submissions.statemachine import Action, RoleNotAllowed, Status, TransitionNotAllowed, transition
from simpul.submissions.steps import (
    REVIEW_ACTIONS,
    ROLES,
    BadStepInput,
    CurrentStep,
    OfficialNeeded,
    RoleMissing,
    Step,
    StepNotAllowed,
    allowed_step_actions,
    begin,
    decide,
    frozen_procedure,
    procedure_of,
    step_of_row,
    step_values,
    working_days_taken,
)

CALENDAR = WorkingCalendar()
MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 09:00 in Jakarta
THREE_STEPS = (Step(1, "Verifikasi", "verifier", 2), Step(2, "Telaah", "reviewer", 2), Step(3, "Tanda tangan", "signer", 1))


def official(id: str, *roles: str) -> Official:
    return Official(id=id, nip="19850330201001100" + id[-1], name=f"Pejabat {id}", position="Analis", roles=roles)


VERIFIER, REVIEWER, SIGNER = official("o-1", "verifier"), official("o-2", "reviewer"), official("o-3", "signer")


def act(status, current, action, who, **kwargs):
    return decide(THREE_STEPS, status, current, action, "officer", who, at=MONDAY, calendar=CALENDAR, **kwargs)


def test_the_three_step_path_with_a_disposition_a_return_and_a_revision():
    move = act(Status.SUBMITTED, None, Action.START_REVIEW, VERIFIER)
    assert (move.acted_on, move.current.step, move.current.role) == (1, 1, "verifier")
    # Monday 2 March + 2 working days: Wednesday 4 March, end of day in Jakarta.
    assert move.current.due_at == datetime(2026, 3, 4, 16, 59, 59, tzinfo=UTC)
    second = official("o-4", "reviewer")
    move = act(Status.IN_REVIEW, act(Status.IN_REVIEW, move.current, Action.FORWARD, VERIFIER).current,
               Action.ASSIGN, REVIEWER, assignee=second)
    assert (move.current.step, move.current.assigned_to, move.ended) == (2, "o-4", None)
    returned = act(Status.IN_REVIEW, move.current, Action.RETURN, second, to_step=1)
    assert (returned.acted_on, returned.current.step, returned.current.assigned_to) == (2, 1, None)
    revision = act(Status.IN_REVIEW, returned.current, Action.REQUEST_REVISION, VERIFIER)
    assert (revision.move.target, revision.current) == (Status.REVISION_REQUESTED, None)
    # Resubmitted, the file is verified again from step 1.
    move = act(Status.SUBMITTED, None, Action.START_REVIEW, VERIFIER)
    for who in (VERIFIER, REVIEWER):
        move = act(Status.IN_REVIEW, move.current, Action.FORWARD, who)
    approved = act(Status.IN_REVIEW, move.current, Action.APPROVE, SIGNER)
    assert (approved.move.target, approved.acted_on, approved.current) == (Status.APPROVED, 3, None)


def test_refusals_say_why():
    at_one = act(Status.SUBMITTED, None, Action.START_REVIEW, VERIFIER).current
    with pytest.raises(OfficialNeeded):
        act(Status.IN_REVIEW, at_one, Action.FORWARD, None)
    with pytest.raises(RoleMissing) as missing:
        act(Status.IN_REVIEW, at_one, Action.FORWARD, SIGNER)
    assert (missing.value.role, missing.value.step) == ("verifier", 1)
    with pytest.raises(StepNotAllowed):
        act(Status.IN_REVIEW, at_one, Action.APPROVE, official("o-9", "verifier", "signer"))
    with pytest.raises(BadStepInput) as bad:
        act(Status.IN_REVIEW, at_one, Action.RETURN, VERIFIER, to_step=1)
    assert bad.value.field == "to_step"
    with pytest.raises(BadStepInput) as bad:
        act(Status.IN_REVIEW, at_one, Action.ASSIGN, VERIFIER, assignee=REVIEWER)
    assert (bad.value.field, bad.value.reason) == ("official_id", "lacks_role")
    at_three = CurrentStep(3, "Tanda tangan", "signer", MONDAY, MONDAY + timedelta(days=1))
    with pytest.raises(StepNotAllowed):
        act(Status.IN_REVIEW, at_three, Action.FORWARD, SIGNER)
    with pytest.raises(TransitionNotAllowed):
        act(Status.APPROVED, None, Action.FORWARD, SIGNER)
    with pytest.raises(RoleNotAllowed):
        decide(THREE_STEPS, Status.IN_REVIEW, at_one, Action.FORWARD, "applicant", VERIFIER, at=MONDAY,
               calendar=CALENDAR)


def test_only_a_procedure_with_roles_is_frozen_and_it_survives_the_row():
    assert frozen_procedure([{"step": 1, "title": "Verifikasi", "actor": "Petugas"}]) == []
    assert frozen_procedure([{"step": 1, "title": "T", "actor": "A", "role": "signer", "working_days": 1}]) == [
        {"step": 1, "title": "T", "role": "signer", "working_days": 1}]
    assert procedure_of({"procedure": [{"step": 1, "title": "T", "role": "signer", "working_days": 1}]}) == (
        Step(1, "T", "signer", 1),)
    current = begin(THREE_STEPS[1], MONDAY, CALENDAR)
    assert step_of_row(step_values(current)) == current
    assert step_values(None)["current_step"] is None


def test_a_step_ended_the_day_it_began_took_no_working_day():
    assert working_days_taken(CALENDAR, MONDAY, MONDAY + timedelta(hours=3)) == 0
    # Friday 6 March to Monday 9 March: one working day.
    assert working_days_taken(CALENDAR, MONDAY + timedelta(days=4), MONDAY + timedelta(days=7)) == 1


# -- any sequence ------------------------------------------------------------------------------------

procedures = st.integers(min_value=1, max_value=4).flatmap(lambda n: st.tuples(
    st.lists(st.sampled_from(ROLES), min_size=n - 1, max_size=n - 1),
    st.lists(st.integers(min_value=1, max_value=5), min_size=n, max_size=n),
)).map(lambda drawn: tuple(
    Step(index + 1, f"Langkah {index + 1}", role, days)
    for index, (role, days) in enumerate(zip([*drawn[0], "signer"], drawn[1]))
))
OFFICIALS = [None] + [
    official(f"o-{index}", *roles)
    for index, roles in enumerate([("verifier",), ("reviewer",), ("signer",), ("treasurer",),
                                   ("verifier", "reviewer"), ("reviewer", "signer"), ROLES, ()])
]


@dataclass
class Entry:
    action: Action
    step: int | None
    by: Official | None
    to_step: int | None
    assignee: Official | None


class AnySequence(RuleBasedStateMachine):
    @initialize(procedure=procedures)
    def start(self, procedure):
        self.procedure = procedure
        self.status = Status.SUBMITTED
        self.current: CurrentStep | None = None
        self.history: list[Entry] = []
        self.now = MONDAY

    @rule(action=st.sampled_from(sorted(REVIEW_ACTIONS)), who=st.sampled_from(OFFICIALS),
          to_step=st.none() | st.integers(min_value=0, max_value=5), assignee=st.sampled_from(OFFICIALS),
          hours=st.integers(min_value=0, max_value=80))
    def official_acts(self, action, who, to_step, assignee, hours):
        self.now += timedelta(hours=hours)
        self._act(action, who, to_step, assignee)

    @rule(action=st.sampled_from([Action.START_REVIEW, Action.FORWARD, Action.FORWARD, Action.RETURN, Action.ASSIGN]),
          pick=st.integers(min_value=0, max_value=8),
          to_step=st.none() | st.integers(min_value=1, max_value=4), assignee=st.sampled_from(OFFICIALS))
    def an_official_of_the_step_acts(self, action, pick, to_step, assignee):
        """Random officials rarely get far (a rejection ends it all): this one holds the role of the
        step at hand and moves it on, or back."""
        role = self.procedure[self.current.step - 1].role if self.current else self.procedure[0].role
        holders = [o for o in OFFICIALS if o is not None and role in o.roles]
        self._act(action, holders[pick % len(holders)], to_step, assignee)

    def _act(self, action, who, to_step, assignee):
        allowed = allowed_step_actions(self.procedure, self.status, self.current, "officer", who)
        try:
            move = decide(self.procedure, self.status, self.current, action, "officer", who, at=self.now,
                          calendar=CALENDAR, to_step=to_step, assignee=assignee)
        except (TransitionNotAllowed, OfficialNeeded, RoleMissing, StepNotAllowed, BadStepInput):
            assert action not in allowed or action in (Action.RETURN, Action.ASSIGN)
            return
        assert action in allowed
        # The official held the role of the step acted on, which was where the submission was.
        expected_step = 1 if action is Action.START_REVIEW else self.current.step
        assert move.acted_on == expected_step
        assert self.procedure[move.acted_on - 1].role in who.roles
        self.history.append(Entry(action, move.acted_on, who, to_step, assignee))
        self.status, self.current = move.move.target, move.current

    @rule()
    def applicant_resubmits(self):
        if self.status is Status.REVISION_REQUESTED:
            self.status = transition(self.status, Action.SUBMIT, "applicant").target
            self.history.append(Entry(Action.SUBMIT, None, None, None, None))

    @invariant()
    def at_a_valid_step(self):
        if not hasattr(self, "procedure"):
            return
        assert (self.current is not None) == (self.status is Status.IN_REVIEW)
        if self.current is not None:
            step = self.procedure[self.current.step - 1]
            assert (self.current.role, self.current.title) == (step.role, step.title)
            assert self.current.due_at > self.current.started_at
            if self.current.assigned_to is not None:
                assignee = next(o for o in OFFICIALS if o is not None and o.id == self.current.assigned_to)
                assert self.current.role in assignee.roles

    @invariant()
    def history_replays_to_where_it_is(self):
        if not hasattr(self, "procedure"):
            return
        status, step = Status.SUBMITTED, None
        for entry in self.history:
            if entry.action is Action.SUBMIT:
                status = Status.SUBMITTED
                continue
            assert entry.step == (1 if entry.action is Action.START_REVIEW else step)
            assert self.procedure[entry.step - 1].role in entry.by.roles
            if entry.action is Action.START_REVIEW:
                status, step = Status.IN_REVIEW, 1
            elif entry.action is Action.FORWARD:
                step += 1
            elif entry.action is Action.RETURN:
                assert 1 <= entry.to_step < step
                step = entry.to_step
            elif entry.action is Action.ASSIGN:
                assert self.procedure[step - 1].role in entry.assignee.roles
            elif entry.action is Action.AWAIT_PAYMENT:
                # The decision's step waits; the submission stays there.
                assert step == len(self.procedure)
            else:
                if entry.action is Action.APPROVE:
                    assert step == len(self.procedure) and "signer" in entry.by.roles
                status, step = transition(Status.IN_REVIEW, entry.action, "officer").target, None
        assert status is self.status
        assert step == (self.current.step if self.current else None)


TestAnySequence = AnySequence.TestCase
TestAnySequence.settings = settings(max_examples=150, stateful_step_count=50, deadline=None)
