"""Login, lockout, CSRF, session expiry and forged cookies of the inbox."""

from __future__ import annotations

import re
import time

import argon2
import pytest
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


def _attempt_from(app: object, address: str, username: str, password: str) -> TestClient:
    """Try one login from ``address``; return the client (its last answer in ``.last``)."""
    client = TestClient(app, follow_redirects=False, client=(address, 40000))  # type: ignore[arg-type]
    page = client.get("/inbox/login")
    client.last = client.post(  # type: ignore[attr-defined]
        "/inbox/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text)}
    )
    return client


def test_failures_throttle_that_address_without_saying_so_and_unknown_names_alike(
    app: object, staff: dict[str, User], clock: object
) -> None:
    attacker = "198.51.100.66"
    answers = {}
    for username in ("officer", "nobody"):
        for _ in range(auth.LOCK_AFTER):
            assert _attempt_from(app, attacker, username, "salah").last.status_code == 401  # type: ignore[attr-defined]
        # Throttled now: the right password is refused too, with the wrong password's very words.
        last = _attempt_from(app, attacker, username, PASSWORD if username == "officer" else "x").last  # type: ignore[attr-defined]
        answers[username] = (last.status_code, re.sub(r'value="[^"]+"', "", last.text))
    assert answers["officer"] == answers["nobody"]  # an existing account is indistinguishable
    assert "dikunci" not in answers["officer"][1]
    clock.advance(minutes=auth.LOCK_MINUTES + 1)  # type: ignore[attr-defined]
    assert _attempt_from(app, attacker, "officer", PASSWORD).last.status_code == 303  # type: ignore[attr-defined]


def test_a_stranger_cannot_lock_an_account_for_its_owner(app: object, staff: dict[str, User]) -> None:
    for _ in range(auth.LOCK_AFTER * 2):
        _attempt_from(app, "198.51.100.66", "officer", "salah")
    owner = _attempt_from(app, "10.20.30.40", "officer", PASSWORD)
    assert owner.last.status_code == 303  # type: ignore[attr-defined]


def test_one_address_is_throttled_across_usernames(app: object, staff: dict[str, User]) -> None:
    for i in range(auth.LOCK_PER_ADDRESS):
        _attempt_from(app, "198.51.100.77", f"tebak{i}", "salah")
    assert _attempt_from(app, "198.51.100.77", "officer", PASSWORD).last.status_code == 401  # type: ignore[attr-defined]


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


def test_a_cookie_copied_before_logout_stops_working_at_logout(app: object, staff: dict[str, User]) -> None:
    browser = TestClient(app, follow_redirects=False)  # type: ignore[arg-type]
    token = login(browser, "officer")
    thief = TestClient(app, follow_redirects=False)  # type: ignore[arg-type]
    thief.cookies.set(auth.SESSION_COOKIE, browser.cookies[auth.SESSION_COOKIE])
    assert thief.get("/inbox").status_code == 200
    browser.post("/inbox/logout", data={"csrf_token": token})
    assert thief.get("/inbox").status_code == 303


@pytest.mark.parametrize("change", ["role", "disabled"])
def test_role_change_or_disabling_ends_existing_sessions(
    client: TestClient, staff: dict[str, User], container: Container, change: str
) -> None:
    login(client, "section_head")
    assert client.get("/inbox").status_code == 200
    with db.write_session(container.engine) as s:
        user = s.exec(select(User).where(User.username == "section_head")).one()
        if change == "role":
            user.role = "officer"
        else:
            user.is_active = False
        s.add(user)
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


def test_passwords_are_stored_as_argon2_hashes(container: Container) -> None:
    with db.write_session(container.engine) as s:
        stored = auth.create_user(s, username="baru", role="officer", password=PASSWORD).password_hash
    assert stored.startswith("$argon2id$")
    # at least OWASP's minimum cost for argon2id (19 MiB, 2 passes); the tests' own staff hash is cheaper
    cost = argon2.extract_parameters(stored)
    assert (cost.memory_cost, cost.time_cost) >= (19 * 1024, 2), cost
    assert auth.verify_password(stored, PASSWORD)
    assert not auth.verify_password(stored, PASSWORD + "x")
