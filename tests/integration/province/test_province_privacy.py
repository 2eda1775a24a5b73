"""Province mode: an office's staff see their own office's failed messages and access log only."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.container import Container
from inbox import auth
from inbox.app import create_app
from inbox.records import log_access
from intake import db, roles
from intake.models import User
from outbound.outbox import FAILED, enqueue
from tests.integration.inbox.conftest import login
from tests.integration.province.test_province_followups import PASSWORD, add_user


@pytest.fixture
def app(container: Container) -> FastAPI:
    """The whole web application of the province."""
    return create_app(container)


def _failed_row(container: Container, office: str, error: str) -> None:
    with db.write_session(container.engine) as s:
        row = enqueue(s, channel="sms", to="tel:+6281234567001", text="x", now=container.now(), office=office)
        row.status, row.last_error = FAILED, error
        s.add(row)


def test_failed_messages_are_shown_to_staff_of_their_office_only(
    container: Container,
    app: FastAPI,
    staff: dict[str, User],
) -> None:
    _failed_row(container, "pwk", "30003: gagal di Purwakarta")
    _failed_row(container, "bdg", "30005: gagal di Bandung")
    for username, own, other in (
        ("pwk_officer", "Purwakarta", "Bandung"),
        ("bdg_officer", "Bandung", "Purwakarta"),
    ):
        web = TestClient(app, follow_redirects=False)
        login(web, username, PASSWORD)
        html = web.get("/inbox?queue=failed").text
        assert f"gagal di {own}" in html and f"gagal di {other}" not in html, username


def test_failed_messages_in_the_api_are_of_the_token_owners_office_only(
    container: Container, app: FastAPI, staff: dict[str, User]
) -> None:
    _failed_row(container, "pwk", "30003: gagal di Purwakarta")
    _failed_row(container, "bdg", "30005: gagal di Bandung")
    with db.write_session(container.engine) as s:
        token = auth.create_token(s, user=staff["bdg_officer"], name="uji", now=container.now())
    api = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    errors = [row["last_error"] for row in api.get("/api/v1/outbox/failed").json()]
    assert errors == ["30005: gagal di Bandung"]


def test_office_admin_sees_the_access_log_of_their_office_only(
    container: Container,
    app: FastAPI,
    staff: dict[str, User],
) -> None:
    add_user(container, "bdg_admin", roles.ADMIN, "bdg")
    with db.write_session(container.engine) as s:
        for username in ("pwk_officer", "bdg_officer"):
            log_access(s, user=staff[username], complaint=None, what="search", via="web", now=container.now())
    web = TestClient(app, follow_redirects=False)
    login(web, "bdg_admin", PASSWORD)
    page = web.get("/inbox/admin/access")
    assert page.status_code == 200
    assert "Uji bdg_officer" in page.text and "Uji pwk_officer" not in page.text
