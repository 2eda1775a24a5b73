"""The write side of the officers' pages and the API: one inbox action on a record, a reply, and
complaints officers take in person. Every change goes through ``intake.workflow`` (the record's
rules) or ``intake.ingest``; pages and API share these functions.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

import channels
from app.container import Container
from channels.urns import InvalidContact, contact_urn
from inbox import auth, queries
from inbox.records import load_complaint
from intake import db, roles, workflow
from intake.ingest import file_complaint, record_event
from intake.models import Complaint, Message, User
from outbound.outbox import enqueue

log = logging.getLogger("aduan.inbox")

MAX_SCAN_BYTES = 10 * 1024 * 1024

#: Form action → the permission it needs (``PERMISSIONS`` in inbox.auth).
ACTION_PERMISSION: dict[str, str] = {
    "claim": "claim",
    "start_review": "claim",
    "reject_apip": "approve_apip",
    "forward": "transition",
    "release": "release",
    "assign": "assign",
    "reply": "reply",
    "note": "note",
    "classify": "classify",
    "review": "review",
    "set_track": "set_track",
    "change_kind": "change_kind",
    "escalate": "escalate",
    "request_apip": "request_apip",
    "approve_apip": "approve_apip",
    "report_up": "report_up",
    "transition": "transition",
    "close": "close",
    "reopen": "reopen",
    "merge": "merge",
}


def perform(
    session: Session, container: Container, *, user: User, tracking: str, action: str, form: dict[str, str]
) -> Complaint:
    """Apply ``action`` as ``user`` to the record they see under ``tracking`` (404 for another office's)."""
    complaint = load_complaint(session, tracking, container=container, user=user)
    actor = session.get(User, user.id)
    assert actor is not None
    apply_action(
        session, complaint, action=action, form=form, actor=actor, now=container.now(), container=container
    )
    return complaint


class ReplyConflict(ValueError):
    """Someone else answered or claimed the record since the officer opened it."""


def apply_action(
    session: Session,
    complaint: Complaint,
    *,
    action: str,
    form: dict[str, str],
    actor: User,
    now: dt.datetime,
    container: Container,
) -> Any:
    """Carry out one inbox action on a record through ``intake.workflow`` (pages and API share this)."""
    kw: dict[str, Any] = {"actor": actor, "now": now}

    def field(name: str) -> str | None:
        value = (form.get(name) or "").strip()
        return value or None

    if action == "claim":
        return workflow.claim(session, complaint, **kw)
    if action == "start_review":
        if complaint.claimed_by_id not in (None, actor.id):
            other = session.get(User, complaint.claimed_by_id)
            raise ReplyConflict(f"being handled by {other.full_name if other else '?'}: claim it first")
        return workflow.start_review(session, complaint, **kw)
    if action == "reject_apip":
        return workflow.reject_apip(session, complaint, reason=field("reason") or "", **kw)
    if action == "forward":
        return workflow.forward_saran(session, complaint, **kw)
    if action == "release":
        return workflow.release(session, complaint, **kw)
    if action == "assign":
        assignee = session.get(User, int(form.get("assignee_id") or 0))
        if assignee is None or not auth.works_for(container, assignee, complaint.office):
            raise ValueError("choose a member of staff of this office to assign")
        return workflow.assign(session, complaint, assignee=assignee, **kw)
    if action == "reply":
        return reply(session, complaint, form=form, actor=actor, now=now)
    if action == "note":
        text = field("text")
        if not text:
            raise ValueError("the note is empty")
        return workflow.add_note(session, complaint, text=text, **kw)
    if action == "classify":
        return workflow.set_classification(
            session, complaint, service_code=field("service_code"), problem_type=field("problem_type"), **kw
        )
    if action == "review":
        return workflow.set_review(
            session,
            complaint,
            core_problem=field("core_problem"),
            standard_ref=field("standard_ref"),
            handling_plan=field("handling_plan"),
            **kw,
        )
    if action == "set_track":
        follow_up = field("agency_follow_up_date")
        return workflow.set_track(
            session,
            complaint,
            track=field("track") or "",
            agency=field("agency"),
            agency_liaison=field("agency_liaison"),
            agency_follow_up_date=dt.date.fromisoformat(follow_up) if follow_up else None,
            **kw,
        )
    if action == "change_kind":
        return workflow.change_kind(
            session, complaint, kind=field("kind") or "", reason=field("reason") or "", **kw
        )
    if action == "escalate":
        staff = roles.stored_codes(complaint.office, container.primary.code)  # its office's superiors
        return workflow.escalate(session, complaint, note=field("note"), offices=staff, **kw)
    if action == "request_apip":
        return workflow.request_apip(session, complaint, note=field("note") or "", **kw)
    if action == "approve_apip":
        return workflow.approve_apip(session, complaint, **kw)
    if action == "report_up":
        staff = roles.stored_codes(complaint.office, container.primary.code)
        return workflow.report_up(session, complaint, offices=staff, **kw)
    if action == "transition":
        return workflow.transition(session, complaint, to=field("to") or "", note=field("note"), **kw)
    if action == "close":
        return workflow.close(session, complaint, **kw)
    if action == "reopen":
        return workflow.reopen(session, complaint, reason=field("reason") or "", **kw)
    if action == "merge":
        into = session.exec(
            select(Complaint).where(Complaint.tracking_number == (field("into") or "").upper())
        ).first()
        if into is None or into.id == complaint.id or into.office != complaint.office:
            raise ValueError("give the tracking number of another record of this office to merge into")
        return workflow.merge(session, complaint, into=into, **kw)
    raise ValueError(f"unknown action {action!r}")


def reply(
    session: Session, complaint: Complaint, *, form: dict[str, str], actor: User, now: dt.datetime
) -> workflow.Queued | None:
    """Send a reply on the citizen's channel; refuse when another officer replied or claimed meanwhile."""
    workflow.ensure_can_reply(complaint)  # a closed record is reopened before anyone writes
    text = (form.get("text") or "").strip()
    if not text:
        raise ValueError("the reply is empty")
    if complaint.claimed_by_id not in (None, actor.id):
        other = session.get(User, complaint.claimed_by_id)
        raise ReplyConflict(f"being handled by {other.full_name if other else '?'}: claim it first")
    seen = int(form.get("seen_outbox") or 0)
    latest = queries.last_outbox_id(session, complaint)
    if latest > seen:
        # Two officers must not both answer without seeing each other's message.
        raise ReplyConflict("another reply was sent since you opened this record: read it, then send again")
    if form.get("final"):
        return workflow.answer(session, complaint, actor=actor, now=now, text=text, enqueue=enqueue)
    channel = workflow.reply_channel(complaint)
    if channel is None or not complaint.contact_urn:
        raise ValueError("this record has no contact to reply to (record the answer instead)")
    row = enqueue(
        session,
        channel=channel,
        to=complaint.contact_urn,
        text=text,
        now=now,
        complaint_id=complaint.id,
        purpose="reply",
        created_by=f"user:{actor.username}",
        office=complaint.office,
    )
    record_event(
        session,
        complaint,
        actor=f"user:{actor.username}",
        action="replied",
        now=now,
        field="outbox",
        new=row.id,
    )
    return row


def create_from_form(
    container: Container,
    *,
    user: User,
    form: dict[str, str],
    scan: bytes | None = None,
    scan_name: str | None = None,
    scan_type: str | None = None,
    via: str = "web",
) -> str:
    """File an officer-entered complaint (walk-in, MPP, letter, phone, paper form, box); return its number."""
    channel = form.get("channel", "")
    if channel not in channels.OFFICER_CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(channels.OFFICER_CHANNELS)}")
    text = (form.get("text") or "").strip()
    name = (form.get("reporter_name") or "").strip() or None
    anonymous = form.get("anonymous") in ("1", "on", "true")
    contact = (form.get("contact") or "").strip()
    urn: str | None = None
    if contact:
        try:
            urn = contact_urn(contact)
        except InvalidContact as exc:
            raise ValueError(f"contact: {exc}") from exc
    service_date = None
    if form.get("service_date"):
        try:
            service_date = dt.date.fromisoformat(form["service_date"])
        except ValueError as exc:
            raise ValueError("service date must be YYYY-MM-DD") from exc
    now = container.now()
    received_at = now
    if form.get("received_at"):
        try:
            received_at = dt.datetime.fromisoformat(form["received_at"])
        except ValueError as exc:
            raise ValueError("received at must be YYYY-MM-DDTHH:MM") from exc
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=container.office.calendar.timezone)
        if received_at > now:
            raise ValueError("received at is in the future")
    if scan is not None and len(scan) > MAX_SCAN_BYTES:
        raise ValueError(f"scan larger than {MAX_SCAN_BYTES} bytes")
    with db.write_session(container.engine) as s:
        messages: list[Message] = []
        if scan:
            messages.append(
                scan_message(
                    container,
                    s,
                    channel=channel,
                    urn=urn,
                    user=user,
                    text=text,
                    data=scan,
                    name=scan_name,
                    content_type=scan_type,
                    now=received_at,
                )
            )
        complaint = file_complaint(
            session=s,
            office=auth.home_office(container, user),
            channel=channel,
            contact_urn=urn,
            text=text,
            received_at=received_at,
            now=now,
            reporter_name=name,
            anonymous=anonymous,
            service=form.get("service_code") or None,
            service_date=service_date,
            problem_type=form.get("problem_type") or None,
            actor=f"user:{user.username}",
            messages=messages,
        )
        log.info("officer #%s filed complaint #%s via %s (%s)", user.id, complaint.id, channel, via)
        return complaint.tracking_number


def scan_message(
    container: Container,
    s: Session,
    *,
    channel: str,
    urn: str | None,
    user: User,
    text: str,
    data: bytes,
    name: str | None,
    content_type: str | None,
    now: dt.datetime,
) -> Message:
    """Store an uploaded scan (R2c letter) and return the message row that carries it."""
    ext = (Path(name or "").suffix.lower().lstrip(".") or "bin")[:5]
    if not ext.isalnum():
        ext = "bin"
    stored = f"{uuid.uuid4().hex}.{ext}"
    folder = container.storage_dir() / "scans"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / stored).write_bytes(data)
    attachment = {
        "content_type": content_type or "application/octet-stream",
        "url": f"/inbox/files/{stored}",
        "filename": (name or stored)[:200],
        "size": len(data),
    }
    message = Message(
        channel=channel,
        external_id=f"inbox:{stored}",
        sender_urn=urn or f"staff:{user.username}",
        text=text,
        attachments=json.dumps([attachment]),
        received_at=now,
    )
    s.add(message)
    return message
