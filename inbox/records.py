"""Service functions of the officers' pages and the API: find a record, show it as the user's role
allows (UU 27/2022: every view of a reporter's personal data goes to the access log), mark it read,
and gather what the queue, complaint, alert and dashboard pages show.

Routes call these with the request's session and commit nothing themselves; nothing here reads a request.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import HTTPException
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

import channels
from app.container import Container
from channels.urns import mask
from inbox import auth, present, queries
from inbox.auth import can
from inbox.canned import render as render_canned
from inbox.i18n import translator
from inbox.models import AccessLog, ComplaintRead
from inbox.render import channel_label
from intake import models, related, workflow
from intake.models import Complaint, Contact, Event, Message, Reporter, User
from intake.office import OfficeProfile
from intake.rules import KINDS
from outbound import alerts
from outbound.outbox import failed_messages
from reports import evaluation

#: WhatsApp only lets free text through within 24 hours of the citizen's last message.
WHATSAPP_WINDOW = dt.timedelta(hours=24)
#: How many recent records the complaint page compares by words (the full R6c search reads 2,000).
PAGE_TEXT_CANDIDATES = 300
#: Every status a record can have (the queue's status filter offers them).
STATUSES = [getattr(models, n) for n in dir(models) if n.startswith("STATUS_")]


def log_access(
    session: Session, *, user: User, complaint: Complaint | None, what: str, via: str, now: dt.datetime
) -> None:
    """Record that ``user`` saw a reporter's personal data (UU 27/2022 access log)."""
    assert user.id is not None
    session.add(
        AccessLog(
            at=now,
            user_id=user.id,
            complaint_id=complaint.id if complaint else None,
            reporter_id=complaint.reporter_id if complaint else None,
            what=what,
            via=via,
        )
    )


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def mark_read(session: Session, *, user: User, complaint: Complaint, now: dt.datetime) -> None:
    """Record that ``user`` has read the record up to ``now`` (their unread marks go)."""
    assert user.id is not None and complaint.id is not None
    table = ComplaintRead.__table__  # type: ignore[attr-defined]
    # One statement: the page and its polling may both mark the same record read at once.
    stmt = postgresql.insert(table).values(user_id=user.id, complaint_id=complaint.id, last_read_at=now)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id", "complaint_id"],
            set_={"last_read_at": now},
            where=table.c.last_read_at < now,
        )
    )


def reporter_view(
    session: Session, complaint: Complaint, *, user: User, via: str, now: dt.datetime
) -> dict[str, Any]:
    """Return what ``user`` may see of the reporter, logging the access when personal data is shown."""
    hidden: dict[str, Any] = {
        "visible": False,
        "anonymous": complaint.anonymous,
        "name": None,
        "contact": None,
        "contacts": [],
        "hint": mask(complaint.contact_urn) if complaint.contact_urn else None,
    }
    if not can(user, "view_personal") or (complaint.anonymous and not can(user, "view_anonymous")):
        if complaint.anonymous:
            hidden["hint"] = None  # R5a: nothing about an ANONIM reporter, not even a masked number
        return hidden
    if complaint.reporter_id is None and not complaint.contact_urn:
        return hidden | {"visible": True}
    reporter = session.get(Reporter, complaint.reporter_id) if complaint.reporter_id else None
    contacts = []
    if complaint.reporter_id:
        contacts = [
            c.urn for c in session.exec(select(Contact).where(Contact.reporter_id == complaint.reporter_id))
        ]
    log_access(
        session,
        user=user,
        complaint=complaint,
        what="anonymous_reporter" if complaint.anonymous else "reporter",
        via=via,
        now=now,
    )
    return {
        "visible": True,
        "anonymous": complaint.anonymous,
        "name": reporter.name if reporter else None,
        "contact": complaint.contact_urn,
        "contacts": contacts,
        "hint": None,
    }


def load_complaint(
    session: Session, tracking: str, *, container: Container | None = None, user: User | None = None
) -> Complaint:
    """Return the record with this tracking number or raise 404 (also for another office's record)."""
    complaint = session.exec(select(Complaint).where(Complaint.tracking_number == tracking.upper())).first()
    if complaint is None or (user and container and not auth.may_see(container, user, complaint)):
        raise HTTPException(status_code=404, detail="no such tracking number")
    return complaint


def whatsapp_needs_template(session: Session, complaint: Complaint, now: dt.datetime) -> bool:
    """Tell whether a WhatsApp reply would fall outside the 24-hour window (then a template is used)."""
    if not complaint.contact_urn or workflow.reply_channel(complaint) != "whatsapp":
        return False
    contact = session.exec(select(Contact).where(Contact.urn == complaint.contact_urn)).first()
    last = contact.last_inbound_at if contact else None
    return last is None or now - last > WHATSAPP_WINDOW


def staff_names(session: Session) -> dict[int, str]:
    """Return every staff member's display name by id."""
    return {u.id: (u.full_name or u.username) for u in session.exec(select(User)) if u.id is not None}


def display_names(session: Session) -> dict[str, str]:
    """Return every staff member's display name by username (the event log names actors so)."""
    return {u.username: (u.full_name or u.username) for u in session.exec(select(User))}


def related_view(session: Session, complaint: Complaint) -> list[dict[str, Any]]:
    """R6c for the complaint page: merged records, then earlier ones of the same contact, service or words."""
    rows: dict[int, dict[str, Any]] = {}
    for other in queries.related(session, complaint):
        assert other.id is not None
        rows[other.id] = {
            "c": other,
            "reasons": ("merged",) if complaint.id in (other.merged_into_id,) else (),
        }
    candidates = related.find_related(session, complaint, limit=10, text_candidates=PAGE_TEXT_CANDIDATES)
    found = {
        c.id: c
        for c in session.exec(
            select(Complaint).where(col(Complaint.id).in_([x.complaint_id for x in candidates]))
        )
    }
    for cand in candidates:
        entry = rows.setdefault(cand.complaint_id, {"c": found[cand.complaint_id], "reasons": ()})
        entry["reasons"] = tuple(dict.fromkeys((*entry["reasons"], *cand.reasons)))
    return list(rows.values())[:12]


def staff_value(names: dict[int, str], field: str | None, value: str | None) -> str:
    """Show a staff id in the event log as the person's name."""
    if value and field in ("claimed_by_id", "assignee_id", "apip_approved_by_id") and value.isdigit():
        return names.get(int(value), value)
    return value or ""


def reporter_language(session: Session, complaint: Complaint) -> str:
    """Return the language the reporter writes in (``id`` unless they chose English)."""
    reporter = session.get(Reporter, complaint.reporter_id) if complaint.reporter_id else None
    return reporter.language if reporter and reporter.language in ("id", "en") else "id"


# -- the queue ------------------------------------------------------------------------------------


def queue_rows(
    session: Session,
    container: Container,
    query: queries.QueueQuery,
    *,
    user: User,
    now: dt.datetime,
    offices: list[str] | None,
) -> list[Complaint]:
    """Return one page of a queue as ``user``'s role may see it: the queue page and the API list it so.

    Search reaches personal data (phone, e-mail, name) and anonymous reporters only where the role
    may see them (``view_personal``, ``view_anonymous``); ``offices`` as in ``queue_context``.
    """
    return queries.list_complaints(
        session,
        query,
        user=user,
        office=container.office,
        now=now,
        personal=can(user, "view_personal"),
        anonymous=can(user, "view_anonymous"),
        offices=offices,
    )


def queue_context(
    session: Session,
    container: Container,
    *,
    user: User,
    query: queries.QueueQuery,
    offices: list[str] | None,
) -> dict[str, Any]:
    """Return what the queue page and its rows show: counts, rows or failed messages, unread marks.

    ``offices``: the offices whose records ``user`` sees (None: every one).
    """
    now = container.now()
    counts = queries.queue_counts(session, user=user, office=container.office, now=now, offices=offices)
    if query.queue == "failed":
        failed = (
            failed_messages(session, limit=queries.PAGE_SIZE, offices=offices)  # staff: their office's
            if can(user, "view_failed")
            else []
        )
        ids = {f.complaint_id for f in failed if f.complaint_id}
        in_ids = Complaint.id.in_(ids)  # type: ignore[union-attr]
        found: Any = session.exec(select(Complaint).where(in_ids)) if ids else []
        tracking = {c.id: c.tracking_number for c in found}
        rows: list[Any] = []
    else:
        failed, tracking = [], {}
        rows = queue_rows(session, container, query, user=user, now=now, offices=offices)
    if query.q and can(user, "view_personal") and queries.searches_personal_data(query.q):
        log_access(session, user=user, complaint=None, what="search", via="web", now=now)
    names = staff_names(session)
    unread = queries.unread_ids(session, user=user, ids=[c.id for c in rows])
    left = {c.id: queries.working_days_left(c, office=container.office_of(c.office), now=now) for c in rows}
    return {
        "query": query,
        "counts": counts,
        "rows": rows,
        "left": left,
        "unread": unread,
        "names": names,
        "failed": failed,
        "tracking": tracking,
        "queues": queries.QUEUES,
        "channels": list(channels.REGISTRY),
        "statuses": STATUSES,
        "filter_qs": urlencode({**query.filters, **({"q": query.q} if query.q else {})}),
    }


def alerts_context(
    session: Session, *, user: User, offices: list[str] | None, now: dt.datetime
) -> list[dict[str, Any]]:
    """Return the deadline alerts meant for ``user`` or their role, newest first, marking them seen."""
    rows = alerts.alerts_for(session, user=user, offices=offices, limit=200)
    found = session.exec(select(Complaint).where(col(Complaint.id).in_({a.complaint_id for a in rows})))
    complaints = {c.id: c for c in found}
    shown = [
        {
            "alert": a,
            "complaint": complaints.get(a.complaint_id),
            "state": alerts.state(checkpoint=a.checkpoint, days_left=a.days_left, occurrence=a.occurrence),
            "new": a.seen_at is None,
        }
        for a in rows
    ]
    for a in rows:
        if a.seen_at is None:
            alerts.mark_seen(session, a, now=now)
    return shown


# -- one record -----------------------------------------------------------------------------------


def complaint_context(
    session: Session, container: Container, *, tracking: str, user: User, lang: str
) -> dict[str, Any]:
    """Return what the complaint page shows to ``user`` (access-logged), marking the record read."""
    now = container.now()
    complaint = load_complaint(session, tracking, container=container, user=user)
    reporter = reporter_view(session, complaint, user=user, via="web", now=now)
    office = container.office_of(complaint.office)
    names = staff_names(session)
    t = translator(lang)
    events = list(
        session.exec(select(Event).where(Event.complaint_id == complaint.id).order_by(Event.id))  # type: ignore[arg-type]
    )
    notes = workflow.notes_of(session, complaint)
    allowed = list(workflow.allowed_transitions(complaint))
    usernames = display_names(session)
    apip_events = [e for e in events if e.action in ("apip_requested", "apip_rejected")]
    canned = render_canned(
        lang=reporter_language(session, complaint),
        reporter_name=reporter.get("name"),
        tracking=complaint.tracking_number,
        due=complaint.due_date,
        office=office.name,
        officer=user.full_name or user.username,
        ui_lang=lang,
    )
    mark_read(session, user=user, complaint=complaint, now=now)
    return {
        "c": complaint,
        "reporter": reporter,
        "guide": workflow.guide(complaint, user),
        "event_lines": [
            present.event_line(e, names=names, usernames=usernames, t=t) for e in reversed(events)
        ],
        "apip_event": apip_events[-1] if apip_events else None,
        "usernames": usernames,
        "canned_json": json.dumps([{"key": a.key, "title": a.title, "text": a.text} for a in canned]),
        "assignee": names.get(complaint.assignee_id) if complaint.assignee_id else None,
        "timeline": queries.timeline(
            session, complaint, notes=notes, hide_identity=not can(user, "view_anonymous")
        ),
        "left": queries.working_days_left(complaint, office=office, now=now),
        "service": office.service(complaint.service_code),
        "suggested_service": office.service(complaint.suggested_service_code),
        "problem": office.problem_type(complaint.problem_type),
        "suggested_problem": office.problem_type(complaint.suggested_problem_type),
        "services": office.services,
        "problem_types": office.problem_types,
        "related": related_view(session, complaint),
        "notes": notes,
        "events": events,
        "names": names,
        "staff": list(
            session.exec(
                select(User).where(
                    User.is_active.is_(True),  # type: ignore[attr-defined]
                    auth.staff_clause(container, complaint.office),
                )
            )
        ),
        "claimer": names.get(complaint.claimed_by_id) if complaint.claimed_by_id else None,
        "claimed_by_other": complaint.claimed_by_id not in (None, user.id),
        "allowed": allowed,
        "canned": canned,
        "last_outbox": queries.last_outbox_id(session, complaint),
        "wa_template": whatsapp_needs_template(session, complaint, now),
        "kinds": KINDS,
        "staff_value": lambda field, value: staff_value(names, field, value),
    }


def timeline_context(session: Session, container: Container, *, tracking: str, user: User) -> dict[str, Any]:
    """Return the timeline fragment's content; a new inbound message shown on an open page is read."""
    complaint = load_complaint(session, tracking, container=container, user=user)
    items = queries.timeline(
        session,
        complaint,
        notes=workflow.notes_of(session, complaint),
        hide_identity=not can(user, "view_anonymous"),
    )
    last = queries.last_outbox_id(session, complaint)
    names = staff_names(session)
    claimer = names.get(complaint.claimed_by_id) if complaint.claimed_by_id else None
    usernames = display_names(session)
    newest = max((i.at for i in items if i.direction == "in"), default=None)
    seen = session.get(ComplaintRead, (user.id, complaint.id))
    if newest is not None and (seen is None or _utc(seen.last_read_at) < _utc(newest)):
        mark_read(session, user=user, complaint=complaint, now=container.now())
    return {
        "c": complaint,
        "timeline": items,
        "last_outbox": last,
        "claimer": claimer,
        "usernames": usernames,
    }


# -- stored files ---------------------------------------------------------------------------------


def scan_complaint(session: Session, container: Container, *, user: User, name: str) -> Complaint | None:
    """Return the record an uploaded scan belongs to (if any), logging the view; 404/403 as for the record."""
    url = f"/inbox/files/{name}"
    message = session.exec(select(Message).where(Message.attachments.contains(url))).first()  # type: ignore[attr-defined]
    complaint = session.get(Complaint, message.complaint_id) if message and message.complaint_id else None
    if complaint is not None and not auth.may_see(container, user, complaint):
        raise HTTPException(status_code=404)  # another office's letter: not told it exists
    if complaint is not None and complaint.anonymous and not can(user, "view_anonymous"):
        raise HTTPException(status_code=403)
    log_access(session, user=user, complaint=complaint, what="scan", via="web", now=container.now())
    return complaint


@dataclass
class StoredFile:
    """A file of the attachment store as it is to be sent."""

    path: Path
    content_type: str
    filename: str


def media_file(
    session: Session, container: Container, *, user: User, tracking: str, message_id: int, position: int
) -> StoredFile:
    """Return the ``position``-th attachment of a record's message (logging the view); 404/403 else."""
    root = container.storage_dir().resolve()
    complaint = load_complaint(session, tracking, container=container, user=user)
    if complaint.anonymous and not can(user, "view_anonymous"):
        raise HTTPException(status_code=403)
    message = session.get(Message, message_id)
    if message is None or message.complaint_id != complaint.id:
        raise HTTPException(status_code=404)
    try:
        items = json.loads(message.attachments or "[]")
    except ValueError:
        items = []
    item = items[position] if isinstance(items, list) and 0 <= position < len(items) else None
    rel = str(item.get("path") or "") if isinstance(item, dict) else ""
    path = (root / rel).resolve()
    # The path comes from our own JSON, but a stored file must never lead outside the store.
    if not rel or not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(status_code=404)
    log_access(session, user=user, complaint=complaint, what="media", via="web", now=container.now())
    assert isinstance(item, dict)
    return StoredFile(
        path=path,
        content_type=str(item.get("content_type") or "application/octet-stream"),
        filename=str(item.get("filename") or path.name),
    )


# -- managers' figures ----------------------------------------------------------------------------


def dashboard_context(
    session: Session,
    container: Container,
    *,
    home: OfficeProfile,
    offices: list[str] | None,
    lang: str,
) -> dict[str, Any]:
    """Return the managers' figures of ``offices`` (None: all) and their small charts (SVG)."""
    figures = queries.dashboard(session, office=home, now=container.now(), offices=offices)
    t = translator(lang)
    problem_names = {p.code: (p.name if lang == "id" else p.name_en) for p in container.office.problem_types}
    charts = {
        "by_channel": queries.bar_chart_svg(
            [(channel_label(k), n) for k, n in figures["by_channel"]], title=t("dash.by_channel")
        ),
        "by_problem_type": queries.bar_chart_svg(
            [(problem_names.get(k, t("dash.unclassified")), n) for k, n in figures["by_problem_type"]],
            title=t("dash.by_problem"),
        ),
        "by_officer": queries.bar_chart_svg(figures["by_officer"], title=t("dash.by_officer")),
    }
    return {"f": figures, "charts": charts}


#: Media type of each report format.
REPORT_TYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def period_report(
    session: Session, container: Container, *, office: OfficeProfile, period: evaluation.Period, format: str
) -> tuple[str, bytes]:
    """Build the report of ``period`` for ``office``; return its file name and bytes."""
    report = evaluation.build_report(
        session, office, period, as_of=evaluation.default_as_of(office, period, container.now())
    )
    data = evaluation.export(report, format)
    return f"laporan-pengaduan-{office.code}-{period.label}.{format}", data
