"""R4 due dates: 1,000,000 random receipt moments across 2025–2027 vs plain date + timedelta."""

from __future__ import annotations

import datetime as dt
import random
import time

from bench.common import Row
from intake.calendar import JAKARTA, WorkingCalendar

N = 1_000_000


def run() -> list[Row]:
    """Time Aduan's due-date computation beside the floor of one timedelta addition each."""
    rng = random.Random(20261127)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp()
    end = dt.datetime(2027, 12, 31, tzinfo=dt.UTC).timestamp()
    moments = [dt.datetime.fromtimestamp(rng.uniform(start, end), dt.UTC) for _ in range(N)]
    calendar = WorkingCalendar(timezone=JAKARTA)
    calendar.due_date(moments[0])  # load the holiday tables once, as a running service has them

    t0 = time.perf_counter()
    for m in moments:
        calendar.due_date(m, 14)
    aduan = time.perf_counter() - t0

    fourteen = dt.timedelta(days=14)
    t0 = time.perf_counter()
    for m in moments:
        (m + fourteen).date()
    floor = time.perf_counter() - t0

    return [
        Row(
            bench="calendar",
            case="due date of 1M receipt moments",
            value=N / aduan,
            unit="dates/s",
            baseline_name="date + timedelta",
            baseline=N / floor,
            note=f"{aduan:.2f} s vs {floor:.2f} s",
        )
    ]
