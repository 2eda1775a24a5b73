"""One record's pages: ``/inbox/c/<number>`` (timeline, reporter, classification, actions), its
polled timeline, the actions posted from it, and ``/inbox/new`` for complaints taken in person."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

import channels
from app.container import Container
from inbox import actions, auth, present, records
from inbox.auth import can
from inbox.deps import ComplaintFiler, ComplaintReader, ContainerDep, SessionDep, csrf_checked
from inbox.i18n import translator
from inbox.render import page
from intake import workflow
from intake.models import User

log = logging.getLogger("aduan.inbox")

router = APIRouter(prefix="/inbox", include_in_schema=False)


def complaint_response(
    request: Request,
    session: Session,
    container: Container,
    user: User,
    tracking: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    draft: dict[str, str] | None = None,
    flash: str | None = None,
) -> Response:
    """Render the complaint page, with an error, the officer's kept draft or a done message."""
    lang = auth.current_session(request).lang
    context = records.complaint_context(session, container, tracking=tracking, user=user, lang=lang)
    context["error"] = error
    context["flash"] = flash or request.query_params.get("done")
    context["draft"] = draft or {}
    return page(request, "complaint.html", context, status_code=status_code)


@router.get("/c/{tracking}")
def complaint_page(
    request: Request, tracking: str, user: ComplaintReader, session: SessionDep, container: ContainerDep
) -> Response:
    """Show one record: timeline, countdown, reporter, classification, review, track, notes, events."""
    return complaint_response(request, session, container, user, tracking)


@router.get("/c/{tracking}/timeline")
def complaint_timeline(
    request: Request, tracking: str, user: ComplaintReader, session: SessionDep, container: ContainerDep
) -> Response:
    """Return the timeline fragment (htmx polling: new messages and delivery ticks appear live)."""
    context = records.timeline_context(session, container, tracking=tracking, user=user)
    return page(request, "_timeline.html", context)


@router.post("/c/{tracking}/act/{action}", dependencies=[csrf_checked])
async def act(
    request: Request,
    tracking: str,
    action: str,
    user: ComplaintReader,
    session: SessionDep,
    container: ContainerDep,
) -> Response:
    """Apply one action to a record through the workflow, then show the record again."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    permission = actions.ACTION_PERMISSION.get(action)
    if permission is None:
        raise HTTPException(status_code=404, detail=f"unknown action {action!r}")
    if action == "reply" and form.get("mode") == "note":
        action, permission = "note", "note"  # the reply box's private-note toggle
    if action == "reply" and form.get("final"):
        permission = "answer"
    htmx = request.headers.get("hx-request") == "true"
    if not can(user, permission):
        log.info("user #%s (%s) refused %s", user.id, user.role, permission)
        error: tuple[str, int] | None = (f"role {user.role} may not {permission}", 403)
    else:
        error = await run_in_threadpool(_apply, session, container, user, tracking, action, form)
    if error is not None:
        message, status_code = error
        t = translator(auth.current_session(request).lang)
        # htmx swaps only 2xx answers: the refusal is the page with the officer's text kept.
        return complaint_response(
            request,
            session,
            container,
            user,
            tracking,
            error=present.error_text(message, t),
            status_code=200 if htmx else status_code,
            draft=form if action in ("reply", "note") else None,
        )
    done = "answer" if action == "reply" and form.get("final") else action
    if htmx:
        return complaint_response(request, session, container, user, tracking, flash=done)
    return RedirectResponse(f"/inbox/c/{tracking.upper()}?done={done}", status_code=303)


def _apply(
    session: Session, container: Container, user: User, tracking: str, action: str, form: dict[str, str]
) -> tuple[str, int] | None:
    """Apply the action in a transaction of its own; return the refusal and its status, if any."""
    try:
        actions.perform(session, container, user=user, tracking=tracking, action=action, form=form)
        session.commit()
        session.expire_all()  # the page shown next reads the record as committed, as a new session would
    except workflow.PermissionDenied as exc:
        session.rollback()
        return str(exc), 403
    except (workflow.TransitionError, ValueError) as exc:
        session.rollback()
        return str(exc), 409
    return None


def _new_page(request: Request, container: Container, *, error: str | None, form: dict[str, str]) -> Response:
    return page(
        request,
        "new.html",
        {
            "officer_channels": channels.OFFICER_CHANNELS,
            "error": error,
            "form": form,
            "services": container.office.services,
            "problem_types": container.office.problem_types,
        },
        status_code=400 if error else 200,
    )


@router.get("/new")
def new_form(request: Request, user: ComplaintFiler, container: ContainerDep) -> Response:
    """Show the form for complaints officers take in person (R2a–R2d, R2l, R2m)."""
    return _new_page(request, container, error=None, form={})


@router.post("/new", dependencies=[csrf_checked])
async def new_submit(
    request: Request,
    user: ComplaintFiler,
    container: ContainerDep,
    scan: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """File a complaint an officer took in person, through the same rules as every channel."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    data = await scan.read(actions.MAX_SCAN_BYTES + 1) if scan is not None and scan.filename else None
    try:
        tracking = await run_in_threadpool(
            actions.create_from_form,
            container,
            user=user,
            form=form,
            scan=data,
            scan_name=scan.filename if scan is not None else None,
            scan_type=scan.content_type if scan is not None else None,
        )
    except ValueError as exc:
        return _new_page(request, container, error=str(exc), form=form)
    return RedirectResponse(f"/inbox/c/{tracking}?done=created", status_code=303)
