"""Fixtures of the inbox tests: the web app on the test database, staff of every role, logged-in clients."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.container import Container
from inbox.app import create_app
from intake import db, roles
from intake.ingest import file_complaint
from intake.models import Complaint, User

PASSWORD = "kata-sandi-uji-123"
#: One demo account per role, named after the role; officer2 is a second officer.
STAFF = {role: role for role in roles.ROLES} | {"officer2": roles.OFFICER}


@functools.cache
def password_hash() -> str:
    """Return an argon2id hash of the test password at the lowest cost, made once.

    ``auth.verify_password`` reads the cost from the hash it checks, so each test login costs
    about 1 ms instead of the production cost's 0.1-0.5 s here (115 logins in the suite). The
    accounts the code creates (``auth.hash_password``) keep the production cost; a test checks it.
    """
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)


@pytest.fixture
def staff(container: Container) -> dict[str, User]:
    """Staff of every role with the ladder officer → section head → division head → head."""
    users: dict[str, User] = {}
    with db.write_session(container.engine) as s:
        for username in (
            "head",
            "division_head",
            "section_head",
            "officer",
            "officer2",
            "liaison",
            "auditor",
            "admin",
        ):
            boss = {
                "division_head": "head",
                "section_head": "division_head",
                "officer": "section_head",
                "officer2": "section_head",
            }.get(username)
            user = User(
                username=username,
                role=STAFF[username],
                full_name=f"Uji {username}",
                password_hash=password_hash(),
                superior_id=users[boss].id if boss else None,
            )
            s.add(user)
            s.flush()
            users[username] = user
    return users


@pytest.fixture
def app(container: Container) -> FastAPI:
    """The whole web application on the test database."""
    return create_app(container)


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    """An anonymous browser."""
    return TestClient(app, follow_redirects=False)


def csrf_of(html: str) -> str:
    """Return the CSRF token of the first form in a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in page"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form and return the CSRF token of the new session."""
    page = client.get("/inbox/login")
    r = client.post(
        "/inbox/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text), "next": "/inbox"},
    )
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/inbox").text)


@pytest.fixture
def as_user(app: FastAPI, staff: dict[str, User]) -> Callable[[str], tuple[TestClient, str]]:
    """Return a function giving a logged-in client and its CSRF token for a username."""

    def make(username: str) -> tuple[TestClient, str]:
        c = TestClient(app, follow_redirects=False)
        return c, login(c, username)

    return make


def file_one(
    container: Container,
    *,
    text: str = "Izin PBG saya belum keluar sudah dua bulan",
    channel: str = "walkin",
    contact: str | None = "whatsapp:+6281234567001",
    name: str | None = "Budi Santoso",
    anonymous: bool = False,
    received_at: dt.datetime | None = None,
) -> Complaint:
    """File a complaint through the one creator of complaints."""
    now = container.now()
    with db.write_session(container.engine) as s:
        return file_complaint(
            session=s,
            office=container.office,
            channel=channel,
            contact_urn=contact,
            text=text,
            received_at=received_at or now,
            now=now,
            reporter_name=name,
            anonymous=anonymous,
        )
