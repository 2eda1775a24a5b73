"""Staff administration (the service side of ``inbox.routes.admin``): accounts, API tokens, the access log.

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
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from app.container import Container
from inbox import auth, i18n
from inbox.models import AccessLog, ApiToken
from inbox.records import log_access
from intake import roles
from intake.models import Complaint, User

log = logging.getLogger("aduan.inbox.admin")

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


def audit(s: Session, *, admin: User, action: str, target: User, now: dt.datetime, role: str = "") -> None:
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


class Refused(Exception):
    """An administrator's change that is not allowed, with the HTTP status the page answers with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def users_context(session: Session, container: Container, *, admin: User, lang: str) -> dict[str, Any]:
    """Return what the staff page shows ``admin``: the accounts they manage and the offices to choose."""
    rows = staff_rows(session, container.now(), staff_clause(container, admin))
    province = auth.is_province_wide(admin)
    names = office_names(container, lang)
    # What a province administrator may choose: the primary ("" as stored), the others, the province.
    choices = [("", container.primary.name)] + [
        (code, office.name) for code, office in container.offices.items() if code != container.primary.code
    ]
    return {
        "rows": rows,
        "roles": list(roles.ROLES),
        "has_office": True,
        "office_names": names,
        "may_move": province and len(container.offices) > 1,
        "office_choices": [*choices, (roles.PROVINCE, names[roles.PROVINCE])],
        "me": admin,
    }


def add_account(
    session: Session,
    container: Container,
    *,
    admin: User,
    username: str,
    role: str,
    full_name: str,
    office: str,
) -> tuple[User, str]:
    """Create an account with a generated password; return it and the password (shown once).

    A province administrator chooses its office (``""`` the primary, a code, ``*`` the province);
    an office's administrator adds staff to their own office only (``Refused``, 403). ValueError
    for a taken name, a bad role or office.
    """
    office = office.strip()
    if not auth.is_province_wide(admin):
        home = auth.home_office(container, admin).code
        if office and office not in roles.stored_codes(home, container.primary.code):
            raise Refused("you can add staff to your own office only", 403)
        office = admin.office
    password = auth.generate_password()
    user = auth.create_user(
        session,
        username=username.strip(),
        role=role,
        password=password,
        full_name=full_name.strip(),
        office=office,
        known_offices=list(container.offices),
    )
    audit(session, admin=admin, action="user_add", target=user, now=container.now(), role=role)
    return user, password


def managed_account(
    session: Session, container: Container, *, admin: User, user_id: int, action: str
) -> User:
    """Return the account ``admin`` is about to change with ``action``; ``Refused`` when they may not.

    Another office's account is "no such account" (404): not told that it exists. Nobody changes
    their own role or office or disables themselves (409): no administrator locks themselves out.
    """
    target = session.get(User, user_id)
    if target is None or not may_manage(container, admin, target):
        raise Refused("no such account", 404)
    if target.id == admin.id and action in ("user_role", "user_disable", "user_office"):
        raise Refused("you cannot change your own role or office or disable yourself", 409)
    return target


def new_password(session: Session, target: User, *, now: dt.datetime) -> str:
    """Give ``target`` a new generated password (returned once), unlock it, end its sessions and tokens."""
    password = auth.generate_password()
    # A new hash changes the session fingerprint: old sessions of this account end.
    target.password_hash = auth.hash_password(password)
    target.failed_logins = 0
    target.locked_until = None
    auth.revoke_tokens(session, user=target, now=now)  # the tokens go with the old password
    return password


def token_items(session: Session, container: Container, *, admin: User) -> list[dict[str, Any]]:
    """Return the API tokens of the staff ``admin`` manages, with owner and state."""
    now = container.now()
    owners = {u.id: u for u in session.exec(select(User).where(staff_clause(container, admin)))}
    rows = session.exec(
        select(ApiToken).where(ApiToken.user_id.in_(list(owners))).order_by(ApiToken.id)  # type: ignore[attr-defined,arg-type]
    ).all()
    return [{"row": r, "owner": owners[r.user_id], "state": auth.token_state(r, now)} for r in rows]


def revoke_token(session: Session, container: Container, *, admin: User, token_id: int) -> bool:
    """Revoke an API token of a member of staff ``admin`` manages; False when there is no such token."""
    now = container.now()
    row = session.get(ApiToken, token_id)
    owner = session.get(User, row.user_id) if row is not None else None
    if row is None or owner is None or not may_manage(container, admin, owner):
        return False
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
    audit(session, admin=admin, action="token_revoke", target=owner, now=now)
    return True


def access_log_entries(
    session: Session,
    container: Container,
    *,
    admin: User,
    user_param: str,
    tracking: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
    page_no: int,
    lang: str,
) -> dict[str, Any]:
    """Return one page of the access log of the staff ``admin`` manages, described in ``lang``."""
    # An office's administrator sees the entries of their office's staff only.
    where = staff_clause(container, admin)
    staff = {
        u.id: (u.full_name or u.username) for u in session.exec(select(User).where(where)) if u.id is not None
    }
    complaint_id: int | None = None
    empty = False
    if tracking:
        found = session.exec(select(Complaint).where(Complaint.tracking_number == tracking)).first()
        complaint_id = found.id if found else None
        empty = found is None
    rows: list[AccessLog] = []
    more = False
    if not empty:
        rows, more = access_log_page(
            session,
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
            for i, n in session.execute(sa.select(_cc.id, _cc.tracking_number).where(_cc.id.in_(ids)))
        }
        if ids
        else {}
    )
    entries = [
        {
            "row": r,
            "who": staff.get(r.user_id, f"#{r.user_id}"),
            "tracking": numbers.get(r.complaint_id or 0),
            **describe(r.what, staff, lang),
        }
        for r in rows
    ]
    return {"entries": entries, "staff": staff, "more": more}
