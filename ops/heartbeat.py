"""Heartbeats of background work (pollers, periodic jobs, purge), kept in the database.

Any process can read them, so ``/readyz`` and ``/metrics`` of every web process see the pollers and
the sweep that run in ``aduan worker``. A beat says when the work last ran, how long it took and
how often it is expected; it never carries personal data (counts and reasons only).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from intake import db
from intake.models import ts

#: A beat older than this many expected intervals means the work has stopped.
STALE_AFTER_INTERVALS = 3


class Heartbeat(SQLModel, table=True):
    """The last run of one piece of background work (``poller:email``, ``sweep``, ``outbox``, ``purge``)."""

    __tablename__ = "ops_heartbeat"

    name: str = Field(primary_key=True, max_length=64)
    office: str = Field(default="default", max_length=32)
    host: str = Field(default="", max_length=255)
    pid: int = 0
    beat_at: dt.datetime = ts(nullable=False)
    duration_ms: float | None = None
    interval_seconds: int | None = None
    status: str = Field(default="ok", max_length=16)  # ok, error
    detail: str | None = Field(default=None, sa_type=sa.Text)  # counts or an error class, never content


def beat(
    engine: Engine,
    name: str,
    *,
    now: dt.datetime,
    duration: float | None = None,
    interval: int | None = None,
    status: str = "ok",
    detail: str | None = None,
    office: str = "default",
) -> None:
    """Record that ``name`` ran at ``now`` (``duration`` in seconds); one row per name, upserted."""
    values: dict[str, Any] = {
        "name": name[:64],
        "office": office,
        "host": socket.gethostname()[:255],
        "pid": os.getpid(),
        "beat_at": now,
        "duration_ms": None if duration is None else round(duration * 1000, 3),
        "interval_seconds": interval,
        "status": status[:16],
        "detail": None if detail is None else detail[:1000],
    }
    table = Heartbeat.__table__  # type: ignore[attr-defined]
    stmt = postgresql.insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"], set_={k: v for k, v in values.items() if k != "name"}
    )
    with db.write_session(engine) as s:
        s.execute(stmt)


def read_all(engine: Engine) -> list[Heartbeat]:
    """Return every heartbeat, by name."""
    with db.session(engine) as s:
        return list(s.exec(sa.select(Heartbeat).order_by(Heartbeat.name)).scalars())  # type: ignore[call-overload,arg-type]


def is_stale(row: Heartbeat, now: dt.datetime) -> bool:
    """Tell whether a beat is older than its expected interval allows (no interval: never stale)."""
    if not row.interval_seconds:
        return False
    return (now - row.beat_at).total_seconds() > STALE_AFTER_INTERVALS * row.interval_seconds
