"""Login, lockout, CSRF, session expiry and forged cookies of the inbox."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlmodel import select

from app.container import Container
from inbox import auth
from intake import db
from intake.models import User
from tests.integration.inbox.conftest import PASSWORD, csrf_of, login


def _attempt(client: TestClient, username: str, password: str) -> int:
    page = client.get("/inbox/login")
    r = client.post(
        "/inbox/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text)}
    )
    return r.status_code


def test_login_with_right_password_opens_the_inbox(client: TestClient, staff: dict[str, User]) -> None:
    login(client, "officer")
    r = client.get("/inbox")
    assert r.status_code == 200
    assert "Uji officer" in r.text


def test_anonymous_visitor_is_sent_to_login(client: TestClient) -> None:
    r = client.get("/inbox/c/PWK-2026-000001")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/inbox/login?next=/inbox/c/PWK-2026-000001")


def test_wrong_password_is_refused_without_saying_which_part(
    client: TestClient, staff: dict[str, User]
) -> None:
    assert _attempt(client, "officer", "salah") == 401
    assert _attempt(client, "nobody", "salah") == 401
    assert client.get("/inbox").status_code == 303


def test_lockout_after_repeated_failures_even_with_right_password(
    client: TestClient, staff: dict[str, User], container: Container, clock: object
) -> None:
    for _ in range(auth.LOCK_AFTER):
        assert _attempt(client, "officer", "salah") == 401
    page = client.get("/inbox/login")
    r = client.post(
        "/inbox/login", data={"username": "officer", "password": PASSWORD, "csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 401
    assert "dikunci" in r.text
    with db.session(container.engine) as s:
        user = s.exec(select(User).where(User.username == "officer")).one()
        assert user.locked_until is not None
    clock.advance(minutes=auth.LOCK_MINUTES + 1)  # type: ignore[attr-defined]
    assert _attempt(client, "officer", PASSWORD) == 303


def test_login_without_csrf_token_is_refused(client: TestClient, staff: dict[str, User]) -> None:
    client.get("/inbox/login")
    r = client.post("/inbox/login", data={"username": "officer", "password": PASSWORD})
    assert r.status_code == 403


def test_action_with_wrong_csrf_token_is_refused(client: TestClient, staff: dict[str, User]) -> None:
    login(client, "officer")
    r = client.post("/inbox/c/PWK-2026-000001/act/claim", data={"csrf_token": "forged"})
    assert r.status_code == 403
    assert "CSRF" in r.text


def test_csrf_token_of_another_session_is_refused(app: object, staff: dict[str, User]) -> None:
    alice, bob = TestClient(app, follow_redirects=False), TestClient(app, follow_redirects=False)  # type: ignore[arg-type]
    login(alice, "officer")
    bob_token = login(bob, "officer2")
    r = alice.post("/inbox/logout", data={"csrf_token": bob_token})
    assert r.status_code == 403


def test_forged_session_cookie_is_ignored(client: TestClient, staff: dict[str, User]) -> None:
    forged = URLSafeTimedSerializer("wrong-secret", salt="aduan.inbox.session").dumps(
        {"u": staff["head"].id, "c": "x"}
    )
    client.cookies.clear()
    client.cookies.set(auth.SESSION_COOKIE, forged)
    assert client.get("/inbox").status_code == 303


def test_session_expires_after_max_age(
    client: TestClient, staff: dict[str, User], container: Container
) -> None:
    login(client, "officer")
    manager: auth.SessionManager = container.services["inbox.sessions"]

    class Yesterday(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - auth.SESSION_MAX_AGE - 60

    old = URLSafeTimedSerializer(
        manager.serializer.secret_keys[-1], salt="aduan.inbox.session", signer=Yesterday
    )
    user = staff["officer"]
    client.cookies.clear()
    client.cookies.set(auth.SESSION_COOKIE, manager.cookie_value(manager.login_data(user, "id")))
    assert client.get("/inbox").status_code == 200  # the same payload signed now is accepted
    client.cookies.clear()
    client.cookies.set(auth.SESSION_COOKIE, old.dumps(manager.login_data(user, "id")))
    assert client.get("/inbox").status_code == 303


def test_password_change_ends_existing_sessions(
    client: TestClient, staff: dict[str, User], container: Container
) -> None:
    login(client, "officer")
    assert client.get("/inbox").status_code == 200
    with db.write_session(container.engine) as s:
        user = s.exec(select(User).where(User.username == "officer")).one()
        user.password_hash = auth.hash_password("kata-sandi-baru-456")
        s.add(user)
    assert client.get("/inbox").status_code == 303


def test_logout_ends_the_session(client: TestClient, staff: dict[str, User]) -> None:
    token = login(client, "officer")
    assert client.post("/inbox/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/inbox").status_code == 303


def test_next_parameter_cannot_redirect_off_site(client: TestClient, staff: dict[str, User]) -> None:
    page = client.get("/inbox/login?next=//evil.example.test/")
    r = client.post(
        "/inbox/login",
        data={
            "username": "officer",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "//evil.example.test/",
        },
    )
    assert r.headers["location"] == "/inbox"


def test_passwords_are_stored_as_argon2_hashes(staff: dict[str, User]) -> None:
    assert staff["officer"].password_hash.startswith("$argon2id$")
    assert auth.verify_password(staff["officer"].password_hash, PASSWORD)
    assert not auth.verify_password(staff["officer"].password_hash, PASSWORD + "x")
