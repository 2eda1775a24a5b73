"""The complaint record: raw payloads, messages, reporters, complaints, staff and the event log.

Indonesian words kept as they are: *pengaduan* (complaint), *saran* (suggestion/input, R3/R5b),
*penelaahan* (review, R6), *tindak lanjut* (follow-up, R7).
All datetimes are stored timezone-aware in UTC; dates (due date, service date) are Jakarta dates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    """Return the current moment in UTC (only for default column values; rules take ``now``)."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime column that refuses naive values (stored as UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a timezone-aware column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def ts(*, index: bool = False, nullable: bool = True, default: Any = None) -> Any:
    """A UTC timestamp field."""
    kwargs: dict[str, Any] = {"sa_type": UTCDateTime, "index": index, "nullable": nullable}
    if default is not None:
        kwargs["default_factory"] = default
    else:
        kwargs["default"] = None
    return Field(**kwargs)


# -- statuses ------------------------------------------------------------------------------------

STATUS_RECEIVED = "received"  # diterima
STATUS_UNDER_REVIEW = "under_review"  # ditelaah (R6)
STATUS_IN_FOLLOW_UP = "in_follow_up"  # ditindaklanjuti (R7)
STATUS_ANSWERED = "answered"  # dijawab (R8)
STATUS_REPORTED = "reported"  # dilaporkan (R8)
STATUS_CLOSED = "closed"  # selesai
STATUS_ACKNOWLEDGED = "acknowledged"  # saran: diterima sebagai masukan
STATUS_FORWARDED = "forwarded"  # saran: diteruskan ke evaluasi tahunan (E2)
STATUS_MERGED = "merged"  # digabung ke catatan lain

#: The condition of the partial index ``ix_complaint_open_due``: a deadline runs (R4).
OPEN_CONDITION = f"status IN ('{STATUS_RECEIVED}', '{STATUS_UNDER_REVIEW}', '{STATUS_IN_FOLLOW_UP}')"

RAW_STORED = "stored"
RAW_PROCESSED = "processed"
RAW_QUARANTINED = "quarantined"
RAW_IGNORED = "ignored"


class RawInbound(SQLModel, table=True):
    """A payload exactly as the provider delivered it; it exists before anything derived from it."""

    __tablename__ = "raw_inbound"
    __table_args__ = (sa.UniqueConstraint("channel", "external_id", name="uq_raw_inbound_channel_external"),)

    id: int | None = Field(default=None, primary_key=True)
    office: str = Field(default="default", max_length=32)
    channel: str = Field(max_length=32, index=True)
    external_id: str = Field(max_length=255)
    received_at: dt.datetime = ts(nullable=False, default=utcnow)
    headers: str = Field(default="{}", sa_type=sa.Text)  # JSON of the HTTP/mail headers
    body: bytes = Field(sa_type=sa.LargeBinary)
    url: str = Field(default="", sa_type=sa.Text)
    status: str = Field(default=RAW_STORED, max_length=16, index=True)
    error: str | None = Field(default=None, sa_type=sa.Text)
    processed_at: dt.datetime | None = ts()


class Rejection(SQLModel, table=True):
    """A request refused at the door (bad signature, malformed body), kept size-capped for forensics."""

    __tablename__ = "rejection"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32, index=True)
    reason: str = Field(sa_type=sa.Text)
    status_code: int = 400
    received_at: dt.datetime = ts(nullable=False, default=utcnow)
    body_excerpt: bytes = Field(default=b"", sa_type=sa.LargeBinary)
    body_size: int = 0


class RejectionTally(SQLModel, table=True):
    """Refused requests counted but not kept as rows (over ``[security]``'s rejection caps)."""

    __tablename__ = "rejection_tally"

    channel: str = Field(primary_key=True, max_length=32)
    dropped: int = 0
    last_at: dt.datetime | None = ts()


class Reporter(SQLModel, table=True):
    """A citizen who complains: the name they gave and whether they asked to stay anonymous."""

    __tablename__ = "reporter"

    id: int | None = Field(default=None, primary_key=True)
    name: str | None = Field(default=None, max_length=200)
    anonymous: bool = False
    language: str = Field(default="id", max_length=8)
    created_at: dt.datetime = ts(nullable=False, default=utcnow)


class Contact(SQLModel, table=True):
    """One way to reach a reporter (a URN), with the last time they wrote from it."""

    __tablename__ = "contact"

    id: int | None = Field(default=None, primary_key=True)
    urn: str = Field(max_length=255, unique=True)
    channel: str = Field(max_length=32)
    reporter_id: int | None = Field(default=None, foreign_key="reporter.id", index=True)
    display_name: str | None = Field(default=None, max_length=200)
    last_inbound_at: dt.datetime | None = ts()


class User(SQLModel, table=True):
    """A member of staff who logs in to the inbox; ``role`` is one of ``intake.roles.ROLES``."""

    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    full_name: str = Field(default="", max_length=200)
    role: str = Field(max_length=32)
    # The office they work for ("" = the primary office, "*" = the whole province: intake.roles).
    office: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})
    password_hash: str = Field(default="", max_length=255)
    email: str | None = Field(default=None, max_length=255)
    telegram_chat_id: str | None = Field(default=None, max_length=64)
    superior_id: int | None = Field(default=None, foreign_key="staff_user.id")
    is_active: bool = True
    failed_logins: int = 0
    locked_until: dt.datetime | None = ts()
    created_at: dt.datetime = ts(nullable=False, default=utcnow)
    #: Part of every session cookie's fingerprint: raised by logout, so every copy of it ends.
    session_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Complaint(SQLModel, table=True):
    """A complaint (*pengaduan*) or a suggestion (*saran*), from any channel, with its deadline."""

    __tablename__ = "complaint"
    __table_args__ = (
        sa.Index("ix_complaint_open_checkpoint", "status", "next_checkpoint_at"),
        sa.Index("ix_complaint_due_status", "due_date", "status"),
        # a reporter's records, soonest due first, read from the index alone (name search, 0012)
        sa.Index("ix_complaint_reporter_due", "reporter_id", "anonymous", "due_date"),
        # the open records only, soonest due first (overdue and due-soon queues, 0012); the inbox
        # writes this same condition into its queries, as a partial index needs
        sa.Index(
            "ix_complaint_open_due",
            "kind",
            "due_date",
            postgresql_where=sa.text(OPEN_CONDITION),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    office: str = Field(default="default", max_length=32, index=True)
    tracking_number: str = Field(max_length=32, unique=True)
    year: int
    seq: int
    kind: str = Field(max_length=16, index=True)
    reasons: str = Field(default="", max_length=64)  # comma-separated REASONS for a saran
    channel: str = Field(max_length=32, index=True)
    reporter_id: int | None = Field(default=None, foreign_key="reporter.id")
    contact_urn: str | None = Field(default=None, max_length=255, index=True)
    anonymous: bool = False
    text: str = Field(default="", sa_type=sa.Text)
    service_code: str | None = Field(default=None, max_length=32, index=True)
    problem_type: str | None = Field(default=None, max_length=32)
    suggested_service_code: str | None = Field(default=None, max_length=32)
    suggested_problem_type: str | None = Field(default=None, max_length=32)
    service_date: dt.date | None = None
    received_at: dt.datetime = ts(nullable=False)
    due_date: dt.date
    status: str = Field(default=STATUS_RECEIVED, max_length=16)
    track: str | None = Field(default=None, max_length=16)  # R7: internal / agency / apip
    assignee_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    claimed_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    # R6 review (penelaahan)
    core_problem: str | None = Field(default=None, sa_type=sa.Text)
    standard_ref: str | None = Field(default=None, sa_type=sa.Text)
    handling_plan: str | None = Field(default=None, max_length=32)
    # R7b / R7c
    agency: str | None = Field(default=None, max_length=200)
    agency_liaison: str | None = Field(default=None, max_length=200)
    agency_follow_up_date: dt.date | None = None
    apip_requested_at: dt.datetime | None = ts()
    apip_approved_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    apip_approved_at: dt.datetime | None = ts()
    # R8
    answer_text: str | None = Field(default=None, sa_type=sa.Text)
    answered_at: dt.datetime | None = ts()
    reported_at: dt.datetime | None = ts()
    closed_at: dt.datetime | None = ts()
    merged_into_id: int | None = Field(default=None, foreign_key="complaint.id")
    # deadline watch: the next moment the sweep must look at this complaint (indexed, see bot/)
    next_checkpoint_at: dt.datetime | None = ts()
    created_at: dt.datetime = ts(nullable=False, default=utcnow)
    updated_at: dt.datetime = ts(nullable=False, default=utcnow)

    @property
    def reason_list(self) -> list[str]:
        """Return the saran reasons as a list."""
        return [r for r in self.reasons.split(",") if r]


class Message(SQLModel, table=True):
    """A normalised inbound message; it belongs to a complaint once one exists."""

    __tablename__ = "message"
    __table_args__ = (sa.UniqueConstraint("channel", "external_id", name="uq_message_channel_external"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=255)
    raw_id: int | None = Field(default=None, foreign_key="raw_inbound.id")
    sender_urn: str = Field(max_length=255, index=True)
    text: str = Field(default="", sa_type=sa.Text)
    attachments: str = Field(default="[]", sa_type=sa.Text)  # JSON list
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id", index=True)
    received_at: dt.datetime = ts(nullable=False, default=utcnow)
    #: A shared location: JSON ``{"latitude", "longitude", "label"}`` (a venue's name as label).
    location: str | None = Field(default=None, sa_type=sa.Text)
    #: The texts an edit replaced, oldest first: JSON ``[{"text", "replaced_at"}]``.
    edits: str = Field(default="[]", sa_type=sa.Text, sa_column_kwargs={"server_default": "[]"})


class Event(SQLModel, table=True):
    """One change to a complaint: who, when, what, from which value to which. Append-only."""

    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", index=True)
    at: dt.datetime = ts(nullable=False, default=utcnow)
    actor: str = Field(max_length=64)  # "system", "bot", "user:<username>", "channel:<name>"
    action: str = Field(max_length=32)
    field: str | None = Field(default=None, max_length=64)
    old_value: str | None = Field(default=None, sa_type=sa.Text)
    new_value: str | None = Field(default=None, sa_type=sa.Text)
    note: str | None = Field(default=None, sa_type=sa.Text)


class TrackingCounter(SQLModel, table=True):
    """The last tracking-number sequence issued per prefix and year (no gaps, no repeats)."""

    __tablename__ = "tracking_counter"

    prefix: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    last_seq: int = 0
