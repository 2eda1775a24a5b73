"""The inbound pipeline shared by every channel: verify, store raw, commit, parse, ingest, dialogue.

Webhooks (``inbox/hooks.py``), pollers (IMAP, X) and ``aduan ingest`` all call ``receive``. The
raw payload is committed before anything is derived from it, so a crash later loses nothing: an
unprocessed raw row is picked up again by ``reprocess_pending``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

import sqlalchemy as sa
import sqlalchemy.exc
from sqlmodel import Session, select

import channels
from bot.bootstrap import Container
from channels.base import Ignored, InboundMessage, RawRequest, SignatureError, UnsupportedPayload
from intake import db
from intake.ingest import (
    DIRECT,
    IngestResult,
    apply_edit,
    ingest,
    record_rejection,
    store_raw,
    take_changes,
    write_changes,
    write_many,
)
from intake.models import (
    RAW_IGNORED,
    RAW_PROCESSED,
    RAW_QUARANTINED,
    RAW_STORED,
    Complaint,
    Message,
    RawInbound,
)

log = logging.getLogger("aduan.pipeline")


@dataclass
class Receipt:
    """What happened to one payload; webhooks turn it into an HTTP answer."""

    status: int
    raw_id: int | None = None
    duplicate: bool = False
    reason: str | None = None
    results: list[IngestResult] = field(default_factory=list)
    #: The payload is stored but deriving records failed; reprocess_pending will try again.
    deferred: bool = False


class DatabaseUnavailable(RuntimeError):
    """The database could not store the payload: answer 503 so the provider retries."""


def _external_id(module: ModuleType, raw: RawRequest) -> str:
    fn = getattr(module, "external_id", None)
    if fn is None:
        return raw.body_hash()
    try:
        return str(fn(raw))
    except (UnsupportedPayload, ValueError, KeyError):
        return raw.body_hash()


def raw_key(module: ModuleType, raw: RawRequest) -> str:
    """Return the raw row's idempotency key: the provider's id of the payload with its body's hash.

    An exact replay (a provider's retry, an IMAP re-read, a second import) has the same key and
    stores nothing. A different body under an id already seen (ids reused by a gateway, by test
    fixtures, or mails that share a Message-ID) is another payload: it is kept, never dropped.
    """
    digest = raw.body_hash()
    provider = _external_id(module, raw)
    if provider == digest:
        return digest
    return f"{provider[:230]}#{digest[len('sha256:') :][:16]}"


def max_body_bytes(container: Container, channel: str) -> int:
    """Return the largest body ``channel`` accepts: its own ``max_body_bytes``, else ``[storage]``'s."""
    # A channel may allow larger bodies than webhooks get (a mail with attachments, fetched by IMAP).
    return int(
        container.settings.channel(channel).get("max_body_bytes")
        or container.settings.section("storage").get("max_body_bytes", 1_048_576)
    )


def oversized(container: Container, channel: str, raw: RawRequest) -> Receipt | None:
    """Record and return a 413 receipt when the body passes the channel's limit; None when it fits."""
    limit = max_body_bytes(container, channel)
    if len(raw.body) <= limit:
        return None
    _reject(container, channel, raw, f"body of {len(raw.body)} bytes exceeds {limit}", 413)
    return Receipt(413, reason=f"body larger than {limit} bytes")


def receive(
    container: Container,
    channel: str,
    raw: RawRequest,
    *,
    verify: bool = True,
    complete: bool = False,
) -> Receipt:
    """Take one payload through the whole inbound path and say how it went.

    ``complete`` files every message at once without a dialogue (``aduan ingest``).
    """
    module = channels.load(channel)
    now = container.now()
    if verify and hasattr(module, "verify"):
        try:
            module.verify(raw, container.channel_config(channel))
        except SignatureError as exc:
            # No personal data in the log: the channel and the reason only.
            log.warning("rejected %s webhook: %s", channel, exc)
            _reject(container, channel, raw, f"signature: {exc}", 403)
            return Receipt(403, reason=str(exc))
    too_large = oversized(container, channel, raw)
    if too_large is not None:
        return too_large
    try:
        # One transaction: the raw row and everything derived from it commit together, and a failure
        # while deriving rolls back to a savepoint so the raw row still commits ("stored").
        with db.write_session(container.engine) as s:
            row, duplicate = store_raw(
                session=s,
                channel=channel,
                raw=raw,
                external_id=raw_key(module, raw),
                now=now,
                office=container.office.code,
            )
            raw_id = row.id
            replay = duplicate and row.status != RAW_STORED
            receipt = (
                None
                if replay
                else _process_in(
                    container, s, module, row, raw, complete=complete, duplicate=duplicate, now=now
                )
            )
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        # Nothing was committed: answer 503 so the provider retries (a 500 some providers give up on).
        log.error("database unavailable while storing a %s payload: %s", channel, type(exc).__name__)
        raise DatabaseUnavailable(str(getattr(exc, "orig", exc))) from exc
    if receipt is None:
        return Receipt(200, raw_id=raw_id, duplicate=True, results=_earlier_results(container, raw_id))
    _after_ingest(container, module, raw, receipt)
    return receipt


def receive_many(
    container: Container,
    channel: str,
    raws: list[RawRequest],
    *,
    complete: bool = False,
    received_at: Callable[[int], dt.datetime | None] | None = None,
    each: Callable[[int, Receipt], None] | None = None,
    before_commit: Callable[[Session], None] | None = None,
    optimistic: bool = False,
) -> list[Receipt]:
    """Store and process several trusted payloads (a poller's fetch, an import) in one transaction.

    One commit for the lot instead of one per payload; each payload still derives its records in
    its own savepoint, so one that fails is kept as "stored" for ``reprocess_pending`` and the
    others commit. Signatures are not checked (pollers fetch from the provider themselves).
    ``received_at(i)`` gives a payload's receipt moment (an import's original ``Date``);
    ``each(i, receipt)`` reports every payload as it is done (a progress bar); ``before_commit``
    writes the caller's own rows in the same transaction (an import's checkpoint).

    ``optimistic`` first processes the batch with no savepoint per payload and writes the raw rows'
    statuses together at its end (``each`` then reports the lot just before ``before_commit``). If
    anything of it raises, the whole transaction is rolled back and the batch done again the way
    above, so a payload that fails is still kept alone and nothing is kept twice. For callers whose
    message hooks only write to the database (the mailbox import): the first try leaves nothing.
    """
    module = channels.load(channel)
    if optimistic and len(raws) > 1:
        try:
            return _receive_batch(
                container, module, channel, raws, complete, received_at, each, before_commit, isolate=False
            )
        except _Redo as redo:
            # Only the type: the payload's text stays in the database when the careful pass keeps it.
            log.warning(
                "a %s payload failed in a batch of %s (%s): processing the batch again, one savepoint each",
                channel,
                len(raws),
                type(redo.__cause__).__name__,
            )
    return _receive_batch(
        container, module, channel, raws, complete, received_at, each, before_commit, isolate=True
    )


class _Redo(Exception):
    """An optimistic batch failed somewhere: roll it back and process it again, one savepoint each."""


def _receive_batch(
    container: Container,
    module: ModuleType,
    channel: str,
    raws: list[RawRequest],
    complete: bool,
    received_at: Callable[[int], dt.datetime | None] | None,
    each: Callable[[int, Receipt], None] | None,
    before_commit: Callable[[Session], None] | None,
    *,
    isolate: bool,
) -> list[Receipt]:
    """One transaction of ``receive_many``: with a savepoint per payload, or optimistically without."""
    limit = max_body_bytes(container, channel)
    receipts: list[Receipt] = []
    statuses: list[dict[str, object]] | None = None if isolate else []
    try:
        with db.write_session(container.engine) as s:
            if not isolate:
                s.info[DIRECT] = True
            try:
                for i, raw in enumerate(raws):
                    now = (received_at(i) if received_at else None) or container.now()
                    if len(raw.body) > limit:
                        # Not stored; a size-capped trace is kept, as for any refused payload.
                        reason = f"body of {len(raw.body)} bytes exceeds {limit}"
                        record_rejection(
                            session=s, channel=channel, reason=reason, body=raw.body, status_code=413, now=now
                        )
                        receipt = Receipt(413, reason=reason)
                    else:
                        row, duplicate = store_raw(
                            session=s,
                            channel=channel,
                            raw=raw,
                            external_id=raw_key(module, raw),
                            now=now,
                            office=container.office.code,
                        )
                        if duplicate and row.status != RAW_STORED:
                            receipt = Receipt(200, raw_id=row.id, duplicate=True)
                        else:
                            receipt = _process_in(
                                container,
                                s,
                                module,
                                row,
                                raw,
                                complete=complete,
                                duplicate=duplicate,
                                now=now,
                                statuses=statuses,
                            )
                    receipts.append(receipt)
                    if each is not None and isolate:
                        each(i, receipt)
                if statuses is not None:
                    s.flush()
                    write_many(s, RawInbound, statuses)
            except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError):
                raise
            except Exception as exc:
                if isolate:
                    raise
                raise _Redo from exc
            if each is not None and not isolate:
                for i, receipt in enumerate(receipts):
                    each(i, receipt)
            if before_commit is not None:
                before_commit(s)
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        log.error("database unavailable while storing %s payloads: %s", channel, type(exc).__name__)
        raise DatabaseUnavailable(str(getattr(exc, "orig", exc))) from exc
    for raw, receipt in zip(raws, receipts, strict=True):
        _after_ingest(container, module, raw, receipt)
    return receipts


def _process_in(
    container: Container,
    s: Session,
    module: ModuleType,
    row: RawInbound,
    raw: RawRequest,
    *,
    complete: bool,
    duplicate: bool,
    now: dt.datetime,
    statuses: list[dict[str, object]] | None = None,
) -> Receipt:
    """Parse a stored payload and ingest its messages in the caller's transaction.

    With ``statuses`` (``receive_many``'s optimistic batch) there is no savepoint: an exception
    goes to the caller, which rolls the whole batch back, and the raw row's new status is added to
    ``statuses`` for the caller to write with the others' rather than written at once.
    """
    channel, raw_id = row.channel, row.id
    try:
        parsed = module.parse(raw)
        messages: list[InboundMessage] = list(parsed)
    except Exception as exc:
        # UnsupportedPayload is the contract. Any other exception is a parser bug: quarantine the
        # payload all the same (kept, shown to officers, reprocessable once fixed) rather than answer
        # 500, which the provider would retry forever. Its text stays in the database, not the log.
        # Officers read the reason: a parser bug is named as such, its exception text is not shown.
        known = isinstance(exc, UnsupportedPayload)
        reason = str(exc) if known else "the payload could not be read (a fault in Aduan's parser)"
        row.status, row.error, row.processed_at = RAW_QUARANTINED, reason[:2000], now
        s.add(row)
        if known:
            log.warning("quarantined %s payload #%s: %s", channel, raw_id, exc)
        else:
            log.error("quarantined %s payload #%s: parser error (%s)", channel, raw_id, type(exc).__name__)
        return Receipt(400, raw_id=raw_id, reason=reason)
    if isinstance(parsed, Ignored):
        row.error = parsed.reason[:2000]
    results: list[IngestResult] = []
    if statuses is not None:
        _derive(container, s, row, raw, messages, results, complete=complete, now=now)
        changes = take_changes(row)
        if changes is not None:
            statuses.append(changes)
        dup = duplicate or (bool(results) and all(r.duplicate for r in results))
        return Receipt(200, raw_id=raw_id, duplicate=dup, results=results)
    try:
        with s.begin_nested():
            _derive(container, s, row, raw, messages, results, complete=complete, now=now)
            write_changes(s, row)  # one cached UPDATE instead of a unit-of-work flush of the row
            s.flush()
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError):
        raise
    except Exception as exc:
        # A bug while deriving records must not lose the payload: the raw row commits as "stored"
        # and reprocess_pending tries again. Only the exception's type is logged (no personal data).
        log.error(
            "processing %s payload #%s failed (%s); kept for reprocessing",
            channel,
            raw_id,
            type(exc).__name__,
        )
        s.execute(
            sa.update(RawInbound)
            .where(RawInbound.id == raw_id)  # type: ignore[arg-type]
            .values(error="processing failed because of a fault in Aduan; kept to be processed again")
        )
        return Receipt(200, raw_id=raw_id, reason="stored; processing deferred", deferred=True)
    dup = duplicate or (bool(results) and all(r.duplicate for r in results))
    return Receipt(200, raw_id=raw_id, duplicate=dup, results=results)


def _derive(
    container: Container,
    s: Session,
    row: RawInbound,
    raw: RawRequest,
    messages: list[InboundMessage],
    results: list[IngestResult],
    *,
    complete: bool,
    now: dt.datetime,
) -> None:
    """Ingest a payload's messages, run the message hooks, and set the raw row's new status."""
    unfiled: list[str] = []
    for message in messages:
        if "\x00" in message.text:
            # PostgreSQL text cannot hold NUL (a gateway's padding); the raw payload keeps it.
            message = dataclasses.replace(message, text=message.text.replace("\x00", ""))
        # Machine mail flagged by the channel (auto-reply, bounce) is never filed as a complaint.
        if complete and not message.complete and not message.extra.get("noise"):
            message = dataclasses.replace(message, complete=True)
        # The office it was sent to (bot.routing): its numbering, calendar, replies and staff.
        with container.using_office(container.office_for(row.channel, message, raw=raw)):
            office = container.office
            if row.office != office.code:
                row.office = office.code
            edit_of = message.extra.get("edit_of")
            edited = apply_edit(session=s, message=message, now=now) if edit_of else None
            if edited is not None:
                results.append(edited)
                unfiled.append(f"an edit of message {edit_of}: the stored message now has the new text")
                continue
            result = ingest(session=s, message=message, now=now, office=office, raw_id=row.id)
            if result.duplicate and result.message.raw_id != row.id:
                if _same_message(result.message, message):
                    unfiled.append(
                        f"message {message.external_id} was already received "
                        f"(payload #{result.message.raw_id})"
                    )
                else:
                    # Another message under an id already used (ids reused by a gateway or by test
                    # data): kept as its own message, keyed by this payload's hash.
                    message = dataclasses.replace(
                        message, external_id=f"{message.external_id[:230]}#{row.id}"
                    )
                    result = ingest(session=s, message=message, now=now, office=office, raw_id=row.id)
            results.append(result)
            noise = message.extra.get("noise_reason") or message.extra.get("noise")
            if noise:
                unfiled.append(str(noise))
            if not result.duplicate and not message.complete:
                for hook in container.message_hooks:
                    if hook(container, s, result, now):
                        break
    row.processed_at = now
    if not messages:
        row.status = RAW_IGNORED
        row.error = row.error or "no citizen message in the payload"
    elif len(unfiled) == len(messages):
        # Nothing new to file (machine mail, a replayed message, an edit): say why.
        row.status = RAW_IGNORED
        row.error = "; ".join(dict.fromkeys(unfiled))[:2000]
    else:
        row.status = RAW_PROCESSED


def _same_message(stored: Message, message: InboundMessage) -> bool:
    """Tell whether a stored message is ``message`` again (a retry), not another one under its id."""
    if stored.sender_urn != message.sender or stored.text != message.text:
        return False
    files = [
        (a.get("content_type"), a.get("url"), a.get("filename"))
        for a in json.loads(stored.attachments or "[]")
    ]
    return files == [(a.content_type, a.url, a.filename) for a in message.attachments]


def _after_ingest(container: Container, module: ModuleType, raw: RawRequest, receipt: Receipt) -> None:
    """Let a channel act after the commit (e.g. acknowledge a public mention), if it wants to."""
    handled = getattr(module, "after_ingest", None)
    if handled is not None and receipt.status == 200 and receipt.results:
        handled(container, raw, receipt.results)


def _earlier_results(container: Container, raw_id: int | None) -> list[IngestResult]:
    """Return what a payload produced the first time (a replay answers with the same records)."""
    with db.session(container.engine) as s:
        messages = s.exec(select(Message).where(Message.raw_id == raw_id).order_by(Message.id)).all()  # type: ignore[arg-type]
        return [
            IngestResult(m, s.get(Complaint, m.complaint_id) if m.complaint_id else None, duplicate=True)
            for m in messages
        ]


def _reject(container: Container, channel: str, raw: RawRequest, reason: str, status: int) -> None:
    try:
        with db.write_session(container.engine) as s:
            record_rejection(
                session=s,
                channel=channel,
                reason=reason,
                body=raw.body,
                status_code=status,
                now=container.now(),
            )
    except sqlalchemy.exc.OperationalError:
        log.error("could not record a rejected %s request", channel)


def reprocess_pending(container: Container, *, limit: int = 100) -> int:
    """Process raw payloads stored but never processed, retrying failed ones once (scheduler job).

    Runs under the drainer's lock (``bot.accept.drain``), so it never processes a payload that a
    webhook process's drainer is processing; a payload that fails a second time is quarantined.
    """
    from bot import accept  # accept builds on this module

    del limit  # kept for callers; the drain works in bounded transactions of its own
    return accept.drain(container, retry_failed=True)


def _headers(text: str) -> dict[str, str]:
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
