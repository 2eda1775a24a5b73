"""The admin pages: staff accounts (create, role, disable/enable, password reset) and the access log."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.container import Container
from inbox import auth
from inbox.models import AccessLog
from intake import db, roles
from intake.models import User
from tests.conftest import Clock
from tests.integration.inbox.conftest import PASSWORD, csrf_of, file_one, login

Login = Callable[[str], tuple[TestClient, str]]
PAGES = ("/inbox/admin", "/inbox/admin/access", "/inbox/admin/tokens")


def _log(container: Container) -> list[AccessLog]:
    with db.session(container.engine) as s:
        return list(s.exec(select(AccessLog).order_by(AccessLog.id)))  # type: ignore[arg-type]


def _user(container: Container, username: str) -> User:
    with db.session(container.engine) as s:
        return s.exec(select(User).where(User.username == username)).one()


@pytest.mark.parametrize("role", [r for r in roles.ROLES if r != roles.ADMIN])
def test_admin_pages_are_403_pages_for_every_other_role(as_user: Login, role: str) -> None:
    client, csrf = as_user(role)
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 403
        assert "Akses ditolak" in r.text and "<html" in r.text  # a page, not a JSON error
    r = client.post("/inbox/admin/users", data={"csrf_token": csrf, "username": "baru", "role": "admin"})
    assert r.status_code == 403
    assert 'href="/inbox/admin"' not in client.get("/inbox").text  # no menu entry either


def test_admin_pages_need_a_login(client: TestClient, staff: dict[str, User]) -> None:
    r = client.get("/inbox/admin/access?user=1")
    assert r.status_code == 303 and r.headers["location"].startswith("/inbox/login?next=/inbox/admin/access")


def test_an_anonymous_post_to_an_admin_form_is_sent_to_the_login_page(
    container: Container, client: TestClient, staff: dict[str, User]
) -> None:
    """Whoever is not logged in is sent to log in first, even by a form missing its fields (no 422)."""
    csrf = csrf_of(client.get("/inbox/login").text)  # a browser whose login ended keeps its session's token
    officer = staff["officer"].id
    for path, form in (
        (f"/inbox/admin/users/{officer}/role", {}),
        (f"/inbox/admin/users/{officer}/role", {"role": "admin"}),
        (f"/inbox/admin/users/{officer}/office", {}),
        (f"/inbox/admin/users/{officer}/disable", {}),
        ("/inbox/admin/users", {}),
        ("/inbox/admin/users", {"username": "penyusup", "role": "admin"}),
    ):
        r = client.post(path, data={"csrf_token": csrf, **form})
        assert r.status_code == 303, (path, form, r.status_code, r.text[:300])
        assert r.headers["location"] == f"/inbox/login?next={path}", (path, form)
    login_page = client.get(r.headers["location"])
    assert login_page.status_code == 200 and 'name="next" value="/inbox/admin/users"' in login_page.text
    target = _user(container, "officer")
    assert (target.role, target.is_active) == (roles.OFFICER, True)
    with db.session(container.engine) as s:
        assert s.exec(select(User).where(User.username == "penyusup")).first() is None
    assert _log(container) == []  # no admin action was recorded


def test_admin_lists_staff_with_role_last_login_and_lock(
    container: Container, as_user: Login, staff: dict[str, User], app: FastAPI
) -> None:
    login(TestClient(app, follow_redirects=False), "officer")  # a login the list must show
    with db.write_session(container.engine) as s:
        locked = s.get(User, staff["liaison"].id)
        assert locked is not None
        locked.locked_until = container.now() + dt.timedelta(minutes=10)
        s.add(locked)
    admin, _ = as_user("admin")
    html = admin.get("/inbox/admin").text
    rows = dict(re.findall(r'<tr data-user="([^"]+)">(.*?)</tr>', html, re.S))
    assert set(rows) == set(staff)
    assert "10-03-2026 10:00" in rows["officer"]  # last login, local time
    assert 'data-testid="last-login">—<' in rows["auditor"]
    assert 'data-testid="locked"' in rows["liaison"] and 'data-testid="locked"' not in rows["officer"]
    assert 'href="/inbox/admin"' in html


def test_admin_creates_an_account_whose_one_time_password_works(
    container: Container, as_user: Login, app: FastAPI
) -> None:
    admin, csrf = as_user("admin")
    r = admin.post(
        "/inbox/admin/users",
        data={"csrf_token": csrf, "username": "rina", "full_name": "Rina Marlina", "role": "officer"},
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    password = re.search(r'data-testid="one-time-password">([^<]+)<', r.text)
    assert password
    fresh = TestClient(app, follow_redirects=False)
    login(fresh, "rina", password.group(1))
    assert "Rina Marlina" in fresh.get("/inbox").text
    rina = _user(container, "rina")
    assert rina.role == "officer"
    assert [(e.what, e.user_id) for e in _log(container) if e.what.startswith("user_")] == [
        (f"user_add#{rina.id}:officer", _user(container, "admin").id)
    ]
    again = admin.post("/inbox/admin/users", data={"csrf_token": csrf, "username": "rina", "role": "officer"})
    assert again.status_code == 400 and "already exists" in again.text


def test_admin_changes_a_role(container: Container, as_user: Login, staff: dict[str, User]) -> None:
    admin, csrf = as_user("admin")
    r = admin.post(
        f"/inbox/admin/users/{staff['officer'].id}/role", data={"csrf_token": csrf, "role": "head"}
    )
    assert r.status_code == 303
    assert _user(container, "officer").role == "head"
    assert admin.get(r.headers["location"]).text.count("Peran diubah.") == 1
    bad = admin.post(
        f"/inbox/admin/users/{staff['officer'].id}/role", data={"csrf_token": csrf, "role": "raja"}
    )
    assert bad.status_code == 400 and _user(container, "officer").role == "head"
    log = admin.get("/inbox/admin/access").text
    assert "mengubah peran: Uji officer → Kepala DPMPTSP" in log


def test_disabled_account_is_logged_out_and_cannot_log_in(
    container: Container, as_user: Login, staff: dict[str, User], app: FastAPI
) -> None:
    officer, _ = as_user("officer")
    admin, csrf = as_user("admin")
    assert (
        admin.post(f"/inbox/admin/users/{staff['officer'].id}/disable", data={"csrf_token": csrf}).status_code
        == 303
    )
    assert officer.get("/inbox").status_code == 303  # the open session ended
    page = TestClient(app, follow_redirects=False)
    token = csrf_of(page.get("/inbox/login").text)
    r = page.post("/inbox/login", data={"username": "officer", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 401
    assert (
        admin.post(f"/inbox/admin/users/{staff['officer'].id}/enable", data={"csrf_token": csrf}).status_code
        == 303
    )
    login(page, "officer")
    whats = [e.what for e in _log(container) if e.what.startswith("user_")]
    assert whats == [f"user_disable#{staff['officer'].id}", f"user_enable#{staff['officer'].id}"]


def test_admin_cannot_lock_themselves_out(
    container: Container, as_user: Login, staff: dict[str, User]
) -> None:
    admin, csrf = as_user("admin")
    me = staff["admin"].id
    assert admin.post(f"/inbox/admin/users/{me}/disable", data={"csrf_token": csrf}).status_code == 409
    assert (
        admin.post(f"/inbox/admin/users/{me}/role", data={"csrf_token": csrf, "role": "officer"}).status_code
        == 409
    )
    assert _user(container, "admin").is_active and _user(container, "admin").role == "admin"


def test_password_reset_shows_a_new_password_once_and_unlocks(
    container: Container, as_user: Login, staff: dict[str, User], app: FastAPI
) -> None:
    officer, _ = as_user("officer")
    with db.write_session(container.engine) as s:
        user = s.get(User, staff["officer"].id)
        assert user is not None
        user.locked_until = container.now() + dt.timedelta(minutes=15)
        s.add(user)
    admin, csrf = as_user("admin")
    r = admin.post(f"/inbox/admin/users/{staff['officer'].id}/password", data={"csrf_token": csrf})
    password = re.search(r'data-testid="one-time-password">([^<]+)<', r.text)
    assert r.status_code == 200 and password and r.headers["cache-control"] == "no-store"
    assert officer.get("/inbox").status_code == 303  # old session ended with the old password
    fresh = TestClient(app, follow_redirects=False)
    login(fresh, "officer", password.group(1))  # unlocked, and the old password no longer works
    old = TestClient(app, follow_redirects=False)
    token = csrf_of(old.get("/inbox/login").text)
    assert (
        old.post(
            "/inbox/login", data={"username": "officer", "password": PASSWORD, "csrf_token": token}
        ).status_code
        == 401
    )
    assert password.group(1) not in admin.get("/inbox/admin/access").text


def test_admin_forms_need_the_csrf_token(
    container: Container, as_user: Login, staff: dict[str, User]
) -> None:
    admin, _ = as_user("admin")
    r = admin.post(f"/inbox/admin/users/{staff['officer'].id}/disable", data={"csrf_token": "forged"})
    assert r.status_code == 403 and _user(container, "officer").is_active


def test_access_log_filters_by_user_record_and_date_and_pages(
    container: Container, as_user: Login, staff: dict[str, User], clock: Clock
) -> None:
    a = file_one(container, name="Budi Santoso")
    b = file_one(container, name="Siti", contact="whatsapp:+6281234567002")
    officer, _ = as_user("officer")
    auditor, _ = as_user("auditor")
    officer.get(f"/inbox/c/{a.tracking_number}")
    auditor.get(f"/inbox/c/{b.tracking_number}")
    clock.advance(days=1)
    for _ in range(55):
        officer.get(f"/inbox/c/{b.tracking_number}")
    admin, _ = as_user("admin")

    def rows(**params: str) -> list[str]:
        html = admin.get("/inbox/admin/access", params=params).text
        return re.findall(r'<tr data-testid="access-row">(.*?)</tr>', html, re.S)

    by_auditor = rows(user=str(staff["auditor"].id))
    assert [("Uji auditor" in r, b.tracking_number in r) for r in by_auditor if "data pelapor" in r] == [
        (True, True)
    ]
    about_a = rows(complaint=a.tracking_number.lower())
    assert len(about_a) == 1 and "Uji officer" in about_a[0] and "melihat data pelapor" in about_a[0]
    first_day = rows(**{"from": "2026-03-10", "to": "2026-03-10"})
    assert all("10-03-2026" in r for r in first_day) and any(a.tracking_number in r for r in first_day)
    assert not any("11-03-2026" in r for r in first_day)
    assert rows(complaint="PWK-2026-999999") == []
    # 55 views of b the next day: 50 on page 1 (newest first), the rest on page 2.
    page1 = rows(complaint=b.tracking_number)
    page2 = rows(complaint=b.tracking_number, page="2")
    assert len(page1) == 50 and len(page2) == 6 and "11-03-2026" in page1[0] and "10-03-2026" in page2[-1]
    html = admin.get("/inbox/admin/access", params={"complaint": b.tracking_number}).text
    assert f'href="/inbox/admin/access?complaint={b.tracking_number}&amp;page=2"' in html
    assert admin.get("/inbox/admin/access", params={"from": "kemarin"}).status_code == 400


def _api_works(app: FastAPI, token: str) -> bool:
    answer = TestClient(app).get("/api/v1/dashboard", headers={"Authorization": f"Bearer {token}"})
    return bool(answer.status_code == 200)


def test_admin_lists_and_revokes_api_tokens(
    container: Container, as_user: Login, staff: dict[str, User], app: FastAPI
) -> None:
    with db.write_session(container.engine) as s:
        token = auth.create_token(s, user=staff["auditor"], name="dasbor bupati", now=container.now())
    assert _api_works(app, token)
    admin, csrf = as_user("admin")
    listing = admin.get("/inbox/admin/tokens")
    assert listing.status_code == 200 and "dasbor bupati" in listing.text and token not in listing.text
    token_id = re.search(r'data-token="(\d+)"', listing.text)
    assert token_id
    r = admin.post(f"/inbox/admin/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 303 and not _api_works(app, token)
    assert "token_revoke" in _log(container)[-1].what


def test_admin_password_reset_revokes_the_accounts_api_tokens(
    container: Container, as_user: Login, staff: dict[str, User], app: FastAPI
) -> None:
    with db.write_session(container.engine) as s:
        token = auth.create_token(s, user=staff["auditor"], name="dasbor", now=container.now())
    admin, csrf = as_user("admin")
    admin.post(f"/inbox/admin/users/{staff['auditor'].id}/password", data={"csrf_token": csrf})
    assert not _api_works(app, token)  # a token does not outlive the password it was made under
