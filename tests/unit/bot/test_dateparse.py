"""Service dates as citizens write them (R3 counts from this date, in Asia/Jakarta days)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.dateparse import parse_date, sub_months

TODAY = dt.date(2026, 3, 10)  # a Tuesday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kemarin", dt.date(2026, 3, 9)),
        ("Kemaren sore", dt.date(2026, 3, 9)),
        ("kemarin lusa", dt.date(2026, 3, 8)),
        ("tadi pagi", TODAY),
        ("hari ini", TODAY),
        ("2 minggu lalu", dt.date(2026, 2, 24)),
        ("dua minggu yang lalu", dt.date(2026, 2, 24)),
        ("seminggu yang lalu", dt.date(2026, 3, 3)),
        ("sebulan lalu", dt.date(2026, 2, 10)),
        ("3 hari yg lalu", dt.date(2026, 3, 7)),
        ("minggu lalu", dt.date(2026, 3, 3)),
        ("3/11/2025", dt.date(2025, 11, 3)),  # day first, as in Indonesia
        ("3/11/2026", dt.date(2026, 11, 3)),  # in the future: the dialogue asks again
        ("03-03-26", dt.date(2026, 3, 3)),
        ("3 November", dt.date(2025, 11, 3)),  # without a year: the latest one not in the future
        ("3 Maret", dt.date(2026, 3, 3)),
        ("tanggal 3 maret 2026", dt.date(2026, 3, 3)),
        ("tgl 25", dt.date(2026, 2, 25)),  # the 25th of this month is still to come
        ("5", dt.date(2026, 3, 5)),
        ("2026-02-01", dt.date(2026, 2, 1)),
        ("hari senin", dt.date(2026, 3, 9)),
        ("selasa lalu", dt.date(2026, 3, 3)),
        ("hari minggu", dt.date(2026, 3, 8)),
        ("sudah 3 minggu", dt.date(2026, 2, 17)),
        ("yesterday", dt.date(2026, 3, 9)),
        ("2 weeks ago", dt.date(2026, 2, 24)),
        ("a month ago", dt.date(2026, 2, 10)),
        ("last week", dt.date(2026, 3, 3)),
        ("November 3, 2025", dt.date(2025, 11, 3)),
        ("3rd of November", dt.date(2025, 11, 3)),
        ("11/23/2025", dt.date(2025, 11, 23)),  # month first only when day first is impossible
    ],
)
def test_r3_service_date_answers_parse(text: str, expected: dt.date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize("text", ["", "halo", "pbg", "31/02/2026", "tidak tahu", "Budi Santoso", "12345678"])
def test_text_without_a_date_gives_none(text: str) -> None:
    assert parse_date(text, TODAY) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("izin saya belum keluar, saya urus tanggal 3 Maret 2026 di MPP", dt.date(2026, 3, 3)),
        ("saya datang kemarin tapi loket tutup", dt.date(2026, 3, 9)),
        ("berkas saya serahkan 2 minggu yang lalu", dt.date(2026, 2, 24)),
        ("izin saya sudah 3 minggu belum keluar", None),  # an amount of waiting, not a date: ask
        ("antre dari jam 10.30 sampai siang", None),  # a time, not 10 March
        ("saya tunggu 5 jam", None),
    ],
)
def test_strict_mode_takes_only_unmistakable_dates_from_running_text(
    text: str, expected: dt.date | None
) -> None:
    assert parse_date(text, TODAY, strict=True) == expected


def test_dates_count_in_the_callers_today_not_the_clock() -> None:
    assert parse_date("kemarin", dt.date(2026, 1, 1)) == dt.date(2025, 12, 31)
    assert parse_date("sebulan lalu", dt.date(2026, 3, 31)) == dt.date(2026, 2, 28)


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 12, 31)), st.integers(0, 60))
def test_sub_months_stays_in_the_target_month(day: dt.date, months: int) -> None:
    result = sub_months(day, months)
    assert (result.year * 12 + result.month) == (day.year * 12 + day.month) - months
    assert result.day <= day.day


@given(
    st.dates(min_value=dt.date(2001, 1, 1), max_value=dt.date(2090, 12, 31)),
    st.integers(1, 28),
    st.integers(1, 12),
)
def test_a_date_without_a_year_is_never_in_the_future(today: dt.date, day: int, month: int) -> None:
    result = parse_date(f"{day}/{month}", today)
    assert result is not None and result <= today and (result.day, result.month) == (day, month)
