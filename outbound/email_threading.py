"""E-mail threading, loop guards and bounces: what happens to a stored mail before the dialogue sees it.

Installed as the first message hook (``install``), for mail only:

* machine mail (auto-reply, bulk, mailer-daemon, our own address or echo) is stored and never
  answered (RFC 3834); a delivery status notification marks the outbound mail it names failed;
* a reply joins its complaint when its In-Reply-To/References name one of Aduan's outbound
  Message-IDs (or an earlier mail already on the complaint), else when its subject carries the
  tracking number of a complaint of the same sender (``[PWK-2026-000123]``).

It also prepares every outgoing mail (``outbound.outbox.PREPARERS``): In-Reply-To, References, the
tracking number for the subject and the outbox purpose (``Auto-Submitted`` on acknowledgements).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import mimetypes
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from app.container import Container
from channels import email as email_channel
from channels.base import InboundMessage, RawRequest, UnsupportedPayload
from channels.urns import urn_path
from intake import db
from intake.ingest import IngestResult, record_event, write_changes
from intake.models import STATUS_MERGED, Complaint, Message, RawInbound
from outbound.attachments import DEFAULT_TYPES
from outbound.outbox import FAILED, PREPARERS, OutboxMessage, update_status

log = logging.getLogger("aduan.email")

CHANNEL = "email"
#: How many Message-IDs an outgoing mail lists in References (RFC 5322 allows trimming the middle).
MAX_REFERENCES = 20


def _parse_body(body: bytes) -> InboundMessage | None:
    """Parse a stored mail again (the hook gets the stored row, not the parse result).

    ``channels.email`` remembers the last few mails it parsed, so right after the pipeline parsed
    this one it is not parsed a second time. The message is shared: only read here.
    """
    try:
        return email_channel.parsed(RawRequest(body=body))
    except UnsupportedPayload:
        return None


def inbound_of(session: Session, stored: Message) -> InboundMessage | None:
    """Return the normalised mail behind a stored message (from its raw row)."""
    if stored.raw_id is None:
        return None
    raw = session.get(RawInbound, stored.raw_id)
    if raw is None:
        return None
    # The same bytes object the pipeline parsed when the row was written in this session: the
    # parse cache finds it by identity, without hashing the whole mail again.
    return _parse_body(raw.body if isinstance(raw.body, bytes) else bytes(raw.body))


def own_addresses(container: Container) -> set[str]:
    """Return the office's own addresses (mail from them is never answered: no loops)."""
    table = container.settings.channel(CHANNEL)
    keys = ("address", "imap_user", "smtp_user")
    found = {str(table.get(k, "")).strip().lower() for k in keys}
    found |= {str(a).strip().lower() for a in table.get("own_addresses", [])}
    return {a for a in found if "@" in a}


def _live(session: Session, complaint: Complaint | None) -> Complaint | None:
    """Follow merges to the complaint that is still kept."""
    seen = set()
    while complaint is not None and complaint.status == STATUS_MERGED and complaint.merged_into_id:
        if complaint.id in seen:
            break
        seen.add(complaint.id)
        complaint = session.get(Complaint, complaint.merged_into_id)
    return complaint


@functools.cache
def _by_references() -> Any:
    """The complaints a reply's References name: through Aduan's outbound mails, then earlier mails.

    One statement (one round trip) for both ways: rank 0 rows come from the outbox (an answer of
    ours), rank 1 rows from stored inbound mail; newest first within each. Built once.
    """
    ids: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)
    out = OutboxMessage.__table__  # type: ignore[attr-defined]
    inbound = Message.__table__  # type: ignore[attr-defined]
    ours = sa.select(
        out.c.complaint_id.label("complaint_id"), sa.literal_column("0").label("rank"), out.c.id.label("id")
    ).where(out.c.channel == CHANNEL, out.c.provider_id.in_(ids), out.c.complaint_id.is_not(None))
    earlier = sa.select(
        inbound.c.complaint_id.label("complaint_id"),
        sa.literal_column("1").label("rank"),
        inbound.c.id.label("id"),
    ).where(inbound.c.channel == CHANNEL, inbound.c.external_id.in_(ids), inbound.c.complaint_id.is_not(None))
    found = sa.union_all(ours, earlier).subquery("found")
    return (
        select(Complaint, found.c.rank)
        .join(found, Complaint.id == found.c.complaint_id)  # type: ignore[arg-type]
        .order_by(found.c.rank, found.c.id.desc())
    )


@functools.cache
def _by_tracking_number() -> Any:
    """The complaint a subject's tracking number names (built once, like ``_by_references``)."""
    return select(Complaint).where(Complaint.tracking_number == sa.bindparam("number"))


@functools.cache
def _threads_of_references() -> Any:
    """Every complaint any of a batch's References names, with the id it matched (built once).

    The batch form of ``_by_references``: rank 0 through Aduan's outbound mails, rank 1 through
    stored inbound mail; the mailbox import picks each mail's own rows from it (``thread_of``).
    """
    ids: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)
    out = OutboxMessage.__table__  # type: ignore[attr-defined]
    inbound = Message.__table__  # type: ignore[attr-defined]
    ours = sa.select(
        out.c.complaint_id, sa.literal_column("0").label("rank"), out.c.id, out.c.provider_id.label("ref")
    ).where(out.c.channel == CHANNEL, out.c.provider_id.in_(ids), out.c.complaint_id.is_not(None))
    earlier = sa.select(
        inbound.c.complaint_id, sa.literal_column("1").label("rank"), inbound.c.id, inbound.c.external_id
    ).where(inbound.c.channel == CHANNEL, inbound.c.external_id.in_(ids), inbound.c.complaint_id.is_not(None))
    return sa.union_all(ours, earlier)


@dataclass(frozen=True)
class ThreadCandidate:
    """A complaint a reply may join: how it would be found (rank 0 outbound, 1 inbound) and by which row."""

    complaint_id: int
    rank: int
    row_id: int


def thread_candidates(session: Session, references: set[str]) -> dict[str, list[ThreadCandidate]]:
    """Return, per Message-ID, the complaints stored rows name by it (one query for a batch of mails)."""
    found: dict[str, list[ThreadCandidate]] = {}
    if references:
        for complaint_id, rank, row_id, ref in session.execute(
            _threads_of_references(), {"ids": sorted(references)}
        ):
            found.setdefault(ref, []).append(ThreadCandidate(complaint_id, int(rank), row_id))
    return found


def best_thread(candidates: list[ThreadCandidate]) -> list[ThreadCandidate]:
    """Order a mail's candidates as ``find_thread`` tries them: the newest row of each way, outbound first."""
    best: dict[int, ThreadCandidate] = {}
    for c in candidates:
        if c.rank not in best or c.row_id > best[c.rank].row_id:
            best[c.rank] = c
    return [best[rank] for rank in sorted(best)]


def noise_of(container: Container, inbound: InboundMessage) -> str | None:
    """Return why a mail is machine mail or our own (never answered, never filed), None for a citizen's."""
    noise = inbound.extra.get("noise")
    if not noise and urn_path(inbound.sender) in own_addresses(container):
        noise = "own_address"
    return str(noise) if noise else None


def find_thread(session: Session, inbound: InboundMessage) -> tuple[Complaint, str] | None:
    """Return the complaint a reply belongs to and how it was found, or None for a new matter."""
    ids = [i for i in inbound.extra.get("references", []) if isinstance(i, str)]
    if ids:
        tried: set[int] = set()
        for complaint, rank in session.exec(_by_references(), params={"ids": ids}).all():
            if rank in tried:  # only the newest row of each way counts, as the way it was found
                continue
            tried.add(rank)
            live = _live(session, complaint)
            if live is not None:
                return live, "in-reply-to" if rank == 0 else "references"
    number = inbound.extra.get("tracking_number")
    if number:
        complaint = session.exec(_by_tracking_number(), params={"number": number}).first()
        # A tracking number can be guessed: by subject only mail of the complaint's own sender joins it.
        if complaint is not None and complaint.contact_urn == inbound.sender:
            return _live(session, complaint) or complaint, "subject"
    return None


def attach(session: Session, complaint: Complaint, stored: Message, *, now: dt.datetime, how: str) -> None:
    """Put a stored mail on a complaint and log it in the complaint's history."""
    stored.complaint_id = complaint.id
    session.add(stored)
    complaint.updated_at = now
    session.add(complaint)
    record_event(
        session,
        complaint,
        actor=f"channel:{CHANNEL}",
        action="message",
        now=now,
        note=f"message #{stored.id} threaded by {how}",
    )


def apply_bounce(session: Session, inbound: InboundMessage, stored: Message, *, now: dt.datetime) -> int:
    """Mark the outbound mail a failed-delivery report names as failed; return how many rows changed."""
    bounce = inbound.extra.get("bounce") or {}
    if bounce.get("action") != "failed":
        return 0
    reason = f"bounce {bounce.get('status') or ''} {bounce.get('diagnostic') or ''}".strip()
    changed = 0
    for message_id in bounce.get("message_ids", []):
        row = update_status(
            session, channel=CHANNEL, provider_id=message_id, status=FAILED, now=now, error=reason[:500]
        )
        if row is None:
            continue
        changed += 1
        complaint = session.get(Complaint, row.complaint_id) if row.complaint_id else None
        if complaint is not None:
            attach(session, complaint, stored, now=now, how="delivery report")
            record_event(
                session,
                complaint,
                actor=f"channel:{CHANNEL}",
                action="delivery_failed",
                now=now,
                field="outbox",
                new=row.id,
                note=reason[:500],
            )
    return changed


def keep_attachments(
    container: Container, session: Session, stored: Message, inbound: InboundMessage, now: dt.datetime
) -> int:
    """Write a mail's attachments into the attachment store (as ``outbound.attachments`` lays it out).

    Mail carries its files inside it, so there is nothing to download: the bytes are stored at once
    and their ``path`` noted in the message's JSON, where the inbox and ``ops.purge`` find them.
    Types and sizes outside the ``[storage]`` limits stay in the raw mail only.
    """
    if not inbound.attachments:
        return 0
    listed, kept = store_files(container, stored.attachments, inbound, now)
    if kept:
        stored.attachments = listed
        # One cached UPDATE now rather than a unit-of-work flush at the next query (find_thread's).
        write_changes(session, stored)
    return kept


def store_files(
    container: Container, listed: str | None, inbound: InboundMessage, now: dt.datetime
) -> tuple[str, int]:
    """Write a mail's files into the store; return its attachments JSON with their paths, and how many.

    ``listed`` is the message's attachments JSON as ``ingest`` wrote it. No database work: the
    mailbox import's batches call it before they insert the message (``keep_attachments`` after).
    """
    storage = container.settings.storage
    cap = storage.max_attachment_bytes
    allowed = storage.allowed_content_types or DEFAULT_TYPES
    items = json.loads(listed or "[]")
    kept = 0
    root = container.storage_dir()
    for position, attachment in enumerate(inbound.attachments):
        data = attachment.data
        if data is None or len(data) > cap or attachment.content_type not in allowed:
            continue
        if position >= len(items) or not isinstance(items[position], dict):
            continue
        digest = hashlib.sha256(data).hexdigest()
        ext = mimetypes.guess_extension(attachment.content_type) or ".bin"
        rel = f"media/{container.office.calendar.local_date(now):%Y/%m}/{digest}{ext}"
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            part = target.with_suffix(target.suffix + ".part")
            part.write_bytes(data)
            part.replace(target)
        items[position].update({"path": rel, "size": len(data), "sha256": digest})
        kept += 1
    return (json.dumps(items, ensure_ascii=False) if kept else listed or "[]"), kept


def keep_filed_attachments(container: Container, raw: RawRequest, results: list[IngestResult]) -> int:
    """Store the files of a mail filed at once (``aduan ingest``), after its commit; return how many.

    Polled and imported mail has its files stored by the e-mail hook, in the mail's own transaction;
    a complete submission skips the hooks, so the channel's ``after_ingest`` calls this instead.
    Machine mail (never filed) and replays are left alone; files already stored are not redone.
    """
    filed = [r for r in results if r.complaint is not None and not r.duplicate and _unkept(r.message)]
    if not filed:
        return 0
    try:
        inbound = email_channel.parsed(raw)
    except UnsupportedPayload:
        return 0

    kept = 0
    with db.write_session(container.engine) as s:
        for result in filed:
            stored = s.get(Message, result.message.id)
            if stored is not None:
                kept += keep_attachments(container, s, stored, inbound, stored.received_at)
    return kept


def _unkept(stored: Message) -> bool:
    """Tell whether a stored message lists an attachment with no file in the store yet."""
    try:
        items = json.loads(stored.attachments or "[]")
    except ValueError:
        return False
    return isinstance(items, list) and any(isinstance(i, dict) and not i.get("path") for i in items)


def handle(
    container: Container, session: Session, stored: Message, inbound: InboundMessage, now: dt.datetime
) -> bool:
    """Apply loop guards, bounces and threading to one stored mail; True when the dialogue must not run."""
    noise = noise_of(container, inbound)
    if noise:
        changed = apply_bounce(session, inbound, stored, now=now) if noise == "bounce" else 0
        log.info("email #%s stored, not answered: %s (outbound failed: %s)", stored.id, noise, changed)
        return True
    keep_attachments(container, session, stored, inbound, now)
    found = find_thread(session, inbound)
    if found is None:
        return False
    complaint, how = found
    attach(session, complaint, stored, now=now, how=how)
    log.info("email message #%s joins complaint #%s by %s", stored.id, complaint.id, how)
    return True


def email_hook(container: Container, session: Session, result: IngestResult, now: dt.datetime) -> bool:
    """Message hook: handle a new mail before the survey and the dialogue."""
    stored = result.message
    if stored.channel != CHANNEL or result.duplicate:
        return False
    inbound = inbound_of(session, stored)
    if inbound is None:
        return False
    return handle(container, session, stored, inbound, now)


def prepare_email(container: Container, row: OutboxMessage) -> None:
    """Outbox preparer: add threading headers, tracking number and purpose to an outgoing mail's extra."""

    extra = json.loads(row.extra or "{}")
    extra["purpose"] = row.purpose
    with db.session(container.engine) as s:
        complaint = s.get(Complaint, row.complaint_id) if row.complaint_id else None
        if complaint is not None:
            extra["tracking_number"] = complaint.tracking_number
        query = select(Message).where(Message.channel == CHANNEL, Message.sender_urn == row.to_urn)
        if complaint is not None:
            query = query.where(Message.complaint_id == complaint.id)
        inbound = list(s.exec(query.order_by(Message.id.desc()).limit(MAX_REFERENCES)).all())  # type: ignore[union-attr]
        outbound: list[OutboxMessage] = []
        if complaint is not None:
            outbound = list(
                s.exec(
                    select(OutboxMessage).where(
                        OutboxMessage.channel == CHANNEL,
                        OutboxMessage.complaint_id == complaint.id,
                        OutboxMessage.provider_id.is_not(None),  # type: ignore[union-attr]
                        OutboxMessage.id != row.id,
                    )
                ).all()
            )
        latest = inbound[0] if inbound else None
        parent = inbound_of(s, latest) if latest is not None else None
    if parent is not None:
        if not row.reply_to and parent.external_id.startswith("<"):
            extra["in_reply_to"] = parent.external_id
        extra.setdefault("subject", parent.extra.get("subject"))
    moments = [(m.received_at, m.external_id) for m in inbound if m.external_id.startswith("<")]
    moments += [(o.sent_at or o.created_at, o.provider_id or "") for o in outbound]
    chain = list(parent.extra.get("references", [])) if parent is not None else []
    chain += [mid for _, mid in sorted(moments, key=lambda pair: pair[0]) if mid.startswith("<")]
    if chain:
        extra["references"] = list(dict.fromkeys(chain))[-MAX_REFERENCES:]
    row.extra = json.dumps(extra, ensure_ascii=False)


def install(container: Container) -> None:
    """Put the e-mail hook first (loop guards before any answer), register the outbox preparer and
    the store of a filed mail's files (``channels.email.after_ingest``)."""
    if email_hook not in container.message_hooks:
        container.message_hooks.insert(0, email_hook)
    container.services.setdefault(PREPARERS, {})[CHANNEL] = prepare_email
    container.services[email_channel.AFTER_INGEST_SERVICE] = keep_filed_attachments
