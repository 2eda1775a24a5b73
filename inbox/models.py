"""The inbox's own tables: the access log of personal data, API tokens, and the queue indexes.

Sessions are signed cookies (``inbox.auth``), so they need no table.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from intake.models import Complaint, ts, utcnow
from outbound.outbox import OutboxMessage


class AccessLog(SQLModel, table=True):
    """One view of a reporter's personal data (UU 27/2022): who, whose, when, through what."""

    __tablename__ = "access_log"
    __table_args__ = (sa.Index("ix_access_log_complaint_at", "complaint_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = ts(nullable=False, default=utcnow)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id")
    reporter_id: int | None = Field(default=None, foreign_key="reporter.id")
    what: str = Field(max_length=32)  # "reporter", "anonymous_reporter", "search"
    via: str = Field(max_length=16)  # "web", "api"


class ApiToken(SQLModel, table=True):
    """A bearer token for an integration, acting with the role of the staff user it belongs to."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)  # sha256 hex; the token is shown once
    created_at: dt.datetime = ts(nullable=False, default=utcnow)
    last_used_at: dt.datetime | None = ts()
    revoked_at: dt.datetime | None = ts()
    #: After this moment the token no longer works (None: never; ``aduan token add --days``).
    expires_at: dt.datetime | None = ts()


_complaint = Complaint.__table__  # type: ignore[attr-defined]
#: The queue pages filter by state and sort by time left (due date); the "mine" queue by claimant;
#: name search joins reporters. Declared here so the inbox's migration owns them.
QUEUE_INDEXES = (
    sa.Index("ix_complaint_kind_status_due", _complaint.c.kind, _complaint.c.status, _complaint.c.due_date),
    # "new" queue: unclaimed records of one status, in due-date order (count and page from the index).
    sa.Index(
        "ix_complaint_unclaimed_due",
        _complaint.c.kind,
        _complaint.c.status,
        _complaint.c.claimed_by_id,
        _complaint.c.due_date,
    ),
    sa.Index("ix_complaint_claimed_by", _complaint.c.claimed_by_id),
    sa.Index("ix_complaint_apip_pending", _complaint.c.apip_requested_at, _complaint.c.apip_approved_at),
)


class ComplaintRead(SQLModel, table=True):
    """When an officer last read a record: its messages after that moment are unread for them."""

    __tablename__ = "complaint_read"

    user_id: int = Field(foreign_key="staff_user.id", primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", primary_key=True, index=True)
    last_read_at: dt.datetime = ts(nullable=False, default=utcnow)


_outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
#: The complaint page finds the bot's questions asked before the record existed by contact and time.
OUTBOX_INDEXES = (sa.Index("ix_outbox_to_urn_created", _outbox.c.to_urn, _outbox.c.created_at),)
