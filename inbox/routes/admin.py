"""Administration pages under ``/inbox/admin``: staff accounts, API tokens and the access log viewer.

Only the ``manage_users`` permission (the admin role) opens them; anyone else gets a 403 page
(``inbox.deps.AdminUser``). What the pages change and show is ``inbox.staff``'s: see there for
the access log entries every change writes and what an office's administrator may see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from app.container import Container
from inbox import auth, staff
from inbox.deps import AdminUser, ContainerDep, SessionDep, WebSessionDep, csrf_checked
from inbox.render import page
from intake import roles
from intake.models import User

router = APIRouter(prefix="/inbox/admin", include_in_schema=False)


def users_page(
    request: Request,
    session: Session,
    container: Container,
    admin: User,
    *,
    error: str | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    """Render the staff page, with an error or a done message."""
    lang = auth.current_session(request).lang
    context = staff.users_context(session, container, admin=admin, lang=lang) | {"error": error, "done": done}
    return page(request, "admin_users.html", context, status_code=status)


def password_page(request: Request, user: User, password: str, *, created: bool) -> Response:
    """Show a new account's or a reset account's password, once."""
    response = page(
        request, "admin_password.html", {"target": user, "password": password, "created": created}
    )
    response.headers["Cache-Control"] = "no-store"  # the one-time password must not stay in a cache
    return response


@router.get("")
def users(
    request: Request, admin: AdminUser, session: SessionDep, container: ContainerDep, done: str | None = None
) -> Response:
    """List staff accounts with role, office, last login, lock and active state."""
    return users_page(request, session, container, admin, done=done)


@router.post("/users", dependencies=[csrf_checked])
def create(
    request: Request,
    admin: AdminUser,
    session: SessionDep,
    container: ContainerDep,
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=32)],
    full_name: Annotated[str, Form(max_length=200)] = "",
    office: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Create an account with a generated password, shown once (``inbox.staff.add_account``)."""
    try:
        user, password = staff.add_account(
            session, container, admin=admin, username=username, role=role, full_name=full_name, office=office
        )
        session.commit()
    except staff.Refused as exc:
        return users_page(request, session, container, admin, error=str(exc), status=exc.status)
    except ValueError as exc:
        session.rollback()
        return users_page(request, session, container, admin, error=str(exc), status=400)
    return password_page(request, user, password, created=True)


@dataclass(frozen=True)
class AccountChange:
    """One form that changes an account (``/users/{user_id}/…``): call it with the action and the change."""

    request: Request
    session: Session
    container: Container
    admin: User
    user_id: int

    def __call__(self, action: str, apply: Callable[[User], str | None]) -> Response:
        """Load the account, refuse changes to one's own (no admin locks themselves out), apply, log."""
        request, session, container, admin = self.request, self.session, self.container, self.admin
        try:
            target = staff.managed_account(
                session, container, admin=admin, user_id=self.user_id, action=action
            )
        except staff.Refused as exc:
            return users_page(request, session, container, admin, error=str(exc), status=exc.status)
        try:
            result = apply(target)
        except ValueError as exc:
            session.rollback()
            return users_page(request, session, container, admin, error=str(exc), status=400)
        session.add(target)
        role = target.role if action == "user_role" else target.office if action == "user_office" else ""
        staff.audit(session, admin=admin, action=action, target=target, now=container.now(), role=role)
        session.commit()
        if isinstance(result, str):  # a new password: shown once, never stored in clear
            return password_page(request, target, result, created=False)
        return RedirectResponse(f"/inbox/admin?done={action}", status_code=303)


def account_change(
    request: Request, user_id: int, admin: AdminUser, session: SessionDep, container: ContainerDep
) -> AccountChange:
    """Gather what every account-changing form needs: its request, session, administrator, account."""
    return AccountChange(request, session, container, admin, user_id)


ChangeDep = Annotated[AccountChange, Depends(account_change)]


def set_active(active: bool) -> Callable[[User], None]:
    """Return the change that enables (``True``) or disables (``False``) an account."""

    def apply(target: User) -> None:
        target.is_active = active

    return apply


@router.post("/users/{user_id}/role", dependencies=[csrf_checked])
def change_role(change: ChangeDep, role: Annotated[str, Form(max_length=32)]) -> Response:
    """Give an account another role."""

    def apply(target: User) -> None:
        target.role = roles.check_role(role)
        roles.check_office(target.role, target.office, list(change.container.offices))  # "*" needs its roles

    return change("user_role", apply)


@router.post("/users/{user_id}/office", dependencies=[csrf_checked])
def change_office(change: ChangeDep, office: Annotated[str, Form(max_length=32)]) -> Response:
    """Move an account to another office (``""`` the primary, a code, ``*`` the province).

    Only the province's administrators: an office's administrator manages one office.
    """
    if not auth.is_province_wide(change.admin):
        return page(change.request, "admin_forbidden.html", {}, status_code=403)

    def apply(target: User) -> None:
        target.office = roles.check_office(target.role, office.strip(), list(change.container.offices))

    return change("user_office", apply)


@router.post("/users/{user_id}/disable", dependencies=[csrf_checked])
def disable(change: ChangeDep) -> Response:
    """Disable an account: it cannot log in and its open sessions end at their next request."""
    return change("user_disable", set_active(False))


@router.post("/users/{user_id}/enable", dependencies=[csrf_checked])
def enable(change: ChangeDep) -> Response:
    """Enable a disabled account again."""
    return change("user_enable", set_active(True))


@router.post("/users/{user_id}/password", dependencies=[csrf_checked])
def reset_password(change: ChangeDep) -> Response:
    """Set a new generated password (shown once), unlock the account and end its sessions and tokens."""
    return change(
        "user_password", lambda target: staff.new_password(change.session, target, now=change.container.now())
    )


@router.get("/access")
def access_log(
    request: Request, admin: AdminUser, session: SessionDep, container: ContainerDep, web: WebSessionDep
) -> Response:
    """Show who saw which record's personal data and what admins did; filter by user, record, dates."""
    params = request.query_params
    tz = container.office.calendar.timezone
    error = None

    def day(name: str, shift: int = 0) -> dt.datetime | None:
        nonlocal error
        value = params.get(name, "")
        if not value:
            return None
        try:
            date = dt.date.fromisoformat(value)
        except ValueError:
            error = "dates are YYYY-MM-DD"
            return None
        return dt.datetime.combine(date + dt.timedelta(days=shift), dt.time(), tz)

    since, until = day("from"), day("to", shift=1)  # "to" includes that whole local day
    page_param = params.get("page", "1")
    page_no = min(int(page_param), 100_000) if page_param.isdigit() and int(page_param) > 0 else 1
    found = staff.access_log_entries(
        session,
        container,
        admin=admin,
        user_param=params.get("user", ""),
        tracking=params.get("complaint", "").strip().upper(),
        since=since,
        until=until,
        page_no=page_no,
        lang=web.lang,
    )
    filters = {k: params[k] for k in ("user", "complaint", "from", "to") if params.get(k)}
    return page(
        request,
        "admin_access.html",
        found | {"filters": filters, "filter_qs": urlencode(filters), "page_no": page_no, "error": error},
        status_code=400 if error else 200,
    )


@router.get("/tokens")
def tokens(
    request: Request, admin: AdminUser, session: SessionDep, container: ContainerDep, done: str | None = None
) -> Response:
    """List the API tokens of the staff this administrator manages: owner, label, dates, state."""
    items = staff.token_items(session, container, admin=admin)
    return page(request, "admin_tokens.html", {"items": items, "done": done})


@router.post("/tokens/{token_id}/revoke", dependencies=[csrf_checked])
def revoke_token(
    request: Request, token_id: int, admin: AdminUser, session: SessionDep, container: ContainerDep
) -> Response:
    """Revoke an API token: it stops working at once."""
    if not staff.revoke_token(session, container, admin=admin, token_id=token_id):
        return page(request, "admin_forbidden.html", {}, status_code=404)
    return RedirectResponse("/inbox/admin/tokens?done=token_revoke", status_code=303)
