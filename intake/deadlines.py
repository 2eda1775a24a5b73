"""R4 deadline checkpoints in working days: when each reminder, escalation and overdue alert falls due.

Pure functions (no I/O, no clock reads). A checkpoint is "the N-th working day after receipt" at
the office's checkpoint time; the overdue checkpoint repeats on the due date and every working day
after it. The sweep in ``outbound.escalation`` only ever asks two questions: which checkpoints fell
due in a time window, and when the next one is (stored, indexed, as ``next_checkpoint_at``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from intake.calendar import WorkingCalendar
from intake.roles import DEFAULT_LADDER, HEAD, ROLES

#: ``notify`` values besides a role name.
NOTIFY_ASSIGNEE = "assignee"
NOTIFY_CITIZEN = "citizen"
OVERDUE = "overdue"
PROGRESS_NOTICE = "progress_notice"


@dataclass(frozen=True)
class Checkpoint:
    """A point in the R4 countdown: on working day ``day`` after receipt, tell ``notify``."""

    key: str
    day: int
    notify: str
    repeat: bool = False  # the overdue checkpoint: every working day from ``day`` on


@dataclass(frozen=True)
class EscalationPolicy:
    """The configured checkpoints, the time of day they fall due and the escalation ladder."""

    checkpoints: tuple[Checkpoint, ...] = (
        Checkpoint("reminder", 7, NOTIFY_ASSIGNEE),
        Checkpoint("section_head", 10, "section_head"),
        Checkpoint("head", 12, HEAD),
    )
    overdue_notify: str = HEAD
    progress_notice_day: int = 10
    at_time: dt.time = dt.time(8, 0)
    late_after: dt.timedelta = dt.timedelta(minutes=120)
    ladder: tuple[str, ...] = DEFAULT_LADDER

    def all_checkpoints(self, deadline_days: int) -> tuple[Checkpoint, ...]:
        """Return the one-off checkpoints, the progress notice and the repeating overdue one."""
        extra = [Checkpoint(OVERDUE, deadline_days, self.overdue_notify, repeat=True)]
        if self.progress_notice_day > 0:
            extra.append(Checkpoint(PROGRESS_NOTICE, self.progress_notice_day, NOTIFY_CITIZEN))
        return (*self.checkpoints, *extra)


@dataclass(frozen=True)
class DueCheckpoint:
    """One occurrence of a checkpoint: its moment (UTC), its local day and how late it is."""

    checkpoint: Checkpoint
    occurrence: int
    moment: dt.datetime
    day: dt.date


def policy_from_config(table: Mapping[str, Any]) -> EscalationPolicy:
    """Read the ``[escalation]`` table; raise ValueError saying which key is wrong."""
    default = EscalationPolicy()
    checkpoints = []
    seen: set[str] = set()
    for i, item in enumerate(table.get("checkpoints", [])):
        if not isinstance(item, Mapping):
            raise ValueError(f"escalation.checkpoints[{i}] must be a table {{name, day, notify}}")
        key, day, notify = str(item.get("name", "")), item.get("day"), str(item.get("notify", ""))
        if not key or len(key) > 32 or key in seen or key in (OVERDUE, PROGRESS_NOTICE):
            raise ValueError(f"escalation.checkpoints[{i}].name must be a unique short name, got {key!r}")
        if not isinstance(day, int) or day < 1:
            raise ValueError(f"escalation.checkpoints[{i}].day must be a working-day count >= 1")
        _check_notify(notify, f"escalation.checkpoints[{i}].notify")
        seen.add(key)
        checkpoints.append(Checkpoint(key, day, notify))
    overdue = str(table.get("overdue_notify", default.overdue_notify))
    _check_notify(overdue, "escalation.overdue_notify")
    ladder = tuple(str(r) for r in table.get("ladder", default.ladder))
    for role in ladder:
        _check_notify(role, "escalation.ladder")
    try:
        at_time = dt.time.fromisoformat(str(table.get("checkpoint_time", "08:00")))
    except ValueError:
        raise ValueError("escalation.checkpoint_time must be HH:MM") from None
    notice = table.get("progress_notice_day", default.progress_notice_day)
    late = table.get("late_after_minutes", 120)
    if not isinstance(notice, int) or notice < 0:
        raise ValueError("escalation.progress_notice_day must be a working-day count (0 = never)")
    if not isinstance(late, int) or late < 1:
        raise ValueError("escalation.late_after_minutes must be a positive number of minutes")
    return EscalationPolicy(
        checkpoints=tuple(sorted(checkpoints, key=lambda c: c.day))
        if "checkpoints" in table
        else default.checkpoints,
        overdue_notify=overdue,
        progress_notice_day=notice,
        at_time=at_time,
        late_after=dt.timedelta(minutes=late),
        ladder=ladder,
    )


def _check_notify(value: str, where: str) -> None:
    if value not in ROLES and value != NOTIFY_ASSIGNEE:
        raise ValueError(f"{where}: {value!r} is not a role or 'assignee'; roles: {', '.join(ROLES)}")


def checkpoint_moment(day: dt.date, policy: EscalationPolicy, calendar: WorkingCalendar) -> dt.datetime:
    """Return the UTC moment a checkpoint falls due on local ``day``."""
    local = dt.datetime.combine(day, policy.at_time, tzinfo=calendar.timezone)
    return local.astimezone(dt.UTC)


_ONE_OFF_CACHE: dict[tuple[int, EscalationPolicy, dt.date, int], list[DueCheckpoint]] = {}


def _one_off(
    received_at: dt.datetime, policy: EscalationPolicy, calendar: WorkingCalendar, deadline_days: int
) -> list[DueCheckpoint]:
    received_on = calendar.local_date(received_at)
    # the schedule depends only on the receipt day: a sweep over a thousand rows computes it a few times
    key = (id(calendar), policy, received_on, deadline_days)
    cached = _ONE_OFF_CACHE.get(key)
    if cached is not None:
        return cached
    if len(_ONE_OFF_CACHE) > 20_000:
        _ONE_OFF_CACHE.clear()
    _ONE_OFF_CACHE[key] = out = _compute_one_off(received_on, policy, calendar, deadline_days)
    return out


def _compute_one_off(
    received_on: dt.date, policy: EscalationPolicy, calendar: WorkingCalendar, deadline_days: int
) -> list[DueCheckpoint]:
    out = []
    for cp in policy.all_checkpoints(deadline_days):
        if cp.repeat:
            continue
        day = calendar.add_working_days(received_on, cp.day)
        out.append(DueCheckpoint(cp, 0, checkpoint_moment(day, policy, calendar), day))
    return sorted(out, key=lambda d: (d.moment, d.checkpoint.key))


def _overdue_cp(policy: EscalationPolicy, deadline_days: int) -> Checkpoint:
    return next(c for c in policy.all_checkpoints(deadline_days) if c.repeat)


def _first_working_on_or_after(day: dt.date, calendar: WorkingCalendar) -> dt.date:
    return day if calendar.is_working_day(day) else calendar.add_working_days(day, 1)


def due_in_window(
    *,
    received_at: dt.datetime,
    due_date: dt.date,
    start: dt.datetime | None,
    end: dt.datetime,
    policy: EscalationPolicy,
    calendar: WorkingCalendar,
    deadline_days: int = 14,
) -> list[DueCheckpoint]:
    """Return the checkpoints with ``start <= moment <= end`` (``start`` None: from the beginning).

    After a gap the repeating overdue checkpoint yields only its latest occurrence: one alert that
    says "N working days overdue" rather than a burst of one per missed day.
    """
    out = [
        d
        for d in _one_off(received_at, policy, calendar, deadline_days)
        if (start is None or d.moment >= start) and d.moment <= end
    ]
    overdue = _overdue_cp(policy, deadline_days)
    last = None
    end_day = calendar.local_date(end)
    for day in _recent_working_days(end_day, calendar) if end_day >= due_date else ():
        if day < due_date:
            break
        if checkpoint_moment(day, policy, calendar) <= end:
            last = day
            break
    if last is not None:
        moment = checkpoint_moment(last, policy, calendar)
        if start is None or moment >= start:
            occurrence = calendar.working_days_between(due_date, last)
            out.append(DueCheckpoint(overdue, occurrence, moment, last))
    return sorted(out, key=lambda d: (d.moment, d.checkpoint.key))


def _recent_working_days(day: dt.date, calendar: WorkingCalendar, span: int = 40) -> list[dt.date]:
    """Working days on or before ``day``, newest first (a long holiday run is under 40 days)."""
    days = (day - dt.timedelta(days=i) for i in range(span))
    return [d for d in days if calendar.is_working_day(d)]


def next_checkpoint(
    *,
    received_at: dt.datetime,
    due_date: dt.date,
    after: dt.datetime,
    policy: EscalationPolicy,
    calendar: WorkingCalendar,
    deadline_days: int = 14,
) -> dt.datetime:
    """Return the first checkpoint moment strictly after ``after`` (the overdue one never ends)."""
    for d in _one_off(received_at, policy, calendar, deadline_days):
        if d.moment > after:
            first_one_off = d.moment
            break
    else:
        first_one_off = None
    after_day = calendar.local_date(after)
    day = _first_working_on_or_after(max(due_date, after_day), calendar)
    overdue_moment = checkpoint_moment(day, policy, calendar)
    if overdue_moment <= after:
        overdue_moment = checkpoint_moment(calendar.add_working_days(day, 1), policy, calendar)
    return min(m for m in (first_one_off, overdue_moment) if m is not None)


def first_checkpoint(
    *,
    received_at: dt.datetime,
    due_date: dt.date,
    policy: EscalationPolicy,
    calendar: WorkingCalendar,
    deadline_days: int = 14,
) -> dt.datetime:
    """Return ``next_checkpoint_at`` for a newly filed complaint (the first moment to look at it)."""
    return next_checkpoint(
        received_at=received_at,
        due_date=due_date,
        after=received_at,
        policy=policy,
        calendar=calendar,
        deadline_days=deadline_days,
    )


def checkpoint_plan(
    *,
    received_at: dt.datetime,
    due_date: dt.date,
    policy: EscalationPolicy,
    calendar: WorkingCalendar,
    deadline_days: int = 14,
) -> list[dict[str, Any]]:
    """Return the one-off checkpoints and the first overdue one, for display (``aduan show``)."""
    rows = [
        {
            "checkpoint": d.checkpoint.key,
            "notify": d.checkpoint.notify,
            "working_day": d.checkpoint.day,
            "date": d.day.isoformat(),
            "at": d.moment.isoformat(),
        }
        for d in _one_off(received_at, policy, calendar, deadline_days)
    ]
    overdue = _overdue_cp(policy, deadline_days)
    rows.append(
        {
            "checkpoint": overdue.key,
            "notify": overdue.notify,
            "working_day": deadline_days,
            "date": due_date.isoformat(),
            "at": checkpoint_moment(due_date, policy, calendar).isoformat(),
            "repeats": "every working day",
        }
    )
    return sorted(rows, key=lambda r: r["at"])


def policy_of(office: Any) -> EscalationPolicy:
    """Return the escalation policy an office profile carries (``outbound.escalation``), else the default."""
    extra = getattr(office, "extra", None) or {}
    policy = extra.get("escalation_policy")
    return policy if isinstance(policy, EscalationPolicy) else EscalationPolicy()


def first_checkpoint_for(office: Any, complaint: Any) -> dt.datetime:
    """Return ``next_checkpoint_at`` for a complaint just filed at ``office`` (called by ingest).

    A letter entered days after its receipt date starts its watch when it was entered: the
    checkpoints that passed before nobody could act on are not sent late.
    """
    entered = getattr(complaint, "created_at", None)
    return next_checkpoint(
        received_at=complaint.received_at,
        due_date=complaint.due_date,
        after=max(complaint.received_at, entered) if entered else complaint.received_at,
        policy=policy_of(office),
        calendar=office.calendar,
        deadline_days=office.answer_deadline_working_days,
    )
