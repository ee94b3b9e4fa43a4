"""The public performance report: per service, what was received and decided in a period, how
long it took in working days, how much kept to the SLA, what is overdue now, complaints and IKM,
and for a procedure with roles each step's median working days and share on time (which step
makes the service late).

Everything is counted in the database, on indexes of the period columns: a decision stores its
duration in working days, so durations come back as one histogram per service (the median is
taken from it) rather than row by row. Still, a year of a busy system means counting hundreds of
thousands of rows, and the report is public: a computed report is kept for a short while (its
`generated_at` says when it was made), and concurrent askers of the same one share one run.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.submissions.feedback.models import complaints
from simpul.submissions.periods import ReportPeriod
from simpul.submissions.feedback.surveys import SurveyService, combine
from simpul.submissions.models import step_visits, submissions
from simpul.submissions.statemachine import CLOCK_RUNNING, Status

DECIDED = (Status.APPROVED.value, Status.ISSUED.value, Status.REJECTED.value)
MAX_CACHED = 256
CSV_COLUMNS = (
    "scope", "service_code", "period_from", "period_to", "received", "completed", "approved", "rejected",
    "median_completion_working_days", "completed_within_sla", "completed_within_sla_share", "overdue_now",
    "complaints_received", "complaints_resolved", "complaints_resolved_within_deadline",
    "ikm", "ikm_grade", "ikm_respondents",
)
# Rows of scope `step`: one per step of a procedure with roles, after its service's row; the columns
# before these stay empty there but for the service and the period.
STEP_COLUMNS = (
    "step", "step_role", "step_title", "steps_completed", "step_median_working_days", "steps_on_time",
    "steps_on_time_share",
)
# Fees Simpul collected (payments): last, so the columns before keep their places.
FEE_COLUMNS = ("fees_collected_count", "fees_collected_amount")
CSV_COLUMNS += STEP_COLUMNS + FEE_COLUMNS


class StepTally:
    """One step of one service's procedure: its visits that ended in the period."""

    def __init__(self, step: int, role: str) -> None:
        self.step = step
        self.role = role
        self.title = ""
        self.completed = 0
        self.on_time = 0
        self.durations: Counter[int] = Counter()

    def view(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "role": self.role,
            "title": self.title,
            "completed": self.completed,
            "median_working_days": median(self.durations),
            "on_time": self.on_time,
            "on_time_share": round(self.on_time / self.completed, 4) if self.completed else None,
        }


class Tally:
    """The figures of one service (or of all) while they are being counted."""

    def __init__(self) -> None:
        self.received = 0
        self.approved = 0
        self.rejected = 0
        self.completed = 0
        self.durations: Counter[int] = Counter()
        self.within_sla = 0
        self.overdue_now = 0
        self.complaints_received = 0
        self.complaints_resolved = 0
        self.complaints_within_deadline = 0
        self.steps: dict[tuple[int, str], StepTally] = {}

    def view(self, service_code: str | None, ikm: dict[str, Any]) -> dict[str, Any]:
        completed = self.completed
        return {
            "service_code": service_code,
            "received": self.received,
            "completed": completed,
            "approved": self.approved,
            "rejected": self.rejected,
            "median_completion_working_days": median(self.durations),
            "completed_within_sla": self.within_sla,
            "completed_within_sla_share": round(self.within_sla / completed, 4) if completed else None,
            "overdue_now": self.overdue_now,
            "complaints_received": self.complaints_received,
            "complaints_resolved": self.complaints_resolved,
            "complaints_resolved_within_deadline": self.complaints_within_deadline,
            "ikm": ikm,
            "steps": [self.steps[key].view() for key in sorted(self.steps)],
        }


def median(histogram: Counter[int]) -> float | None:
    """The median of the values a histogram (value -> how often) holds."""
    total = sum(histogram.values())
    if not total:
        return None
    wanted = [(total - 1) // 2, total // 2]  # the middle one, or the middle two
    found: list[int] = []
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        while wanted and wanted[0] < seen:
            found.append(value)
            wanted.pop(0)
    return (found[0] + found[1]) / 2


# Fees collected per service in a period (service_code and unit filters): {service: (count, amount)}.
FeesSource = Callable[[ReportPeriod, str | None, str | None], Awaitable[dict[str, tuple[int, int]]]]


class PerformanceService:
    def __init__(
        self,
        *,
        read_sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        surveys: SurveyService,
        cache_seconds: float = 0.0,
        fees: FeesSource | None = None,
    ) -> None:
        self.read_sessions = read_sessions
        self.clock = clock
        self.surveys = surveys
        self.cache_seconds = cache_seconds
        self.fees = fees
        self._cache: dict[tuple, tuple[float, asyncio.Future]] = {}

    async def report(self, period: ReportPeriod, *, service_code: str | None, unit: str | None, language: str) -> dict:
        if self.cache_seconds <= 0:
            return await self._compute(period, service_code, unit, language)
        key = (period, service_code, unit, language)
        now = time.monotonic()
        entry = self._cache.get(key)
        if entry is None or entry[0] <= now:
            if len(self._cache) >= MAX_CACHED:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
            entry = (now + self.cache_seconds, asyncio.ensure_future(self._compute(period, service_code, unit, language)))
            self._cache[key] = entry
        try:
            # Shielded: one asker giving up must not cancel the run the others wait for.
            return await asyncio.shield(entry[1])
        except Exception:
            if self._cache.get(key) is entry:
                del self._cache[key]  # a failure is not kept
            raise

    async def _compute(self, period: ReportPeriod, service_code: str | None, unit: str | None, language: str) -> dict:
        now = self.clock()
        tallies: dict[str, Tally] = defaultdict(Tally)
        total = Tally()

        def only(table, query):
            if service_code:
                query = query.where(table.c.service_code == service_code)
            if unit:
                query = query.where(table.c.unit == unit)
            return query

        s = submissions.c
        async with self.read_sessions() as session:
            received = only(submissions, select(s.service_code, func.count()).where(
                s.submitted_at >= period.start, s.submitted_at < period.end
            ).group_by(s.service_code))
            for code, count in await session.execute(received):
                tallies[code].received += count
                total.received += count

            on_time = case((s.stopped_at <= s.due_at, 1), else_=0)
            decided = only(submissions, select(
                s.service_code, s.status, s.decided_working_days, on_time, func.count()
            ).where(s.stopped_at >= period.start, s.stopped_at < period.end, s.status.in_(DECIDED)).group_by(
                s.service_code, s.status, s.decided_working_days, on_time
            ))
            for code, status, days, in_time, count in await session.execute(decided):
                for tally in (tallies[code], total):
                    tally.completed += count
                    if days is not None:
                        tally.durations[days] += count
                    tally.within_sla += count if in_time else 0
                    if status == Status.REJECTED:
                        tally.rejected += count
                    else:
                        tally.approved += count

            overdue = only(submissions, select(s.service_code, func.count()).where(
                s.overdue_from < now, s.status.in_([state.value for state in CLOCK_RUNNING])
            ).group_by(s.service_code))
            for code, count in await session.execute(overdue):
                tallies[code].overdue_now += count
                total.overdue_now += count

            # A step counts when it ends (forwarded, returned, sent for revision, decided), once per
            # time it was worked on; steps of different services don't add up, so the total has none.
            v = step_visits.c
            step_on_time = case((v.on_time.is_(True), 1), else_=0)
            ended_steps = only(step_visits, select(
                v.service_code, v.step, v.role, func.max(v.title), v.working_days_taken, step_on_time, func.count()
            ).where(v.ended_at >= period.start, v.ended_at < period.end).group_by(
                v.service_code, v.step, v.role, v.working_days_taken, step_on_time
            ))
            for code, step, role, title, days, in_time, count in await session.execute(ended_steps):
                tally = tallies[code].steps.setdefault((step, role), StepTally(step, role))
                tally.title = max(tally.title, title or "")
                tally.completed += count
                tally.on_time += count if in_time else 0
                if days is not None:
                    tally.durations[days] += count

            c = complaints.c
            filed = only(complaints, select(c.service_code, func.count()).where(
                c.created_at >= period.start, c.created_at < period.end
            ).group_by(c.service_code))
            for code, count in await session.execute(filed):
                if code is not None:
                    tallies[code].complaints_received += count
                total.complaints_received += count

            resolved = only(complaints, select(
                c.service_code, func.count(), func.sum(case((c.resolved_at <= c.follow_up_due_at, 1), else_=0))
            ).where(c.resolved_at >= period.start, c.resolved_at < period.end).group_by(c.service_code))
            for code, count, in_time in await session.execute(resolved):
                for tally in ([tallies[code]] if code is not None else []) + [total]:
                    tally.complaints_resolved += count
                    tally.complaints_within_deadline += int(in_time or 0)

        groups = await self.surveys.sums_by_service(period, service_code=service_code, unit=unit)
        # Fees Simpul collected (the payments sub-domain's, handed in by app.py): {service: (count, amount)}.
        fees = await self.fees(period, service_code, unit) if self.fees is not None else {}
        for code in (groups.keys() | fees.keys()) - tallies.keys():
            tallies[code] = Tally()  # a service with surveys or fees only still gets its row
        rows = []
        for code in sorted(tallies):
            count, sums = groups.get(code, (0, None))
            rows.append(tallies[code].view(code, self.surveys.figures(count, sums, language)))
            if self.fees is not None:
                paid, amount = fees.get(code, (0, 0))
                rows[-1]["fees_collected"] = {"count": paid, "amount": amount}
        respondents, sums = combine(groups.values())
        totals = total.view(None, self.surveys.figures(respondents, sums, language))
        if self.fees is not None:
            totals["fees_collected"] = {"count": sum(paid for paid, _ in fees.values()),
                                        "amount": sum(amount for _, amount in fees.values())}
        return {
            "period": period.view(),
            "generated_at": now,
            "services": rows,
            "total": totals,
        }


def as_csv(report: dict[str, Any]) -> str:
    """One line per service and a last line for all of them (scope `total`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    period = report["period"]
    for scope, row in [("service", r) for r in report["services"]] + [("total", report["total"])]:
        ikm = row["ikm"]
        writer.writerow([
            scope, row["service_code"] or "", period["from"], period["to"], row["received"], row["completed"],
            row["approved"], row["rejected"], _blank(row["median_completion_working_days"]),
            row["completed_within_sla"], _blank(row["completed_within_sla_share"]), row["overdue_now"],
            row["complaints_received"], row["complaints_resolved"], row["complaints_resolved_within_deadline"],
            _blank(ikm["ikm"]), ikm["grade"] or "", ikm["respondents"],
        ] + [""] * len(STEP_COLUMNS) + _fees(row.get("fees_collected")))
        for step in row["steps"]:
            writer.writerow(["step", row["service_code"], period["from"], period["to"]]
                            + [""] * (len(CSV_COLUMNS) - 4 - len(STEP_COLUMNS) - len(FEE_COLUMNS))
                            + [step["step"], step["role"], step["title"], step["completed"],
                               _blank(step["median_working_days"]), step["on_time"], _blank(step["on_time_share"])]
                            + [""] * len(FEE_COLUMNS))
    return out.getvalue()


def _fees(collected: dict[str, int] | None) -> list[Any]:
    return ["", ""] if collected is None else [collected["count"], collected["amount"]]


def _blank(value: Any) -> Any:
    return "" if value is None else value
