"""The reporting period of the reports (feedback's public ones, payments' revenue): whole local days
(Asia/Jakarta), both ends included."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from simpul.shared.problems import Problem, Text
from simpul.submissions.calendar import JAKARTA, local_date

BAD_PERIOD = Text("Periode laporan tidak valid.", "The report period is not valid.")
FROM_AFTER_TO = Text("tanggal awal sesudah tanggal akhir", "is after the end date")
TOO_LONG = Text("periode paling lama {years} tahun", "a period spans at most {years} years")
OUT_OF_RANGE = Text("tanggal di luar {first}..{last}", "is outside {first}..{last}")
MAX_YEARS = 10
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)


@dataclass(frozen=True)
class ReportPeriod:
    first_day: date
    last_day: date

    @classmethod
    def parse(cls, first: date | None, last: date | None, *, now: datetime, language: str) -> ReportPeriod:
        """Defaults: from 1 January of the last day's year up to today."""
        last = last or local_date(now)
        first = first or date(last.year, 1, 1)
        message = OUT_OF_RANGE.render(language, first=EARLIEST.isoformat(), last=LATEST.isoformat())
        outside = [{"field": name, "message": message}
                   for name, day in (("from", first), ("to", last)) if not EARLIEST <= day <= LATEST]
        if outside:
            raise Problem(422, BAD_PERIOD, slug="invalid-period", errors=outside)
        if first > last:
            raise Problem(422, BAD_PERIOD, slug="invalid-period",
                          errors=[{"field": "from", "message": FROM_AFTER_TO.render(language)}])
        if (last - first).days > MAX_YEARS * 366:
            raise Problem(422, BAD_PERIOD, slug="invalid-period",
                          errors=[{"field": "from", "message": TOO_LONG.render(language, years=MAX_YEARS)}])
        return cls(first, last)

    @property
    def start(self) -> datetime:
        """The first instant of the period, in UTC."""
        return datetime.combine(self.first_day, time(0), tzinfo=JAKARTA).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period, in UTC."""
        return datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=JAKARTA).astimezone(UTC)

    def view(self) -> dict[str, str]:
        return {"from": self.first_day.isoformat(), "to": self.last_day.isoformat(), "time_zone": "Asia/Jakarta"}
