"""The life of a submission: which action may move it from which state, and who may take it.

    draft -> submitted -> in_review -> (revision_requested -> submitted)* -> approved -> issued
                                    \\-> rejected
    draft | submitted -> cancelled (by the applicant, before review)

A service whose procedure has roles moves through its steps while in review (forward, return,
assign: steps.py decides who and where); the others have the single review step. In review, a
decision held back by an unpaid bill can be set to await the payment (await_payment).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    REVISION_REQUESTED = "revision_requested"
    APPROVED = "approved"
    ISSUED = "issued"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Action(StrEnum):
    SUBMIT = "submit"
    CANCEL = "cancel"
    START_REVIEW = "start_review"
    REQUEST_REVISION = "request_revision"
    APPROVE = "approve"
    REJECT = "reject"
    ISSUE = "issue"
    # Steps of a procedure with roles (steps.py): the submission stays in review.
    FORWARD = "forward"
    RETURN = "return"
    ASSIGN = "assign"
    # The unit's work is done and the decision waits for the applicant's payment (a bill of stage
    # `before_issue`, payments/): the submission stays in review, its SLA clock stands until paid.
    AWAIT_PAYMENT = "await_payment"


# What a submission's history records besides the state machine's actions; the history's schema
# (schemas.SubmissionHistoryEntry) lists exactly these, so a generated client knows every value.
CREATE = "create"
UPLOAD_DOCUMENT = "upload_document"
HISTORY_ACTIONS = (CREATE, UPLOAD_DOCUMENT, *(action.value for action in Action))

NOTE_REQUIRED = frozenset({Action.REQUEST_REVISION, Action.REJECT, Action.RETURN, Action.ASSIGN})

_TRANSITIONS: dict[Action, tuple[frozenset[Status], Status, str]] = {
    # action: (states it may start from, state it leads to, role that takes it)
    Action.SUBMIT: (frozenset({Status.DRAFT, Status.REVISION_REQUESTED}), Status.SUBMITTED, "applicant"),
    Action.CANCEL: (frozenset({Status.DRAFT, Status.SUBMITTED}), Status.CANCELLED, "applicant"),
    Action.START_REVIEW: (frozenset({Status.SUBMITTED}), Status.IN_REVIEW, "officer"),
    Action.REQUEST_REVISION: (frozenset({Status.IN_REVIEW}), Status.REVISION_REQUESTED, "officer"),
    Action.APPROVE: (frozenset({Status.IN_REVIEW}), Status.APPROVED, "officer"),
    Action.REJECT: (frozenset({Status.IN_REVIEW}), Status.REJECTED, "officer"),
    Action.ISSUE: (frozenset({Status.APPROVED}), Status.ISSUED, "service"),
    Action.FORWARD: (frozenset({Status.IN_REVIEW}), Status.IN_REVIEW, "officer"),
    Action.RETURN: (frozenset({Status.IN_REVIEW}), Status.IN_REVIEW, "officer"),
    Action.ASSIGN: (frozenset({Status.IN_REVIEW}), Status.IN_REVIEW, "officer"),
    Action.AWAIT_PAYMENT: (frozenset({Status.IN_REVIEW}), Status.IN_REVIEW, "officer"),
}

# Documents can be added or replaced only while the applicant holds the submission.
EDITABLE = frozenset({Status.DRAFT, Status.REVISION_REQUESTED})
# States in which the SLA clock runs.
CLOCK_RUNNING = frozenset({Status.SUBMITTED, Status.IN_REVIEW})
TERMINAL = frozenset({Status.ISSUED, Status.REJECTED, Status.CANCELLED})


class TransitionNotAllowed(Exception):
    def __init__(self, status: Status, action: Action) -> None:
        super().__init__(f"{action} is not allowed in state {status}")
        self.status = status
        self.action = action


class RoleNotAllowed(Exception):
    def __init__(self, role: str, action: Action) -> None:
        super().__init__(f"role {role} may not {action}")
        self.role = role
        self.action = action


@dataclass(frozen=True)
class Transition:
    action: Action
    source: Status
    target: Status


def transition(status: Status, action: Action, role: str) -> Transition:
    """The move `action` makes from `status`, or why it can't be made."""
    sources, target, allowed_role = _TRANSITIONS[action]
    if role != allowed_role:
        raise RoleNotAllowed(role, action)
    if status not in sources:
        raise TransitionNotAllowed(status, action)
    return Transition(action, status, target)


def allowed_actions(status: Status, role: str) -> list[Action]:
    return [action for action, (sources, _, who) in _TRANSITIONS.items() if who == role and status in sources]
