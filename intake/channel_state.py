"""State the pull channels and the public form keep between runs: X poll cursors and form rate buckets.

``XPollState`` lets the X poller resume where it stopped (``since_id``, pagination token) and honour
the rate-limit reset across restarts; ``FormRateBucket`` counts submissions per (hashed) address
so the per-address limit of ``/lapor`` holds across several web processes.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, Session, SQLModel, select

from intake.models import ts, utcnow


class XPollState(SQLModel, table=True):
    """Where the X poller is on one endpoint (``mentions`` or ``dm_events``) of one account."""

    __tablename__ = "x_poll_state"

    key: str = Field(primary_key=True, max_length=64)  # "<endpoint>:<account id>"
    since_id: str | None = Field(default=None, max_length=32)
    #: Newest id seen on the first page of a walk not finished yet (becomes since_id when done).
    pending_newest_id: str | None = Field(default=None, max_length=32)
    pagination_token: str | None = Field(default=None, max_length=255)
    rate_limit_remaining: int | None = None
    rate_limit_reset_at: dt.datetime | None = ts()
    last_polled_at: dt.datetime | None = ts()
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    updated_at: dt.datetime = ts(nullable=False, default=utcnow)


class FormRateBucket(SQLModel, table=True):
    """Submissions from one address in the current window (the address is stored only as a hash)."""

    __tablename__ = "form_rate_bucket"

    key: str = Field(primary_key=True, max_length=96)  # "<scope>:<sha256 of secret + address>"
    window_start: dt.datetime = ts(nullable=False, index=True)
    count: int = 0


def x_state(session: Session, key: str) -> XPollState:
    """Return the poll state row of ``key``, creating an empty one."""
    row = session.get(XPollState, key)
    if row is None:
        row = XPollState(key=key)
        session.add(row)
        session.flush()
    return row


def take_token(session: Session, *, key: str, now: dt.datetime, limit: int, window: dt.timedelta) -> bool:
    """Count one hit for ``key`` in a fixed window; return False when ``limit`` is already reached."""
    table = FormRateBucket.__table__  # type: ignore[attr-defined]
    values = {"key": key, "window_start": now, "count": 0}
    insert = postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=["key"])
    inserted = session.execute(insert)
    if getattr(inserted, "rowcount", 0):
        # A new address: drop buckets whose window ended long ago (no hoarding of hashes).
        session.execute(sa.delete(table).where(table.c.window_start < now - 2 * window))
    row = session.exec(select(FormRateBucket).where(FormRateBucket.key == key).with_for_update()).one()
    if row.window_start <= now - window:
        row.window_start, row.count = now, 0
    if row.count >= limit:
        session.add(row)
        return False
    row.count += 1
    session.add(row)
    return True
