"""Staff authentication for the inbox: argon2 passwords, signed session cookies, CSRF, lockout, roles.

A session is a cookie signed with ``ADUAN_SESSION_SECRET`` (itsdangerous) holding the user id, a
CSRF token and a fingerprint of the user's password hash, role, office and session generation, so
a password change, a role or office change and a logout (which raises the generation) end every
copy of every session of that user at once; a disabled account has none. It expires
``SESSION_MAX_AGE`` seconds after login. Every POST form carries the CSRF token.

Wrong passwords are throttled per client address (``LOCK_PER_ADDRESS``), per account from one
address (``LOCK_AFTER``) and per account from everywhere (``LOCK_PER_ACCOUNT``), each for
``LOCK_MINUTES``; an unknown username counts as a known one, the answer is the same ("wrong or
too many attempts") and costs the same argon2 check either way, so nobody learns which usernames
exist, and one stranger cannot lock an account for its owner (they hit their address's limit first).
Which role may do what is one table, ``PERMISSIONS``, used by pages and API alike.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import HTTPException, Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import Session, select

from app.container import Container
from inbox.models import ApiToken
from intake import db, roles
from intake.channel_state import FormRateBucket, take_token
from intake.models import Complaint, User
from intake.office import OfficeProfile

log = logging.getLogger("aduan.inbox.auth")

SESSION_COOKIE = "aduan_session"
SESSION_MAX_AGE = 8 * 3600  # one working day
LOCK_AFTER = 5
LOCK_PER_ADDRESS = 20
LOCK_PER_ACCOUNT = 50
LOCK_MINUTES = 15
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
#: The key of the process's ``SessionManager`` in ``Container.services``.
SESSIONS = "inbox.sessions"

_hasher = PasswordHasher()

_HANDLERS = (roles.OFFICER, roles.SECTION_HEAD, roles.DIVISION_HEAD, roles.HEAD)
_MANAGERS = (roles.SECTION_HEAD, roles.DIVISION_HEAD, roles.HEAD)
_ALL = tuple(roles.ROLES)

#: action → roles allowed. Pages, the API and the role-matrix test all read this one table.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view_queue": frozenset(_ALL),
    "view_complaint": frozenset(_ALL),
    # UU 27/2022: the reporter's name and contact; liaisons and admins do not need them.
    "view_personal": frozenset((*_HANDLERS, roles.AUDITOR)),
    # SPEC R5a: an ANONIM reporter's identity only for the heads who may have to act on it.
    "view_anonymous": frozenset((roles.DIVISION_HEAD, roles.HEAD)),
    # Kept in step with intake.workflow.ACTION_ROLES, which checks again on every change.
    "claim": frozenset(_HANDLERS),
    "release": frozenset((*_HANDLERS, roles.ADMIN)),
    "assign": frozenset((*_MANAGERS, roles.ADMIN)),
    "reply": frozenset(_HANDLERS),
    "note": frozenset((*_HANDLERS, roles.LIAISON, roles.ADMIN)),
    "classify": frozenset(_HANDLERS),
    "review": frozenset((*_HANDLERS, roles.LIAISON)),
    "set_track": frozenset(_HANDLERS),
    "change_kind": frozenset(_HANDLERS),
    "escalate": frozenset(_HANDLERS),
    "request_apip": frozenset(_HANDLERS),
    "approve_apip": frozenset((roles.HEAD,)),  # R7c
    "answer": frozenset(_HANDLERS),
    "report_up": frozenset(_HANDLERS),
    "transition": frozenset(_HANDLERS),
    "close": frozenset(_HANDLERS),
    "reopen": frozenset(_HANDLERS),
    "merge": frozenset(_HANDLERS),
    "create_complaint": frozenset(_HANDLERS),
    "view_failed": frozenset((*_HANDLERS, roles.ADMIN)),
    "dashboard": frozenset((*_MANAGERS, roles.AUDITOR, roles.ADMIN)),
    "manage_users": frozenset((roles.ADMIN,)),
}


def can(user: User | None, action: str) -> bool:
    """Tell whether ``user`` may do ``action`` (unknown actions are refused)."""
    return user is not None and user.is_active and user.role in PERMISSIONS.get(action, frozenset())


# -- offices (a province deployment) --------------------------------------------------------------


def is_province_wide(user: User) -> bool:
    """Tell whether ``user`` belongs to the whole province (an auditor or administrator of it)."""
    return user.office == roles.PROVINCE and user.role in roles.PROVINCE_ROLES


def home_office(container: Container, user: User | None) -> OfficeProfile:
    """Return the office ``user`` works for (the primary office for the province's staff)."""
    if user is None or is_province_wide(user):
        return container.primary
    return container.office_of(roles.home_office(user.office, container.primary.code))


def visible_offices(container: Container, user: User, chosen: str | None = None) -> list[str] | None:
    """Return the offices whose records ``user`` sees (None: every record, no filter at all).

    Staff see their own office; the province's auditors and administrators see every office, or
    the one they ``chosen`` among them. A deployment of one office filters nothing.
    """
    if is_province_wide(user):
        return [chosen] if chosen and chosen in container.offices else None
    if len(container.offices) == 1:
        return None
    return [home_office(container, user).code]


def works_for(container: Container, user: User, office: str) -> bool:
    """Tell whether ``user`` is on the staff of ``office`` (anyone, in a deployment of one office)."""
    return len(container.offices) == 1 or user.office in roles.stored_codes(office, container.primary.code)


def staff_clause(container: Container, office: str) -> Any:
    """Return a WHERE clause for the staff of ``office`` (true in a deployment of one office)."""
    if len(container.offices) == 1:
        return sa.true()
    return User.office.in_(roles.stored_codes(office, container.primary.code))  # type: ignore[attr-defined]


def may_see(container: Container, user: User, complaint: Complaint) -> bool:
    """Tell whether ``complaint`` belongs to an office ``user`` sees (else it is a 404 for them)."""
    offices = visible_offices(container, user)
    return offices is None or complaint.office in offices


# -- passwords -----------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """Return an argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Tell whether ``password`` matches the stored hash (False for an empty or broken hash)."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """Return a random password for a new account (shown once)."""
    return secrets.token_urlsafe(12)


def create_user(
    session: Session,
    *,
    username: str,
    role: str,
    password: str,
    full_name: str = "",
    superior_id: int | None = None,
    email: str | None = None,
    office: str = "",
    known_offices: Sequence[str] | None = None,
) -> User:
    """Add a staff account (the caller commits); raise ValueError for a taken name, bad role or office.

    ``office`` is the office they work for (``""`` the primary, ``roles.PROVINCE`` the province's
    auditors and administrators); checked against ``known_offices`` when given.
    """
    roles.check_role(role)
    roles.check_office(role, office, tuple(known_offices) if known_offices is not None else (office,))
    if not username or not username.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise ValueError(f"invalid username {username!r}: letters, digits, '.', '_' and '-' only")
    if session.exec(select(User).where(User.username == username)).first() is not None:
        raise ValueError(f"user {username!r} already exists")
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    user = User(
        username=username,
        role=role,
        full_name=full_name or username,
        password_hash=hash_password(password),
        superior_id=superior_id,
        email=email,
        office=office,
    )
    session.add(user)
    session.flush()
    return user


@dataclass
class LoginResult:
    """The outcome of a login attempt: the user, or None (never says why: wrong or throttled)."""

    user: User | None
    locked: bool = False  # throttled: for the log and tests only, never shown differently


def _throttle_keys(username: str, address: str) -> list[tuple[str, int]]:
    """Return the failure buckets of one attempt with their limits (hashed: no names or addresses)."""

    def digest(value: str) -> str:
        return hashlib.sha256(value.encode()).hexdigest()[:40]

    name = username.strip().lower()
    return [
        (f"login-a:{digest(address)}", LOCK_PER_ADDRESS),
        (f"login-ua:{digest(name + '|' + address)}", LOCK_AFTER),
        (f"login-u:{digest(name)}", LOCK_PER_ACCOUNT),
    ]


def _throttled(session: Session, keys: list[tuple[str, int]], now: dt.datetime) -> bool:
    start = now - dt.timedelta(minutes=LOCK_MINUTES)
    for key, limit in keys:
        row = session.get(FormRateBucket, key)
        if row is not None and row.window_start > start and row.count >= limit:
            return True
    return False


def authenticate(
    session: Session, *, username: str, password: str, now: dt.datetime, address: str = "unknown"
) -> LoginResult:
    """Check a username and password from ``address``, throttling failures (see the module)."""
    keys = _throttle_keys(username, address)
    if _throttled(session, keys, now):
        verify_password(_dummy_hash(), password)  # the same cost as a real check
        log.warning("login throttled")
        return LoginResult(None, locked=True)
    user = session.exec(select(User).where(User.username == username)).first()
    if user is not None and user.is_active and verify_password(user.password_hash, password):
        return LoginResult(user)
    if user is None or not user.is_active:
        verify_password(_dummy_hash(), password)  # same cost as a real check: no user enumeration by timing
    for key, limit in keys:
        take_token(session, key=key, now=now, limit=limit, window=dt.timedelta(minutes=LOCK_MINUTES))
    return LoginResult(None)


@functools.cache
def _dummy_hash() -> str:
    """A hash to check unknown users' passwords against, made at the first login, not at import.

    Hashing costs about as much as a login; at import it slowed every ``aduan`` command.
    """
    return _hasher.hash("not-a-real-password")


# -- sessions ------------------------------------------------------------------------------------


@dataclass
class WebSession:
    """What a request's session cookie says: who (or nobody), the CSRF token, the language."""

    user: User | None
    csrf: str
    lang: str
    data: dict[str, Any]
    fresh: bool = False  # the cookie must be (re)issued with this response


def _fingerprint(user: User) -> str:
    what = f"{user.password_hash}|{user.role}|{user.office}|{user.session_generation}"
    return hashlib.sha256(what.encode()).hexdigest()[:16]


def end_sessions(session: Session, user: User) -> None:
    """End every session of ``user`` (logout: a copied cookie stops working too)."""
    user.session_generation = (user.session_generation or 0) + 1
    session.add(user)


class SessionManager:
    """Sign, read and check session cookies for one process."""

    def __init__(self, container: Container) -> None:
        secret = container.settings.secret("ADUAN_SESSION_SECRET")
        if not secret:
            # Sessions then end with the process and differ between workers: fine for a test run only.
            log.warning("ADUAN_SESSION_SECRET is not set: using a random per-process secret")
            secret = secrets.token_urlsafe(32)
        self.container = container
        self.serializer = URLSafeTimedSerializer(secret, salt="aduan.inbox.session")
        self.secure = container.settings.public_base_url.startswith("https://")

    def read(self, request: Request) -> WebSession:
        """Return the request's session; an absent, forged or expired cookie gives an anonymous one."""
        cached = getattr(request.state, "web_session", None)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        raw = request.cookies.get(SESSION_COOKIE)
        data: dict[str, Any] | None = None
        if raw:
            try:
                data = self.serializer.loads(raw, max_age=SESSION_MAX_AGE)
            except (SignatureExpired, BadSignature):
                data = None
        user = None
        fresh = False
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            data, fresh = {"c": secrets.token_urlsafe(24), "l": request.cookies.get("aduan_lang", "id")}, True
        uid = data.get("u")
        if isinstance(uid, int):
            with db.session(self.container.engine) as s:
                found = s.get(User, uid)
            if found is not None and found.is_active and data.get("f") == _fingerprint(found):
                user = found
            else:
                data, fresh = {"c": secrets.token_urlsafe(24), "l": data.get("l", "id")}, True
        lang = str(data.get("l") or "id")
        session = WebSession(
            user=user,
            csrf=str(data["c"]),
            lang=lang if lang in ("id", "en") else "id",
            data=data,
            fresh=fresh,
        )
        request.state.web_session = session
        return session

    def login_data(self, user: User, lang: str) -> dict[str, Any]:
        """Return the payload of a new session for ``user`` (a new CSRF token: no fixation)."""
        return {"u": user.id, "f": _fingerprint(user), "c": secrets.token_urlsafe(24), "l": lang}

    def cookie_value(self, data: dict[str, Any]) -> str:
        """Sign a session payload."""
        return self.serializer.dumps(data)

    def set_cookie(self, response: Any, data: dict[str, Any]) -> None:
        """Attach the signed session cookie to a response (HttpOnly, SameSite=Lax)."""
        response.set_cookie(
            SESSION_COOKIE,
            self.cookie_value(data),
            max_age=SESSION_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path="/",
        )


# -- FastAPI dependencies -------------------------------------------------------------------------


def manager_of(request: Request) -> SessionManager:
    """Return the process's SessionManager (made by ``inbox.app.create_app``)."""
    return request.app.state.container.services[SESSIONS]  # type: ignore[no-any-return]


def current_session(request: Request) -> WebSession:
    """Dependency: the request's session (anonymous when not logged in)."""
    return manager_of(request).read(request)


def require_page(action: str) -> Callable[[Request], User]:
    """Dependency for pages: the logged-in user allowed to do ``action``; login redirect or 403."""

    def dependency(request: Request) -> User:
        session = current_session(request)
        if session.user is None:
            raise HTTPException(status_code=303, headers={"Location": login_url(request)})
        if not can(session.user, action):
            raise HTTPException(status_code=403, detail=f"role {session.user.role} may not {action}")
        return session.user

    dependency.__name__ = f"require_{action}"
    return dependency


async def check_csrf(request: Request) -> None:
    """Dependency for every POST form: the CSRF token must match the session's (403 otherwise)."""
    session = current_session(request)
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, session.csrf):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong; reload the page")


def login_url(request: Request) -> str:
    """Return the login page's address that leads back to the requested page afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/inbox/login?next={quote(target, safe='/')}"


# -- API tokens ----------------------------------------------------------------------------------


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def token_hash(token: str) -> str:
    """Return the stored form of an API token (sha256 hex: the token itself is never kept)."""
    return hashlib.sha256(token.encode()).hexdigest()


#: Days an API token works unless told otherwise (``aduan token add --days``).
TOKEN_DAYS = 90


def create_token(
    session: Session, *, user: User, name: str, now: dt.datetime, days: int | None = TOKEN_DAYS
) -> str:
    """Create an API token for ``user`` that expires after ``days`` (None: never); return it once.

    Only its hash is stored.
    """
    assert user.id is not None
    token = "adn_" + secrets.token_urlsafe(32)
    expires = now + dt.timedelta(days=days) if days else None
    session.add(
        ApiToken(name=name, user_id=user.id, token_hash=token_hash(token), created_at=now, expires_at=expires)
    )
    return token


def token_state(row: ApiToken, now: dt.datetime) -> str:
    """Say whether a token works: ``active``, ``expired`` or ``revoked``."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and _utc(row.expires_at) <= now:
        return "expired"
    return "active"


def revoke_tokens(session: Session, *, user: User, now: dt.datetime) -> int:
    """Revoke every live API token of ``user`` (a password reset: the tokens go with the password)."""
    rows = session.exec(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))  # type: ignore[union-attr]
    ).all()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    return len(rows)


def user_for_token(container: Container, token: str) -> User | None:
    """Return the active user an unrevoked API token belongs to, stamping its last use."""
    with db.write_session(container.engine) as s:
        row = s.exec(select(ApiToken).where(ApiToken.token_hash == token_hash(token))).first()
        now = container.now()
        if row is None or row.revoked_at is not None:
            return None
        if token_state(row, now) != "active":
            return None
        user = s.get(User, row.user_id)
        if user is None or not user.is_active:
            return None
        row.last_used_at = now
        s.add(row)
        return user
