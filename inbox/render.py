"""Rendering of the officers' pages: the Jinja2 templates and what every page is given."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

import channels
from app.container import Container
from channels.urns import mask
from inbox import auth, queries
from inbox.i18n import translator

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render a template with what every page needs (user, CSRF token, translator, role check)."""
    session = auth.current_session(request)
    container: Container = request.app.state.container
    base = {
        "request": request,
        "user": session.user,
        "csrf": session.csrf,
        "lang": session.lang,
        "t": translator(session.lang),
        "can": lambda action: auth.can(session.user, action),
        "office": auth.home_office(container, session.user),
        "channel_label": channel_label,
        "fmt_date": fmt_date,
        "fmt_time": lambda moment: fmt_time(moment, container),
        "mask": mask,
        "open_statuses": queries.OPEN_STATUSES,
    }
    response = templates.TemplateResponse(request, name, base | context, status_code=status_code)
    if session.fresh:
        auth.manager_of(request).set_cookie(response, session.data)
    return response


def channel_label(name: str) -> str:
    """Return a channel's name as officers read it."""
    entry = channels.REGISTRY.get(name)
    return entry.label if entry else name


def fmt_date(value: dt.date | None) -> str:
    """Show a date as DD-MM-YYYY."""
    return value.strftime("%d-%m-%Y") if value else "—"


def fmt_time(moment: dt.datetime | None, container: Container) -> str:
    """Show a moment in the office's time zone."""
    if moment is None:
        return "—"
    return moment.astimezone(container.office.calendar.timezone).strftime("%d-%m-%Y %H:%M")


def safe_next(target: str) -> str:
    """Return ``target`` if it is a path inside the inbox, else ``/inbox``."""
    # Only paths inside the inbox: an open redirect would let a phishing link borrow our login page.
    return target if target.startswith("/inbox") and "//" not in target and "\\" not in target else "/inbox"
