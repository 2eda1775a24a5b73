"""Read side of the inbox: queues with counts, filters, search, the timeline and the dashboard figures.

Pages and the JSON API both call these; nothing here writes except ``log_access``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from markupsafe import escape
from sqlmodel import Session, select

from channels.urns import InvalidContact, e164
from inbox.models import ComplaintRead
from intake import rules, search
from intake.models import (
    STATUS_ACKNOWLEDGED,
    STATUS_ANSWERED,
    STATUS_IN_FOLLOW_UP,
    STATUS_RECEIVED,
    STATUS_REPORTED,
    STATUS_UNDER_REVIEW,
    Complaint,
    Message,
    Reporter,
    User,
)
from intake.office import OfficeProfile
from intake.rules import KIND_PENGADUAN, KIND_SARAN
from outbound.outbox import FINAL, OutboxMessage

#: Statuses whose R4 answer is still owed (the deadline runs).
OPEN_STATUSES = (STATUS_RECEIVED, STATUS_UNDER_REVIEW, STATUS_IN_FOLLOW_UP)
QUEUES = (
    "new",
    "mine",
    "replied",
    "waiting",
    "due_soon",
    "overdue",
    "reported",
    "saran",
    "approval",
    "failed",
    "all",
)
FILTERS = ("channel", "service_code", "problem_type", "status", "track", "assignee_id")
DUE_SOON_WORKING_DAYS = 3
PAGE_SIZE = 50

_TRACKING = re.compile(r"^[A-Za-z]{2,8}-\d{4}-\d{1,9}$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_c = Complaint.__table__.c  # type: ignore[attr-defined]
_m = Message.__table__  # type: ignore[attr-defined]
_o = OutboxMessage.__table__  # type: ignore[attr-defined]


@dataclass
class QueueQuery:
    """What the officer asked for: a queue, filters, a search, a page."""

    queue: str = "new"
    filters: dict[str, str] = field(default_factory=dict)
    q: str = ""
    page: int = 1

    def __post_init__(self) -> None:
        # Found by schemathesis: PostgreSQL refuses NUL bytes in text (500), and a huge page number
        # overflows OFFSET's bigint (500). Both come straight from the query string.
        self.q = self.q.replace("\x00", "")
        self.page = min(max(self.page, 1), 1_000_000)


def due_soon_limit(office: OfficeProfile, today: dt.date) -> dt.date:
    """Return the last date that is within ``DUE_SOON_WORKING_DAYS`` working days of today."""
    return office.calendar.add_working_days(today, DUE_SOON_WORKING_DAYS)


def _queue_clause(queue: str, *, user: User, today: dt.date, soon: dt.date) -> Any:
    # The statuses written into the SQL, not bound: a partial index (ix_complaint_open_due) is used
    # only for a query whose condition is its own. Without it, the overdue queue walked the due dates
    # of every closed record before the first open one (300 ms with 1,000,000 on file).
    statuses: Any = sa.bindparam(
        "open_statuses", OPEN_STATUSES, expanding=True, literal_execute=True, unique=True
    )
    open_ = _c.status.in_(statuses)
    if queue == "new":
        return sa.and_(_c.kind == KIND_PENGADUAN, _c.status == STATUS_RECEIVED, _c.claimed_by_id.is_(None))
    if queue == "mine":
        # Two indexed lookups joined, rather than an OR the planner would answer by scanning open rows.
        held = sa.union(
            sa.select(_c.id).where(_c.claimed_by_id == user.id),
            sa.select(_c.id).where(_c.assignee_id == user.id),
        )
        return sa.and_(_c.id.in_(held), open_)
    if queue in ("replied", "waiting"):
        # The citizen's newest message against the officers' newest reply (both on complaint_id indexes).
        last_in = sa.select(sa.func.max(_m.c.received_at)).where(_m.c.complaint_id == _c.id).scalar_subquery()
        last_reply = (
            sa.select(sa.func.max(_o.c.created_at))
            .where(_o.c.complaint_id == _c.id, _o.c.created_by.like("user:%"))
            .scalar_subquery()
        )
        holds = sa.or_(_c.claimed_by_id == user.id, _c.assignee_id == user.id)
        if queue == "replied":
            return sa.and_(open_, holds, last_reply.is_not(None), last_in > last_reply)
        quiet = sa.or_(last_in.is_(None), last_in <= last_reply)
        return sa.and_(open_, holds, last_reply.is_not(None), quiet)
    if queue == "reported":
        return sa.and_(_c.status == STATUS_REPORTED, _c.assignee_id == user.id)
    if queue == "due_soon":
        return sa.and_(_c.kind == KIND_PENGADUAN, open_, _c.due_date >= today, _c.due_date <= soon)
    if queue == "overdue":
        return sa.and_(_c.kind == KIND_PENGADUAN, open_, _c.due_date < today)
    if queue == "saran":
        return sa.and_(_c.kind == KIND_SARAN, _c.status == STATUS_ACKNOWLEDGED)
    if queue == "approval":
        return sa.and_(_c.apip_requested_at.is_not(None), _c.apip_approved_at.is_(None))
    if queue == "all":
        return sa.true()
    raise ValueError(f"unknown queue {queue!r}; known: {', '.join(QUEUES)}")


def _filter_clauses(filters: dict[str, str]) -> list[Any]:
    clauses = []
    for name in FILTERS:
        value = filters.get(name)
        if not value:
            continue
        if name == "status" and value == "open":
            clauses.append(sa.and_(_c.kind == KIND_PENGADUAN, _c.status.in_(OPEN_STATUSES)))
        elif name == "assignee_id":
            if value.isdigit():
                clauses.append(sa.or_(_c.assignee_id == int(value), _c.claimed_by_id == int(value)))
        else:
            clauses.append(_c[name] == value)
    return clauses


def search_clause(
    q: str,
    *,
    personal: bool,
    anonymous: bool,
    scope: Sequence[Any] = (),
    first: int | None = None,
) -> Any:
    """Turn a search box entry into a WHERE clause: tracking number, phone, e-mail, name or words.

    Searching by phone, e-mail or name is itself a use of personal data: only for roles that may
    see it, and ANONIM reporters are found by identity only by roles that may see them (R5a).
    Names and words go through the trigram indexes of ``intake.search``; ``scope`` and ``first``:
    the page's other conditions and how many rows it needs in due-date order (see
    ``search.words_clause``).
    """
    q = q.strip()
    if _TRACKING.match(q):
        return _c.tracking_number == q.upper()
    hidden = sa.true() if anonymous else _c.anonymous.is_(False)
    if personal and _EMAIL.match(q):
        return sa.and_(_c.contact_urn == f"mailto:{q.lower()}", hidden)
    if personal and _PHONE.match(q) and sum(ch.isdigit() for ch in q) >= 7:
        try:
            number = e164(q)
        except InvalidContact:
            number = None
        if number:
            urns = [f"{scheme}:{number}" for scheme in ("tel", "whatsapp", "sms")]
            return sa.and_(_c.contact_urn.in_(urns), hidden)
    return search.words_clause(q, names=personal and len(q) >= 3, hidden=hidden, scope=scope, first=first)


def searches_personal_data(q: str) -> bool:
    """Tell whether a search may look up a person (phone, e-mail, name), not a tracking number."""
    q = q.strip()
    if _TRACKING.match(q):
        return False
    return bool(_EMAIL.match(q) or (_PHONE.match(q) and sum(ch.isdigit() for ch in q) >= 7) or len(q) >= 3)


def list_complaints(
    session: Session,
    query: QueueQuery,
    *,
    user: User,
    office: OfficeProfile,
    now: dt.datetime,
    personal: bool,
    anonymous: bool,
    limit: int = PAGE_SIZE,
    offices: Sequence[str] | None = None,
) -> list[Complaint]:
    """Return one page of a queue, filtered and searched, soonest deadline first.

    ``offices``: only records of these offices (``inbox.auth.visible_offices``; None = all).
    """
    today = office.calendar.local_date(now)
    where = [_queue_clause(query.queue, user=user, today=today, soon=due_soon_limit(office, today))]
    if offices is not None:
        where.append(_c.office.in_(list(offices)))
    where += _filter_clauses(query.filters)
    offset = max(query.page - 1, 0) * limit
    if query.q.strip():
        found = search_clause(
            query.q, personal=personal, anonymous=anonymous, scope=list(where), first=offset + limit
        )
        where.append(found)
    stmt = select(Complaint).where(*where).order_by(_c.due_date, _c.id).offset(offset).limit(limit)
    return list(session.exec(stmt).all())


def queue_counts(
    session: Session,
    *,
    user: User,
    office: OfficeProfile,
    now: dt.datetime,
    offices: Sequence[str] | None = None,
) -> dict[str, int]:
    """Return the number of records in each queue (and of failed outbound messages).

    One statement of scalar subqueries: one round trip, each count on its own index.
    ``offices``: count only records of these offices (None = all).
    """
    today = office.calendar.local_date(now)
    soon = due_soon_limit(office, today)
    names = [q for q in QUEUES if q not in ("failed", "all")]
    mine = sa.true() if offices is None else _c.office.in_(list(offices))
    columns = [
        sa.select(sa.func.count())
        .select_from(Complaint)
        .where(_queue_clause(q, user=user, today=today, soon=soon), mine)
        .scalar_subquery()
        .label(q)
        for q in names
    ]
    failed = (
        sa.select(sa.func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.status.in_(FINAL))  # type: ignore[attr-defined]
        .where(sa.true() if offices is None else OutboxMessage.office.in_(list(offices)))  # type: ignore[attr-defined]
        .scalar_subquery()
        .label("failed")
    )
    row = session.execute(sa.select(*columns, failed)).one()
    return {name: int(value) for name, value in zip([*names, "failed"], row, strict=True)}


def working_days_left(complaint: Complaint, *, office: OfficeProfile, now: dt.datetime) -> int:
    """R4 countdown of one record."""
    return rules.working_days_left(
        complaint.due_date, today=office.calendar.local_date(now), calendar=office.calendar
    )


# -- the complaint page --------------------------------------------------------------------------


@dataclass
class TimelineItem:
    """One line of the conversation: a citizen's message, a bot question, an officer's reply or note."""

    at: dt.datetime
    direction: str  # "in", "out" or "note" (internal, never sent)
    channel: str
    text: str
    party: str  # sender URN (in) or the staff/system author (out, note)
    attachments: list[dict[str, Any]]
    status: str | None = None  # outbox status for ticks
    note: str | None = None
    template: str | None = None
    id: int = 0
    edited: bool = False
    #: A location the citizen shared: ``{"latitude", "longitude", "label"}``.
    location: dict[str, Any] | None = None

    @property
    def by_bot(self) -> bool:
        """Tell whether the bot (or the system) wrote it rather than a person."""
        return self.direction == "out" and not self.party.startswith("user:")


#: How far around a complaint's messages the bot's questions of the same conversation are looked for.
DIALOGUE_SLACK = dt.timedelta(minutes=1)


def timeline(
    session: Session, complaint: Complaint, *, notes: Sequence[Any] = (), hide_identity: bool = False
) -> list[TimelineItem]:
    """Return the whole conversation of a complaint, oldest first.

    The citizen's messages, everything sent to them (the bot's questions asked before the record
    existed included: they are the outbox rows to the same contact during the dialogue) and the
    officers' internal ``notes``. ``hide_identity`` (a role that may not see an ANONIM reporter,
    R5a): the reporter's name is masked wherever a message carries it (their own words, a reply
    that greets them).
    """
    items = _timeline(session, complaint, notes)
    if hide_identity and complaint.anonymous and complaint.reporter_id is not None:
        reporter = session.get(Reporter, complaint.reporter_id)
        name = reporter.name if reporter is not None else None
        if name:
            items = [dataclasses.replace(i, text=rules.mask_name(i.text or "", name)) for i in items]
    return items


def _timeline(session: Session, complaint: Complaint, notes: Sequence[Any]) -> list[TimelineItem]:
    items: list[TimelineItem] = []
    for m in session.exec(select(Message).where(Message.complaint_id == complaint.id)).all():
        try:
            attachments = json.loads(m.attachments or "[]")
        except ValueError:
            attachments = []
        edited = (m.edits or "[]") != "[]"  # an edit replaced the text; the old ones are kept
        try:
            location = json.loads(m.location) if m.location else None
        except ValueError:
            location = None
        items.append(
            TimelineItem(
                m.received_at,
                "in",
                m.channel,
                m.text,
                m.sender_urn,
                attachments if isinstance(attachments, list) else [],
                id=m.id or 0,
                edited=edited,
                location=location,
            )
        )
    if not items and complaint.text:
        # Records an officer typed in (or the dialogue composed) may have no message row.
        items.append(
            TimelineItem(
                complaint.received_at,
                "in",
                complaint.channel,
                complaint.text,
                complaint.contact_urn or "",
                [],
            )
        )
    rows = list(session.exec(select(OutboxMessage).where(_o.c.complaint_id == complaint.id)).all())
    inbound = [i.at for i in items if i.direction == "in"]
    if complaint.contact_urn and inbound:
        # The dialogue's questions went out before the complaint existed (complaint_id NULL);
        # read on the (to_urn, created_at) index of inbox.models.
        rows += session.exec(
            select(OutboxMessage).where(
                _o.c.to_urn == complaint.contact_urn,
                _o.c.created_at >= min(inbound) - DIALOGUE_SLACK,
                _o.c.created_at <= max(inbound) + DIALOGUE_SLACK,
                _o.c.complaint_id.is_(None),
            )
        ).all()
    for o in rows:
        items.append(
            TimelineItem(
                o.created_at,
                "out",
                o.channel,
                o.text,
                o.created_by,
                [],
                status=o.status,
                note=o.note,
                template=o.template,
                id=o.id or 0,
            )
        )
    for n in notes:
        items.append(TimelineItem(n.created_at, "note", "", n.text, n.author, [], id=n.id or 0))
    order = {"in": 0, "out": 1, "note": 2}
    items.sort(key=lambda i: (_aware(i.at), order[i.direction], i.id))
    return items


def last_outbox_id(session: Session, complaint: Complaint) -> int:
    """Return the newest outbound message id of a complaint (0 when none): the reply form's guard."""
    value = session.execute(
        sa.select(sa.func.max(OutboxMessage.id)).where(OutboxMessage.complaint_id == complaint.id)  # type: ignore[arg-type]
    ).scalar_one()
    return int(value or 0)


def related(session: Session, complaint: Complaint, *, limit: int = 10) -> list[Complaint]:
    """R6c: other records of the same contact or reporter, and records merged into this one."""
    clauses = [_c.merged_into_id == complaint.id]
    if complaint.contact_urn:
        clauses.append(_c.contact_urn == complaint.contact_urn)
    if complaint.reporter_id:
        clauses.append(_c.reporter_id == complaint.reporter_id)
    if complaint.merged_into_id:
        clauses.append(_c.id == complaint.merged_into_id)
    stmt = (
        select(Complaint).where(sa.or_(*clauses), _c.id != complaint.id).order_by(_c.id.desc()).limit(limit)
    )
    return list(session.exec(stmt).all())


# -- dashboard -----------------------------------------------------------------------------------


def _period_start(today: dt.date, period: str) -> dt.date:
    if period == "month":
        return today.replace(day=1)
    return today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)


def dashboard(
    session: Session, *, office: OfficeProfile, now: dt.datetime, offices: Sequence[str] | None = None
) -> dict[str, Any]:
    """Return the managers' figures: open, due soon, overdue, on-time answers, and breakdowns.

    ``offices``: figures of these offices' records only (None = all).
    """
    today = office.calendar.local_date(now)
    soon = due_soon_limit(office, today)
    pengaduan = _c.kind == KIND_PENGADUAN
    if offices is not None:
        pengaduan = sa.and_(pengaduan, _c.office.in_(list(offices)))
    open_ = sa.and_(pengaduan, _c.status.in_(OPEN_STATUSES))

    def count(*where: Any) -> int:
        return int(
            session.execute(sa.select(sa.func.count()).select_from(Complaint).where(*where)).scalar_one()
        )

    figures: dict[str, Any] = {
        "open": count(open_),
        "due_soon": count(open_, _c.due_date >= today, _c.due_date <= soon),
        "overdue": count(open_, _c.due_date < today),
    }
    for period in ("month", "quarter"):
        start = _period_start(today, period)
        start_at = dt.datetime.combine(start, dt.time(), office.calendar.timezone)
        # Records received in the period whose deadline has passed or that are answered already.
        base = sa.and_(
            pengaduan, _c.received_at >= start_at, sa.or_(_c.answered_at.is_not(None), _c.due_date < today)
        )
        rows = session.execute(sa.select(_c.answered_at, _c.due_date).where(base)).all()
        on_time = sum(
            1
            for answered, due in rows
            if answered is not None and office.calendar.local_date(_aware(answered)) <= due
        )
        figures[f"on_time_{period}"] = {
            "answered_on_time": on_time,
            "total": len(rows),
            "percent": round(100 * on_time / len(rows), 1) if rows else None,
        }
    figures["by_channel"] = _group(session, _c.channel, pengaduan)
    figures["by_problem_type"] = _group(session, sa.func.coalesce(_c.problem_type, "-"), pengaduan)
    name = sa.func.coalesce(sa.func.nullif(User.full_name, ""), User.username)
    by_officer = session.execute(
        sa.select(name, sa.func.count())
        .select_from(Complaint)
        .join(User, User.id == _c.claimed_by_id)  # type: ignore[arg-type]
        .where(open_)
        .group_by(name)
        .order_by(sa.func.count().desc())
    ).all()
    figures["by_officer"] = [(str(name), int(n)) for name, n in by_officer]
    figures["answered_statuses"] = count(pengaduan, _c.status.in_((STATUS_ANSWERED, STATUS_REPORTED)))
    return figures


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _group(session: Session, column: Any, *where: Any) -> list[tuple[str, int]]:
    rows = session.execute(
        sa.select(column, sa.func.count())
        .select_from(Complaint)
        .where(*where)
        .group_by(column)
        .order_by(sa.func.count().desc())
    ).all()
    return [(str(k), int(n)) for k, n in rows]


def bar_chart_svg(data: list[tuple[str, int]], *, title: str, width: int = 320) -> str:
    """Render a small horizontal bar chart as inline SVG (labels escaped; no script, no network).

    Each label sits on its own line above its bar, so a long service name is never cut short
    (one too long for the width ends with an ellipsis and is whole in its tooltip).
    """
    row_h, bar_h = 34, 12
    height = max(len(data), 1) * row_h + 4
    top = max((n for _, n in data), default=0) or 1
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (label, n) in enumerate(data):
        y = i * row_h + 2
        w = int((width - 40) * n / top)
        shown = label if len(label) <= 48 else label[:47] + "…"
        parts.append(
            f"<g><title>{escape(label)}: {n}</title>"
            f'<text x="0" y="{y + 12}" font-size="12">{escape(shown)}</text>'
            f'<rect x="0" y="{y + 16}" width="{max(w, 1)}" height="{bar_h}" class="bar"/>'
            f'<text x="{w + 4}" y="{y + 27}" font-size="12">{n}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def unread_ids(session: Session, *, user: User, ids: Sequence[int]) -> set[int]:
    """Return which of these records have a citizen's message newer than ``user`` last read them.

    A record typed in by an officer has no message row: its receipt counts as its first message.
    """
    if not ids:
        return set()
    read = ComplaintRead.__table__  # type: ignore[attr-defined]
    wanted = list(ids)
    arrivals = sa.union_all(
        sa.select(_m.c.complaint_id.label("cid"), _m.c.received_at.label("at")).where(
            _m.c.complaint_id.in_(wanted)
        ),
        sa.select(_c.id.label("cid"), _c.received_at.label("at")).where(_c.id.in_(wanted)),
    ).subquery()
    joined = arrivals.outerjoin(
        read, sa.and_(read.c.complaint_id == arrivals.c.cid, read.c.user_id == user.id)
    )
    rows = session.execute(
        sa.select(arrivals.c.cid)
        .select_from(joined)
        .group_by(arrivals.c.cid, read.c.last_read_at)
        .having(sa.or_(read.c.last_read_at.is_(None), sa.func.max(arrivals.c.at) > read.c.last_read_at))
    ).all()
    return {int(r[0]) for r in rows}
