"""FastAPI dependencies of the web app: the Container, a database session per request, the session
cookie, the logged-in user of a page or the API and what their role allows, the offices they see,
the CSRF check.

Routes name them through the ``Annotated`` aliases below (``ContainerDep``, ``SessionDep``,
``CurrentUser``, …), as the FastAPI full-stack template does; the checks themselves are
``inbox.auth``'s (``PERMISSIONS``, the signed session cookie, the API tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from app.container import Container
from inbox import auth
from inbox.render import page
from intake import db
from intake.models import User
from intake.office import OfficeProfile


def get_container(request: Request) -> Container:
    """Return the wired Container of the app (``create_app`` puts it on ``app.state``)."""
    return request.app.state.container  # type: ignore[no-any-return]


ContainerDep = Annotated[Container, Depends(get_container)]


def get_db(container: ContainerDep) -> Iterator[Session]:
    """Yield the request's database session: committed when the route returns, rolled back if it raises."""
    with db.write_session(container.engine) as session:
        yield session


#: ``scope="function"``: the commit happens before the answer is sent, so the next request sees it.
SessionDep = Annotated[Session, Depends(get_db, scope="function")]

WebSessionDep = Annotated[auth.WebSession, Depends(auth.current_session)]


def current_user(request: Request) -> User:
    """Return the logged-in user of a page; anyone else is sent to the login page (303)."""
    session = auth.current_session(request)
    if session.user is None:
        raise HTTPException(status_code=303, headers={"Location": auth.login_url(request)})
    return session.user


CurrentUser = Annotated[User, Depends(current_user)]


def visible_offices(request: Request, container: ContainerDep, office: str | None = None) -> list[str] | None:
    """Return the offices whose records the logged-in user sees (None: all); ``?office=`` picks one
    for the province's staff (``inbox.auth.visible_offices``)."""
    return auth.visible_offices(container, current_user(request), office)


def home_office(request: Request, container: ContainerDep) -> OfficeProfile:
    """Return the office the logged-in user works for (the primary office for the province's staff)."""
    return auth.home_office(container, auth.current_session(request).user)


VisibleOffices = Annotated[list[str] | None, Depends(visible_offices)]
HomeOffice = Annotated[OfficeProfile, Depends(home_office)]

#: The logged-in user of a page whose role may do the action (else 303 to the login page, or 403).
QueueReader = Annotated[User, Depends(auth.require_page("view_queue"))]
ComplaintReader = Annotated[User, Depends(auth.require_page("view_complaint"))]
PersonalDataReader = Annotated[User, Depends(auth.require_page("view_personal"))]
ComplaintFiler = Annotated[User, Depends(auth.require_page("create_complaint"))]
DashboardReader = Annotated[User, Depends(auth.require_page("dashboard"))]


class ResponseInstead(Exception):
    """Raised by a dependency that answers the request itself (a page instead of the route's)."""

    def __init__(self, response: Response) -> None:
        super().__init__("answered by a dependency")
        self.response = response


def current_admin(request: Request) -> User:
    """Return the logged-in administrator; the login page for nobody, the 403 page for other roles."""
    user = auth.current_session(request).user
    if user is None:
        raise ResponseInstead(RedirectResponse(auth.login_url(request), status_code=303))
    if not auth.can(user, "manage_users"):
        raise ResponseInstead(page(request, "admin_forbidden.html", {}, status_code=403))
    return user


AdminUser = Annotated[User, Depends(current_admin)]

#: Every POST form of the pages carries the session's CSRF token (403 otherwise).
csrf_checked = Depends(auth.check_csrf)


# -- the JSON API ----------------------------------------------------------------------------------

bearer = HTTPBearer(auto_error=False, description="API token from `aduan token add USER`")


def api_user(
    container: ContainerDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    """Return the user an API request's bearer token belongs to (401 without a working token)."""
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(
            status_code=401, detail="bearer token required", headers={"WWW-Authenticate": "Bearer"}
        )
    user = auth.user_for_token(container, creds.credentials)
    if user is None:
        raise HTTPException(
            status_code=401, detail="unknown or revoked token", headers={"WWW-Authenticate": "Bearer"}
        )
    return user


ApiUser = Annotated[User, Depends(api_user)]


def api_allowed(action: str) -> Callable[[User], User]:
    """Dependency for the API: the token's user, if their role may do ``action`` (403 otherwise)."""

    def dependency(user: ApiUser) -> User:
        if not auth.can(user, action):
            raise HTTPException(status_code=403, detail=f"role {user.role} may not {action}")
        return user

    dependency.__name__ = f"api_{action}"
    return dependency
