"""Indonesian working days: weekends, public holidays and cuti bersama are not working days.

The `holidays` package (country ID, categories public + government) knows the national
holidays and the joint leave days (cuti bersama) the government decreed for the years it
covers. A data file adds days the package doesn't know yet (a new year's cuti bersama decree)
or overrides it (a day the decree moved back to a working day):

    {"holidays": {"2028-01-24": "Cuti bersama Tahun Baru Imlek"},
     "working_days": {"2027-03-25": "Cuti bersama dibatalkan"}}
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

JAKARTA = ZoneInfo("Asia/Jakarta")
# The last instant of a working day: a deadline on date D is met by anything done on D, local time.
END_OF_DAY = time(23, 59, 59)


class CalendarFileError(ValueError):
    """The override file is unreadable or malformed (raised at start-up, never per request)."""


@dataclass(frozen=True)
class CalendarOverrides:
    holidays: dict[date, str] = field(default_factory=dict)
    working_days: dict[date, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> CalendarOverrides:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CalendarFileError(f"cannot read calendar file {path}: {exc}") from exc
        if not isinstance(document, dict) or set(document) - {"holidays", "working_days"}:
            raise CalendarFileError(f"{path}: expected an object with 'holidays' and/or 'working_days'")
        parsed: dict[str, dict[date, str]] = {}
        for key in ("holidays", "working_days"):
            entries = document.get(key, {})
            if not isinstance(entries, dict):
                raise CalendarFileError(f"{path}: '{key}' must map ISO dates to names")
            days: dict[date, str] = {}
            for raw, name in entries.items():
                try:
                    days[date.fromisoformat(raw)] = str(name)
                except (TypeError, ValueError) as exc:
                    raise CalendarFileError(f"{path}: '{raw}' in '{key}' is not an ISO date") from exc
            parsed[key] = days
        both = set(parsed["holidays"]) & set(parsed["working_days"])
        if both:
            raise CalendarFileError(f"{path}: days listed both as holiday and working day: {sorted(both)}")
        return cls(holidays=parsed["holidays"], working_days=parsed["working_days"])


class WorkingCalendar:
    """Answers working-day questions in O(1) after building one table per year it is asked about."""

    def __init__(self, overrides: CalendarOverrides | None = None) -> None:
        self.overrides = overrides or CalendarOverrides()
        self._package: Any = None  # the `holidays` package's calendar, see _official()
        # Per year: the sorted ordinals of its working days.
        self._years: dict[int, list[int]] = {}
        self._lock = threading.Lock()

    def holiday_name(self, day: date) -> str | None:
        if day in self.overrides.working_days:
            return None
        if day in self.overrides.holidays:
            return self.overrides.holidays[day]
        return self._official().get(day)

    def _official(self) -> Any:
        """The package's holidays for Indonesia, loaded on the first question: with its lunar
        calendars that is ~11 MB, which a process that has computed no deadline yet does
        without. Two threads may both load it; either result is the same."""
        if self._package is None:
            import holidays

            self._package = holidays.country_holidays("ID", categories=("public", "government"))
        return self._package

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and self.holiday_name(day) is None

    def _working_ordinals(self, year: int) -> list[int]:
        table = self._years.get(year)
        if table is None:
            with self._lock:
                table = self._years.get(year)
                if table is None:
                    first = date(year, 1, 1).toordinal()
                    last = date(year, 12, 31).toordinal()
                    table = [o for o in range(first, last + 1) if self.is_working_day(date.fromordinal(o))]
                    self._years[year] = table
        return table

    def _count_through(self, day: date) -> int:
        """Working days from 1 January of `day`'s year up to and including `day`."""
        return bisect_right(self._working_ordinals(day.year), day.toordinal())

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how many working days pass after `start` up to `end`."""
        if end <= start:
            return 0
        if start.year < end.year:
            total = len(self._working_ordinals(start.year)) - self._count_through(start)
            for year in range(start.year + 1, end.year):
                total += len(self._working_ordinals(year))
            return total + self._count_through(end)
        return self._count_through(end) - self._count_through(start)

    def add_working_days(self, start: date, days: int) -> date:
        """The `days`-th working day after `start` (`start` itself when `days` is 0)."""
        if days <= 0:
            return start
        year = start.year
        wanted = self._count_through(start) + days
        while True:
            table = self._working_ordinals(year)
            if wanted <= len(table):
                return date.fromordinal(table[wanted - 1])
            wanted -= len(table)
            year += 1


def local_date(moment: datetime) -> date:
    return moment.astimezone(JAKARTA).date()


def end_of_day(day: date) -> datetime:
    """The deadline instant of a local date, in UTC."""
    return datetime.combine(day, END_OF_DAY, tzinfo=JAKARTA).astimezone(UTC)
