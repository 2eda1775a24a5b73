"""The inbound pipeline shared by every channel: verify, store raw, commit, parse, ingest, dialogue.

Webhooks store the raw payload and defer its processing to the job queue in one transaction
(``store_many_and_defer``, the requests of a moment together: ``jobs.group_commit``); the job calls
``process_stored``. Pollers (IMAP, X) and ``aduan ingest``
call ``receive``/``receive_many``, which store and process in one transaction. Either way the raw
payload is committed no later than anything derived from it, so a crash loses nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType

import sqlalchemy as sa
import sqlalchemy.exc
from sqlmodel import Session, select

import channels
from app.container import Container
from channels.base import Ignored, InboundMessage, RawRequest, SignatureError, UnsupportedPayload
from intake import db
from intake.ingest import (
    IngestResult,
    RawPayload,
    RejectionCaps,
    apply_edit,
    ingest,
    record_rejection,
    store_raw,
    store_raw_many,
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
    #: The payload is stored but deriving records failed; the job queue tries again.
    deferred: bool = False


class DatabaseUnavailable(RuntimeError):
    """The database could not store the payload: answer 503 so the provider retries."""


def _external_id(module: ModuleType, raw: RawRequest) -> str:
    fn = getattr(module, "external_id", None)
    if fn is None:
        return raw.body_hash()
    try:
        return str(fn(raw))
    except Exception:
        # Any body that passed the signature is stored, even one the id cannot be read from (deeply
        # nested JSON raises RecursionError): its hash is the key, and parsing quarantines it.
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
        container.settings.channel(channel).get("max_body_bytes") or container.settings.storage.max_body_bytes
    )


def oversized(container: Container, channel: str, raw: RawRequest) -> Receipt | None:
    """Record and return a 413 receipt when the body passes the channel's limit; None when it fits."""
    limit = max_body_bytes(container, channel)
    if len(raw.body) <= limit:
        return None
    reject(container, channel, raw, f"body of {len(raw.body)} bytes exceeds {limit}", 413)
    return Receipt(413, reason=f"body larger than {limit} bytes")


def _store(
    container: Container, s: Session, module: ModuleType, channel: str, raw: RawRequest, now: dt.datetime
) -> tuple[RawInbound, bool]:
    """Store a payload as received for the current office, keyed by ``raw_key``."""
    return store_raw(
        session=s,
        channel=channel,
        raw=raw,
        external_id=raw_key(module, raw),
        now=now,
        office=container.office.code,
    )


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
            reject(container, channel, raw, f"signature: {exc}", 403)
            return Receipt(403, reason=str(exc))
    too_large = oversized(container, channel, raw)
    if too_large is not None:
        return too_large
    try:
        # One transaction: the raw row and everything derived from it commit together, and a failure
        # while deriving rolls back to a savepoint so the raw row still commits ("stored").
        with db.write_session(container.engine) as s:
            row, duplicate = _store(container, s, module, channel, raw, now)
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
) -> list[Receipt]:
    """Store and process several trusted payloads (a poller's fetch, an import) in one transaction.

    One commit for the lot instead of one per payload; each payload still derives its records in
    its own savepoint, so one that fails is kept as "stored" (with its error, for officers) and the
    others commit. Signatures are not checked (pollers fetch from the provider themselves).
    ``received_at(i)`` gives a payload's receipt moment (an import's original ``Date``);
    ``each(i, receipt)`` reports every payload as it is done (a progress bar); ``before_commit``
    writes the caller's own rows in the same transaction (an import's checkpoint).
    """
    module = channels.load(channel)
    limit = max_body_bytes(container, channel)
    receipts: list[Receipt] = []
    try:
        with db.write_session(container.engine) as s:
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
                    row, duplicate = _store(container, s, module, channel, raw, now)
                    if duplicate and row.status != RAW_STORED:
                        receipt = Receipt(200, raw_id=row.id, duplicate=True)
                    else:
                        receipt = _process_in(
                            container, s, module, row, raw, complete=complete, duplicate=duplicate, now=now
                        )
                receipts.append(receipt)
                if each is not None:
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
) -> Receipt:
    """Parse a stored payload and ingest its messages in the caller's transaction (in a savepoint)."""
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
    try:
        with s.begin_nested():
            _derive(container, s, row, raw, messages, results, complete=complete, now=now)
            s.add(row)
            s.flush()
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError):
        raise
    except Exception as exc:
        # A bug while deriving records must not lose the payload: the raw row commits as "stored"
        # with the error, and the job queue tries again. Only the exception's type is logged.
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
        # The office it was sent to (app.routing): its numbering, calendar, replies and staff.
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


def rejection_caps(container: Container) -> RejectionCaps:
    """Return ``[security] rejections_per_hour`` and ``rejections_kept``: rows kept of refused requests."""
    security = container.settings.security
    return RejectionCaps(per_hour=security.rejections_per_hour, total=security.rejections_kept)


def reject(
    container: Container, channel: str, raw: RawRequest, reason: str, status: int, *, signed: bool = False
) -> None:
    """Keep a size-capped trace of a refused request: a stranger's (unsigned) within the rejection
    caps, a signed one always. The database being down only costs the trace (logged)."""
    try:
        with db.write_session(container.engine) as s:
            record_rejection(
                session=s,
                channel=channel,
                reason=reason,
                body=raw.body,
                status_code=status,
                now=container.now(),
                caps=None if signed else rejection_caps(container),  # strangers: within caps
            )
    except sqlalchemy.exc.OperationalError:
        log.error("could not record a rejected %s request", channel)


def store_many_and_defer(
    container: Container,
    payloads: Sequence[tuple[RawPayload, str | None]],
    defer: Callable[[Session, Sequence[tuple[int, str | None]]], None],
) -> list[bool]:
    """Store verified payloads ``(payload, sender lock)`` and defer their processing, all in one
    transaction; return for each whether it was new (a replay stores and defers nothing).

    The group commit of concurrent webhook requests (``jobs.group_commit``): one INSERT for the raw
    rows, one for their jobs (``defer(session, [(raw id, lock), …])``), one commit.
    """
    try:
        with db.write_session(container.engine) as s:
            ids = store_raw_many(s, [payload for payload, _ in payloads])
            defer(s, [(raw_id, lock) for raw_id, (_, lock) in zip(ids, payloads, strict=True) if raw_id])
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        log.error("database unavailable while storing %d payloads: %s", len(payloads), type(exc).__name__)
        raise DatabaseUnavailable(type(exc).__name__) from exc
    return [raw_id is not None for raw_id in ids]


class ProcessingFailed(RuntimeError):
    """Deriving records from a stored payload failed; the job is retried (the error is on the row)."""


def process_stored(container: Container, raw_id: int, *, last_attempt: bool) -> Receipt | None:
    """Process one stored payload (the inbound job); None when it was processed already.

    The raw row is locked for the transaction, so two workers never process it twice. A failure
    keeps the row "stored" with its error and raises ``ProcessingFailed`` for the queue to retry;
    on the ``last_attempt`` the row is quarantined instead: kept and shown to officers, never lost.
    """
    try:
        with db.write_session(container.engine) as s:
            row = s.exec(select(RawInbound).where(RawInbound.id == raw_id).with_for_update()).first()
            if row is None or row.status != RAW_STORED:
                return None
            module = channels.load(row.channel)
            raw = RawRequest(body=row.body, headers=_headers(row.headers), url=row.url)
            now = container.now()
            receipt = _process_in(container, s, module, row, raw, complete=False, duplicate=False, now=now)
            if receipt.deferred and last_attempt:
                s.execute(
                    sa.update(RawInbound)
                    .where(RawInbound.id == raw_id)  # type: ignore[arg-type]
                    .values(status=RAW_QUARANTINED, processed_at=now)
                )
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        log.error("database unavailable while processing payload #%s: %s", raw_id, type(exc).__name__)
        raise DatabaseUnavailable(type(exc).__name__) from exc
    if receipt.deferred:
        if last_attempt:
            log.error("payload #%s quarantined after repeated processing failures", raw_id)
            return receipt
        raise ProcessingFailed(f"payload #{raw_id}: processing failed")
    _after_ingest(container, module, raw, receipt)
    return receipt


def _headers(text: str) -> dict[str, str]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
