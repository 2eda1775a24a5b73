"""The one way messages enter the record: store raw, dedupe, and create or update complaints.

``ingest()`` and ``file_complaint()`` are the only code that creates complaints; every channel,
the dialogue and the officers' form go through them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel, select

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
    RejectionTally,
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
    #: The sender's contact row as ``ingest`` left it (None for a replay); saves hooks a lookup.
    contact: Contact | None = None
    #: The channel's message itself (its location, message type) for the hooks; None for a replay.
    inbound: InboundMessage | None = None

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


# -- statements ---------------------------------------------------------------------------------
# The upserts below are PostgreSQL statements (INSERT … ON CONFLICT … RETURNING): one round trip
# each, safe when two processes race. Each is built once and reused; SQLAlchemy caches its SQL.

Model = TypeVar("Model", bound=SQLModel)
_STATEMENTS: dict[Hashable, Any] = {}


def statement(key: Hashable, build: Callable[[Any], Any]) -> Any:
    """Return ``build(postgresql.insert)``, made once per ``key``."""
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build(postgresql.insert)
    return stmt


def run(session: Session, key: Hashable, build: Callable[[Any], Any], params: dict[str, Any]) -> Any:
    """Execute the statement ``key`` (see ``statement``) in the session's transaction."""
    return session.execute(statement(key, build), params)


def loaded(session: Session, model: type[Model], values: dict[str, Any]) -> Model:
    """Return the session's object for a row a statement just wrote and returned (every column)."""
    obj = model(**values)
    make_transient_to_detached(obj)
    return session.merge(obj, load=False)


def create(session: Session, model: type[Model], **values: Any) -> Model:
    """Add one new row of ``model`` and flush it, so it has its id."""
    obj = model(**values)
    session.add(obj)
    session.flush()
    return obj


def write_changes(session: Session, obj: Any) -> None:
    """Write the pending changes of ``obj`` now (a flush)."""
    session.add(obj)
    session.flush()


def _insert_ignore(session: Session, model: type[Any], values: dict[str, Any], keys: list[str]) -> bool:
    """INSERT a row unless one with the same unique key exists; return True when inserted."""
    table = model.__table__
    stmt: Any = postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    return session.execute(stmt.returning(sa.literal_column("1")), values).first() is not None


def _insert_new(
    session: Session, model: type[Model], values: dict[str, Any], keys: list[str]
) -> Model | None:
    """INSERT a row unless its unique key exists; return it as an ORM object, or None when it existed."""
    stmt = (
        postgresql.insert(model).values(**values).on_conflict_do_nothing(index_elements=keys).returning(model)
    )
    return session.scalars(stmt).first()


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
    key = (external_id or raw.body_hash())[:255]
    values: dict[str, Any] = {
        "office": office,
        "channel": channel,
        "external_id": key,
        "received_at": now,
        "headers": json.dumps(raw.headers, ensure_ascii=False, sort_keys=True),
        "body": raw.body,
        "url": raw.url,
        "status": RAW_STORED,
    }
    row = _insert_new(session, RawInbound, values, ["channel", "external_id"])
    if row is not None:
        return row, False
    found = session.exec(
        select(RawInbound).where(RawInbound.channel == channel, RawInbound.external_id == key)
    ).one()
    return found, True


@dataclass(frozen=True)
class RawPayload:
    """A verified payload to store as received: what ``store_raw_many`` takes for each request."""

    channel: str
    raw: RawRequest
    external_id: str
    office: str
    received_at: dt.datetime


def store_raw_many(session: Session, payloads: Sequence[RawPayload]) -> list[int | None]:
    """Store payloads exactly as received, in one INSERT, idempotently like ``store_raw``.

    Returns each payload's new row id, or None for a payload already stored (a provider's retry,
    also one repeated within ``payloads``). The caller commits before answering the providers.
    """
    keys = [(p.channel, p.external_id[:255]) for p in payloads]
    rows = [
        {
            "office": p.office,
            "channel": channel,
            "external_id": key,
            "received_at": p.received_at,
            "headers": json.dumps(p.raw.headers, ensure_ascii=False, sort_keys=True),
            "body": p.raw.body,
            "url": p.raw.url,
            "status": RAW_STORED,
        }
        for p, (channel, key) in zip(payloads, keys, strict=True)
    ]
    new = insert_new_rows(
        session, RawInbound, rows, ["channel", "external_id"], ["id", "channel", "external_id"]
    )
    ids = {(row.channel, row.external_id): row.id for row in new}
    # A key given twice in the batch was inserted once: the first payload of it is the new one.
    return [ids.pop(key, None) for key in keys]


@dataclass(frozen=True)
class RejectionCaps:
    """How many refused requests are kept as rows: per channel and hour, and in all."""

    per_hour: int = 60
    total: int = 10_000


def record_rejection(
    *,
    session: Session,
    channel: str,
    reason: str,
    body: bytes,
    status_code: int,
    now: dt.datetime,
    caps: RejectionCaps | None = None,
) -> Rejection | None:
    """Keep a size-capped trace of a refused request (forged signature, malformed body).

    With ``caps`` (requests from strangers), a request over the hourly or the total cap is only
    counted in ``rejection_tally`` (None is returned), so unsigned POSTs cannot grow the database.
    """
    if caps is not None and _over_caps(session, channel, now, caps):
        table = RejectionTally.__table__  # type: ignore[attr-defined]
        insert = postgresql.insert
        stmt = insert(table).values(channel=channel, dropped=1, last_at=now)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["channel"], set_={"dropped": table.c.dropped + 1, "last_at": now}
            )
        )
        return None
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


def _over_caps(session: Session, channel: str, now: dt.datetime, caps: RejectionCaps) -> bool:
    """Tell whether another rejection row would pass the hourly (per channel) or the total cap."""
    r = Rejection.__table__.c  # type: ignore[attr-defined]
    total = session.execute(sa.select(sa.func.count()).select_from(Rejection)).scalar_one()
    if total >= caps.total:
        return True
    hour = session.execute(
        sa.select(sa.func.count()).where(r.channel == channel, r.received_at > now - dt.timedelta(hours=1))
    ).scalar_one()
    return bool(hour >= caps.per_hour)


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
    seq = run(session, "tracking_counter", _counter_upsert, {"prefix": prefix, "year": year}).scalar_one()
    return f"{prefix}-{year}-{seq:06d}", seq


def _counter_upsert(ins: Any) -> Any:
    # One statement: the first number of a year inserts the row, later ones increment it under its
    # row lock (ON CONFLICT DO UPDATE waits for a concurrent writer, then sees its number).
    table = TrackingCounter.__table__  # type: ignore[attr-defined]
    stmt = ins(table).values(prefix=sa.bindparam("prefix"), year=sa.bindparam("year"), last_seq=1)
    return stmt.on_conflict_do_update(
        index_elements=["prefix", "year"], set_={"last_seq": table.c.last_seq + 1}
    ).returning(table.c.last_seq)


def _contact_upsert(ins: Any) -> Any:
    # Insert the contact, or stamp its last inbound time (never backwards) and the profile name.
    stmt = ins(Contact)
    table = Contact.__table__  # type: ignore[attr-defined]
    later = sa.or_(table.c.last_inbound_at.is_(None), table.c.last_inbound_at < stmt.excluded.last_inbound_at)
    return stmt.on_conflict_do_update(
        index_elements=["urn"],
        set_={
            "last_inbound_at": sa.case((later, stmt.excluded.last_inbound_at), else_=table.c.last_inbound_at),
            "display_name": sa.func.coalesce(stmt.excluded.display_name, table.c.display_name),
        },
    ).returning(Contact)


def _touch_contact(session: Session, urn: str, now: dt.datetime, display_name: str | None = None) -> Contact:
    """Create or update a contact in one statement: last inbound time and, if given, profile name."""
    values = {"urn": urn, "channel": urn_scheme(urn), "last_inbound_at": now, "display_name": display_name}
    stmt = statement("contact_upsert", _contact_upsert).values(**values)
    return session.scalars(stmt, execution_options={"populate_existing": True}).one()


def contact_for(session: Session, urn: str, *, now: dt.datetime | None = None) -> Contact:
    """Return the contact row of a URN, creating it when new; stamp the last inbound time."""
    if now is not None:
        return _touch_contact(session, urn, now)
    # Read first: filing from a draft must not lock a contact a concurrent message is stamping.
    contact = session.exec(select(Contact).where(Contact.urn == urn)).first()
    if contact is None:
        contact = _insert_new(session, Contact, {"urn": urn, "channel": urn_scheme(urn)}, ["urn"])
        if contact is None:  # inserted by a concurrent transaction meanwhile
            contact = session.exec(select(Contact).where(Contact.urn == urn)).one()
    return contact


def known_name(session: Session, urn: str) -> str | None:
    """Return the name a contact gave in an earlier complaint, if any."""
    contact = session.exec(select(Contact).where(Contact.urn == urn)).first()
    if contact is None or contact.reporter_id is None:
        return None
    reporter = session.get(Reporter, contact.reporter_id)
    return reporter.name if reporter else None


def _reporter_for(session: Session, contact: Contact, name: str | None, anonymous: bool) -> int:
    """Return the id of the reporter a complaint from ``contact`` is filed under (made when new)."""
    reporter = session.get(Reporter, contact.reporter_id) if contact.reporter_id else None
    if reporter is None or (name and reporter.name and reporter.name != name):
        reporter = create(session, Reporter, name=name or None, anonymous=anonymous)
        if contact.reporter_id is None:
            contact.reporter_id = reporter.id
            session.add(contact)
        assert reporter.id is not None
        return reporter.id
    if name and not reporter.name:
        reporter.name = name
        session.add(reporter)
    assert reporter.id is not None
    return reporter.id


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
    contact: Contact | None = None,
) -> Complaint:
    """Apply R3/R4/R5 and create the record: the only function that creates complaints.

    ``contact`` is the row of ``contact_urn`` when the caller has it (``IngestResult.contact``).
    """
    reporter_id = None
    if contact_urn:
        if contact is None or contact.urn != contact_urn:
            contact = contact_for(session, contact_urn)
        reporter_id = _reporter_for(session, contact, reporter_name, anonymous)
    elif reporter_name or anonymous:
        reporter_id = create(session, Reporter, name=reporter_name, anonymous=anonymous).id
    year = office.calendar.local_date(received_at).year
    tracking, seq = allocate_tracking_number(session, prefix=office.tracking_prefix, year=year)
    complaint = complaint_row(
        office=office,
        channel=channel,
        contact_urn=contact_urn,
        text=text,
        received_at=received_at,
        now=now,
        reporter_name=reporter_name,
        reporter_id=reporter_id,
        tracking=(tracking, seq),
        anonymous=anonymous,
        service=service,
        service_date=service_date,
        problem_type=problem_type,
    )
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
        note=complaint.reasons or None,
    )
    for message in messages or ():
        message.complaint_id = complaint.id
        session.add(message)
    return complaint


def complaint_row(
    *,
    office: OfficeProfile,
    channel: str,
    contact_urn: str | None,
    text: str,
    received_at: dt.datetime,
    now: dt.datetime,
    reporter_name: str | None,
    reporter_id: int | None,
    tracking: tuple[str, int],
    anonymous: bool = False,
    service: str | None = None,
    service_date: dt.date | None = None,
    problem_type: str | None = None,
) -> Complaint:
    """Apply R3/R4/R5 to a submission and return its new complaint row (not added to a session).

    ``file_complaint`` and the mailbox import's batches (``file_complaints``) build every record here.
    """
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
    tracking_number, seq = tracking
    complaint = Complaint(
        office=office.code,
        tracking_number=tracking_number,
        year=received_on.year,
        seq=seq,
        kind=classification.kind,
        reasons=",".join(classification.reasons),
        channel=channel,
        reporter_id=reporter_id,
        contact_urn=contact_urn,
        anonymous=anonymous,
        # R5a: a name typed into an ANONIM complaint's text is masked in the record (queues,
        # excerpts, search, API); the name itself stays with the reporter for the heads who may see it.
        text=rules.mask_name(text, reporter_name) if anonymous else text,
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
    values = message_values(message, now=now, raw_id=raw_id)
    inserted = _insert_new(session, Message, values, ["channel", "external_id"])
    if inserted is None:
        # Message-level dedupe: the same provider message (a replay in a new payload) files nothing.
        stored = session.exec(
            select(Message).where(
                Message.channel == message.channel, Message.external_id == message.external_id[:255]
            )
        ).one()
        complaint = session.get(Complaint, stored.complaint_id) if stored.complaint_id else None
        return IngestResult(stored, complaint, duplicate=True)
    stored = inserted
    # R5a: a profile name is only a hint, kept so the dialogue can ask the citizen to confirm it.
    name = message.sender_name[:200] if message.sender_name else None
    contact = _touch_contact(session, message.sender, now, name)
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
            contact=contact,
        )
    return IngestResult(stored, complaint, duplicate=False, contact=contact, inbound=message)


def message_values(message: InboundMessage, *, now: dt.datetime, raw_id: int | None) -> dict[str, Any]:
    """Return the ``message`` row ``ingest`` stores for a normalised message (the import's batches too)."""
    return {
        "channel": message.channel,
        "external_id": message.external_id[:255],
        "raw_id": raw_id,
        "sender_urn": message.sender,
        "text": message.text,
        "attachments": json.dumps([_attachment_json(a) for a in message.attachments]),
        "received_at": now,
        "location": location_json(message),
        "edits": "[]",
    }


def _attachment_json(attachment: Any) -> dict[str, Any]:
    data = asdict(attachment)
    data.pop("data", None)  # bytes go to the attachment store, never into JSON
    return data


def location_json(message: InboundMessage) -> str | None:
    """Return the JSON kept in ``message.location`` for a shared location, None without one."""
    where = message.location
    if where is None:
        return None
    return json.dumps(
        {"latitude": where.latitude, "longitude": where.longitude, "label": where.label},
        ensure_ascii=False,
    )


def apply_edit(*, session: Session, message: InboundMessage, now: dt.datetime) -> IngestResult | None:
    """Give a stored message the new text of an edit (``extra["edit_of"]``), keeping the old one.

    The replaced text goes into the message's ``edits`` and, when the message belongs to a
    complaint, into its event log. None when the edited message was never stored (the caller then
    stores the edit as a message of its own). An edit seen again changes nothing.
    """
    stored = session.exec(
        select(Message).where(
            Message.channel == message.channel, Message.external_id == str(message.extra["edit_of"])[:255]
        )
    ).first()
    if stored is None:
        return None
    complaint = session.get(Complaint, stored.complaint_id) if stored.complaint_id else None
    if stored.text == message.text:
        return IngestResult(stored, complaint, duplicate=True)
    history = json.loads(stored.edits or "[]")
    history.append({"text": stored.text, "replaced_at": now.astimezone(dt.UTC).isoformat()})
    old_text, stored.text, stored.edits = stored.text, message.text, json.dumps(history, ensure_ascii=False)
    session.add(stored)
    if complaint is not None:
        record_event(
            session,
            complaint,
            actor=f"channel:{message.channel}",
            action="message_edited",
            now=now,
            field="message",
            old=old_text,
            new=message.text,
        )
    return IngestResult(stored, complaint, duplicate=False)


# -- batches (the mailbox import) ---------------------------------------------------------------
# A batch of mails is written with one statement per table, not a few per mail: executemany
# (psycopg sends the rows in one pipeline) and INSERT … RETURNING over many rows (SQLAlchemy's
# "insertmanyvalues"). The rows are the same ``ingest``/``file_complaint`` write one by one.


def row_values(obj: SQLModel) -> dict[str, Any]:
    """Return a model object's column values for a Core statement (defaults applied, no id)."""
    return obj.model_dump(exclude={"id"})


def _unnested(table: sa.Table, rows: list[dict[str, Any]]) -> tuple[list[str], Any]:
    """Return the column names and a SELECT of ``rows`` from one array per column, in their order.

    ``unnest(array, array, …)`` keeps the statement short and the same whatever the batch's size
    (a multi-row VALUES list has one placeholder per value, which the driver parses every time).
    """
    names = list(rows[0])
    arrays = []
    for name in names:
        kind = postgresql.ARRAY(table.c[name].type)
        values = [row[name] for row in rows]
        arrays.append(sa.cast(sa.bindparam(f"v_{name}", values, type_=kind), kind))
    source = sa.func.unnest(*arrays).table_valued(*names, with_ordinality="position").render_derived()
    return names, sa.select(*(source.c[name] for name in names)).order_by(source.c.position)


def insert_new_rows(
    session: Session, model: type[SQLModel], rows: list[dict[str, Any]], keys: list[str], returning: list[str]
) -> list[sa.Row[Any]]:
    """INSERT many rows, skipping those whose unique ``keys`` exist; return ``returning`` of the new ones."""
    if not rows:
        return []
    table = model.__table__  # type: ignore[attr-defined]
    names, source = _unnested(table, rows)
    stmt = (
        postgresql.insert(table)
        .from_select(names, source)
        .on_conflict_do_nothing(index_elements=keys)
        .returning(*(table.c[name] for name in returning))
    )
    return list(session.execute(stmt).all())


def insert_rows_returning_ids(
    session: Session, model: type[SQLModel], rows: list[dict[str, Any]]
) -> list[int]:
    """INSERT many new rows and return their ids in the order of ``rows``."""
    if not rows:
        return []
    table = model.__table__  # type: ignore[attr-defined]
    names, source = _unnested(table, rows)
    # The rows go in in their order (ORDER BY), so the sequence numbers them in that order: sorted
    # ids are the rows' ids, as SQLAlchemy's own "insertmanyvalues" relies on for PostgreSQL.
    stmt = sa.insert(table).from_select(names, source).returning(table.c.id)
    return sorted(row[0] for row in session.execute(stmt).all())


def insert_rows(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """INSERT many new rows (executemany), returning nothing."""
    if rows:
        session.execute(sa.insert(model.__table__), rows)  # type: ignore[attr-defined]


def update_rows(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """UPDATE many rows by id (executemany): each dict has ``id`` and the same columns to set."""
    if not rows:
        return
    table = model.__table__  # type: ignore[attr-defined]
    names = [name for name in rows[0] if name != "id"]
    stmt = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"))
        .values({name: sa.bindparam(f"new_{name}") for name in names})
    )
    params = [{"row_id": row["id"], **{f"new_{name}": row[name] for name in names}} for row in rows]
    session.execute(stmt, params)


def touch_contacts(
    session: Session, stamps: dict[str, tuple[dt.datetime, str | None]]
) -> dict[str, sa.Row[Any]]:
    """Stamp many contacts at once (``_touch_contact`` for each URN: ``urn → (last inbound, name)``).

    Returns each contact's row (id, urn, reporter_id) after the stamp.
    """
    if not stamps:
        return {}
    rows = [
        {"urn": urn, "channel": urn_scheme(urn), "last_inbound_at": when, "display_name": name}
        for urn, (when, name) in stamps.items()
    ]
    table = Contact.__table__  # type: ignore[attr-defined]
    ins = postgresql.insert(table)
    later = sa.or_(table.c.last_inbound_at.is_(None), table.c.last_inbound_at < ins.excluded.last_inbound_at)
    stmt = ins.on_conflict_do_update(
        index_elements=["urn"],
        set_={
            "last_inbound_at": sa.case((later, ins.excluded.last_inbound_at), else_=table.c.last_inbound_at),
            "display_name": sa.func.coalesce(ins.excluded.display_name, table.c.display_name),
        },
    ).returning(table.c.id, table.c.urn, table.c.reporter_id)
    return {row.urn: row for row in session.execute(stmt, rows).all()}


def reserve_tracking_numbers(session: Session, prefix: str, year: int) -> int:
    """Lock the tracking counter of ``prefix`` and ``year`` for the transaction; return its last number.

    A batch then issues the numbers after it and writes the counter back (``set_tracking_numbers``):
    the row lock keeps concurrent filing waiting, as ``allocate_tracking_number``'s does.
    """
    table = TrackingCounter.__table__  # type: ignore[attr-defined]
    ins = postgresql.insert(table).values(prefix=prefix, year=year, last_seq=0)
    stmt = ins.on_conflict_do_update(
        index_elements=["prefix", "year"], set_={"last_seq": table.c.last_seq}
    ).returning(table.c.last_seq)
    return int(session.execute(stmt).scalar_one())


def set_tracking_numbers(session: Session, last: dict[tuple[str, int], int]) -> None:
    """Write back the last number issued per ``(prefix, year)`` (see ``reserve_tracking_numbers``)."""
    if not last:
        return
    table = TrackingCounter.__table__  # type: ignore[attr-defined]
    stmt = (
        sa.update(table)
        .where(table.c.prefix == sa.bindparam("p"), table.c.year == sa.bindparam("y"))
        .values(last_seq=sa.bindparam("n"))
    )
    session.execute(stmt, [{"p": p, "y": y, "n": n} for (p, y), n in sorted(last.items())])
