"""The outbox: every outbound message is a row first, then sent by a job of the queue, with retries.

Nothing is sent inside a web request or a dialogue step: they ``enqueue`` in their own
transaction, which also defers the row's send job (``jobs.queue.defer_send``): it commits with
the row, and an idle worker sends it at once (LISTEN/NOTIFY), not at the next poll. A temporary
failure (5xx, 429, time-out) is retried after 1, 5, 15 and 60 minutes by a job deferred with the
row's new state; a permanent one, or the last attempt, marks the row failed, shown to officers.
A worker claims a row under its row lock (``FOR UPDATE SKIP LOCKED``), so two workers never send
the same row. ``deliver_due`` sends whatever is due now (``aduan outbox --deliver``, and the
periodic ``outbox_sweep`` that catches rows whose worker died mid-send).
Status callbacks move a row along ``queued → sent → delivered → read``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, select

import channels
from app.container import Container
from app.settings import ConfigError
from channels.base import OutboundMessage, PermanentFailure, TemporaryFailure
from intake import db
from intake.ingest import create
from intake.models import ts, utcnow
from jobs.queue import defer_send

log = logging.getLogger("aduan.outbox")

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
READ = "read"
FAILED = "failed"
UNDELIVERED = "undelivered"
#: Order of progress: a late "sent" callback never moves a "delivered" row back.
PROGRESS = {QUEUED: 0, SENDING: 1, SENT: 2, DELIVERED: 3, READ: 4, FAILED: 5, UNDELIVERED: 5}
FINAL = (FAILED, UNDELIVERED)

#: Seconds to wait before each retry (1, 5, 15, 60 minutes); then the message has failed.
RETRY_DELAYS = (60, 300, 900, 3600)
#: A row stuck in "sending" longer than this (the worker died) is picked up again.
LEASE_SECONDS = 300


class OutboxMessage(SQLModel, table=True):
    """One message to deliver, with its delivery history."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_due", "status", "next_attempt_at"),
        sa.Index("ix_outbox_provider", "channel", "provider_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    office: str = Field(default="default", max_length=32)
    channel: str = Field(max_length=32)
    to_urn: str = Field(max_length=255)
    text: str = Field(default="", sa_type=sa.Text)
    subject: str | None = Field(default=None, max_length=255)
    template: str | None = Field(default=None, max_length=64)
    template_vars: str = Field(default="{}", sa_type=sa.Text)
    purpose: str = Field(default="reply", max_length=32)  # reply, ack, answer, alert, survey…
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id", index=True)
    created_by: str = Field(default="system", max_length=64)
    status: str = Field(default=QUEUED, max_length=16)
    attempts: int = 0
    next_attempt_at: dt.datetime | None = ts()
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    provider_id: str | None = Field(default=None, max_length=255)
    reply_to: str | None = Field(default=None, max_length=255)
    thread_id: str | None = Field(default=None, max_length=255)
    note: str | None = Field(default=None, sa_type=sa.Text)  # e.g. "WhatsApp window closed: sent by SMS"
    extra: str = Field(default="{}", sa_type=sa.Text)
    created_at: dt.datetime = ts(nullable=False, default=utcnow)
    sent_at: dt.datetime | None = ts()
    delivered_at: dt.datetime | None = ts()
    read_at: dt.datetime | None = ts()
    failed_at: dt.datetime | None = ts()

    def to_outbound(self) -> OutboundMessage:
        """Return the channel-facing message."""
        return OutboundMessage(
            id=self.id,
            channel=self.channel,
            to=self.to_urn,
            text=self.text,
            subject=self.subject,
            template=self.template,
            template_vars=json.loads(self.template_vars or "{}"),
            reply_to=self.reply_to,
            thread_id=self.thread_id,
            extra=json.loads(self.extra or "{}"),
        )


def enqueue(
    session: Session,
    *,
    channel: str,
    to: str,
    text: str,
    now: dt.datetime,
    complaint_id: int | None = None,
    purpose: str = "reply",
    created_by: str = "system",
    subject: str | None = None,
    template: str | None = None,
    template_vars: dict[str, str] | None = None,
    reply_to: str | None = None,
    thread_id: str | None = None,
    office: str = "default",
    extra: dict[str, Any] | None = None,
) -> OutboxMessage:
    """Add a message to the outbox in the caller's transaction; its send job commits with it."""
    row = create(
        session,
        OutboxMessage,
        office=office,
        channel=channel,
        to_urn=to,
        text=text,
        subject=subject,
        template=template,
        template_vars=json.dumps(template_vars or {}, ensure_ascii=False),
        purpose=purpose,
        complaint_id=complaint_id,
        created_by=created_by,
        reply_to=reply_to,
        thread_id=thread_id,
        extra=json.dumps(extra or {}, ensure_ascii=False),
        next_attempt_at=now,
        created_at=now,
    )
    assert row.id is not None
    defer_send(session, row.id)
    return row


def _claim(container: Container, now: dt.datetime, limit: int) -> list[OutboxMessage]:
    """Mark up to ``limit`` due rows as being sent by this worker and return them."""
    stale = now - dt.timedelta(seconds=LEASE_SECONDS)
    due = sa.or_(
        sa.and_(OutboxMessage.status == QUEUED, OutboxMessage.next_attempt_at <= now),  # type: ignore[arg-type,operator]
        sa.and_(OutboxMessage.status == SENDING, OutboxMessage.next_attempt_at <= stale),  # type: ignore[arg-type,operator]
    )
    with db.write_session(container.engine) as s:
        query = select(OutboxMessage).where(due).order_by(OutboxMessage.id).limit(limit)  # type: ignore[arg-type]
        rows = list(s.exec(query.with_for_update(skip_locked=True)).all())
        for row in rows:
            row.status = SENDING
            row.attempts += 1
            row.next_attempt_at = now
            s.add(row)
    return rows


def send_one(container: Container, outbox_id: int) -> str | None:
    """Send one outbox row (the send job); return its new status, None when not this job's to send.

    A row another worker is sending (locked), already sent or failed is left alone. A row not due
    yet (a survey invitation that waits, a retry the CLI rescheduled) gets a job at its moment.
    """
    now = container.now()
    stale = now - dt.timedelta(seconds=LEASE_SECONDS)
    with db.write_session(container.engine) as s:
        query = select(OutboxMessage).where(OutboxMessage.id == outbox_id).with_for_update(skip_locked=True)
        row = s.exec(query).first()
        if row is None:
            return None
        sending_stale = row.status == SENDING and (
            row.next_attempt_at is None or row.next_attempt_at <= stale
        )
        if row.status != QUEUED and not sending_stale:
            return None
        if row.status == QUEUED and row.next_attempt_at is not None and row.next_attempt_at > now:
            defer_send(s, outbox_id, after=row.next_attempt_at - now)
            return None
        row.status = SENDING
        row.attempts += 1
        row.next_attempt_at = now
        s.add(row)
    with container.using_office(container.office_of(row.office)):
        _deliver_one(container, row)
    return row.status


def deliver_due(container: Container, *, limit: int = 50) -> int:
    """Send every due message once; return how many were attempted."""
    now = container.now()
    rows = _claim(container, now, limit)
    for row in rows:
        # Each office's messages leave from its own number, mailbox or bot (app.routing.install).
        with container.using_office(container.office_of(row.office)):
            _deliver_one(container, row)
    return len(rows)


#: ``container.services[PREPARERS]`` maps a channel to ``fn(container, row)`` run before each send:
#: it may rewrite the row (a template outside WhatsApp's window, a fallback channel, a note).
PREPARERS = "outbox.preparers"
#: The row fields a preparer may change; they are saved with the outcome of the attempt.
PREPARED_FIELDS = ("channel", "to_urn", "text", "template", "template_vars", "note", "extra")


def _deliver_one(container: Container, row: OutboxMessage) -> None:
    now = container.now()
    provider_id: str | None = None
    error: str | None = None
    permanent = False
    retry_after: float | None = None
    prepare = container.services.get(PREPARERS, {}).get(row.channel)
    if prepare is not None:
        try:
            prepare(container, row)
        except Exception as exc:  # retried like a timeout; the row is never lost
            error = f"preparing failed: {type(exc).__name__}: {exc}"
            log.exception("preparing outbox #%s on %s failed", row.id, row.channel)
    sender = container.senders.get(row.channel)
    if error is not None:
        pass
    elif sender is None:
        error, permanent = f"no sender configured for channel {row.channel}", True
    else:
        try:
            provider_id = sender.send(row.to_outbound())
        except PermanentFailure as exc:
            error, permanent = str(exc), True
        except TemporaryFailure as exc:
            error, retry_after = str(exc), exc.retry_after
        except Exception as exc:  # a sender bug must not lose the message: retry it like a timeout
            error = f"{type(exc).__name__}: {exc}"
            log.exception("sender for %s raised", row.channel)
    with db.write_session(container.engine) as s:
        fresh = s.get(OutboxMessage, row.id)
        assert fresh is not None
        for name in PREPARED_FIELDS:
            setattr(fresh, name, getattr(row, name))
        if error is None:
            fresh.provider_id = provider_id
            if PROGRESS.get(fresh.status, 0) <= PROGRESS[SENT]:
                fresh.status = SENT
            fresh.sent_at = now
            fresh.last_error = None
            fresh.next_attempt_at = None
        elif permanent or fresh.attempts > len(RETRY_DELAYS):
            fresh.status, fresh.failed_at, fresh.last_error = FAILED, now, error
            fresh.next_attempt_at = None
            log.warning("outbox #%s on %s failed after %s attempts", fresh.id, fresh.channel, fresh.attempts)
        else:
            delay = dt.timedelta(seconds=max(RETRY_DELAYS[fresh.attempts - 1], retry_after or 0))
            fresh.status, fresh.last_error = QUEUED, error
            fresh.next_attempt_at = now + delay
            defer_send(s, fresh.id, after=delay)  # type: ignore[arg-type]
        s.add(fresh)
        row.status = fresh.status


def update_status(
    session: Session,
    *,
    channel: str | tuple[str, ...],
    provider_id: str,
    status: str,
    now: dt.datetime,
    error: str | None = None,
    office: str | None = None,
) -> OutboxMessage | None:
    """Apply a provider's delivery status to the matching row (of ``office`` only, when given);
    never move it backwards."""
    if status not in PROGRESS:
        raise ValueError(f"unknown outbox status {status!r}; known: {', '.join(PROGRESS)}")
    names = (channel,) if isinstance(channel, str) else channel
    query = select(OutboxMessage).where(
        OutboxMessage.channel.in_(names),  # type: ignore[attr-defined]
        OutboxMessage.provider_id == provider_id,
    )
    if office is not None:
        query = query.where(OutboxMessage.office == office)
    row = session.exec(query).first()
    if row is None:
        return None
    if status in FINAL:
        row.status, row.failed_at, row.last_error = status, now, error or row.last_error
    elif PROGRESS[status] > PROGRESS.get(row.status, 0) and row.status not in FINAL:
        row.status = status
        if status == DELIVERED:
            row.delivered_at = now
        elif status == READ:
            row.read_at = now
            row.delivered_at = row.delivered_at or now
    session.add(row)
    return row


def failed_messages(
    session: Session, *, limit: int = 100, offices: list[str] | None = None
) -> list[OutboxMessage]:
    """Return messages that gave up, newest first (the inbox shows them to officers).

    ``offices``: only the messages of these offices (None: every office's).
    """
    query = select(OutboxMessage).where(OutboxMessage.status.in_(FINAL))  # type: ignore[attr-defined]
    if offices is not None:
        query = query.where(OutboxMessage.office.in_(offices))  # type: ignore[attr-defined]
    return list(session.exec(query.order_by(OutboxMessage.id.desc()).limit(limit)).all())  # type: ignore[union-attr]


def install(container: Container) -> None:
    """Build a sender for every enabled channel module that can send (``make_sender``)."""

    for name in container.settings.enabled_channels():
        entry = channels.REGISTRY.get(name)
        if entry is None or entry.module is None:
            continue
        try:
            module = importlib.import_module(entry.module)
        except ModuleNotFoundError as exc:
            if exc.name != entry.module:
                raise
            log.warning("channel %s is enabled but has no module yet", name)
            continue
        factory = getattr(module, "make_sender", None)
        if factory is not None and name not in container.senders:
            try:
                container.senders[name] = factory(container.channel_config(name))
            except ConfigError as exc:
                # `aduan serve` refuses to start without secrets; other commands run without sending.
                # Messages queued meanwhile wait in the outbox (and fail visibly if never sendable).
                log.warning("channel %s cannot send: %s", name, exc)
