"""The mailbox import's batches: a few hundred mails stored, threaded and filed in a dozen statements.

``aduan import mbox`` takes each batch through ``import_batch`` first. It does what the pipeline
(``jobs.pipeline.receive_many``) does with the import's two hooks (``email_hook`` then
``import_file_hook``), mail by mail in order, but it decides in memory and writes each table once
per batch: raw rows, messages, contacts, reporters, complaints, events, links, statuses. What it
does not handle (``NotForBatch``: a mail seen before under another payload, a raw row kept for a
retry, a bounce naming an outbound mail, a merged complaint, a body over the size cap) sends the
whole batch, untouched, down the pipeline's careful path, which gives the same records.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy.exc
from sqlmodel import Session

from app.container import Container
from channels import email as email_channel
from channels.base import InboundMessage, RawRequest, UnsupportedPayload
from intake import db
from intake.ingest import (
    complaint_row,
    insert_new_rows,
    insert_rows,
    insert_rows_returning_ids,
    message_values,
    reserve_tracking_numbers,
    row_values,
    set_tracking_numbers,
    touch_contacts,
    update_rows,
)
from intake.models import (
    RAW_IGNORED,
    RAW_PROCESSED,
    RAW_QUARANTINED,
    RAW_STORED,
    STATUS_MERGED,
    Complaint,
    Contact,
    Event,
    Message,
    RawInbound,
    Reporter,
)
from intake.office import OfficeProfile
from jobs.pipeline import DatabaseUnavailable, Receipt, max_body_bytes
from outbound.email_threading import best_thread, noise_of, store_files, thread_candidates
from outbound.outbox import OutboxMessage

log = logging.getLogger("aduan.import")

CHANNEL = "email"
#: The import files history under this actor (``cli.mail_import.import_file_hook``).
ACTOR = "import:email"


class NotForBatch(Exception):
    """The batch holds a case only the pipeline's mail-by-mail path handles; nothing was kept."""


@dataclass
class _Filing:
    """A complaint the batch files: its row, and the reporter it waits for (a new one's position)."""

    complaint: Complaint
    new_reporter: int | None = None
    id: int | None = None


@dataclass
class _Mail:
    """One mail of the batch as it goes through."""

    raw: RawRequest
    key: str
    now: dt.datetime
    raw_id: int | None = None
    receipt: Receipt | None = None
    inbound: InboundMessage | None = None
    office: OfficeProfile | None = None
    message: dict[str, Any] = field(default_factory=dict)
    message_id: int | None = None
    noise: str | None = None
    #: The complaint the mail belongs to: an id on file, or a filing of this batch.
    joins: int | _Filing | None = None


def import_batch(
    container: Container,
    raws: list[RawRequest],
    keys: list[str],
    moments: list[dt.datetime],
    *,
    each: Callable[[int, Receipt], None],
    before_commit: Callable[[Session], None],
) -> list[Receipt]:
    """Store and process a batch of mails in one transaction; raise ``NotForBatch`` to leave it whole.

    ``each(i, receipt)`` and then ``before_commit`` (the import's checkpoint) run inside the
    transaction, as ``receive_many`` runs them.
    """
    mails = [_Mail(raw, key[:255], now) for raw, key, now in zip(raws, keys, moments, strict=True)]
    limit = max_body_bytes(container, CHANNEL)
    if len(set(keys)) != len(keys) or any(len(m.raw.body) > limit for m in mails):
        raise NotForBatch("the same mail twice, or a mail over the size cap")
    try:
        with db.write_session(container.engine) as s:
            _store(container, s, mails)
            fresh = [m for m in mails if m.receipt is None]
            _parse(container, fresh)
            citizens = [m for m in fresh if m.inbound is not None]
            _insert_messages(s, citizens)
            contacts = _touch(s, citizens)
            _thread_and_file(s, [m for m in citizens if m.noise is None], contacts)
            _finish(s, fresh)
            receipts = [m.receipt or Receipt(500) for m in mails]  # every mail has its receipt now
            for i, receipt in enumerate(receipts):
                each(i, receipt)
            before_commit(s)
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        log.error("database unavailable while storing %s payloads: %s", CHANNEL, type(exc).__name__)
        raise DatabaseUnavailable(str(getattr(exc, "orig", exc))) from exc
    return receipts


def _store(container: Container, s: Session, mails: list[_Mail]) -> None:
    """Store every mail raw in one statement; an exact replay (a re-import) is a duplicate receipt."""
    # Plain rows (the table's column defaults fill the rest): building a model object per row
    # costs more than the statement that writes them all.
    rows = [
        {
            "office": container.office.code,
            "channel": CHANNEL,
            "external_id": m.key,
            "received_at": m.now,
            "headers": json.dumps(m.raw.headers, ensure_ascii=False, sort_keys=True),
            "body": m.raw.body,
            "url": m.raw.url,
            "status": RAW_STORED,
        }
        for m in mails
    ]
    keys = ["channel", "external_id"]
    new = {r.external_id: r.id for r in insert_new_rows(s, RawInbound, rows, keys, ["id", "external_id"])}
    known = [m.key for m in mails if m.key not in new]
    stored: dict[str, tuple[int, str]] = {}
    if known:
        table = RawInbound.__table__  # type: ignore[attr-defined]
        query = table.select().with_only_columns(table.c.id, table.c.external_id, table.c.status)
        query = query.where(table.c.channel == CHANNEL, table.c.external_id.in_(known))
        stored = {key: (raw_id, status) for raw_id, key, status in s.execute(query)}
    for m in mails:
        if m.key in new:
            m.raw_id = new[m.key]
            continue
        raw_id, status = stored[m.key]
        if status == RAW_STORED:  # kept for a retry: the pipeline processes it again
            raise NotForBatch("a mail kept unprocessed for a retry")
        m.raw_id, m.receipt = raw_id, Receipt(200, raw_id=raw_id, duplicate=True)


def _parse(container: Container, mails: list[_Mail]) -> None:
    """Parse each new mail; quarantine what is no mail; prepare its message row and store its files."""
    for m in mails:
        try:
            parsed = email_channel.parse(m.raw)
        except Exception as exc:
            known = isinstance(exc, UnsupportedPayload)
            reason = str(exc) if known else "the payload could not be read (a fault in Aduan's parser)"
            m.receipt = Receipt(400, raw_id=m.raw_id, reason=reason[:2000])
            if known:
                log.warning("quarantined %s payload #%s: %s", CHANNEL, m.raw_id, exc)
            else:
                log.error(
                    "quarantined %s payload #%s: parser error (%s)", CHANNEL, m.raw_id, type(exc).__name__
                )
            continue
        if len(parsed) != 1:
            raise NotForBatch("a payload of other than one message")
        inbound = parsed[0]
        if inbound.complete or inbound.extra.get("edit_of"):
            raise NotForBatch("a complete submission or an edit")
        if "\x00" in inbound.text:  # PostgreSQL text cannot hold NUL; the raw mail keeps it
            inbound = dataclasses.replace(inbound, text=inbound.text.replace("\x00", ""))
        m.inbound = inbound
        m.office = container.office_for(CHANNEL, inbound, raw=m.raw)
        m.noise = noise_of(container, inbound)
        m.message = message_values(inbound, now=m.now, raw_id=m.raw_id)
        if m.noise is None and inbound.attachments:  # the e-mail hook's keep_attachments, before the insert
            with container.using_office(m.office):
                m.message["attachments"], _ = store_files(container, m.message["attachments"], inbound, m.now)


def _insert_messages(s: Session, mails: list[_Mail]) -> None:
    """Insert the batch's messages in one statement; a Message-ID seen before is the pipeline's case."""
    ids = [m.message["external_id"] for m in mails]
    if len(set(ids)) != len(ids):
        raise NotForBatch("two mails of the batch share a Message-ID")
    rows = insert_new_rows(
        s, Message, [m.message for m in mails], ["channel", "external_id"], ["id", "external_id"]
    )
    new = {r.external_id: r.id for r in rows}
    if len(new) != len(mails):
        raise NotForBatch("a Message-ID already on file")
    bounced = {i for m in mails if m.noise == "bounce" for i in _bounce_ids(m.inbound)}
    if bounced:
        out = OutboxMessage.__table__  # type: ignore[attr-defined]
        query = out.select().with_only_columns(out.c.id)
        if s.execute(query.where(out.c.channel == CHANNEL, out.c.provider_id.in_(sorted(bounced)))).first():
            raise NotForBatch("a bounce naming one of our outbound mails")
    for m in mails:
        m.message_id = new[m.message["external_id"]]


def _bounce_ids(inbound: InboundMessage | None) -> list[str]:
    bounce = (inbound.extra.get("bounce") or {}) if inbound is not None else {}
    return [str(i) for i in bounce.get("message_ids", [])] if bounce.get("action") == "failed" else []


def _touch(s: Session, mails: list[_Mail]) -> dict[str, Any]:
    """Stamp every sender's contact once: its latest receipt time and the last display name given."""
    stamps: dict[str, tuple[dt.datetime, str | None]] = {}
    for m in mails:
        assert m.inbound is not None
        name = m.inbound.sender_name[:200] if m.inbound.sender_name else None
        when, known = stamps.get(m.inbound.sender, (m.now, None))
        stamps[m.inbound.sender] = (max(when, m.now), name or known)
    return {
        urn: {"id": row.id, "reporter_id": row.reporter_id} for urn, row in touch_contacts(s, stamps).items()
    }


def _thread_and_file(s: Session, mails: list[_Mail], contacts: dict[str, Any]) -> None:
    """Join each citizen mail to its thread or file it as a complaint, in order; then write it all."""
    references = {r for m in mails for r in _references(m)}
    candidates = thread_candidates(s, references)
    numbers = {
        str(m.inbound.extra["tracking_number"])
        for m in mails
        if m.inbound and m.inbound.extra.get("tracking_number")
    }
    table = Complaint.__table__  # type: ignore[attr-defined]
    on_file: dict[str, tuple[int, str | None]] = {}
    if numbers:
        query = table.select().with_only_columns(table.c.id, table.c.tracking_number, table.c.contact_urn)
        on_file = {
            n: (i, urn) for i, n, urn in s.execute(query.where(table.c.tracking_number.in_(sorted(numbers))))
        }
    named = {c.complaint_id for found in candidates.values() for c in found} | {
        i for i, _ in on_file.values()
    }
    if named:
        query = table.select().with_only_columns(table.c.id).where(table.c.id.in_(sorted(named)))
        if s.execute(query.where(table.c.status == STATUS_MERGED)).first():
            raise NotForBatch("a reply to a merged complaint")
    reporters = _reporters(s, contacts)
    counters = _Counters(s)
    filings: list[_Filing] = []
    new_reporters: list[dict[str, Any]] = []
    by_message: dict[str, tuple[int, _Filing | int]] = {}  # this batch's mails on a complaint, by Message-ID
    by_number: dict[str, _Filing] = {}
    events: list[tuple[_Filing | int, dict[str, Any]]] = []
    touched: dict[int, dt.datetime] = {}
    for m in mails:
        assert m.inbound is not None and m.office is not None and m.message_id is not None
        found = _thread(m, candidates, by_message, on_file, by_number)
        if found is not None:
            target, how = found
            m.joins = target
            if isinstance(target, _Filing):
                target.complaint.updated_at = m.now
            else:
                touched[target] = m.now
            events.append(
                (
                    target,
                    _event(
                        m.now,
                        actor=f"channel:{CHANNEL}",
                        action="message",
                        note=f"message #{m.message_id} threaded by {how}",
                    ),
                )
            )
        else:
            filing = _file(m, contacts[m.inbound.sender], reporters, new_reporters, counters)
            filings.append(filing)
            by_number[filing.complaint.tracking_number] = filing
            m.joins = filing
            c = filing.complaint
            events.append(
                (
                    filing,
                    _event(
                        m.now,
                        actor=ACTOR,
                        action="created",
                        field="kind",
                        new_value=c.kind,
                        note=c.reasons or None,
                    ),
                )
            )
        by_message[m.message["external_id"]] = (m.message_id, m.joins)
    # Write: reporters before the complaints that name them, complaints before their events and links.
    ids = insert_rows_returning_ids(s, Reporter, new_reporters)
    update_rows(
        s, Reporter, [{"id": r["id"], "name": r["name"]} for r in reporters.values() if r.get("renamed")]
    )
    contact_links = [
        {"id": c["id"], "reporter_id": ids[c["reporter"][1]]} for c in contacts.values() if "reporter" in c
    ]
    update_rows(s, Contact, contact_links)
    set_tracking_numbers(s, counters.issued)
    for filing in filings:
        if filing.new_reporter is not None:
            filing.complaint.reporter_id = ids[filing.new_reporter]
    complaint_ids = insert_rows_returning_ids(s, Complaint, [row_values(f.complaint) for f in filings])
    for filing, complaint_id in zip(filings, complaint_ids, strict=True):
        filing.id = complaint_id
    insert_rows(s, Event, [{**e, "complaint_id": _id(target)} for target, e in events])
    update_rows(s, Complaint, [{"id": i, "updated_at": when} for i, when in touched.items()])
    update_rows(
        s, Message, [{"id": m.message_id, "complaint_id": _id(m.joins)} for m in mails if m.joins is not None]
    )


class _Counters:
    """The batch's tracking numbers: each counter locked when first needed, written back once."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.issued: dict[tuple[str, int], int] = {}

    def next(self, group: tuple[str, int]) -> int:
        """Issue the next number of ``(prefix, year)``."""
        if group not in self.issued:
            self.issued[group] = reserve_tracking_numbers(self.session, *group)
        self.issued[group] += 1
        return self.issued[group]


def _id(target: _Filing | int | None) -> int:
    value = target.id if isinstance(target, _Filing) else target
    assert value is not None
    return value


def _references(m: _Mail) -> list[str]:
    return [i for i in (m.inbound.extra.get("references", []) if m.inbound else []) if isinstance(i, str)]


def _thread(
    m: _Mail,
    candidates: dict[str, Any],
    by_message: dict[str, tuple[int, _Filing | int]],
    on_file: dict[str, tuple[int, str | None]],
    by_number: dict[str, _Filing],
) -> tuple[_Filing | int, str] | None:
    """``find_thread`` for one mail, over what is on file and what this batch did before it."""
    assert m.inbound is not None
    refs = _references(m)
    if refs:
        ranked = best_thread([c for r in refs for c in candidates.get(r, [])])
        outbound = [c for c in ranked if c.rank == 0]
        if outbound:
            return outbound[0].complaint_id, "in-reply-to"
        # Mails of this batch are newer than any on file: the newest of them comes first.
        ours = [by_message[r] for r in refs if r in by_message]
        if ours:
            return max(ours, key=lambda pair: pair[0])[1], "references"
        if ranked:
            return ranked[0].complaint_id, "references"
    number = m.inbound.extra.get("tracking_number")
    if number:
        # A tracking number can be guessed: by subject only mail of the complaint's own sender joins it.
        filing = by_number.get(str(number))
        if filing is not None and filing.complaint.contact_urn == m.inbound.sender:
            return filing, "subject"
        complaint_id, urn = on_file.get(str(number), (None, None))
        if complaint_id is not None and urn == m.inbound.sender:
            return complaint_id, "subject"
    return None


def _reporters(s: Session, contacts: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Load the reporters the batch's contacts are known as (one query)."""
    ids = sorted({c["reporter_id"] for c in contacts.values() if c["reporter_id"] is not None})
    if not ids:
        return {}
    table = Reporter.__table__  # type: ignore[attr-defined]
    query = table.select().with_only_columns(table.c.id, table.c.name).where(table.c.id.in_(ids))
    return {i: {"id": i, "name": name} for i, name in s.execute(query)}


def _file(
    m: _Mail,
    contact: dict[str, Any],
    reporters: dict[int, dict[str, Any]],
    new_reporters: list[dict[str, Any]],
    counters: _Counters,
) -> _Filing:
    """``file_complaint`` for one historical mail (``import_file_hook``), its writes left to the batch."""
    assert m.inbound is not None and m.office is not None
    name = m.inbound.sender_name
    # The reporter as ``_reporter_for`` picks it: the contact's, unless that one carries another name.
    ref: tuple[str, int] | None = contact.get("reporter")
    if ref is None and contact["reporter_id"] is not None:
        ref = ("on file", contact["reporter_id"])
    reporter = None if ref is None else new_reporters[ref[1]] if ref[0] == "new" else reporters.get(ref[1])
    if reporter is None or (name and reporter["name"] and reporter["name"] != name):
        ref = ("new", len(new_reporters))
        new_reporters.append({"name": name or None, "anonymous": False})
        if contact["reporter_id"] is None and "reporter" not in contact:
            contact["reporter"] = ref
    elif name and not reporter["name"]:
        reporter["name"] = name
        reporter["renamed"] = ref is not None and ref[0] == "on file"
    assert ref is not None
    group = (m.office.tracking_prefix, m.office.calendar.local_date(m.now).year)
    seq = counters.next(group)
    complaint = complaint_row(
        office=m.office,
        channel=CHANNEL,
        contact_urn=m.inbound.sender,
        text=m.message["text"],
        received_at=m.now,
        now=m.now,
        reporter_name=name,
        reporter_id=ref[1] if ref[0] == "on file" else None,
        tracking=(f"{group[0]}-{group[1]}-{seq:06d}", seq),
    )
    return _Filing(complaint, new_reporter=ref[1] if ref[0] == "new" else None)


def _event(now: dt.datetime, **values: Any) -> dict[str, Any]:
    """An ``event`` row as ``record_event`` writes it (its complaint's id is set once known)."""
    return {"at": now, "field": None, "new_value": None, "note": None, **values}


def _finish(s: Session, mails: list[_Mail]) -> None:
    """Give every new raw row its status, as ``_derive`` does, and its receipt (one statement)."""
    rows = []
    for m in mails:
        assert m.raw_id is not None
        if m.receipt is not None:  # quarantined
            rows.append(
                {
                    "id": m.raw_id,
                    "status": RAW_QUARANTINED,
                    "error": m.receipt.reason,
                    "processed_at": m.now,
                    "office": None,
                }
            )
            continue
        assert m.inbound is not None and m.office is not None
        reason = m.inbound.extra.get("noise_reason") or m.inbound.extra.get("noise")
        status, error = (RAW_IGNORED, str(reason)[:2000]) if reason else (RAW_PROCESSED, None)
        rows.append(
            {"id": m.raw_id, "status": status, "error": error, "processed_at": m.now, "office": m.office.code}
        )
        m.receipt = Receipt(200, raw_id=m.raw_id)
    quarantined = [r for r in rows if r["office"] is None]
    update_rows(s, RawInbound, [{k: v for k, v in r.items() if k != "office"} for r in quarantined])
    update_rows(s, RawInbound, [r for r in rows if r["office"] is not None])
