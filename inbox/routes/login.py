"""Logging in and out of the inbox, and choosing its language (``/inbox/login``, ``/logout``, ``/lang``)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from inbox import auth
from inbox.deps import ContainerDep, SessionDep, WebSessionDep, csrf_checked
from inbox.hooks import request_client
from inbox.records import log_access
from inbox.render import page, safe_next
from intake.models import User

log = logging.getLogger("aduan.inbox")

router = APIRouter(prefix="/inbox", include_in_schema=False)


@router.get("/login")
def login_form(request: Request, next: str = "/inbox") -> HTMLResponse:
    """Show the login form."""
    return page(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login", dependencies=[csrf_checked])
def login(
    request: Request,
    container: ContainerDep,
    web: WebSessionDep,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form()] = "/inbox",
) -> Response:
    """Check the password; lock the account after repeated failures."""
    result = auth.authenticate(
        session,
        username=username.strip(),
        password=password,
        now=container.now(),
        address=request_client(request, container),
    )
    if result.user is None:
        # One answer for a wrong password, an unknown name and a throttled attempt alike.
        return page(
            request, "login.html", {"next": safe_next(next), "error": "login.failed"}, status_code=401
        )
    log.info("user #%s logged in", result.user.id)
    # The last login, for the admin page (inbox.routes.admin).
    log_access(session, user=result.user, complaint=None, what="login", via="web", now=container.now())
    response = RedirectResponse(safe_next(next), status_code=303)
    manager = auth.manager_of(request)
    manager.set_cookie(response, manager.login_data(result.user, web.lang))
    return response


@router.post("/logout", dependencies=[csrf_checked])
def logout(web: WebSessionDep, session: SessionDep) -> Response:
    """End the session, and every copy of it (the user's other sessions too)."""
    if web.user is not None:
        found = session.get(User, web.user.id)
        if found is not None:
            auth.end_sessions(session, found)
    response = RedirectResponse("/inbox/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


@router.post("/lang", dependencies=[csrf_checked])
def set_language(
    request: Request,
    web: WebSessionDep,
    lang: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/inbox",
) -> Response:
    """Switch the interface language (Indonesian or English)."""
    data = dict(web.data) | {"l": lang if lang in ("id", "en") else "id"}
    response = RedirectResponse(safe_next(next), status_code=303)
    auth.manager_of(request).set_cookie(response, data)
    return response
