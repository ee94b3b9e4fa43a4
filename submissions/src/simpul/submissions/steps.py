"""The procedure as the workflow: which step a submission under review is at, who may act on it,
and where each action leads. Pure: no database, no HTTP.

A service whose standard gives its procedure steps roles (verifier, reviewer, signer, treasurer)
and working days is reviewed step by step; one without roles keeps the single review step and
never reaches this module. The procedure is the one frozen with the submission (the version it
was made under), so a later revision of the standard changes nothing for it.

    start_review        step 1 begins (a resubmission after a revision begins at step 1 again:
                        the revised file is verified anew)
    forward             the current step is done, the next begins (not at the last step)
    return  (to_step)   an earlier step begins again (a note says why)
    assign  (official)  disposition: the current step is given to a named official of the unit,
                        who holds the step's role
    request_revision, reject
                        end the current step and leave review
    approve             the last step's, by a signer
    await_payment       the last step's too: its official is ready to decide and waits for the
                        applicant's payment (payments/ says when that is possible)

Every action is taken by an official holding the role of the step it acts on (for start_review,
step 1's); an officer token without an official cannot act on such a service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from simpul.shared.identity import Official
from simpul.submissions.calendar import WorkingCalendar, end_of_day, local_date
from simpul.submissions.statemachine import Action, Status, Transition, transition

ROLES = ("verifier", "reviewer", "signer", "treasurer")
STEP_ACTIONS = frozenset({Action.FORWARD, Action.RETURN, Action.ASSIGN})
# Everything an official does to a submission of a service with roles goes through `decide`.
REVIEW_ACTIONS = STEP_ACTIONS | {Action.START_REVIEW, Action.REQUEST_REVISION, Action.APPROVE, Action.REJECT,
                                 Action.AWAIT_PAYMENT}


@dataclass(frozen=True)
class Step:
    step: int
    title: str
    role: str
    working_days: int


def procedure_of(standard: dict[str, Any]) -> tuple[Step, ...]:
    """The steps of a frozen standard; empty for a service without roles (single review step)."""
    return tuple(
        Step(int(s["step"]), str(s["title"]), str(s["role"]), int(s["working_days"]))
        for s in standard.get("procedure") or ()
    )


def frozen_procedure(catalogue_steps: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """What a submission keeps of its standard's procedure: the steps, if they have roles."""
    steps = list(catalogue_steps or ())
    if not steps or any(s.get("role") is None or s.get("working_days") is None for s in steps):
        return []
    return [{"step": s["step"], "title": s["title"], "role": s["role"], "working_days": s["working_days"]}
            for s in steps]


@dataclass(frozen=True)
class CurrentStep:
    step: int
    title: str
    role: str
    started_at: datetime
    due_at: datetime
    assigned_to: str | None = None

    def wire_json(self) -> dict[str, Any]:
        """As the row's JSON column keeps it and events carry it (times as RFC 3339 text)."""
        return {"step": self.step, "title": self.title, "role": self.role,
                "started_at": self.started_at.isoformat(), "due_at": self.due_at.isoformat(),
                "assigned_to": self.assigned_to}


def step_of_row(row: dict[str, Any]) -> CurrentStep | None:
    kept = row.get("current_step")
    if not kept:
        return None
    return CurrentStep(int(kept["step"]), kept["title"], kept["role"], datetime.fromisoformat(kept["started_at"]),
                       datetime.fromisoformat(kept["due_at"]), kept.get("assigned_to"))


def step_values(current: CurrentStep | None) -> dict[str, Any]:
    """The submission's columns that hold its current step."""
    if current is None:
        return {"current_step": None, "step_due_at": None, "step_assigned_to": None}
    return {"current_step": current.wire_json(), "step_due_at": current.due_at,
            "step_assigned_to": current.assigned_to}


def begin(step: Step, at: datetime, calendar: WorkingCalendar) -> CurrentStep:
    """`step` beginning at `at`: due at the end of its last working day on the calendar."""
    due = end_of_day(calendar.add_working_days(local_date(at), step.working_days))
    return CurrentStep(step.step, step.title, step.role, at, due)


# -- why an action is refused ----------------------------------------------------------------------


class OfficialNeeded(Exception):
    """The caller acts without an official (an officer token that names none): 403."""


class RoleMissing(Exception):
    """The official lacks the role of the step acted on: 403 naming the role."""

    def __init__(self, role: str, step: int) -> None:
        super().__init__(f"step {step} needs the role {role}")
        self.role = role
        self.step = step


class StepNotAllowed(Exception):
    """The action does not fit the step (approve before the last, forward at the last): 409."""

    def __init__(self, action: Action, step: int, last: int) -> None:
        super().__init__(f"{action} is not possible at step {step} of {last}")
        self.action = action
        self.step = step
        self.last = last


class BadStepInput(Exception):
    """A field of the action is wrong (to_step, official_id): 422 naming it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


# -- the move ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepMove:
    """What one action does to the steps: the status move, the step acted on, whether that step
    (its visit) ended, and the step the submission is at afterwards (None once out of review)."""

    move: Transition
    acted_on: int
    ended: CurrentStep | None
    current: CurrentStep | None


def decide(
    procedure: Sequence[Step],
    status: Status,
    current: CurrentStep | None,
    action: Action,
    role: str,
    official: Official | None,
    *,
    at: datetime,
    calendar: WorkingCalendar,
    to_step: int | None = None,
    assignee: Official | None = None,
) -> StepMove:
    """The move of `action` by `official` on a submission at `current`, or why it is refused
    (TransitionNotAllowed/RoleNotAllowed from the state machine, or one of the errors above)."""
    move = transition(status, action, role)
    if official is None:
        raise OfficialNeeded()
    if action is Action.START_REVIEW:
        first = procedure[0]
        _check_role(official, first)
        return StepMove(move, first.step, None, begin(first, at, calendar))
    # In review there is always a current step (start_review made one; every move keeps one).
    assert current is not None
    step = procedure[current.step - 1]
    last = procedure[-1].step
    _check_role(official, step)
    if action is Action.FORWARD:
        if step.step == last:
            raise StepNotAllowed(action, step.step, last)
        return StepMove(move, step.step, current, begin(procedure[step.step], at, calendar))
    if action is Action.RETURN:
        if to_step is None:
            raise BadStepInput("to_step", "required")
        if not 1 <= to_step < step.step:
            raise BadStepInput("to_step", "earlier_step")
        return StepMove(move, step.step, current, begin(procedure[to_step - 1], at, calendar))
    if action is Action.ASSIGN:
        if assignee is None:
            raise BadStepInput("official_id", "unknown")
        if step.role not in assignee.roles:
            raise BadStepInput("official_id", "lacks_role")
        return StepMove(move, step.step, None, replace(current, assigned_to=assignee.id))
    if action in (Action.APPROVE, Action.AWAIT_PAYMENT) and step.step != last:
        raise StepNotAllowed(action, step.step, last)
    if action is Action.AWAIT_PAYMENT:
        # The step goes on (its official decides once paid).
        return StepMove(move, step.step, None, current)
    # request_revision, reject, approve: the step ends and the submission leaves review.
    return StepMove(move, step.step, current, None)


def _check_role(official: Official, step: Step) -> None:
    if step.role not in official.roles:
        raise RoleMissing(step.role, step.step)


def allowed_step_actions(
    procedure: Sequence[Step], status: Status, current: CurrentStep | None, role: str, official: Official | None
) -> list[Action]:
    """What an official may do next to a submission of a service with roles."""
    if role != "officer" or official is None:
        return []
    if status is Status.SUBMITTED:
        return [Action.START_REVIEW] if procedure[0].role in official.roles else []
    if status is not Status.IN_REVIEW or current is None or current.role not in official.roles:
        return []
    last = current.step == procedure[-1].step
    actions = [] if last else [Action.FORWARD]
    if current.step > 1:
        actions.append(Action.RETURN)
    actions += [Action.ASSIGN, Action.REQUEST_REVISION, Action.REJECT]
    return actions + [Action.APPROVE, Action.AWAIT_PAYMENT] if last else actions


# -- figures ---------------------------------------------------------------------------------------------


def postponed(current: CurrentStep, calendar: WorkingCalendar, working_days: int) -> CurrentStep:
    """The step with its due moved by `working_days` (the days it stood waiting for a payment)."""
    due = end_of_day(calendar.add_working_days(local_date(current.due_at), working_days))
    return replace(current, due_at=due)


def working_days_taken(calendar: WorkingCalendar, started_at: datetime, ended_at: datetime) -> int:
    """Working days a step took, as the SLA counts them: a step ended the day it began took 0."""
    return calendar.working_days_between(local_date(started_at), local_date(ended_at))
