"""The officers' shared inbox under ``/inbox``: server-rendered pages (Jinja2 + htmx polling).

Every route checks the role through ``inbox.auth`` (``PERMISSIONS``), every form carries the CSRF
token, every view of a reporter's personal data is written to the access log (UU 27/2022), and
every change goes through ``intake.workflow`` (the record's rules) or ``intake.ingest``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import mimetypes
import re
import uuid
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

import channels
from app.container import Container
from channels.urns import InvalidContact, contact_urn, mask
from inbox import auth, present, queries
from inbox.auth import can, check_csrf, require_page
from inbox.canned import render as render_canned
from inbox.hooks import request_client
from inbox.i18n import translator
from inbox.models import AccessLog, ComplaintRead
from intake import db, related, roles
from intake.ingest import file_complaint, record_event
from intake.models import Complaint, Contact, Event, Message, Reporter, User
from intake.rules import KINDS
from outbound import alerts
from outbound.outbox import OutboxMessage, enqueue, failed_messages
from reports import evaluation

log = logging.getLogger("aduan.inbox")

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
#: WhatsApp only lets free text through within 24 hours of the citizen's last message.
WHATSAPP_WINDOW = dt.timedelta(hours=24)
MAX_SCAN_BYTES = 10 * 1024 * 1024
STATIC_FILES = {
    "htmx.min.js": "text/javascript",
    "inbox.css": "text/css",
    "inbox.js": "text/javascript",
    "ponsel.js": "text/javascript",  # the demo phone (demo mode only)
}
_SAFE_NAME = re.compile(r"^[0-9a-f]{32}\.[a-z0-9]{1,5}$")


def workflow() -> ModuleType:
    """Return ``intake.workflow`` (imported lazily: it is built in parallel with the inbox)."""
    return importlib.import_module("intake.workflow")


def workflow_errors() -> tuple[type[Exception], type[Exception]]:
    """Return the workflow's (TransitionError, PermissionDenied) classes."""
    wf = workflow()
    return wf.TransitionError, wf.PermissionDenied


# -- shared helpers ------------------------------------------------------------------------------


def container_of(request: Request) -> Container:
    """Return the wired Container of the app."""
    return request.app.state.container  # type: ignore[no-any-return]


def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render a template with what every page needs (user, CSRF token, translator, role check)."""
    session = auth.current_session(request)
    container = container_of(request)
    base = {
        "request": request,
        "user": session.user,
        "csrf": session.csrf,
        "lang": session.lang,
        "t": translator(session.lang),
        "can": lambda action: can(session.user, action),
        "office": auth.home_office(container, session.user),
        "channel_label": _channel_label,
        "fmt_date": _fmt_date,
        "fmt_time": lambda moment: _fmt_time(moment, container),
        "mask": mask,
        "open_statuses": queries.OPEN_STATUSES,
    }
    response = templates.TemplateResponse(request, name, base | context, status_code=status_code)
    if session.fresh:
        auth.manager_of(request).set_cookie(response, session.data)
    return response


def _channel_label(name: str) -> str:
    entry = channels.REGISTRY.get(name)
    return entry.label if entry else name


def _fmt_date(value: dt.date | None) -> str:
    return value.strftime("%d-%m-%Y") if value else "—"


def _fmt_time(moment: dt.datetime | None, container: Container) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(container.office.calendar.timezone).strftime("%d-%m-%Y %H:%M")


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
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # One statement: the page and its polling may both mark the same record read at once.
    stmt = insert(table).values(user_id=user.id, complaint_id=complaint.id, last_read_at=now)
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
    if not complaint.contact_urn or workflow().reply_channel(complaint) != "whatsapp":
        return False
    contact = session.exec(select(Contact).where(Contact.urn == complaint.contact_urn)).first()
    last = contact.last_inbound_at if contact else None
    return last is None or now - last > WHATSAPP_WINDOW


def queue_query(request: Request) -> queries.QueueQuery:
    """Read the queue, filters, search and page from the query string."""
    params = request.query_params
    queue = params.get("queue", "new")
    if queue not in queries.QUEUES:
        queue = "new"
    filters = {k: params[k] for k in queries.FILTERS if params.get(k)}
    page_no = params.get("page", "1")
    return queries.QueueQuery(
        queue=queue,
        filters=filters,
        q=params.get("q", "")[:200],
        page=int(page_no) if page_no.isdigit() else 1,
    )


def staff_names(session: Session) -> dict[int, str]:
    """Return every staff member's display name by id."""
    return {u.id: (u.full_name or u.username) for u in session.exec(select(User)) if u.id is not None}


# -- router ----------------------------------------------------------------------------------------


def build_router(container: Container) -> APIRouter:
    """Return the inbox's routes; mount the static files and the session manager on the app."""
    router = APIRouter(prefix="/inbox", include_in_schema=False)
    container.services.setdefault("inbox.sessions", auth.SessionManager(container))

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        """Serve htmx, the stylesheet and the small script from the package (the machines are offline)."""
        if name not in STATIC_FILES:
            raise HTTPException(status_code=404)
        return FileResponse(
            HERE / "static" / name,
            media_type=STATIC_FILES[name],
            headers={"Cache-Control": "public, max-age=3600"},
        )

    @router.get("/login")
    def login_form(request: Request, next: str = "/inbox") -> HTMLResponse:
        """Show the login form."""
        return page(request, "login.html", {"next": _safe_next(next), "error": None})

    @router.post("/login", dependencies=[Depends(check_csrf)])
    def login(
        request: Request,
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=200)],
        next: Annotated[str, Form()] = "/inbox",
    ) -> Response:
        """Check the password; lock the account after repeated failures."""
        session = auth.current_session(request)
        with db.write_session(container.engine) as s:
            result = auth.authenticate(
                s,
                username=username.strip(),
                password=password,
                now=container.now(),
                address=request_client(request, container),
            )
        if result.user is None:
            # One answer for a wrong password, an unknown name and a throttled attempt alike.
            error = "login.failed"
            return page(request, "login.html", {"next": _safe_next(next), "error": error}, status_code=401)
        log.info("user #%s logged in", result.user.id)
        with db.write_session(container.engine) as s:  # last login, for the admin page (inbox.admin)
            log_access(s, user=result.user, complaint=None, what="login", via="web", now=container.now())
        response = RedirectResponse(_safe_next(next), status_code=303)
        auth.manager_of(request).set_cookie(
            response, auth.manager_of(request).login_data(result.user, session.lang)
        )
        return response

    @router.post("/logout", dependencies=[Depends(check_csrf)])
    def logout(request: Request) -> Response:
        """End the session, and every copy of it (the user's other sessions too)."""
        user = auth.current_session(request).user
        if user is not None:
            with db.write_session(container.engine) as s:
                found = s.get(User, user.id)
                if found is not None:
                    auth.end_sessions(s, found)
        response = RedirectResponse("/inbox/login", status_code=303)
        response.delete_cookie(auth.SESSION_COOKIE, path="/")
        return response

    @router.post("/lang", dependencies=[Depends(check_csrf)])
    def set_language(
        request: Request, lang: Annotated[str, Form()], next: Annotated[str, Form()] = "/inbox"
    ) -> Response:
        """Switch the interface language (Indonesian or English)."""
        session = auth.current_session(request)
        data = dict(session.data) | {"l": lang if lang in ("id", "en") else "id"}
        response = RedirectResponse(_safe_next(next), status_code=303)
        auth.manager_of(request).set_cookie(response, data)
        return response

    @router.get("")
    def queue_page(request: Request, user: Annotated[User, Depends(require_page("view_queue"))]) -> Response:
        """Show a queue with the counts of every queue, filters and search."""
        return page(request, "queue.html", _queue_context(request, user))

    @router.get("/rows")
    def queue_rows(request: Request, user: Annotated[User, Depends(require_page("view_queue"))]) -> Response:
        """Return the queue's rows and counts (htmx polling: new complaints appear without reload)."""
        return page(request, "_rows.html", _queue_context(request, user))

    def _queue_context(request: Request, user: User) -> dict[str, Any]:
        query = queue_query(request)
        now = container.now()
        offices = auth.visible_offices(container, user, request.query_params.get("office"))
        with db.session(container.engine) as s:
            counts = queries.queue_counts(s, user=user, office=container.office, now=now, offices=offices)
            if query.queue == "failed":
                failed = (
                    failed_messages(s, limit=queries.PAGE_SIZE, offices=offices)  # staff: their office's
                    if can(user, "view_failed")
                    else []
                )
                ids = {f.complaint_id for f in failed if f.complaint_id}
                in_ids = Complaint.id.in_(ids)  # type: ignore[union-attr]
                found: Any = s.exec(select(Complaint).where(in_ids)) if ids else []
                tracking = {c.id: c.tracking_number for c in found}
                rows: list[Any] = []
            else:
                failed, tracking = [], {}
                rows = queries.list_complaints(
                    s,
                    query,
                    user=user,
                    office=container.office,
                    now=now,
                    personal=can(user, "view_personal"),
                    anonymous=can(user, "view_anonymous"),
                    offices=offices,
                )
            if query.q and can(user, "view_personal") and queries.searches_personal_data(query.q):
                with db.write_session(container.engine) as w:
                    log_access(w, user=user, complaint=None, what="search", via="web", now=now)
            names = staff_names(s)
            unread = queries.unread_ids(s, user=user, ids=[c.id for c in rows])
        left = {
            c.id: queries.working_days_left(c, office=container.office_of(c.office), now=now) for c in rows
        }
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
            "statuses": _statuses(),
            "filter_qs": _filter_qs(query),
        }

    @router.get("/c/{tracking}")
    def complaint_page(
        request: Request, tracking: str, user: Annotated[User, Depends(require_page("view_complaint"))]
    ) -> Response:
        """Show one record: timeline, countdown, reporter, classification, review, track, notes, events."""
        return _complaint_response(request, user, tracking)

    def _complaint_response(
        request: Request,
        user: User,
        tracking: str,
        *,
        error: str | None = None,
        status_code: int = 200,
        draft: dict[str, str] | None = None,
        flash: str | None = None,
    ) -> Response:
        now = container.now()
        with db.write_session(container.engine) as s:
            complaint = load_complaint(s, tracking, container=container, user=user)
            reporter = reporter_view(s, complaint, user=user, via="web", now=now)
            context = _complaint_context(
                s, complaint, user=user, now=now, reporter=reporter, lang=auth.current_session(request).lang
            )
        context["error"] = error
        context["flash"] = flash or request.query_params.get("done")
        context["draft"] = draft or {}
        return page(request, "complaint.html", context, status_code=status_code)

    def _complaint_context(
        s: Session, complaint: Complaint, *, user: User, now: dt.datetime, reporter: dict[str, Any], lang: str
    ) -> dict[str, Any]:
        office = container.office_of(complaint.office)
        names = staff_names(s)
        t = translator(lang)
        events = list(s.exec(select(Event).where(Event.complaint_id == complaint.id).order_by(Event.id)))  # type: ignore[arg-type]
        notes = workflow().notes_of(s, complaint)
        allowed = list(workflow().allowed_transitions(complaint))
        usernames = {u.username: (u.full_name or u.username) for u in s.exec(select(User))}
        apip_events = [e for e in events if e.action in ("apip_requested", "apip_rejected")]
        canned = render_canned(
            lang=_reporter_language(s, complaint),
            reporter_name=reporter.get("name"),
            tracking=complaint.tracking_number,
            due=complaint.due_date,
            office=office.name,
            officer=user.full_name or user.username,
            ui_lang=lang,
        )
        mark_read(s, user=user, complaint=complaint, now=now)
        return {
            "c": complaint,
            "reporter": reporter,
            "guide": workflow().guide(complaint, user),
            "event_lines": [
                present.event_line(e, names=names, usernames=usernames, t=t) for e in reversed(events)
            ],
            "apip_event": apip_events[-1] if apip_events else None,
            "usernames": usernames,
            "canned_json": json.dumps([{"key": a.key, "title": a.title, "text": a.text} for a in canned]),
            "assignee": names.get(complaint.assignee_id) if complaint.assignee_id else None,
            "timeline": queries.timeline(
                s, complaint, notes=notes, hide_identity=not can(user, "view_anonymous")
            ),
            "left": queries.working_days_left(complaint, office=office, now=now),
            "service": office.service(complaint.service_code),
            "suggested_service": office.service(complaint.suggested_service_code),
            "problem": office.problem_type(complaint.problem_type),
            "suggested_problem": office.problem_type(complaint.suggested_problem_type),
            "services": office.services,
            "problem_types": office.problem_types,
            "related": related_view(s, complaint),
            "notes": notes,
            "events": events,
            "names": names,
            "staff": list(
                s.exec(
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
            "last_outbox": queries.last_outbox_id(s, complaint),
            "wa_template": whatsapp_needs_template(s, complaint, now),
            "kinds": KINDS,
            "staff_value": lambda field, value: _staff_value(names, field, value),
        }

    @router.get("/c/{tracking}/timeline")
    def complaint_timeline(
        request: Request, tracking: str, user: Annotated[User, Depends(require_page("view_complaint"))]
    ) -> Response:
        """Return the timeline fragment (htmx polling: new messages and delivery ticks appear live)."""
        with db.session(container.engine) as s:
            complaint = load_complaint(s, tracking, container=container, user=user)
            items = queries.timeline(
                s,
                complaint,
                notes=workflow().notes_of(s, complaint),
                hide_identity=not can(user, "view_anonymous"),
            )
            last = queries.last_outbox_id(s, complaint)
            names = staff_names(s)
            claimer = names.get(complaint.claimed_by_id) if complaint.claimed_by_id else None
            usernames = {u.username: (u.full_name or u.username) for u in s.exec(select(User))}
            newest = max((i.at for i in items if i.direction == "in"), default=None)
            seen = s.get(ComplaintRead, (user.id, complaint.id))
            fresh = newest is not None and (seen is None or _utc(seen.last_read_at) < _utc(newest))
        if fresh:
            with db.write_session(container.engine) as w:  # a new message shown on an open page: read
                mark_read(w, user=user, complaint=complaint, now=container.now())
        return page(
            request,
            "_timeline.html",
            {
                "c": complaint,
                "timeline": items,
                "last_outbox": last,
                "claimer": claimer,
                "usernames": usernames,
            },
        )

    @router.post("/c/{tracking}/act/{action}", dependencies=[Depends(check_csrf)])
    async def act(
        request: Request,
        tracking: str,
        action: str,
        user: Annotated[User, Depends(require_page("view_complaint"))],
    ) -> Response:
        """Apply one action to a record through the workflow, then show the record again."""
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        permission = ACTION_PERMISSION.get(action)
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
            error = await run_in_threadpool(_apply, user, tracking, action, form)
        if error is not None:
            message, status_code = error
            t = translator(auth.current_session(request).lang)
            # htmx swaps only 2xx answers: the refusal is the page with the officer's text kept.
            return _complaint_response(
                request,
                user,
                tracking,
                error=present.error_text(message, t),
                status_code=200 if htmx else status_code,
                draft=form if action in ("reply", "note") else None,
            )
        done = "answer" if action == "reply" and form.get("final") else action
        if htmx:
            return _complaint_response(request, user, tracking, flash=done)
        return RedirectResponse(f"/inbox/c/{tracking.upper()}?done={done}", status_code=303)

    def _apply(user: User, tracking: str, action: str, form: dict[str, str]) -> tuple[str, int] | None:
        try:
            transition_error, permission_denied = workflow_errors()
        except ImportError:
            return "intake.workflow is not installed yet", 501
        now = container.now()
        try:
            with db.write_session(container.engine) as s:
                complaint = load_complaint(s, tracking, container=container, user=user)
                actor = s.get(User, user.id)
                assert actor is not None
                apply_action(
                    s, complaint, action=action, form=form, actor=actor, now=now, container=container
                )
        except permission_denied as exc:
            return str(exc), 403
        except (transition_error, ValueError) as exc:
            return str(exc), 409
        return None

    @router.get("/new")
    def new_form(
        request: Request, user: Annotated[User, Depends(require_page("create_complaint"))]
    ) -> Response:
        """Show the form for complaints officers take in person (R2a–R2d, R2l, R2m)."""
        return page(
            request,
            "new.html",
            {
                "officer_channels": channels.OFFICER_CHANNELS,
                "error": None,
                "form": {},
                "services": container.office.services,
                "problem_types": container.office.problem_types,
            },
        )

    @router.post("/new", dependencies=[Depends(check_csrf)])
    async def new_submit(
        request: Request,
        user: Annotated[User, Depends(require_page("create_complaint"))],
        scan: Annotated[UploadFile | None, File()] = None,
    ) -> Response:
        """File a complaint an officer took in person, through the same rules as every channel."""
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        data = await scan.read(MAX_SCAN_BYTES + 1) if scan is not None and scan.filename else None

        try:
            tracking = await run_in_threadpool(
                create_from_form,
                container,
                user=user,
                form=form,
                scan=data,
                scan_name=scan.filename if scan is not None else None,
                scan_type=scan.content_type if scan is not None else None,
            )
        except ValueError as exc:
            return page(
                request,
                "new.html",
                {
                    "officer_channels": channels.OFFICER_CHANNELS,
                    "error": str(exc),
                    "form": form,
                    "services": container.office.services,
                    "problem_types": container.office.problem_types,
                },
                status_code=400,
            )
        return RedirectResponse(f"/inbox/c/{tracking}?done=created", status_code=303)

    @router.get("/files/{name}")
    def scan_file(name: str, user: Annotated[User, Depends(require_page("view_personal"))]) -> Response:
        """Serve an uploaded scan (a letter carries personal data: logged like any other view)."""
        if not _SAFE_NAME.match(name):
            raise HTTPException(status_code=404)
        path = container.storage_dir() / "scans" / name
        if not path.is_file():
            raise HTTPException(status_code=404)
        with db.write_session(container.engine) as s:
            url = f"/inbox/files/{name}"
            message = s.exec(select(Message).where(Message.attachments.contains(url))).first()  # type: ignore[attr-defined]
            complaint = s.get(Complaint, message.complaint_id) if message and message.complaint_id else None
            if complaint is not None and not auth.may_see(container, user, complaint):
                raise HTTPException(status_code=404)  # another office's letter: not told it exists
            if complaint is not None and complaint.anonymous and not can(user, "view_anonymous"):
                raise HTTPException(status_code=403)
            log_access(s, user=user, complaint=complaint, what="scan", via="web", now=container.now())
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return attachment_response(path, content_type=content_type, filename=name)

    @router.get("/c/{tracking}/media/{message_id}/{position}")
    def media_file(
        tracking: str,
        message_id: int,
        position: int,
        user: Annotated[User, Depends(require_page("view_personal"))],
    ) -> Response:
        """Serve an attachment kept in the attachment store: known images inline, the rest as downloads."""
        root = container.storage_dir().resolve()
        with db.write_session(container.engine) as s:
            complaint = load_complaint(s, tracking, container=container, user=user)
            if complaint.anonymous and not can(user, "view_anonymous"):
                raise HTTPException(status_code=403)
            message = s.get(Message, message_id)
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
            log_access(s, user=user, complaint=complaint, what="media", via="web", now=container.now())
        assert isinstance(item, dict)
        return attachment_response(
            path,
            content_type=str(item.get("content_type") or "application/octet-stream"),
            filename=str(item.get("filename") or path.name),
        )

    @router.get("/dashboard")
    def dashboard_page(
        request: Request, user: Annotated[User, Depends(require_page("dashboard"))]
    ) -> Response:
        """Show the managers' figures with small charts."""
        with db.session(container.engine) as s:
            offices = auth.visible_offices(container, user, request.query_params.get("office"))
            home = auth.home_office(container, user)
            figures = queries.dashboard(s, office=home, now=container.now(), offices=offices)
        lang = auth.current_session(request).lang
        t = translator(lang)
        problem_names = {
            p.code: (p.name if lang == "id" else p.name_en) for p in container.office.problem_types
        }
        charts = {
            "by_channel": queries.bar_chart_svg(
                [(_channel_label(k), n) for k, n in figures["by_channel"]], title=t("dash.by_channel")
            ),
            "by_problem_type": queries.bar_chart_svg(
                [(problem_names.get(k, t("dash.unclassified")), n) for k, n in figures["by_problem_type"]],
                title=t("dash.by_problem"),
            ),
            "by_officer": queries.bar_chart_svg(figures["by_officer"], title=t("dash.by_officer")),
        }
        return page(request, "dashboard.html", {"f": figures, "charts": charts})

    @router.get("/alerts")
    def alerts_page(request: Request, user: Annotated[User, Depends(require_page("view_queue"))]) -> Response:
        """Show the deadline alerts meant for this user or their role, newest first; mark them seen."""
        now = container.now()
        offices = auth.visible_offices(container, user, request.query_params.get("office"))
        with db.write_session(container.engine) as s:
            rows = alerts.alerts_for(s, user=user, offices=offices, limit=200)
            found = s.exec(select(Complaint).where(col(Complaint.id).in_({a.complaint_id for a in rows})))
            complaints = {c.id: c for c in found}
            shown = [
                {
                    "alert": a,
                    "complaint": complaints.get(a.complaint_id),
                    "state": alerts.state(
                        checkpoint=a.checkpoint, days_left=a.days_left, occurrence=a.occurrence
                    ),
                    "new": a.seen_at is None,
                }
                for a in rows
            ]
            for a in rows:
                if a.seen_at is None:
                    alerts.mark_seen(s, a, now=now)
        return page(request, "alerts.html", {"alerts": shown, "open_now": queries.OPEN_STATUSES})

    @router.get("/reports")
    def reports_page(request: Request, user: Annotated[User, Depends(require_page("dashboard"))]) -> Response:
        """Offer the period report (E1/E2) as PDF or XLSX for a chosen month, quarter or year."""
        today = container.office.calendar.local_date(container.now())
        return page(request, "reports.html", {"period": f"{today.year}-{today.month:02d}", "error": None})

    @router.get("/reports/download")
    def report_download(
        request: Request,
        user: Annotated[User, Depends(require_page("dashboard"))],
        period: str = "",
        format: str = "pdf",
    ) -> Response:
        """Build the report of a period and send it as a download (the same files as ``aduan report``)."""
        if format not in ("pdf", "xlsx"):
            raise HTTPException(status_code=400, detail="format must be pdf or xlsx")
        try:
            chosen = evaluation.parse_period(period)
        except ValueError:
            t = translator(auth.current_session(request).lang)
            return page(
                request, "reports.html", {"period": period[:20], "error": t("r.bad_period")}, status_code=400
            )
        office = auth.home_office(container, user)
        with db.session(container.engine) as s:
            report = evaluation.build_report(
                s, office, chosen, as_of=evaluation.default_as_of(office, chosen, container.now())
            )
        data = evaluation.export(report, format)
        name = f"laporan-pengaduan-{office.code}-{chosen.label}.{format}"
        media = {
            "pdf": "application/pdf",
            "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }[format]
        return Response(
            data,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    return router


#: How many recent records the complaint page compares by words (the full R6c search reads 2,000).
PAGE_TEXT_CANDIDATES = 300


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


def _staff_value(names: dict[int, str], field: str | None, value: str | None) -> str:
    """Show a staff id in the event log as the person's name."""
    if value and field in ("claimed_by_id", "assignee_id", "apip_approved_by_id") and value.isdigit():
        return names.get(int(value), value)
    return value or ""


#: Images shown inline, with the first bytes each must start with (a declared type is not trusted).
#: Everything else, SVG and HTML above all (script on our origin), is sent as a download.
INLINE_IMAGES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


def attachment_response(path: Path, *, content_type: str, filename: str) -> Response:
    """Send a stored file: a known image inline when its bytes agree, anything else as a download."""
    from urllib.parse import quote

    ctype = content_type.split(";")[0].strip().lower()
    with path.open("rb") as fh:
        head = fh.read(16)
    magic = INLINE_IMAGES.get(ctype, ())
    inline = any(head.startswith(m) for m in magic) and (ctype != "image/webp" or head[8:12] == b"WEBP")
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename)[:100] or "lampiran"
    disposition = (
        f'{"inline" if inline else "attachment"}; filename="{ascii_name}"; '
        f"filename*=UTF-8''{quote(filename[:100])}"
    )
    return FileResponse(
        path,
        media_type=ctype if inline else "application/octet-stream",
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",  # personal data: not kept in shared or disk caches
        },
    )


def _safe_next(target: str) -> str:
    # Only paths inside the inbox: an open redirect would let a phishing link borrow our login page.
    return target if target.startswith("/inbox") and "//" not in target and "\\" not in target else "/inbox"


def _statuses() -> list[str]:
    from intake import models

    return [getattr(models, n) for n in dir(models) if n.startswith("STATUS_")]


def _filter_qs(query: queries.QueueQuery) -> str:
    from urllib.parse import urlencode

    return urlencode({**query.filters, **({"q": query.q} if query.q else {})})


def _reporter_language(session: Session, complaint: Complaint) -> str:
    reporter = session.get(Reporter, complaint.reporter_id) if complaint.reporter_id else None
    return reporter.language if reporter and reporter.language in ("id", "en") else "id"


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
    wf = workflow()
    kw: dict[str, Any] = {"actor": actor, "now": now}

    def field(name: str) -> str | None:
        value = (form.get(name) or "").strip()
        return value or None

    if action == "claim":
        return wf.claim(session, complaint, **kw)
    if action == "start_review":
        if complaint.claimed_by_id not in (None, actor.id):
            other = session.get(User, complaint.claimed_by_id)
            raise ReplyConflict(f"being handled by {other.full_name if other else '?'}: claim it first")
        return wf.start_review(session, complaint, **kw)
    if action == "reject_apip":
        return wf.reject_apip(session, complaint, reason=field("reason") or "", **kw)
    if action == "forward":
        return wf.forward_saran(session, complaint, **kw)
    if action == "release":
        return wf.release(session, complaint, **kw)
    if action == "assign":
        assignee = session.get(User, int(form.get("assignee_id") or 0))
        if assignee is None or not auth.works_for(container, assignee, complaint.office):
            raise ValueError("choose a member of staff of this office to assign")
        return wf.assign(session, complaint, assignee=assignee, **kw)
    if action == "reply":
        return _reply(session, complaint, form=form, actor=actor, now=now)
    if action == "note":
        text = field("text")
        if not text:
            raise ValueError("the note is empty")
        return wf.add_note(session, complaint, text=text, **kw)
    if action == "classify":
        return wf.set_classification(
            session, complaint, service_code=field("service_code"), problem_type=field("problem_type"), **kw
        )
    if action == "review":
        return wf.set_review(
            session,
            complaint,
            core_problem=field("core_problem"),
            standard_ref=field("standard_ref"),
            handling_plan=field("handling_plan"),
            **kw,
        )
    if action == "set_track":
        follow_up = field("agency_follow_up_date")
        return wf.set_track(
            session,
            complaint,
            track=field("track"),
            agency=field("agency"),
            agency_liaison=field("agency_liaison"),
            agency_follow_up_date=dt.date.fromisoformat(follow_up) if follow_up else None,
            **kw,
        )
    if action == "change_kind":
        return wf.change_kind(session, complaint, kind=field("kind"), reason=field("reason") or "", **kw)
    if action == "escalate":
        staff = roles.stored_codes(complaint.office, container.primary.code)  # its office's superiors
        return wf.escalate(session, complaint, note=field("note"), offices=staff, **kw)
    if action == "request_apip":
        return wf.request_apip(session, complaint, note=field("note") or "", **kw)
    if action == "approve_apip":
        return wf.approve_apip(session, complaint, **kw)
    if action == "report_up":
        staff = roles.stored_codes(complaint.office, container.primary.code)
        return wf.report_up(session, complaint, offices=staff, **kw)
    if action == "transition":
        return wf.transition(session, complaint, to=field("to"), note=field("note"), **kw)
    if action == "close":
        return wf.close(session, complaint, **kw)
    if action == "reopen":
        return wf.reopen(session, complaint, reason=field("reason") or "", **kw)
    if action == "merge":
        into = session.exec(
            select(Complaint).where(Complaint.tracking_number == (field("into") or "").upper())
        ).first()
        if into is None or into.id == complaint.id or into.office != complaint.office:
            raise ValueError("give the tracking number of another record of this office to merge into")
        return wf.merge(session, complaint, into=into, **kw)
    raise ValueError(f"unknown action {action!r}")


def _reply(
    session: Session, complaint: Complaint, *, form: dict[str, str], actor: User, now: dt.datetime
) -> OutboxMessage:
    """Send a reply on the citizen's channel; refuse when another officer replied or claimed meanwhile."""
    workflow().ensure_can_reply(complaint)  # a closed record is reopened before anyone writes
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
        return workflow().answer(session, complaint, actor=actor, now=now, text=text, enqueue=enqueue)  # type: ignore[no-any-return]
    channel = workflow().reply_channel(complaint)
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
                _scan_message(
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


def _scan_message(
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
