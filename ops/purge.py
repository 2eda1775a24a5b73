"""Retention: remove the personal data of closed records received before a date, keep the statistics.

UU 27/2022 (Pelindungan Data Pribadi) asks that personal data be kept no longer than its purpose
needs. A purged complaint keeps what the office reports on (office, kind, reasons, channel,
service, problem type, dates, status, track, agency, tracking number) and loses who wrote and what
they wrote: names, contact URNs, message text, raw bodies, attachments, free-text review fields
and survey invitations' URNs and comments (E1; the ratings stay) are replaced by :data:`MARK` or
removed. Records still open are never touched, and neither are raw payloads not yet processed.
Running it twice changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.settings import RetentionSettings
from bot.survey import OPEN_STATES
from intake import db
from intake.models import (
    RAW_STORED,
    STATUS_ACKNOWLEDGED,
    STATUS_CLOSED,
    STATUS_FORWARDED,
    STATUS_MERGED,
    Complaint,
    Contact,
    Event,
    Message,
    RawInbound,
    Rejection,
    Reporter,
)
from outbound.outbox import OutboxMessage

log = logging.getLogger("aduan.purge")

#: What personal text is replaced by (Indonesian: "removed under the retention rule").
MARK = "[dihapus: retensi data]"
#: Statuses after which a record is finished and may lose its personal data.
DEFAULT_STATUSES = (STATUS_CLOSED, STATUS_MERGED, STATUS_ACKNOWLEDGED, STATUS_FORWARDED)
#: Complaint columns holding free text that may name or describe a person.
TEXT_COLUMNS = ("text", "core_problem", "standard_ref", "answer_text", "agency_liaison")
#: Event fields whose old/new values are statistics (kept); any other value is replaced.
SAFE_EVENT_FIELDS = frozenset(
    {
        "kind",
        "status",
        "track",
        "service_code",
        "problem_type",
        "due_date",
        "assignee_id",
        "handling_plan",
        "agency",
        "channel",
        "claimed_by_id",
        "merged_into_id",
    }
)
#: Tables of other parts holding text about a complaint: (table, complaint key column, text columns).
LINKED_TEXT_TABLES = (
    ("complaint_note", "complaint_id", ("text",)),
    ("deadline_alert", "complaint_id", ("text",)),
)


class PurgeHook(Protocol):
    """A part's ``purge_personal_data``: scrub its own tables' rows of these complaints, return the count."""

    def __call__(
        self, session: Session, *, complaint_ids: list[int], before: dt.datetime, marker: str
    ) -> int: ...


#: Every part's own purge function (imported, so a missing one fails at start-up); none today.
PURGE_HOOKS: tuple[PurgeHook, ...] = ()
BATCH = 200


@dataclass
class PurgeReport:
    """How many rows (and files) lost their personal data."""

    complaints: int = 0
    messages: int = 0
    raw_payloads: int = 0
    reporters: int = 0
    contacts: int = 0
    outbox: int = 0
    rejections: int = 0
    events: int = 0
    linked_rows: int = 0
    attachment_files: int = 0
    surveys: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counts by kind of row."""
        return asdict(self)


@dataclass(frozen=True)
class Retention:
    """The ``[retention]`` table: how long closed records keep personal data."""

    closed_record_days: int = 730
    raw_payload_days: int = 365
    statuses: tuple[str, ...] = DEFAULT_STATUSES

    def cutoff(self, today: dt.date) -> dt.date:
        """Return the default ``--before`` date for ``today``."""
        return today - dt.timedelta(days=self.closed_record_days)


def retention_of(table: RetentionSettings) -> Retention:
    """Return the retention policy of the ``[retention]`` table (no statuses: the default ones)."""
    return Retention(
        closed_record_days=table.closed_record_days,
        raw_payload_days=table.raw_payload_days,
        statuses=table.statuses or DEFAULT_STATUSES,
    )


def _rows(result: Any) -> int:
    """Return how many rows an UPDATE or DELETE changed."""
    return int(getattr(result, "rowcount", 0) or 0)


def _chunks(items: Sequence[int], size: int = BATCH) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def candidates(engine: Engine, *, before: dt.datetime, statuses: Sequence[str]) -> list[int]:
    """Return the ids of finished records received before ``before`` that still hold personal data."""
    c = Complaint.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(c.c.id)
                .where(
                    c.c.received_at < before,
                    c.c.status.in_(list(statuses)),
                    sa.or_(c.c.text != MARK, c.c.contact_urn.is_not(None), c.c.reporter_id.is_not(None)),
                )
                .order_by(c.c.id)
            ).scalars()
        )


def purge(
    engine: Engine,
    *,
    before: dt.datetime,
    now: dt.datetime,
    statuses: Sequence[str] = DEFAULT_STATUSES,
    storage_dir: Path | None = None,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> PurgeReport:
    """Remove personal data of finished records received before ``before``; return the counts.

    Works in batches, each its own transaction, so a large purge never holds one long lock; a
    crash in the middle leaves finished batches purged and the rest as they were.
    """
    report = PurgeReport()
    ids = candidates(engine, before=before, statuses=statuses)
    for batch in _chunks(ids):
        if dry_run:
            report.complaints += len(batch)
        else:
            with db.write_session(engine) as s:
                _purge_batch(s, batch, report, now=now, storage_dir=storage_dir, before=before)
        if progress is not None:
            progress(len(batch))
    if dry_run:
        with engine.connect() as conn:
            report.raw_payloads = _orphan_raw_count(conn, before)
        return report
    with db.write_session(engine) as s:
        _purge_orphans(s, report, before=before, storage_dir=storage_dir)
    log.info("purge before %s: %s", before.date().isoformat(), json.dumps(report.as_dict()))
    return report


def _purge_batch(
    s: Session,
    ids: list[int],
    report: PurgeReport,
    *,
    now: dt.datetime,
    storage_dir: Path | None,
    before: dt.datetime,
) -> None:
    c = Complaint.__table__  # type: ignore[attr-defined]
    m = Message.__table__  # type: ignore[attr-defined]
    e = Event.__table__  # type: ignore[attr-defined]
    o = OutboxMessage.__table__  # type: ignore[attr-defined]
    messages = s.execute(
        sa.select(m.c.id, m.c.raw_id, m.c.attachments).where(m.c.complaint_id.in_(ids))
    ).all()
    report.attachment_files += _delete_files(storage_dir, (row.attachments for row in messages))
    msg_ids = [row.id for row in messages]
    report.attachment_files += _scrub_downloads(s, msg_ids, storage_dir)
    raw_ids = sorted({row.raw_id for row in messages if row.raw_id is not None})
    report.messages += _scrub_messages(s, msg_ids)
    report.raw_payloads += _scrub_raw(s, raw_ids)
    text_values = {col: sa.case((c.c[col].is_(None), None), else_=MARK) for col in TEXT_COLUMNS if col in c.c}
    s.execute(sa.update(c).where(c.c.id.in_(ids)).values(contact_urn=None, reporter_id=None, **text_values))
    report.complaints += len(ids)
    # the audit trail stays (who did what, when), its free-text values do not
    report.events += _rows(
        s.execute(
            sa.update(e)
            .where(
                e.c.complaint_id.in_(ids),
                e.c.action != "purged",
                sa.or_(e.c.field.is_(None), e.c.field.not_in(SAFE_EVENT_FIELDS)),
            )
            .values(
                old_value=sa.case((e.c.old_value.is_(None), None), else_=MARK),
                new_value=sa.case((e.c.new_value.is_(None), None), else_=MARK),
                note=sa.case((e.c.note.is_(None), None), else_=MARK),
            )
        )
    )
    s.execute(
        sa.update(e)
        .where(e.c.complaint_id.in_(ids), e.c.note.is_not(None), e.c.field.in_(SAFE_EVENT_FIELDS))
        .values(note=MARK)
    )
    report.outbox += _rows(
        s.execute(
            sa.update(o)
            .where(o.c.complaint_id.in_(ids))
            .values(to_urn="purged", text=MARK, template_vars="{}", extra="{}", subject=None)
        )
    )
    report.linked_rows += _scrub_linked(s, ids)
    report.surveys += _scrub_surveys(s, complaint_ids=ids)
    for complaint_id in ids:
        s.add(
            Event(
                complaint_id=complaint_id,
                at=now,
                actor="system",
                action="purged",
                note=f"personal data removed (retention, before {before.date().isoformat()})",
            )
        )
    for purge_personal_data in PURGE_HOOKS:
        report.linked_rows += int(purge_personal_data(s, complaint_ids=ids, before=before, marker=MARK))


def _scrub_downloads(s: Session, msg_ids: list[int], storage_dir: Path | None) -> int:
    """Delete downloaded attachment files of these messages and forget their provider URLs."""
    table = db.import_all_models().tables.get("attachment_download")
    if table is None or not msg_ids:
        return 0
    rows = s.execute(
        sa.select(table.c.path).where(table.c.message_id.in_(msg_ids), table.c.path.is_not(None))
    ).all()
    deleted = _delete_files(storage_dir, (json.dumps([{"path": row.path}]) for row in rows))
    s.execute(sa.update(table).where(table.c.message_id.in_(msg_ids)).values(url="", path=None, error=None))
    return deleted


def _scrub_messages(s: Session, msg_ids: list[int]) -> int:
    if not msg_ids:
        return 0
    m = Message.__table__  # type: ignore[attr-defined]
    # sender_urn is NOT NULL and indexed: an id-based placeholder keeps it unique per message
    return _rows(
        s.execute(
            sa.update(m)
            .where(m.c.id.in_(msg_ids))
            .values(
                text=MARK, attachments="[]", sender_urn=sa.literal("purged:") + sa.cast(m.c.id, sa.String)
            )
        )
    )


def _scrub_raw(s: Session, raw_ids: list[int]) -> int:
    if not raw_ids:
        return 0
    r = RawInbound.__table__  # type: ignore[attr-defined]
    return _rows(
        s.execute(
            sa.update(r)
            .where(r.c.id.in_(raw_ids), r.c.status != RAW_STORED)
            .values(body=b"", headers="{}", url="", error=sa.case((r.c.error.is_(None), None), else_=MARK))
        )
    )


def _scrub_linked(s: Session, ids: list[int]) -> int:
    meta = db.import_all_models()
    total = 0
    for name, key, columns in LINKED_TEXT_TABLES:
        table = meta.tables.get(name)
        if table is None or key not in table.c:
            continue
        values = {col: MARK for col in columns if col in table.c}
        if values:
            total += _rows(s.execute(sa.update(table).where(table.c[key].in_(ids)).values(**values)))
    return total


def _scrub_surveys(
    s: Session, *, complaint_ids: list[int] | None = None, before: dt.datetime | None = None
) -> int:
    """Forget who was invited to the survey (E1) and what they wrote; keep the ratings (statistics).

    With ``complaint_ids``: the invitations and responses of those records. With ``before``: the
    quarterly invitations, which belong to no record, invited before the date and no longer open,
    and the responses to them. Return how many invitations lost their contact URN.
    """
    meta = db.import_all_models()
    inv, resp = meta.tables.get("survey_invitation"), meta.tables.get("survey_response")
    if inv is None:
        return 0

    which: sa.ColumnElement[bool]
    if complaint_ids is not None:
        which = inv.c.complaint_id.in_(complaint_ids)
    else:
        which = sa.and_(
            inv.c.complaint_id.is_(None),
            inv.c.invited_at < before,
            sa.or_(inv.c.state.not_in(OPEN_STATES), inv.c.expires_at < before),
        )
    which = sa.and_(which, sa.not_(inv.c.contact_urn.startswith("purged:")))
    if resp is not None:
        owner = (
            resp.c.complaint_id.in_(complaint_ids)
            if complaint_ids is not None
            else sa.and_(resp.c.complaint_id.is_(None), resp.c.submitted_at < before)
        )
        s.execute(
            sa.update(resp)
            .where(
                sa.or_(owner, resp.c.invitation_id.in_(sa.select(inv.c.id).where(which))),
                resp.c.comment.is_not(None),
                resp.c.comment != MARK,
            )
            .values(comment=MARK)
        )
    # contact_urn is NOT NULL and unique per office and quarter: an id-based placeholder, as for messages
    placeholder = sa.literal("purged:") + sa.cast(inv.c.id, sa.String)
    return _rows(s.execute(sa.update(inv).where(which).values(contact_urn=placeholder)))


def _orphan_raw_filter(r: Any, m: Any, c: Any, before: dt.datetime) -> Any:
    """Raw payloads before the date that no open record needs: quarantined, ignored, or orphaned chat."""
    open_raw = (
        sa.select(m.c.raw_id)
        .select_from(m.join(c, m.c.complaint_id == c.c.id))
        .where(m.c.raw_id.is_not(None), c.c.contact_urn.is_not(None))
    )
    return sa.and_(
        r.c.received_at < before, r.c.status != RAW_STORED, r.c.body != b"", r.c.id.not_in(open_raw)
    )


def _orphan_raw_count(conn: sa.Connection, before: dt.datetime) -> int:
    r, m, c = RawInbound.__table__, Message.__table__, Complaint.__table__  # type: ignore[attr-defined]
    return int(
        conn.execute(sa.select(sa.func.count()).where(_orphan_raw_filter(r, m, c, before))).scalar_one()
    )


def _purge_orphans(s: Session, report: PurgeReport, *, before: dt.datetime, storage_dir: Path | None) -> None:
    """Data before the date that belongs to no open record: chat never filed, refused requests, raw bodies."""
    r, m, c = RawInbound.__table__, Message.__table__, Complaint.__table__  # type: ignore[attr-defined]
    o, rej = OutboxMessage.__table__, Rejection.__table__  # type: ignore[attr-defined]
    loose = s.execute(
        sa.select(m.c.id, m.c.attachments).where(
            m.c.complaint_id.is_(None),
            m.c.received_at < before,
            sa.not_(m.c.sender_urn.startswith("purged:")),
        )
    ).all()
    report.attachment_files += _delete_files(storage_dir, (row.attachments for row in loose))
    report.attachment_files += _scrub_downloads(s, [row.id for row in loose], storage_dir)
    report.messages += _scrub_messages(s, [row.id for row in loose])
    report.raw_payloads += _rows(
        s.execute(
            sa.update(r)
            .where(_orphan_raw_filter(r, m, c, before))
            .values(body=b"", headers="{}", url="", error=sa.case((r.c.error.is_(None), None), else_=MARK))
        )
    )
    report.surveys += _scrub_surveys(s, before=before)
    report.rejections += _rows(
        s.execute(
            sa.update(rej)
            .where(rej.c.received_at < before, rej.c.body_excerpt != b"")
            .values(body_excerpt=b"")
        )
    )
    report.outbox += _rows(
        s.execute(
            sa.update(o)
            .where(
                o.c.complaint_id.is_(None),
                o.c.created_at < before,
                o.c.to_urn != "purged",
                o.c.status.not_in(("queued", "sending")),
            )
            .values(to_urn="purged", text=MARK, template_vars="{}", extra="{}", subject=None)
        )
    )
    # contacts and reporters no remaining record or message points at
    ct, rp = Contact.__table__, Reporter.__table__  # type: ignore[attr-defined]
    used_urns = sa.union(
        sa.select(c.c.contact_urn).where(c.c.contact_urn.is_not(None)),
        sa.select(m.c.sender_urn),
    )
    contact_ids = list(s.execute(sa.select(ct.c.id).where(ct.c.urn.not_in(used_urns))).scalars())
    report.contacts += _delete_detached(s, ct, contact_ids)
    used_reporters = sa.union(
        sa.select(c.c.reporter_id).where(c.c.reporter_id.is_not(None)),
        sa.select(ct.c.reporter_id).where(ct.c.reporter_id.is_not(None)),
    )
    reporter_ids = list(s.execute(sa.select(rp.c.id).where(rp.c.id.not_in(used_reporters))).scalars())
    report.reporters += _delete_detached(s, rp, reporter_ids)


def _delete_detached(s: Session, table: Any, ids: list[int]) -> int:
    """Delete rows of ``table`` after unlinking other parts' references to them.

    A nullable reference (the inbox's access log keeps who looked at a record, not whom) is set to
    NULL; a row still referenced by a NOT NULL column elsewhere is kept.
    """
    if not ids:
        return 0
    keep: set[int] = set()
    for other in db.import_all_models().sorted_tables:
        for column in other.c:
            if not any(fk.column.table is table for fk in column.foreign_keys) or other is table:
                continue
            if other.name in ("complaint", "contact"):
                continue  # already handled above
            if column.nullable:
                s.execute(sa.update(other).where(column.in_(ids)).values({column.name: None}))
            else:
                keep |= set(s.execute(sa.select(column).where(column.in_(ids))).scalars())
    doomed = [i for i in ids if i not in keep]
    if not doomed:
        return 0
    return _rows(s.execute(sa.delete(table).where(table.c.id.in_(doomed))))


def _delete_files(storage_dir: Path | None, attachment_docs: Iterable[str | None]) -> int:
    """Delete stored attachment files named in messages' attachment JSON (only inside the store)."""
    if storage_dir is None:
        return 0
    root = storage_dir.resolve()
    deleted = 0
    for doc in attachment_docs:
        try:
            items = json.loads(doc or "[]")
        except ValueError:
            continue
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            for key in ("path", "stored_path", "file"):
                value = item.get(key)
                if not isinstance(value, str) or not value:
                    continue
                path = (root / value).resolve()
                if root in path.parents and path.is_file():
                    path.unlink()
                    deleted += 1
    return deleted
