"""The inbound pipeline shared by every channel: verify, store raw, commit, parse, ingest, dialogue.

Webhooks (``inbox/hooks.py``), pollers (IMAP, X) and ``aduan ingest`` all call ``receive``. The
raw payload is committed before anything is derived from it, so a crash later loses nothing: an
unprocessed raw row is picked up again by ``reprocess_pending``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from types import ModuleType

import sqlalchemy.exc
from sqlmodel import select

import channels
from bot.bootstrap import Container
from channels.base import InboundMessage, RawRequest, SignatureError, UnsupportedPayload
from intake import db
from intake.ingest import IngestResult, ingest, record_rejection, store_raw
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
    # A channel may allow larger bodies than webhooks get (a mail with attachments, fetched by IMAP).
    max_body = int(
        container.settings.channel(channel).get("max_body_bytes")
        or container.settings.section("storage").get("max_body_bytes", 1_048_576)
    )
    if verify and hasattr(module, "verify"):
        try:
            module.verify(raw, container.channel_config(channel))
        except SignatureError as exc:
            # No personal data in the log: the channel and the reason only.
            log.warning("rejected %s webhook: %s", channel, exc)
            _reject(container, channel, raw, f"signature: {exc}", 403)
            return Receipt(403, reason=str(exc))
    if len(raw.body) > max_body:
        _reject(container, channel, raw, f"body of {len(raw.body)} bytes exceeds {max_body}", 413)
        return Receipt(413, reason=f"body larger than {max_body} bytes")
    try:
        with db.write_session(container.engine) as s:
            row, duplicate = store_raw(
                session=s,
                channel=channel,
                raw=raw,
                external_id=_external_id(module, raw),
                now=now,
                office=container.office.code,
            )
            raw_id, raw_status = row.id, row.status
    except sqlalchemy.exc.OperationalError as exc:
        log.error("database unavailable while storing a %s payload: %s", channel, type(exc).__name__)
        raise DatabaseUnavailable(str(exc.orig)) from exc
    if duplicate and raw_status != RAW_STORED:
        return Receipt(200, raw_id=raw_id, duplicate=True, results=_earlier_results(container, raw_id))
    assert raw_id is not None
    try:
        return process_raw(container, channel, raw_id, raw, complete=complete, duplicate=duplicate)
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        # The raw payload is committed (status "stored"): the provider's retry, or reprocess_pending,
        # finishes it. Answer 503 so the provider does retry (a 500 some providers give up on).
        log.error("database lost while processing %s payload #%s: %s", channel, raw_id, type(exc).__name__)
        raise DatabaseUnavailable(str(getattr(exc, "orig", exc))) from exc


def process_raw(
    container: Container,
    channel: str,
    raw_id: int,
    raw: RawRequest,
    *,
    complete: bool = False,
    duplicate: bool = False,
) -> Receipt:
    """Parse a stored payload and ingest its messages; quarantine it when it cannot be parsed."""
    module = channels.load(channel)
    now = container.now()
    try:
        messages: list[InboundMessage] = list(module.parse(raw))
    except Exception as exc:
        # UnsupportedPayload is the contract. Any other exception is a parser bug: quarantine the
        # payload all the same (kept, shown to officers, reprocessable once fixed) rather than answer
        # 500, which the provider would retry forever. Its text stays in the database, not the log.
        known = isinstance(exc, UnsupportedPayload)
        reason = str(exc) if known else f"parser error ({type(exc).__name__})"
        with db.write_session(container.engine) as s:
            row = s.get(RawInbound, raw_id)
            assert row is not None
            detail = reason if known else f"{reason}: {exc}"
            row.status, row.error, row.processed_at = RAW_QUARANTINED, detail[:2000], now
            s.add(row)
        if known:
            log.warning("quarantined %s payload #%s: %s", channel, raw_id, exc)
        else:
            log.error("quarantined %s payload #%s: %s", channel, raw_id, reason)
        return Receipt(400, raw_id=raw_id, reason=reason)
    results: list[IngestResult] = []
    with db.write_session(container.engine) as s:
        for message in messages:
            # Machine mail flagged by the channel (auto-reply, bounce) is never filed as a complaint.
            if complete and not message.complete and not message.extra.get("noise"):
                message = dataclasses.replace(message, complete=True)
            result = ingest(session=s, message=message, now=now, office=container.office, raw_id=raw_id)
            results.append(result)
            if not result.duplicate and not message.complete:
                for hook in container.message_hooks:
                    if hook(container, s, result, now):
                        break
        row = s.get(RawInbound, raw_id)
        assert row is not None
        row.status = RAW_PROCESSED if messages else RAW_IGNORED
        row.processed_at = now
        s.add(row)
    handled = getattr(module, "after_ingest", None)
    if handled is not None:
        handled(container, raw, results)
    dup = duplicate or (bool(results) and all(r.duplicate for r in results))
    return Receipt(200, raw_id=raw_id, duplicate=dup, results=results)


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
    """Process raw payloads stored but never processed (a crash between commit and parse)."""
    with db.session(container.engine) as s:
        rows = s.exec(
            select(RawInbound).where(RawInbound.status == RAW_STORED).order_by(RawInbound.id).limit(limit)  # type: ignore[arg-type]
        ).all()
    done = 0
    for row in rows:
        assert row.id is not None
        raw = RawRequest(body=row.body, headers=_headers(row.headers), url=row.url)
        process_raw(container, row.channel, row.id, raw)
        done += 1
    return done


def _headers(text: str) -> dict[str, str]:
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
