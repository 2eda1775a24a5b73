"""Tables of the procedure after intake: internal notes, related-complaint links, deadline alerts.

*penelaahan* (review, R6) produces notes and links to earlier complaints (R6c); the deadline watch
of R4 produces one ``DeadlineAlert`` row per complaint, checkpoint and occurrence, so each alert
is sent exactly once however many sweepers run.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from intake.models import ts, utcnow

LINK_SUGGESTED = "suggested"
LINK_CONFIRMED = "confirmed"
LINK_DISMISSED = "dismissed"
LINK_STATUSES = (LINK_SUGGESTED, LINK_CONFIRMED, LINK_DISMISSED)

ALERT_PENDING = "pending"
ALERT_SENDING = "sending"
ALERT_SENT = "sent"
ALERT_FAILED = "failed"


class Note(SQLModel, table=True):
    """An internal note on a complaint, written by staff and never sent to the citizen."""

    __tablename__ = "complaint_note"

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", index=True)
    author_id: int | None = Field(default=None, foreign_key="staff_user.id")
    author: str = Field(default="system", max_length=64)
    text: str = Field(sa_type=sa.Text)
    created_at: dt.datetime = ts(nullable=False, default=utcnow)


class RelatedLink(SQLModel, table=True):
    """R6c: an earlier complaint that may concern the same matter; the officer confirms or dismisses it."""

    __tablename__ = "related_link"
    __table_args__ = (sa.UniqueConstraint("complaint_id", "related_id", name="uq_related_link_pair"),)

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", index=True)
    related_id: int = Field(foreign_key="complaint.id", index=True)
    reasons: str = Field(default="", max_length=64)  # comma-separated: contact, service, text
    score: float = 0.0
    status: str = Field(default=LINK_SUGGESTED, max_length=16)
    decided_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    decided_at: dt.datetime | None = ts()
    created_at: dt.datetime = ts(nullable=False, default=utcnow)


class DeadlineAlert(SQLModel, table=True):
    """One escalation alert or progress notice of R4, unique per complaint, checkpoint and occurrence.

    ``occurrence`` is 0 for one-off checkpoints; the repeating overdue checkpoint counts the
    working days past the due date (0 = on the due date). The row is the inbox's view of the alert
    and the delivery record of its Telegram and email copies.
    """

    __tablename__ = "deadline_alert"
    __table_args__ = (
        sa.UniqueConstraint("complaint_id", "checkpoint", "occurrence", name="uq_deadline_alert_once"),
        sa.Index("ix_deadline_alert_status", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", index=True)
    checkpoint: str = Field(max_length=32)
    occurrence: int = 0
    notify: str = Field(max_length=32)  # a role, "assignee" or "citizen"
    recipient_id: int | None = Field(default=None, foreign_key="staff_user.id")
    scheduled_at: dt.datetime = ts(nullable=False)
    created_at: dt.datetime = ts(nullable=False, default=utcnow)
    late: bool = False
    days_left: int = 0
    text: str = Field(default="", sa_type=sa.Text)
    status: str = Field(default=ALERT_PENDING, max_length=16)
    attempts: int = 0
    channels_sent: str = Field(default="", max_length=64)  # comma-separated: telegram, email, outbox
    error: str | None = Field(default=None, sa_type=sa.Text)
    sent_at: dt.datetime | None = ts()
    seen_at: dt.datetime | None = ts()
