"""The SLA clock of one submission, counted in Indonesian working days.

The clock starts at submission: the deadline is the end (Asia/Jakarta) of the N-th working day
after the day of submission. It stands still while the applicant holds the submission: while
revising (on resubmission the deadline moves by the working days that passed meanwhile) and while
a bill blocks the next step (payments/: until it is paid). It stops at a decision (approve,
reject) or a cancellation; a stop while it stands first counts the standing days out, so they
never count as the unit's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from simpul.submissions.calendar import WorkingCalendar, end_of_day, local_date
from simpul.submissions.statemachine import Status, Transition


@dataclass(frozen=True)
class SlaReport:
    working_days: int
    used: int
    remaining: int
    paused: bool
    overdue: bool


@dataclass(frozen=True)
class SlaClock:
    working_days: int
    submitted_at: datetime
    due_at: datetime
    paused_at: datetime | None = None
    paused_working_days: int = 0
    stopped_at: datetime | None = None

    @classmethod
    def start(cls, calendar: WorkingCalendar, at: datetime, working_days: int) -> SlaClock:
        due = calendar.add_working_days(local_date(at), working_days)
        return cls(working_days=working_days, submitted_at=at, due_at=end_of_day(due))

    def pause(self, at: datetime) -> SlaClock:
        # Already standing (a revision asked while a payment is awaited): from the first moment.
        if self.paused_at is not None:
            return self
        return replace(self, paused_at=at)

    def resume(self, calendar: WorkingCalendar, at: datetime) -> SlaClock:
        if self.paused_at is None:
            return self
        stood = calendar.working_days_between(local_date(self.paused_at), local_date(at))
        due = calendar.add_working_days(local_date(self.due_at), stood)
        return replace(
            self,
            due_at=end_of_day(due),
            paused_at=None,
            paused_working_days=self.paused_working_days + stood,
        )

    def stop(self, at: datetime) -> SlaClock:
        return replace(self, stopped_at=at)

    @property
    def paused(self) -> bool:
        return self.paused_at is not None and self.stopped_at is None

    def _halted_at(self) -> datetime | None:
        return self.stopped_at or self.paused_at

    def overdue_from(self) -> datetime | None:
        """From when the submission counts as overdue; None if it never will.

        Stored on the row so that `?overdue=true` is an indexed `overdue_from < now`.
        """
        halted = self._halted_at()
        if halted is None or halted > self.due_at:
            return self.due_at
        return None

    def is_overdue(self, now: datetime) -> bool:
        since = self.overdue_from()
        return since is not None and now > since

    def report(self, calendar: WorkingCalendar, now: datetime) -> SlaReport:
        reference = self._halted_at() or now
        elapsed = calendar.working_days_between(local_date(self.submitted_at), local_date(reference))
        used = max(0, elapsed - self.paused_working_days)
        return SlaReport(
            working_days=self.working_days,
            used=used,
            remaining=max(0, self.working_days - used),
            paused=self.paused,
            overdue=self.is_overdue(now),
        )


def clock_after(
    move: Transition, clock: SlaClock | None, *, calendar: WorkingCalendar, at: datetime, working_days: int
) -> SlaClock | None:
    """What a state change does to the clock."""
    if move.target is Status.SUBMITTED:
        if move.source is Status.REVISION_REQUESTED and clock is not None:
            return clock.resume(calendar, at)
        return SlaClock.start(calendar, at, working_days)
    if clock is None:
        return None
    if move.target is Status.REVISION_REQUESTED:
        return clock.pause(at)
    if move.target in (Status.APPROVED, Status.REJECTED, Status.CANCELLED):
        return clock.resume(calendar, at).stop(at)
    return clock
