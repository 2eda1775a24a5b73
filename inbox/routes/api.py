"""The inbox's JSON API under ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``) for integrations.

Authentication is a bearer token (``aduan token add USER``) acting with that user's role; the
same ``PERMISSIONS`` table and the same access log as the pages apply.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from app.container import Container
from inbox import queries
from inbox.actions import ACTION_PERMISSION, create_from_form, perform
from inbox.auth import can, home_office, visible_offices
from inbox.deps import ApiUser, ContainerDep, SessionDep, api_allowed
from inbox.records import load_complaint, queue_rows, reporter_view
from intake import workflow
from intake.models import Complaint, User
from intake.views import event_log
from outbound.outbox import failed_messages

QueueName = Literal["new", "mine", "due_soon", "overdue", "saran", "approval", "all"]

router = APIRouter(prefix="/api/v1", tags=["inbox"])


class ComplaintSummary(BaseModel):
    """One row of a queue."""

    tracking_number: str
    kind: str
    status: str
    channel: str
    received_at: dt.datetime
    due_date: dt.date
    working_days_left: int
    service_code: str | None
    problem_type: str | None
    track: str | None
    claimed_by: str | None
    excerpt: str


class TimelineEntry(BaseModel):
    """One inbound or outbound message."""

    at: dt.datetime
    direction: str
    channel: str
    text: str
    status: str | None
    attachments: list[dict[str, Any]]


class ComplaintDetail(ComplaintSummary):
    """A whole record as the caller's role may see it."""

    text: str
    reasons: list[str]
    anonymous: bool
    reporter: dict[str, Any]
    core_problem: str | None
    standard_ref: str | None
    handling_plan: str | None
    agency: str | None
    allowed_transitions: list[str]
    timeline: list[TimelineEntry]
    events: list[dict[str, Any]]


class NewComplaint(BaseModel):
    """A complaint an officer took in person (R2a–R2d, R2l, R2m)."""

    channel: str = Field(description="walkin, mpp, letter, phone, paper or box")
    text: str
    reporter_name: str | None = None
    anonymous: bool = False
    contact: str | None = Field(default=None, description="phone number or e-mail address")
    service_code: str | None = None
    service_date: dt.date | None = None
    problem_type: str | None = None
    received_at: dt.datetime | None = None


class ActionResult(BaseModel):
    """The record after an action."""

    tracking_number: str
    status: str
    kind: str
    claimed_by_id: int | None
    track: str | None


def summary(c: Complaint, names: dict[int, str], now: dt.datetime, container: Container) -> dict[str, Any]:
    """Return one row of a queue as the API shows it."""
    return {
        "tracking_number": c.tracking_number,
        "kind": c.kind,
        "status": c.status,
        "channel": c.channel,
        "received_at": c.received_at,
        "due_date": c.due_date,
        "working_days_left": queries.working_days_left(c, office=container.office_of(c.office), now=now),
        "service_code": c.service_code,
        "problem_type": c.problem_type,
        "track": c.track,
        "claimed_by": names.get(c.claimed_by_id) if c.claimed_by_id else None,
        "excerpt": c.text[:200],
    }


def usernames(session: Session) -> dict[int, str]:
    """Return every staff member's username by id (the API names staff by username)."""
    return {u.id: u.username for u in session.exec(select(User)) if u.id is not None}


@router.get("/queues", summary="Counts of every queue")
def queue_counts(
    user: Annotated[User, Depends(api_allowed("view_queue"))], session: SessionDep, container: ContainerDep
) -> dict[str, int]:
    """Return how many records each queue holds."""
    offices = visible_offices(container, user)
    return queries.queue_counts(
        session, user=user, office=container.office, now=container.now(), offices=offices
    )


@router.get("/complaints", summary="A queue, filtered and searched, soonest deadline first")
def list_complaints(
    request: Request,
    user: Annotated[User, Depends(api_allowed("view_queue"))],
    session: SessionDep,
    container: ContainerDep,
    queue: Annotated[QueueName, Query()] = "all",
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,  # OFFSET must fit PostgreSQL's bigint
    office: Annotated[str, Query(max_length=32, description="province staff: one office")] = "",
) -> list[ComplaintSummary]:
    """List records; filters: channel, service_code, problem_type, status, track, assignee_id."""
    filters = {k: request.query_params[k] for k in queries.FILTERS if request.query_params.get(k)}
    query = queries.QueueQuery(queue=queue, filters=filters, q=q, page=page)
    now = container.now()
    offices = visible_offices(container, user, office)
    rows = queue_rows(session, container, query, user=user, now=now, offices=offices)
    names = usernames(session)
    return [ComplaintSummary(**summary(c, names, now, container)) for c in rows]


@router.get("/complaints/{tracking}", summary="One record with timeline and event log")
def get_complaint(
    tracking: str,
    user: Annotated[User, Depends(api_allowed("view_complaint"))],
    session: SessionDep,
    container: ContainerDep,
) -> ComplaintDetail:
    """Return a record; the reporter only as the role allows, and the view is access-logged."""
    now = container.now()
    c = load_complaint(session, tracking, container=container, user=user)
    reporter = reporter_view(session, c, user=user, via="api", now=now)
    names = usernames(session)
    items = queries.timeline(session, c, hide_identity=not can(user, "view_anonymous"))
    detail = summary(c, names, now, container) | {
        "text": c.text,
        "reasons": c.reason_list,
        "anonymous": c.anonymous,
        "reporter": {k: v for k, v in reporter.items() if k != "hint"},
        "core_problem": c.core_problem,
        "standard_ref": c.standard_ref,
        "handling_plan": c.handling_plan,
        "agency": c.agency,
        "allowed_transitions": list(workflow.allowed_transitions(c)),
        "timeline": [
            TimelineEntry(
                at=i.at,
                direction=i.direction,
                channel=i.channel,
                text=i.text,
                status=i.status,
                attachments=i.attachments,
            )
            for i in items
        ],
        "events": event_log(session, c),
    }
    return ComplaintDetail(**detail)


@router.post("/complaints", status_code=201, summary="File a complaint taken in person")
def create_complaint(
    body: NewComplaint,
    user: Annotated[User, Depends(api_allowed("create_complaint"))],
    container: ContainerDep,
) -> dict[str, str]:
    """File it through the same rules as every channel; return its tracking number."""
    form = {
        k: ("" if v is None else (v.isoformat() if isinstance(v, dt.date | dt.datetime) else str(v)))
        for k, v in body.model_dump().items()
    }
    form["anonymous"] = "1" if body.anonymous else ""
    try:
        tracking = create_from_form(container, user=user, form=form, via="api")
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return {"tracking_number": tracking}


@router.post("/complaints/{tracking}/actions/{action}", summary="Apply one action to a record")
def act(
    tracking: str,
    action: str,
    user: ApiUser,
    session: SessionDep,
    container: ContainerDep,
    body: dict[str, str] | None = None,
) -> ActionResult:
    """Actions: claim, release, assign, reply, note, classify, review, set_track, change_kind,
    escalate, request_apip, approve_apip, report_up, transition, close, reopen, merge."""
    form = dict(body or {})
    permission = ACTION_PERMISSION.get(action)
    if permission is None:
        raise HTTPException(status_code=404, detail=f"unknown action {action!r}")
    if action == "reply" and form.get("final"):
        permission = "answer"
    if not can(user, permission):
        raise HTTPException(status_code=403, detail=f"role {user.role} may not {permission}")
    try:
        c = perform(session, container, user=user, tracking=tracking, action=action, form=form)
    except workflow.PermissionDenied as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from exc
    except (workflow.TransitionError, ValueError) as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return ActionResult(
        tracking_number=c.tracking_number,
        status=c.status,
        kind=c.kind,
        claimed_by_id=c.claimed_by_id,
        track=c.track,
    )


@router.get("/dashboard", summary="Managers' figures")
def dashboard(
    user: Annotated[User, Depends(api_allowed("dashboard"))], session: SessionDep, container: ContainerDep
) -> dict[str, Any]:
    """Open, due soon, overdue, on-time answers this month and quarter, and breakdowns."""
    offices = visible_offices(container, user)
    home = home_office(container, user)
    return queries.dashboard(session, office=home, now=container.now(), offices=offices)


@router.get("/outbox/failed", summary="Outbound messages that gave up")
def failed(
    user: Annotated[User, Depends(api_allowed("view_failed"))], session: SessionDep, container: ContainerDep
) -> list[dict[str, Any]]:
    """Return failed outbound messages of the offices the user sees, newest first (no recipient)."""
    rows = failed_messages(session, offices=visible_offices(container, user))
    return [
        {
            "id": r.id,
            "channel": r.channel,
            "complaint_id": r.complaint_id,
            "attempts": r.attempts,
            "last_error": r.last_error,
            "failed_at": r.failed_at,
        }
        for r in rows
    ]
