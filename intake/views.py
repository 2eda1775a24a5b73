"""Read models: complaints as plain dicts for the CLI, the API and the inbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session, select

from intake import deadlines, rules
from intake.models import Complaint, Event, Reporter
from intake.office import OfficeProfile
from intake.workflow_models import DeadlineAlert


def event_log(session: Session, complaint: Complaint) -> list[dict[str, Any]]:
    """Return a record's event log, oldest first, as plain values (``at`` stays a datetime).

    The CLI's ``complaint_detail`` and the API's record (``GET /api/v1/complaints/{tracking}``) show it.
    """
    events = session.exec(
        select(Event).where(Event.complaint_id == complaint.id).order_by(Event.id)  # type: ignore[arg-type]
    ).all()
    return [
        {
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "field": e.field,
            "old_value": e.old_value,
            "new_value": e.new_value,
            "note": e.note,
        }
        for e in events
    ]


def complaint_detail(
    session: Session,
    tracking_number: str,
    *,
    office: OfficeProfile,
    now: dt.datetime,
    with_personal: bool = True,
) -> dict[str, Any] | None:
    """Return one complaint with its event log, or None when the tracking number is unknown."""
    complaint = session.exec(select(Complaint).where(Complaint.tracking_number == tracking_number)).first()
    if complaint is None:
        return None
    service = office.service(complaint.service_code)
    problem = office.problem_type(complaint.problem_type)
    today = office.calendar.local_date(now)
    data: dict[str, Any] = {
        "tracking_number": complaint.tracking_number,
        "kind": complaint.kind,
        "reasons": complaint.reason_list,
        "status": complaint.status,
        "channel": complaint.channel,
        "received_at": complaint.received_at.isoformat(),
        "due_date": complaint.due_date.isoformat(),
        "working_days_left": rules.working_days_left(
            complaint.due_date, today=today, calendar=office.calendar
        ),
        "service_date": complaint.service_date.isoformat() if complaint.service_date else None,
        "service": service.name if service else None,
        "service_code": complaint.service_code,
        "suggested_service_code": complaint.suggested_service_code,
        "problem_type": problem.name if problem else None,
        "problem_type_code": complaint.problem_type,
        "suggested_problem_type": complaint.suggested_problem_type,
        "track": complaint.track,
        "anonymous": complaint.anonymous,
        "text": complaint.text,
        "events": [e | {"at": e["at"].isoformat()} for e in event_log(session, complaint)],
    }
    data.update(deadline_watch(session, complaint, office=office))
    if with_personal:
        reporter = session.get(Reporter, complaint.reporter_id) if complaint.reporter_id else None
        data["reporter"] = {
            "name": reporter.name if reporter else None,
            "contact": complaint.contact_urn,
            "anonymous": complaint.anonymous,
        }
    return data


def deadline_watch(session: Session, complaint: Complaint, *, office: OfficeProfile) -> dict[str, Any]:
    """Return the R4 checkpoints of a complaint and the alerts already sent for it."""

    alerts = session.exec(
        select(DeadlineAlert).where(DeadlineAlert.complaint_id == complaint.id).order_by(DeadlineAlert.id)  # type: ignore[arg-type]
    ).all()
    plan = []
    if complaint.kind == rules.KIND_PENGADUAN:
        plan = deadlines.checkpoint_plan(
            received_at=complaint.received_at,
            due_date=complaint.due_date,
            policy=deadlines.policy_of(office),
            calendar=office.calendar,
            deadline_days=office.answer_deadline_working_days,
        )
    nxt = complaint.next_checkpoint_at
    return {
        "next_checkpoint_at": nxt.isoformat() if nxt else None,
        "checkpoints": plan,
        "alerts": [
            {
                "checkpoint": a.checkpoint,
                "occurrence": a.occurrence,
                "notify": a.notify,
                "scheduled_at": a.scheduled_at.isoformat(),
                "created_at": a.created_at.isoformat(),
                "late": a.late,
                "days_left": a.days_left,
                "status": a.status,
                "channels": [c for c in a.channels_sent.split(",") if c],
            }
            for a in alerts
        ],
    }
