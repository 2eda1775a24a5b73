"""R4 on a real Indonesian calendar: national holidays, cuti bersama, office dates, timezone edges."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from intake import calendar
from intake.calendar import (
    JAKARTA,
    SOURCE_CUTI_BERSAMA,
    SOURCE_NATIONAL,
    SOURCE_OFFICE,
    WorkingCalendar,
)

CAL = WorkingCalendar()


def test_r4_nyepi_idul_fitri_cuti_bersama_and_good_friday_are_skipped() -> None:
    for day in ["2026-03-18", "2026-03-19", "2026-03-20", "2026-03-23", "2026-03-24", "2026-04-03"]:
        assert not CAL.is_working_day(dt.date.fromisoformat(day)), day
    assert CAL.is_working_day(dt.date(2026, 3, 25))


def test_r4_cuti_bersama_is_marked_as_such() -> None:
    by_date = {d.date: d for d in CAL.holidays_in(2026)}
    assert by_date[dt.date(2026, 3, 23)].source == SOURCE_CUTI_BERSAMA
    assert by_date[dt.date(2026, 8, 17)].source == SOURCE_NATIONAL
    assert "Kemerdekaan" in by_date[dt.date(2026, 8, 17)].name
    # weekend holidays are implied by the weekend, not listed twice
    assert dt.date(2026, 3, 21) not in by_date


def test_r4_utc_evening_is_the_next_day_in_jakarta() -> None:
    # 18:30 UTC on Monday 9 March is 01:30 on Tuesday 10 March in Jakarta (no DST in WIB).
    moment = dt.datetime(2026, 3, 9, 18, 30, tzinfo=dt.UTC)
    assert CAL.local_date(moment) == dt.date(2026, 3, 10)
    assert CAL.due_date(moment) == dt.date(2026, 4, 7)
    just_before = dt.datetime(2026, 3, 9, 16, 59, tzinfo=dt.UTC)  # 23:59 Monday in Jakarta
    assert CAL.due_date(just_before) == dt.date(2026, 4, 6)


def test_r4_receipt_on_a_weekend_counts_from_the_next_working_day() -> None:
    saturday = dt.datetime(2026, 11, 28, 10, 0, tzinfo=JAKARTA)
    monday = dt.datetime(2026, 11, 30, 8, 0, tzinfo=JAKARTA)
    friday = dt.datetime(2026, 11, 27, 8, 0, tzinfo=JAKARTA)
    assert CAL.due_date(saturday) == CAL.due_date(dt.datetime(2026, 11, 29, 23, 0, tzinfo=JAKARTA))
    # Friday's own day is not counted either, so Friday, Saturday and Sunday share a due date.
    assert CAL.due_date(friday) == CAL.due_date(saturday) < CAL.due_date(monday)


def test_r4_office_extra_closed_date_pushes_the_due_date() -> None:
    closed = WorkingCalendar(extra_closed={dt.date(2026, 3, 12): "Hari Jadi Purwakarta (contoh)"})
    assert closed.due_date(dt.datetime(2026, 3, 10, 9, 0, tzinfo=JAKARTA)) == dt.date(2026, 4, 8)
    listed = {d.date: d for d in closed.holidays_in(2026)}
    assert listed[dt.date(2026, 3, 12)].source == SOURCE_OFFICE


def test_r4_office_extra_working_date_pulls_the_due_date() -> None:
    # The government could cancel a cuti bersama day; the office then works on it.
    working = WorkingCalendar(extra_working=frozenset({dt.date(2026, 3, 24)}))
    assert working.is_working_day(dt.date(2026, 3, 24))
    assert working.due_date(dt.datetime(2026, 3, 10, 9, 0, tzinfo=JAKARTA)) == dt.date(2026, 4, 6)


def test_r4_working_days_between_counts_after_start_up_to_end() -> None:
    assert CAL.working_days_between(dt.date(2026, 3, 10), dt.date(2026, 4, 7)) == 14
    assert CAL.working_days_between(dt.date(2026, 4, 7), dt.date(2026, 3, 10)) == -14


moments = st.datetimes(
    min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 12, 31), timezones=st.just(dt.UTC)
)


@settings(max_examples=300, deadline=None)
@given(moments)
def test_r4_due_date_is_always_a_working_day(moment: dt.datetime) -> None:
    assert CAL.is_working_day(CAL.due_date(moment))


@settings(max_examples=300, deadline=None)
@given(moments)
def test_r4_exactly_14_working_days_lie_after_the_receipt_day(moment: dt.datetime) -> None:
    received = CAL.local_date(moment)
    due = CAL.due_date(moment)
    days = [received + dt.timedelta(days=i) for i in range(1, (due - received).days + 1)]
    assert sum(CAL.is_working_day(d) for d in days) == 14
    assert CAL.is_working_day(days[-1])


@settings(max_examples=300, deadline=None)
@given(moments, st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=60)))
def test_r4_a_later_receipt_never_gets_an_earlier_due_date(moment: dt.datetime, later: dt.timedelta) -> None:
    assert CAL.due_date(moment + later) >= CAL.due_date(moment)


def test_r4_the_shipped_holiday_table_is_what_the_installed_holidays_package_says() -> None:
    # Issue 17, item 10: `aduan calendar due` reads the closures from intake/holidays_id.json
    # instead of importing and computing the holidays package. After upgrading the package (a new
    # cuti bersama decree), run `python -m intake.calendar`: until then the package is read instead.
    assert calendar._table(), "intake/holidays_id.json is stale: run python -m intake.calendar"
    for year in calendar.TABLE_YEARS:
        assert calendar.national_closures(year) == calendar.computed_closures(year), year
    assert str(2050) not in calendar._table()
    assert calendar.national_closures(2050) == calendar.computed_closures(2050)  # outside: computed
