"""Seeding helpers for the evaluation tests: complaints through file_complaint, chat through ingest."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlmodel import Session, col, select

from app.container import Container
from bot import survey
from channels.base import InboundMessage
from intake import db
from intake.ingest import file_complaint, ingest
from intake.models import STATUS_ANSWERED, Complaint
from outbound.outbox import OutboxMessage

JAKARTA = dt.timezone(dt.timedelta(hours=7))
_ids = itertools.count(1)


def at(day: dt.date | str, hour: int = 10) -> dt.datetime:
    """Return ``day`` at ``hour`` o'clock in Jakarta."""
    d = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return dt.datetime(d.year, d.month, d.day, hour, tzinfo=JAKARTA)


def complaint(
    session: Session,
    container: Container,
    *,
    received: dt.datetime,
    channel: str = "sms",
    urn: str | None = "tel:+6281234500001",
    text: str = "Izin PBG saya sudah dua bulan belum selesai, mohon dicek.",
    name: str | None = "Siti Rahmawati",
    service: str | None = "pbg",
    problem_type: str | None = "waktu",
    answered: dt.datetime | None = None,
) -> Complaint:
    """File a complaint (or a saran, without a name) as ``intake.ingest.file_complaint`` does it."""
    row = file_complaint(
        session=session,
        office=container.office,
        channel=channel,
        contact_urn=urn,
        text=text,
        received_at=received,
        now=received,
        reporter_name=name,
        service=service,
        problem_type=problem_type,
    )
    if answered is not None:
        row.status = STATUS_ANSWERED
        row.answered_at = answered
        row.answer_text = "Izin sudah terbit, silakan diambil."
        session.add(row)
    session.flush()
    return row


def chat(container: Container, channel: str, urn: str, text: str) -> bool:
    """Deliver one chat message the way jobs.pipeline does: ingest, then the message hooks in order.

    Returns whether the survey's hook handled it (a later hook, the dialogue, may take the rest).
    """
    now = container.now()
    message = InboundMessage(channel=channel, external_id=f"test-{next(_ids)}", sender=urn, text=text)
    with db.write_session(container.engine) as s:
        result = ingest(session=s, message=message, now=now, office=container.office)
        for hook in container.message_hooks:
            if hook(container, s, result, now):
                return hook is survey.on_message
    return False


def outbox_to(container: Container, urn: str) -> list[OutboxMessage]:
    """Return the outbox rows addressed to ``urn``, oldest first."""
    with db.session(container.engine) as s:
        query = select(OutboxMessage).where(OutboxMessage.to_urn == urn).order_by(col(OutboxMessage.id))
        return list(s.exec(query))
