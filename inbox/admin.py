"""Administration pages under ``/inbox/admin``: staff accounts, API tokens and the access log viewer.

Only the ``manage_users`` permission (the admin role) opens them; anyone else gets a 403 page.
Every change (account created, role changed, disabled, enabled, password reset) is written to
the access log as ``<action>#<user id>[:<role>]``, beside the views of personal data it already
holds; logins are there too (``login``), which is where "last login" comes from.

In a province deployment an office's administrator sees and manages the staff of their office
only (another office's account is a 404, as a record of another office is), their tokens and
the access log of their staff only, and adds staff to it;
the province's administrators (``User.office == "*"``) see everyone and choose each account's
office when creating it or later (``/users/<id>/office``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Annotated, Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import object_session
from sqlmodel import Session, select

from app.container import Container
from inbox import auth, i18n
from inbox.auth import can, check_csrf
from inbox.models import AccessLog, ApiToken
from inbox.records import log_access
from inbox.render import page
from intake import db, roles
from intake.models import Complaint, User

log = logging.getLogger("aduan.inbox.admin")

PERMISSION = "manage_users"
LOG_PAGE_SIZE = 50
#: Access-log ``what`` values written by this module (the viewer names them).
ACTIONS = (
    "user_add",
    "user_role",
    "user_disable",
    "user_enable",
    "user_password",
    "user_office",
    "token_revoke",
)
#: ``<action>#<user id>[:<role, or the new office of user_office>]``
_ADMIN_WHAT = re.compile(r"^(?P<action>[a-z_]+)#(?P<uid>\d+)(?::(?P<role>[a-z0-9_*]+))?$")

_log = AccessLog.__table__.c  # type: ignore[attr-defined]


def _guard(request: Request) -> User | Response:
    """Return the logged-in admin, or the response to send instead (login redirect or 403 page)."""
    session = auth.current_session(request)
    if session.user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/inbox/login?next={quote(target, safe='/')}", status_code=303)
    if not can(session.user, PERMISSION):
        return page(request, "admin_forbidden.html", {}, status_code=403)
    return session.user


def _audit(s: Session, *, admin: User, action: str, target: User, now: dt.datetime, role: str = "") -> None:
    """Write one admin action to the access log (``what`` holds the action and the account's id)."""
    what = f"{action}#{target.id}" + (f":{role}" if role else "")
    log_access(s, user=admin, complaint=None, what=what[:32], via="web", now=now)
    log.info("admin #%s: %s on account #%s", admin.id, action, target.id)


def describe(what: str, names: dict[int, str], lang: str) -> dict[str, str]:
    """Say what an access-log ``what`` means in ``lang``, with the staff account it concerns (if any)."""
    match = _ADMIN_WHAT.match(what)
    kind, target, role = what, "", ""
    if match is not None:
        uid = int(match["uid"])
        kind, target, role = match["action"], names.get(uid, f"#{uid}"), match["role"] or ""
    key = f"admin.what.{kind}"
    label = i18n.t(key, lang) if key in i18n.catalogue() else kind
    if role and role in roles.ROLES:
        role = i18n.t(f"role.{role}", lang)
    return {"label": label, "target": target, "role": role}


def last_logins(s: Session) -> dict[int, dt.datetime]:
    """Return each user's latest login time, from the access log."""
    rows = s.execute(
        sa.select(_log.user_id, sa.func.max(_log.at)).where(_log.what == "login").group_by(_log.user_id)
    ).all()
    return {int(uid): at for uid, at in rows}


def staff_clause(container: Container, admin: User) -> Any:
    """Return a WHERE clause for the accounts ``admin`` sees: every account for the province's
    administrators (and in a deployment of one office), else the staff of their office."""
    offices = auth.visible_offices(container, admin)
    if offices is None:
        return sa.true()
    return sa.or_(*(auth.staff_clause(container, code) for code in offices))


def may_manage(container: Container, admin: User, target: User) -> bool:
    """Tell whether ``admin`` sees and manages ``target`` (else the account is a 404 for them)."""
    offices = auth.visible_offices(container, admin)
    return offices is None or any(auth.works_for(container, target, code) for code in offices)


def office_names(container: Container, lang: str) -> dict[str, str]:
    """Return stored ``User.office`` value → what the page shows (the office's name)."""
    names = {"": container.primary.name, roles.PROVINCE: i18n.t("admin.province", lang)}
    names |= {code: office.name for code, office in container.offices.items()}
    return names


def staff_rows(s: Session, now: dt.datetime, where: Any = None) -> list[dict[str, Any]]:
    """Return the staff accounts (those ``where`` selects, else all) with role, office, last login, lock."""
    logins = last_logins(s)
    out = []
    query = select(User) if where is None else select(User).where(where)
    for user in s.exec(query.order_by(User.username)):  # type: ignore[arg-type]
        assert user.id is not None
        locked = user.locked_until is not None and _aware(user.locked_until) > now
        out.append(
            {
                "user": user,
                "office": getattr(user, "office", None),
                "last_login": logins.get(user.id),
                "locked": locked,
            }
        )
    return out


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def access_log_page(
    s: Session,
    *,
    user_id: int | None,
    complaint_id: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    page_no: int,
    staff_where: Any = None,
) -> tuple[list[AccessLog], bool]:
    """Return one page of the access log, newest first, and whether an older page exists.

    ``staff_where`` (a WHERE clause on ``User``): only the entries of the staff it selects.
    """
    stmt = select(AccessLog)
    if staff_where is not None:
        stmt = stmt.where(AccessLog.user_id.in_(select(User.id).where(staff_where)))  # type: ignore[attr-defined]
    if user_id is not None:
        stmt = stmt.where(AccessLog.user_id == user_id)
    if complaint_id is not None:
        stmt = stmt.where(AccessLog.complaint_id == complaint_id)
    if since is not None:
        stmt = stmt.where(AccessLog.at >= since)  # type: ignore[operator]
    if until is not None:
        stmt = stmt.where(AccessLog.at < until)  # type: ignore[operator]
    stmt = (
        stmt.order_by(_log.at.desc(), _log.id.desc())
        .offset((page_no - 1) * LOG_PAGE_SIZE)
        .limit(LOG_PAGE_SIZE + 1)
    )
    rows = list(s.exec(stmt).all())
    return rows[:LOG_PAGE_SIZE], len(rows) > LOG_PAGE_SIZE


def build_router(container: Container) -> APIRouter:
    """Return the admin pages."""
    router = APIRouter(prefix="/inbox/admin", include_in_schema=False)

    def users_page(
        request: Request, admin: User, *, error: str | None = None, done: str | None = None, status: int = 200
    ) -> Response:
        with db.session(container.engine) as s:
            rows = staff_rows(s, container.now(), staff_clause(container, admin))
        province = auth.is_province_wide(admin)
        lang = auth.current_session(request).lang
        names = office_names(container, lang)
        # What a province administrator may choose: the primary ("" as stored), the others, the province.
        choices = [("", container.primary.name)] + [
            (code, office.name)
            for code, office in container.offices.items()
            if code != container.primary.code
        ]
        context = {
            "rows": rows,
            "roles": list(roles.ROLES),
            "has_office": True,
            "office_names": names,
            "may_move": province and len(container.offices) > 1,
            "office_choices": [*choices, (roles.PROVINCE, names[roles.PROVINCE])],
            "error": error,
            "done": done,
            "me": admin,
        }
        return page(request, "admin_users.html", context, status_code=status)

    @router.get("")
    def users(request: Request) -> Response:
        """List staff accounts with role, office, last login, lock and active state."""
        admin = _guard(request)
        if isinstance(admin, Response):
            return admin
        return users_page(request, admin, done=request.query_params.get("done"))

    @router.post("/users", dependencies=[Depends(check_csrf)])
    def create(
        request: Request,
        username: Annotated[str, Form(max_length=64)],
        role: Annotated[str, Form(max_length=32)],
        full_name: Annotated[str, Form(max_length=200)] = "",
        office: Annotated[str, Form(max_length=32)] = "",
    ) -> Response:
        """Create an account with a generated password, shown once.

        A province administrator chooses its office (``""`` the primary, a code, ``*`` the
        province); an office's administrator adds staff to their own office only.
        """
        admin = _guard(request)
        if isinstance(admin, Response):
            return admin
        office = office.strip()
        if not auth.is_province_wide(admin):
            home = auth.home_office(container, admin).code
            if office and office not in roles.stored_codes(home, container.primary.code):
                return users_page(
                    request, admin, error="you can add staff to your own office only", status=403
                )
            office = admin.office
        password = auth.generate_password()
        now = container.now()
        try:
            with db.write_session(container.engine) as s:
                user = auth.create_user(
                    s,
                    username=username.strip(),
                    role=role,
                    password=password,
                    full_name=full_name.strip(),
                    office=office,
                    known_offices=list(container.offices),
                )
                _audit(s, admin=admin, action="user_add", target=user, now=now, role=role)
        except ValueError as exc:
            return users_page(request, admin, error=str(exc), status=400)
        return _password_page(request, user, password, created=True)

    def _change(request: Request, user_id: int, action: str, apply: Any) -> Response:
        """Load an account, refuse changes to one's own (no admin locks themselves out), apply, log."""
        admin = _guard(request)
        if isinstance(admin, Response):
            return admin
        now = container.now()
        with db.write_session(container.engine) as s:
            target = s.get(User, user_id)
            # Another office's account is "no such account": not told that it exists.
            if target is None or not may_manage(container, admin, target):
                return users_page(request, admin, error="no such account", status=404)
            if target.id == admin.id and action in ("user_role", "user_disable", "user_office"):
                return users_page(
                    request,
                    admin,
                    error="you cannot change your own role or office or disable yourself",
                    status=409,
                )
            try:
                result = apply(target)
            except ValueError as exc:
                s.rollback()
                return users_page(request, admin, error=str(exc), status=400)
            s.add(target)
            _audit(
                s,
                admin=admin,
                action=action,
                target=target,
                now=now,
                role=target.role
                if action == "user_role"
                else target.office
                if action == "user_office"
                else "",
            )
        if isinstance(result, str):  # a new password: shown once, never stored in clear
            return _password_page(request, target, result, created=False)
        return RedirectResponse(f"/inbox/admin?done={action}", status_code=303)

    @router.post("/users/{user_id}/role", dependencies=[Depends(check_csrf)])
    def change_role(request: Request, user_id: int, role: Annotated[str, Form(max_length=32)]) -> Response:
        """Give an account another role."""

        def apply(target: User) -> None:
            target.role = roles.check_role(role)
            roles.check_office(target.role, target.office, list(container.offices))  # "*" needs its roles

        return _change(request, user_id, "user_role", apply)

    @router.post("/users/{user_id}/office", dependencies=[Depends(check_csrf)])
    def change_office(
        request: Request, user_id: int, office: Annotated[str, Form(max_length=32)]
    ) -> Response:
        """Move an account to another office (``""`` the primary, a code, ``*`` the province).

        Only the province's administrators: an office's administrator manages one office.
        """
        admin = _guard(request)
        if isinstance(admin, Response):
            return admin
        if not auth.is_province_wide(admin):
            return page(request, "admin_forbidden.html", {}, status_code=403)

        def apply(target: User) -> None:
            target.office = roles.check_office(target.role, office.strip(), list(container.offices))

        return _change(request, user_id, "user_office", apply)

    @router.post("/users/{user_id}/disable", dependencies=[Depends(check_csrf)])
    def disable(request: Request, user_id: int) -> Response:
        """Disable an account: it cannot log in and its open sessions end at their next request."""

        def apply(target: User) -> None:
            target.is_active = False

        return _change(request, user_id, "user_disable", apply)

    @router.post("/users/{user_id}/enable", dependencies=[Depends(check_csrf)])
    def enable(request: Request, user_id: int) -> Response:
        """Enable a disabled account again."""

        def apply(target: User) -> None:
            target.is_active = True

        return _change(request, user_id, "user_enable", apply)

    @router.post("/users/{user_id}/password", dependencies=[Depends(check_csrf)])
    def reset_password(request: Request, user_id: int) -> Response:
        """Set a new generated password (shown once), unlock the account and end its sessions."""

        def apply(target: User) -> str:
            password = auth.generate_password()
            # A new hash changes the session fingerprint: old sessions of this account end.
            target.password_hash = auth.hash_password(password)
            target.failed_logins = 0
            target.locked_until = None
            held = object_session(target)  # _change's transaction: the tokens go with the old password
            assert isinstance(held, Session)
            auth.revoke_tokens(held, user=target, now=container.now())
            return password

        return _change(request, user_id, "user_password", apply)

    def _password_page(request: Request, user: User, password: str, *, created: bool) -> Response:
        response = page(
            request, "admin_password.html", {"target": user, "password": password, "created": created}
        )
        response.headers["Cache-Control"] = "no-store"  # the one-time password must not stay in a cache
        return response

    @router.get("/access")
    def access_log(request: Request) -> Response:
        """Show who saw which record's personal data and what admins did; filter by user, record, dates."""
        admin = _guard(request)
        if isinstance(admin, Response):
            return admin
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
        user_param = params.get("user", "")
        tracking = params.get("complaint", "").strip().upper()
        page_param = params.get("page", "1")
        page_no = min(int(page_param), 100_000) if page_param.isdigit() and int(page_param) > 0 else 1
        # An office's administrator sees the entries of their office's staff only.
        where = staff_clause(container, admin)
        with db.session(container.engine) as s:
            staff = {
                u.id: (u.full_name or u.username)
                for u in s.exec(select(User).where(where))
                if u.id is not None
            }
            complaint_id: int | None = None
            empty = False
            if tracking:
                found = s.exec(select(Complaint).where(Complaint.tracking_number == tracking)).first()
                complaint_id = found.id if found else None
                empty = found is None
            rows: list[AccessLog] = []
            more = False
            if not empty:
                rows, more = access_log_page(
                    s,
                    user_id=int(user_param) if user_param.isdigit() else None,
                    complaint_id=complaint_id,
                    since=since,
                    until=until,
                    page_no=page_no,
                    staff_where=where,
                )
            ids = {r.complaint_id for r in rows if r.complaint_id}
            _cc = Complaint.__table__.c  # type: ignore[attr-defined]
            numbers: dict[int, str] = (
                {
                    int(i): str(n)
                    for i, n in s.execute(sa.select(_cc.id, _cc.tracking_number).where(_cc.id.in_(ids)))
                }
                if ids
                else {}
            )
        from urllib.parse import urlencode

        filters = {k: params[k] for k in ("user", "complaint", "from", "to") if params.get(k)}
        lang = auth.current_session(request).lang
        entries = [
            {
                "row": r,
                "who": staff.get(r.user_id, f"#{r.user_id}"),
                "tracking": numbers.get(r.complaint_id or 0),
                **describe(r.what, staff, lang),
            }
            for r in rows
        ]
        return page(
            request,
            "admin_access.html",
            {
                "entries": entries,
                "staff": staff,
                "filters": filters,
                "filter_qs": urlencode(filters),
                "page_no": page_no,
                "more": more,
                "error": error,
            },
            status_code=400 if error else 200,
        )

    @router.get("/tokens")
    def tokens(request: Request) -> Response:
        """List the API tokens of the staff this administrator manages: owner, label, dates, state."""
        admin = _guard(request)
        if isinstance(admin, Response):
            return admin
        now = container.now()
        with db.session(container.engine) as s:
            owners = {u.id: u for u in s.exec(select(User).where(staff_clause(container, admin)))}
            rows = s.exec(
                select(ApiToken).where(ApiToken.user_id.in_(list(owners))).order_by(ApiToken.id)  # type: ignore[attr-defined,arg-type]
            ).all()
            items = [{"row": r, "owner": owners[r.user_id], "state": auth.token_state(r, now)} for r in rows]
        response = page(
            request, "admin_tokens.html", {"items": items, "done": request.query_params.get("done")}
        )
        return response

    @router.post("/tokens/{token_id}/revoke", dependencies=[Depends(check_csrf)])
    def revoke_token(request: Request, token_id: int) -> Response:
        """Revoke an API token: it stops working at once."""
        admin = _guard(request)
        if isinstance(admin, Response):
            return admin
        now = container.now()
        with db.write_session(container.engine) as s:
            row = s.get(ApiToken, token_id)
            owner = s.get(User, row.user_id) if row is not None else None
            if row is None or owner is None or not may_manage(container, admin, owner):
                return page(request, "admin_forbidden.html", {}, status_code=404)
            if row.revoked_at is None:
                row.revoked_at = now
                s.add(row)
            _audit(s, admin=admin, action="token_revoke", target=owner, now=now)
        return RedirectResponse("/inbox/admin/tokens?done=token_revoke", status_code=303)

    return router
