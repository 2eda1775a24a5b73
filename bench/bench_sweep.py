"""R4 deadline sweep with many complaints on file (PostgreSQL) vs the bare indexed SELECT.

On file: ``N`` complaints (default 1,000,000; ``ADUAN_BENCH_SWEEP_N`` to change), a tenth of them
open, 1,000 of those due now, in a fresh PostgreSQL database the migrations make (on
``bench.common.PG_ADMIN``'s server, dropped after). Rows are bulk-loaded with COPY, the secondary
indexes, the search indexes included, built after the load. Each sweep is timed from a reset state
(the due rows' ``next_checkpoint_at`` put back, their alerts deleted) and set beside:

* the floor asked for: the bare indexed ``SELECT`` of the due rows (what finding them costs);
* the same writes done by hand in SQL (INSERT of the alert rows, UPDATE of the due rows), which
  is the least any sweep that records alerts must pay;
* an idle minute (nothing due), beside the bare SELECT returning nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from app import settings as config_mod
from app.bootstrap import build
from app.container import Container
from bench.bench_inbox import secondary_indexes_dropped
from bench.common import Row, database_url, fresh_database
from intake import db
from intake.models import Complaint
from intake.workflow import OPEN_STATUSES
from intake.workflow_models import DeadlineAlert

N = int(os.environ.get("ADUAN_BENCH_SWEEP_N", "1000000"))
OPEN = N // 10
DUE = 1000
RUNS = 5
JAKARTA = dt.timezone(dt.timedelta(hours=7))
NOW = dt.datetime(2026, 3, 26, 9, 0, tzinfo=JAKARTA)  # 7th working day after 10 March 2026
DUE_CHECKPOINT = dt.datetime(2026, 3, 26, 1, 0, tzinfo=dt.UTC)
COLUMNS = (
    "id",
    "office",
    "tracking_number",
    "year",
    "seq",
    "kind",
    "reasons",
    "channel",
    "contact_urn",
    "anonymous",
    "text",
    "service_code",
    "received_at",
    "due_date",
    "status",
    "next_checkpoint_at",
    "created_at",
    "updated_at",
)


def _stamp(moment: dt.datetime) -> str:
    """Format a UTC moment as COPY reads a ``timestamptz``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def _rows() -> Iterator[tuple[Any, ...]]:
    """Yield the complaints: closed ones, open ones watched later, and DUE open ones due now.

    Timestamps come from small precomputed pools: formatting a million datetimes would cost more
    than loading them.
    """
    rng = random.Random(20260326)
    base = dt.datetime(2025, 1, 1, 2, 0, tzinfo=dt.UTC)
    closed_pool = []
    for k in range(5000):
        moment = base + dt.timedelta(seconds=k * 7919)
        closed_pool.append((_stamp(moment), (moment.date() + dt.timedelta(days=20)).isoformat()))
    later_pool = [_stamp(DUE_CHECKPOINT + dt.timedelta(days=1 + k % 30, minutes=k)) for k in range(3000)]
    due_stamp = _stamp(DUE_CHECKPOINT)
    open_received = _stamp(dt.datetime(2026, 3, 16, 3, 0, tzinfo=dt.UTC))
    for i in range(1, N + 1):
        if i <= DUE:
            received = _stamp(dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=i))
            status, nxt, due = "under_review", due_stamp, "2026-04-07"
        elif i <= OPEN:
            received, status, due = open_received, "received", "2026-04-13"
            nxt = later_pool[i % 3000]
        else:
            received, due = closed_pool[rng.randrange(5000)]
            status, nxt = "closed", None
        yield (
            i,
            "pwk",
            f"PWK-B-{i:07d}",
            2026,
            i,
            "pengaduan",
            "",
            "sms",
            f"tel:+628{i:010d}",
            False,
            "Izin belum keluar",
            "pbg",
            received,
            due,
            status,
            nxt,
            received,
            received,
        )


def _load(engine: sa.Engine) -> None:
    """Migrate, COPY the complaints in with the secondary indexes dropped, then build them again.

    The database swept is the one the migrations make, the search indexes of the baseline migration
    filled for every row (``bench_inbox.secondary_indexes_dropped``).
    """
    db.upgrade(engine)
    with secondary_indexes_dropped(engine, ("complaint",)):
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy(f"COPY complaint ({', '.join(COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in _rows():
                    copy.write_row(row)
            cur.execute("SELECT setval('complaint_id_seq', %s)", (N,))
            raw.commit()
        finally:
            raw.close()


def _reset(engine: sa.Engine) -> None:
    c = Complaint.__table__  # type: ignore[attr-defined]
    a = DeadlineAlert.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sa.delete(a))
        conn.execute(sa.update(c).where(c.c.id <= DUE).values(next_checkpoint_at=DUE_CHECKPOINT))


def _floor(engine: sa.Engine, now: dt.datetime) -> int:
    """The bare indexed SELECT of due rows."""
    c = Complaint.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(c.c.id, c.c.received_at, c.c.due_date, c.c.next_checkpoint_at).where(
                c.c.status.in_(OPEN_STATUSES), c.c.next_checkpoint_at <= now
            )
        ).all()
    return len(rows)


def _hand_written_writes(engine: sa.Engine) -> None:
    """The floor of the writes: SELECT due rows, INSERT one alert each, UPDATE each row's next checkpoint."""
    c = Complaint.__table__  # type: ignore[attr-defined]
    a = DeadlineAlert.__table__  # type: ignore[attr-defined]
    nxt = DUE_CHECKPOINT + dt.timedelta(days=5)
    with db.write_session(engine) as s:
        ids = [
            r.id
            for r in s.execute(
                sa.select(c.c.id).where(c.c.status.in_(OPEN_STATUSES), c.c.next_checkpoint_at <= NOW)
            ).all()
        ]
        s.execute(
            sa.insert(a),
            [
                {
                    "complaint_id": i,
                    "checkpoint": "reminder",
                    "occurrence": 0,
                    "notify": "assignee",
                    "scheduled_at": DUE_CHECKPOINT,
                    "created_at": NOW,
                    "late": False,
                    "days_left": 7,
                    "text": "x",
                    "status": "sent",
                    "attempts": 0,
                    "channels_sent": "inbox",
                }
                for i in ids
            ],
        )
        s.execute(
            sa.update(c).where(c.c.id == sa.bindparam("cid")).values(next_checkpoint_at=sa.bindparam("n")),
            [{"cid": i, "n": nxt} for i in ids],
        )


def _median(fn: Callable[[], Any], before: Callable[[], Any] | None = None) -> float:
    times = []
    for _ in range(RUNS):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _container(engine: sa.Engine) -> Container:
    import tomllib

    from tests.conftest import ROOT, TEST_ENV

    data = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    settings = config_mod.from_dict(data, env=dict(TEST_ENV))
    return build(settings, engine=engine, migrate=False, clock=lambda: NOW)


def _measure(name: str, engine: sa.Engine) -> list[Row]:
    from outbound import escalation

    t0 = time.perf_counter()
    _load(engine)
    load_s = time.perf_counter() - t0
    container = _container(engine)
    _reset(engine)
    report = escalation.sweep(container, now=NOW)
    assert len(report.alerts) == DUE, len(report.alerts)
    assert _floor(engine, NOW) == 0
    _reset(engine)
    assert _floor(engine, NOW) == DUE
    sweep_s = _median(lambda: escalation.sweep(container, now=NOW), before=lambda: _reset(engine))
    _reset(engine)
    floor_s = _median(lambda: _floor(engine, NOW))
    writes_s = _median(lambda: _hand_written_writes(engine), before=lambda: _reset(engine))
    _reset(engine)
    escalation.sweep(container, now=NOW)
    idle_s = _median(lambda: escalation.sweep(container, now=NOW + dt.timedelta(minutes=1)))
    idle_floor_s = _median(lambda: _floor(engine, NOW + dt.timedelta(minutes=1)))
    scale = f"{N:,} on file, {OPEN:,} open, {DUE:,} due; load {load_s:.0f} s"
    ms = 1000.0
    return [
        Row(
            "sweep",
            f"{name}: sweep, {DUE:,} due (alerts written)",
            sweep_s * ms,
            "ms",
            "bare indexed SELECT",
            floor_s * ms,
            higher_is_better=False,
            note=scale,
        ),
        Row(
            "sweep",
            f"{name}: sweep, {DUE:,} due (alerts written)",
            sweep_s * ms,
            "ms",
            "hand-written SELECT+INSERT+UPDATE",
            writes_s * ms,
            higher_is_better=False,
            note="the least any sweep that records alerts must write",
        ),
        Row(
            "sweep",
            f"{name}: idle sweep (nothing due)",
            idle_s * ms,
            "ms",
            "bare indexed SELECT",
            idle_floor_s * ms,
            higher_is_better=False,
            note="the every-minute case",
        ),
    ]


def run() -> list[Row]:
    """Measure the sweep on a fresh PostgreSQL database."""
    with fresh_database("aduan_bench_sweep") as name:
        engine = db.create_engine(database_url(name))
        try:
            return _measure("PostgreSQL", engine)
        finally:
            engine.dispose()
