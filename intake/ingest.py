"""The one way messages enter the record: store raw, dedupe, and create or update complaints.

``ingest()`` and ``file_complaint()`` are the only code that creates complaints; every channel,
the dialogue and the officers' form go through them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from channels.base import InboundMessage, RawRequest
from channels.urns import urn_scheme
from intake import deadlines, rules
from intake.models import (
    RAW_STORED,
    STATUS_ACKNOWLEDGED,
    STATUS_RECEIVED,
    Complaint,
    Contact,
    Event,
    Message,
    RawInbound,
    Rejection,
    Reporter,
    TrackingCounter,
)
from intake.office import OfficeProfile

#: Rejected request bodies are kept only up to this many bytes (forensics without hoarding).
REJECTION_BODY_CAP = 4096


@dataclass
class IngestResult:
    """What ``ingest`` did with one message."""

    message: Message
    complaint: Complaint | None
    duplicate: bool

    def as_json(self) -> dict[str, Any]:
        """Return the summary printed by ``aduan ingest`` and ``aduan simulate``."""
        return complaint_summary(self.complaint, duplicate=self.duplicate, channel=self.message.channel)


def complaint_summary(
    complaint: Complaint | None, *, duplicate: bool = False, channel: str = ""
) -> dict[str, Any]:
    """Return ``{tracking_number, kind, reasons, due_date, channel, duplicate}`` for a complaint."""
    if complaint is None:
        return {
            "tracking_number": None,
            "kind": None,
            "reasons": [],
            "due_date": None,
            "channel": channel,
            "duplicate": duplicate,
        }
    return {
        "tracking_number": complaint.tracking_number,
        "kind": complaint.kind,
        "reasons": complaint.reason_list,
        "due_date": complaint.due_date.isoformat(),
        "channel": complaint.channel,
        "duplicate": duplicate,
    }


def _insert_ignore(session: Session, model: type[Any], values: dict[str, Any], keys: list[str]) -> bool:
    """INSERT a row unless one with the same unique key exists; return True when inserted."""
    table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    else:
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    # rowcount is unreliable for ON CONFLICT DO NOTHING on some drivers; RETURNING is not.
    return session.execute(stmt.returning(sa.literal_column("1"))).first() is not None


def store_raw(
    *,
    session: Session,
    channel: str,
    raw: RawRequest,
    external_id: str | None = None,
    now: dt.datetime,
    office: str = "default",
) -> tuple[RawInbound, bool]:
    """Store a payload exactly as received, idempotently on ``(channel, external_id)``.

    Returns the row and whether it was already there. The caller commits before answering the
    provider, so an answered delivery is always on disk.
    """
    key = external_id or raw.body_hash()
    inserted = _insert_ignore(
        session,
        RawInbound,
        {
            "office": office,
            "channel": channel,
            "external_id": key[:255],
            "received_at": now,
            "headers": json.dumps(raw.headers, ensure_ascii=False, sort_keys=True),
            "body": raw.body,
            "url": raw.url,
            "status": RAW_STORED,
        },
        ["channel", "external_id"],
    )
    row = session.exec(
        select(RawInbound).where(RawInbound.channel == channel, RawInbound.external_id == key[:255])
    ).one()
    return row, not inserted


def record_rejection(
    *, session: Session, channel: str, reason: str, body: bytes, status_code: int, now: dt.datetime
) -> Rejection:
    """Keep a size-capped trace of a refused request (forged signature, malformed body)."""
    row = Rejection(
        channel=channel,
        reason=reason[:1000],
        status_code=status_code,
        received_at=now,
        body_excerpt=body[:REJECTION_BODY_CAP],
        body_size=len(body),
    )
    session.add(row)
    return row


def record_event(
    session: Session,
    complaint: Complaint,
    *,
    actor: str,
    action: str,
    now: dt.datetime,
    field: str | None = None,
    old: object = None,
    new: object = None,
    note: str | None = None,
) -> Event:
    """Append one entry to a complaint's event log (the audit trail)."""
    assert complaint.id is not None
    event = Event(
        complaint_id=complaint.id,
        at=now,
        actor=actor,
        action=action,
        field=field,
        old_value=None if old is None else str(old),
        new_value=None if new is None else str(new),
        note=note,
    )
    session.add(event)
    return event


def allocate_tracking_number(session: Session, *, prefix: str, year: int) -> tuple[str, int]:
    """Issue the next tracking number of the year, e.g. ``PWK-2026-000123``.

    The counter row is incremented inside the caller's transaction: a rollback gives the number
    back (no gaps) and the row lock serialises concurrent writers (no repeats).
    """
    _insert_ignore(
        session, TrackingCounter, {"prefix": prefix, "year": year, "last_seq": 0}, ["prefix", "year"]
    )
    table = TrackingCounter.__table__  # type: ignore[attr-defined]
    seq = session.execute(
        sa.update(table)
        .where(table.c.prefix == prefix, table.c.year == year)
        .values(last_seq=table.c.last_seq + 1)
        .returning(table.c.last_seq)
    ).scalar_one()
    return f"{prefix}-{year}-{seq:06d}", seq


def contact_for(session: Session, urn: str, *, now: dt.datetime | None = None) -> Contact:
    """Return the contact row of a URN, creating it when new; stamp the last inbound time."""
    values: dict[str, Any] = {"urn": urn, "channel": urn_scheme(urn)}
    _insert_ignore(session, Contact, values, ["urn"])
    contact = session.exec(select(Contact).where(Contact.urn == urn)).one()
    if now is not None and (contact.last_inbound_at is None or contact.last_inbound_at < now):
        contact.last_inbound_at = now
        session.add(contact)
    return contact


def known_name(session: Session, urn: str) -> str | None:
    """Return the name a contact gave in an earlier complaint, if any."""
    contact = session.exec(select(Contact).where(Contact.urn == urn)).first()
    if contact is None or contact.reporter_id is None:
        return None
    reporter = session.get(Reporter, contact.reporter_id)
    return reporter.name if reporter else None


def _reporter_for(session: Session, contact: Contact, name: str | None, anonymous: bool) -> Reporter:
    reporter = session.get(Reporter, contact.reporter_id) if contact.reporter_id else None
    if reporter is None or (name and reporter.name and reporter.name != name):
        reporter = Reporter(name=name or None, anonymous=anonymous)
        session.add(reporter)
        session.flush()
        if contact.reporter_id is None:
            contact.reporter_id = reporter.id
            session.add(contact)
    elif name and not reporter.name:
        reporter.name = name
        session.add(reporter)
    return reporter


def file_complaint(
    *,
    session: Session,
    office: OfficeProfile,
    channel: str,
    contact_urn: str | None,
    text: str,
    received_at: dt.datetime,
    now: dt.datetime,
    reporter_name: str | None = None,
    anonymous: bool = False,
    service: str | None = None,
    service_date: dt.date | None = None,
    problem_type: str | None = None,
    actor: str = "system",
    messages: list[Message] | None = None,
) -> Complaint:
    """Apply R3/R4/R5 and create the record: the only function that creates complaints."""
    received_on = office.calendar.local_date(received_at)
    classification = rules.classify(
        name=reporter_name,
        text=text,
        service_date=service_date,
        received_on=received_on,
        anonymous=anonymous,
        window_days=office.complaint_window_days,
    )
    matched = office.service(service) or office.match_service(service) if service else None
    suggested_service = None if matched else office.match_service(text)
    chosen_problem = office.problem_type(problem_type)
    suggested_problem = office.suggest_problem_type(text)
    reporter_id = None
    if contact_urn:
        contact = contact_for(session, contact_urn)
        reporter_id = _reporter_for(session, contact, reporter_name, anonymous).id
    elif reporter_name or anonymous:
        reporter = Reporter(name=reporter_name, anonymous=anonymous)
        session.add(reporter)
        session.flush()
        reporter_id = reporter.id
    year = received_on.year
    tracking, seq = allocate_tracking_number(session, prefix=office.tracking_prefix, year=year)
    complaint = Complaint(
        office=office.code,
        tracking_number=tracking,
        year=year,
        seq=seq,
        kind=classification.kind,
        reasons=",".join(classification.reasons),
        channel=channel,
        reporter_id=reporter_id,
        contact_urn=contact_urn,
        anonymous=anonymous,
        text=text,
        service_code=matched.code if matched else None,
        suggested_service_code=suggested_service.code if suggested_service else None,
        problem_type=chosen_problem.code if chosen_problem else None,
        suggested_problem_type=suggested_problem.code if suggested_problem else None,
        service_date=service_date,
        received_at=received_at,
        due_date=rules.due_date(received_at, office.calendar, office.answer_deadline_working_days),
        status=STATUS_RECEIVED if classification.is_complaint else STATUS_ACKNOWLEDGED,
        created_at=now,
        updated_at=now,
    )
    if complaint.status == STATUS_RECEIVED:  # R4 watch: the sweep first looks at it at its first checkpoint
        complaint.next_checkpoint_at = deadlines.first_checkpoint_for(office, complaint)
    session.add(complaint)
    session.flush()
    record_event(
        session,
        complaint,
        actor=actor,
        action="created",
        now=now,
        field="kind",
        new=complaint.kind,
        note=",".join(classification.reasons) or None,
    )
    for message in messages or ():
        message.complaint_id = complaint.id
        session.add(message)
    return complaint


def ingest(
    *,
    session: Session,
    message: InboundMessage,
    now: dt.datetime,
    office: OfficeProfile,
    raw_id: int | None = None,
) -> IngestResult:
    """Store a normalised message once and, for a complete submission, file it as a complaint.

    A replay of the same provider message (same channel and external id) changes nothing and
    returns the record it made the first time. Chat messages (``complete=False``) are stored and
    left for the dialogue in ``bot/`` to gather into a complaint.
    """
    inserted = _insert_ignore(
        session,
        Message,
        {
            "channel": message.channel,
            "external_id": message.external_id[:255],
            "raw_id": raw_id,
            "sender_urn": message.sender,
            "text": message.text,
            "attachments": json.dumps([_attachment_json(a) for a in message.attachments]),
            "received_at": now,
        },
        ["channel", "external_id"],
    )
    stored = session.exec(
        select(Message).where(
            Message.channel == message.channel, Message.external_id == message.external_id[:255]
        )
    ).one()
    if not inserted:
        complaint = session.get(Complaint, stored.complaint_id) if stored.complaint_id else None
        return IngestResult(stored, complaint, duplicate=True)
    contact = contact_for(session, message.sender, now=now)
    if message.sender_name and contact.display_name != message.sender_name[:200]:
        # R5a: a profile name is only a hint, kept so the dialogue can ask the citizen to confirm it.
        contact.display_name = message.sender_name[:200]
        session.add(contact)
    complaint = None
    if message.complete:
        complaint = file_complaint(
            session=session,
            office=office,
            channel=message.channel,
            contact_urn=message.sender,
            text=message.text,
            received_at=now,
            now=now,
            reporter_name=message.reporter_name,
            anonymous=message.anonymous,
            service=message.service,
            service_date=message.service_date,
            problem_type=message.problem_type,
            actor=f"channel:{message.channel}",
            messages=[stored],
        )
    return IngestResult(stored, complaint, duplicate=False)


def _attachment_json(attachment: Any) -> dict[str, Any]:
    data = asdict(attachment)
    data.pop("data", None)  # bytes go to the attachment store, never into JSON
    return data
