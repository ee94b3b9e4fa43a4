"""Working days in Indonesia: weekends, national holidays, cuti bersama, and the override file."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from simpul.submissions.calendar import CalendarFileError, CalendarOverrides, WorkingCalendar, end_of_day, local_date
from simpul.submissions.sla import SlaClock, clock_after
from simpul.submissions.statemachine import Action, Status, Transition

WIB = timedelta(hours=7)


def wib(year, month, day, hour=10, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - WIB


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


def test_cuti_bersama_and_holidays_are_not_working_days(calendar):
    # Eid al-Fitr 1447 H: cuti bersama 20, 23 and 24 March 2026 around the holiday on the 21st/22nd.
    for day in (date(2026, 3, 18), date(2026, 3, 19), date(2026, 3, 20), date(2026, 3, 23), date(2026, 3, 24)):
        assert not calendar.is_working_day(day), day
    assert calendar.is_working_day(date(2026, 3, 17))
    assert calendar.is_working_day(date(2026, 3, 25))
    assert not calendar.is_working_day(date(2026, 3, 28))  # Saturday


def test_submitted_the_working_day_before_eid_al_fitr_cuti_bersama(calendar):
    clock = SlaClock.start(calendar, wib(2026, 3, 17, 15), 5)
    # 18-24 March are Nyepi, Eid al-Fitr and their cuti bersama: days 1-5 are 25, 26, 27, 30, 31 March.
    assert local_date(clock.due_at) == date(2026, 3, 31)
    assert clock.due_at == datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC) - WIB
    # 2025: cuti bersama 2-4 and 7 April after Eid on 31 March / 1 April; Nyepi cuti bersama 28 March.
    clock = SlaClock.start(calendar, wib(2025, 3, 27), 3)
    assert local_date(clock.due_at) == date(2025, 4, 10)


def test_across_new_year(calendar):
    clock = SlaClock.start(calendar, wib(2025, 12, 23), 5)
    # 24 Dec working, 25 Christmas, 26 cuti bersama, weekend, 29, 30, 31 working, 1 Jan holiday, 2 Jan.
    assert local_date(clock.due_at) == date(2026, 1, 2)
    assert calendar.working_days_between(date(2025, 12, 23), date(2026, 1, 2)) == 5
    report = clock.report(calendar, wib(2026, 1, 5))
    assert (report.used, report.remaining, report.overdue) == (6, 0, True)


def test_paused_over_a_holiday(calendar):
    clock = SlaClock.start(calendar, wib(2026, 5, 11), 5)  # Monday
    # 14 and 15 May are Ascension and its cuti bersama: days 1-5 are 12, 13, 18, 19, 20 May.
    assert local_date(clock.due_at) == date(2026, 5, 20)
    paused = clock.pause(wib(2026, 5, 13, 16))  # Wednesday afternoon, 2 days used
    assert paused.report(calendar, wib(2026, 5, 18)).used == 2
    resumed = paused.resume(calendar, wib(2026, 5, 18, 9))  # Monday: only the 18th passed as a working day
    assert resumed.paused_working_days == 1
    assert local_date(resumed.due_at) == date(2026, 5, 21)
    assert resumed.report(calendar, wib(2026, 5, 18, 12)).used == 2


def test_resumed_the_same_day_moves_nothing(calendar):
    clock = SlaClock.start(calendar, wib(2026, 6, 2), 3)
    again = clock.pause(wib(2026, 6, 3, 9)).resume(calendar, wib(2026, 6, 3, 15))
    assert again.due_at == clock.due_at


def test_a_second_pause_keeps_the_first_moment(calendar):
    # Awaiting a payment from Monday, then a revision asked on Wednesday: it stood from Monday.
    clock = SlaClock.start(calendar, wib(2026, 6, 1), 5)
    paused = clock.pause(wib(2026, 6, 1, 15)).pause(wib(2026, 6, 3, 15))
    assert paused.paused_at == wib(2026, 6, 1, 15)
    assert paused.resume(calendar, wib(2026, 6, 4, 9)).paused_working_days == 3


def test_a_decision_while_the_clock_stands_does_not_count_the_standing_days(calendar):
    # Started Monday 8 June, standing from Tuesday (awaiting payment), rejected the next Monday:
    # one working day was the unit's, the five standing ones were not.
    clock = SlaClock.start(calendar, wib(2026, 6, 8), 5).pause(wib(2026, 6, 9, 10))
    move = Transition(Action.REJECT, Status.IN_REVIEW, Status.REJECTED)
    decided = clock_after(move, clock, calendar=calendar, at=wib(2026, 6, 15, 10), working_days=5)
    assert decided.paused_at is None and decided.stopped_at == wib(2026, 6, 15, 10)
    assert decided.paused_working_days == 4  # 10, 11, 12 and 15 June
    report = decided.report(calendar, wib(2026, 6, 20))
    assert (report.used, report.overdue, report.paused) == (1, False, False)
    # Due 15 June, moved by the four standing days over the holiday of 16 June.
    assert local_date(decided.due_at) == date(2026, 6, 22)


def test_submitted_on_a_weekend_counts_from_the_next_working_day(calendar):
    clock = SlaClock.start(calendar, wib(2026, 6, 6), 1)  # Saturday
    assert local_date(clock.due_at) == date(2026, 6, 8)


def test_the_day_boundary_is_jakarta_time(calendar):
    # 18:30 UTC on Monday is already Tuesday 01:30 in Jakarta.
    clock = SlaClock.start(calendar, datetime(2026, 6, 8, 18, 30, tzinfo=UTC), 1)
    assert local_date(clock.due_at) == date(2026, 6, 10)
    assert end_of_day(date(2026, 6, 10)).isoformat() == "2026-06-10T16:59:59+00:00"


def test_overrides_add_and_remove_days(tmp_path):
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps({
        "holidays": {"2031-01-03": "Cuti bersama Tahun Baru"},
        "working_days": {"2026-03-20": "Cuti bersama dibatalkan"},
    }))
    calendar = WorkingCalendar(CalendarOverrides.load(path))
    assert not calendar.is_working_day(date(2031, 1, 3))
    assert calendar.holiday_name(date(2031, 1, 3)) == "Cuti bersama Tahun Baru"
    assert calendar.is_working_day(date(2026, 3, 20))
    assert calendar.add_working_days(date(2026, 3, 17), 1) == date(2026, 3, 20)
    assert WorkingCalendar().add_working_days(date(2026, 3, 17), 1) == date(2026, 3, 25)


@pytest.mark.parametrize(
    "content",
    ["not json", json.dumps([]), json.dumps({"holidays": {"2026-13-01": "x"}}), json.dumps({"extra": {}}),
     json.dumps({"holidays": {"2026-01-05": "a"}, "working_days": {"2026-01-05": "b"}})],
)
def test_bad_override_files_fail_at_start(tmp_path, content):
    path = tmp_path / "calendar.json"
    path.write_text(content)
    with pytest.raises(CalendarFileError):
        CalendarOverrides.load(path)


def test_counting_agrees_with_walking_day_by_day(calendar):
    start = date(2025, 11, 3)
    walked = 0
    day = start
    for _ in range(500):
        day += timedelta(days=1)
        walked += calendar.is_working_day(day)
        assert calendar.working_days_between(start, day) == walked
        if calendar.is_working_day(day):
            assert calendar.add_working_days(start, walked) == day
