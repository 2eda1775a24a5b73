"""The pure rules of SPEC R3, R4 and R5, named after their rule ids."""

from __future__ import annotations

import datetime as dt

import pytest

from intake import rules
from intake.calendar import WorkingCalendar

JKT = dt.timezone(dt.timedelta(hours=7))


def test_r5a_named_reporter_with_object_is_a_pengaduan() -> None:
    result = rules.classify(
        name="Siti Aminah",
        text="Izin PBG saya belum keluar sudah sebulan",
        service_date=None,
        received_on=dt.date(2026, 3, 10),
    )
    assert result.kind == rules.KIND_PENGADUAN
    assert result.reasons == ()


def test_r5b_message_without_identity_becomes_saran() -> None:
    result = rules.classify(
        name=None,
        text="Antrean di loket terlalu panjang",
        service_date=None,
        received_on=dt.date(2026, 3, 10),
    )
    assert result.kind == rules.KIND_SARAN
    assert result.reasons == (rules.REASON_NO_IDENTITY,)


def test_r5b_message_without_object_becomes_saran() -> None:
    result = rules.classify(
        name="Budi",
        text="Assalamualaikum pak, selamat pagi",
        service_date=None,
        received_on=dt.date(2026, 3, 10),
    )
    assert result.kind == rules.KIND_SARAN
    assert result.reasons == (rules.REASON_NO_OBJECT,)


def test_r5b_neither_identity_nor_object_gives_both_reasons() -> None:
    result = rules.classify(name="", text="halo", service_date=None, received_on=dt.date(2026, 3, 10))
    assert result.reasons == (rules.REASON_NO_IDENTITY, rules.REASON_NO_OBJECT)


@pytest.mark.parametrize(
    "name", ["+6281234567890", "0812-3456-7890", "budi@example.test", "tel:+6281234567890", "x"]
)
def test_r5a_phone_number_or_address_alone_is_not_an_identity(name: str) -> None:
    assert not rules.has_identity(name)


@pytest.mark.parametrize("name", ["Budi", "Siti Aminah", "Ir. H. Dedi Mulyadi"])
def test_r5a_a_given_name_is_an_identity(name: str) -> None:
    assert rules.has_identity(name)


def test_r5a_anonim_complaint_keeps_a_hidden_identity() -> None:
    result = rules.classify(
        name=None,
        text="Ada pungli di loket PBG",
        service_date=None,
        received_on=dt.date(2026, 3, 10),
        anonymous=True,
    )
    assert result.kind == rules.KIND_PENGADUAN


@pytest.mark.parametrize("text", ["", "   ", "halo", "P", "😀👍", "selamat pagi pak", "ok terima kasih"])
def test_r5a_greetings_stickers_and_empty_messages_are_no_object(text: str) -> None:
    assert not rules.has_object(text)


@pytest.mark.parametrize("text", ["pungli", "izin belum keluar", "Petugas minta uang tambahan"])
def test_r5a_a_described_matter_is_an_object(text: str) -> None:
    assert rules.has_object(text)


def test_r3_day_30_is_in_time_and_day_31_is_late() -> None:
    received = dt.date(2026, 3, 31)
    assert not rules.is_late(dt.date(2026, 3, 1), received)  # 30 days
    assert rules.is_late(dt.date(2026, 2, 28), received)  # 31 days


def test_r3_late_complaint_becomes_saran_with_reason_late() -> None:
    result = rules.classify(
        name="Budi",
        text="Sertifikat salah ketik nama",
        service_date=dt.date(2026, 1, 2),
        received_on=dt.date(2026, 3, 10),
    )
    assert result.kind == rules.KIND_SARAN
    assert result.reasons == (rules.REASON_LATE,)


def test_r3_missing_service_date_is_not_late() -> None:
    assert not rules.is_late(None, dt.date(2026, 3, 10))


def test_r3_window_is_configurable() -> None:
    assert rules.is_late(dt.date(2026, 3, 1), dt.date(2026, 3, 20), window_days=14)


def test_r4_example_from_the_spec_tuesday_10_march_2026_is_due_tuesday_7_april() -> None:
    calendar = WorkingCalendar()
    received = dt.datetime(2026, 3, 10, 9, 30, tzinfo=JKT)
    assert rules.due_date(received, calendar) == dt.date(2026, 4, 7)


def test_r4_countdown_counts_working_days_and_goes_negative_when_overdue() -> None:
    calendar = WorkingCalendar()
    due = dt.date(2026, 4, 7)
    assert rules.working_days_left(due, today=dt.date(2026, 4, 6), calendar=calendar) == 1
    assert rules.working_days_left(due, today=due, calendar=calendar) == 0
    # 8 April is Wednesday: one working day overdue
    assert rules.working_days_left(due, today=dt.date(2026, 4, 8), calendar=calendar) == -1
