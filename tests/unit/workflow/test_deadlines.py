"""R4 checkpoints in working days (pure): the SPEC example across Nyepi and Idul Fitri 2026."""

from __future__ import annotations

import datetime as dt

import pytest

from intake import deadlines
from intake.calendar import WorkingCalendar

JAKARTA = dt.timezone(dt.timedelta(hours=7))
RECEIVED = dt.datetime(2026, 3, 10, 10, 0, tzinfo=JAKARTA)
DUE = dt.date(2026, 4, 7)
CAL = WorkingCalendar()
POLICY = deadlines.EscalationPolicy()


def at(day: str, hour: int = 8) -> dt.datetime:
    d = dt.date.fromisoformat(day)
    return dt.datetime(d.year, d.month, d.day, hour, 0, tzinfo=JAKARTA)


def test_r4_checkpoint_days_skip_nyepi_idul_fitri_and_good_friday() -> None:
    """Working days 7, 10, 12 after Tue 10 March 2026 are 26 March, 31 March and 2 April."""
    plan = deadlines.checkpoint_plan(received_at=RECEIVED, due_date=DUE, policy=POLICY, calendar=CAL)
    assert [(p["checkpoint"], p["date"]) for p in plan] == [
        ("reminder", "2026-03-26"),
        ("progress_notice", "2026-03-31"),
        ("section_head", "2026-03-31"),
        ("head", "2026-04-02"),
        ("overdue", "2026-04-07"),
    ]
    assert plan[0]["at"] == "2026-03-26T01:00:00+00:00"  # 08:00 in Jakarta


def test_r4_next_checkpoint_walks_one_off_then_every_working_day_overdue() -> None:
    moments = []
    after = RECEIVED
    for _ in range(8):
        after = deadlines.next_checkpoint(
            received_at=RECEIVED, due_date=DUE, after=after, policy=POLICY, calendar=CAL
        )
        moments.append(after.astimezone(JAKARTA).date().isoformat())
    # 31 March once (two checkpoints share it); Fri 3 April (Good Friday) and weekends never
    assert moments == [
        "2026-03-26",
        "2026-03-31",
        "2026-04-02",
        "2026-04-07",
        "2026-04-08",
        "2026-04-09",
        "2026-04-10",
        "2026-04-13",
    ]
    assert deadlines.first_checkpoint(received_at=RECEIVED, due_date=DUE, policy=POLICY, calendar=CAL) == at(
        "2026-03-26"
    )


def test_r4_window_after_a_gap_holds_every_missed_checkpoint_and_one_overdue() -> None:
    due = deadlines.due_in_window(
        received_at=RECEIVED,
        due_date=DUE,
        start=at("2026-03-26"),
        end=at("2026-04-10", 9),
        policy=POLICY,
        calendar=CAL,
    )
    assert [(d.checkpoint.key, d.occurrence, d.day.isoformat()) for d in due] == [
        ("reminder", 0, "2026-03-26"),
        ("progress_notice", 0, "2026-03-31"),
        ("section_head", 0, "2026-03-31"),
        ("head", 0, "2026-04-02"),
        ("overdue", 3, "2026-04-10"),  # only the latest overdue day: one alert, not a burst
    ]


def test_r4_window_before_the_checkpoint_time_is_empty() -> None:
    due = deadlines.due_in_window(
        received_at=RECEIVED,
        due_date=DUE,
        start=at("2026-03-26"),
        end=at("2026-03-26", 7),
        policy=POLICY,
        calendar=CAL,
    )
    assert due == []


def test_policy_from_config_reads_the_table() -> None:
    policy = deadlines.policy_from_config(
        {
            "checkpoint_time": "07:30",
            "late_after_minutes": 30,
            "progress_notice_day": 0,
            "overdue_notify": "division_head",
            "checkpoints": [
                {"name": "b", "day": 9, "notify": "head"},
                {"name": "a", "day": 5, "notify": "assignee"},
            ],
        }
    )
    assert [c.key for c in policy.checkpoints] == ["a", "b"]
    assert policy.at_time == dt.time(7, 30) and policy.late_after == dt.timedelta(minutes=30)
    assert [c.key for c in policy.all_checkpoints(14)] == ["a", "b", "overdue"]  # no progress notice


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"checkpoints": [{"name": "x", "day": 0, "notify": "head"}]}, "day"),
        ({"checkpoints": [{"name": "x", "day": 3, "notify": "boss"}]}, "not a role"),
        ({"checkpoints": [{"name": "overdue", "day": 3, "notify": "head"}]}, "name"),
        ({"checkpoint_time": "eight"}, "HH:MM"),
        ({"progress_notice_day": -1}, "progress_notice_day"),
        ({"ladder": ["officer", "chief"]}, "ladder"),
    ],
)
def test_policy_from_config_names_the_wrong_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        deadlines.policy_from_config(table)


def test_repository_config_gives_the_default_policy() -> None:
    import tomllib

    from tests.conftest import ROOT

    table = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))["escalation"]
    assert deadlines.policy_from_config(table) == POLICY
