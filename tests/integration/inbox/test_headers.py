"""Answers with personal data are not cached, frame nowhere, run only Aduan's scripts; no CDN, no banner."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.container import Container
from inbox import auth
from intake import db
from intake.models import User
from tests.integration.inbox.conftest import file_one

Login = Callable[[str], tuple[TestClient, str]]


def _assert_private(answer: object, where: str) -> None:
    headers = answer.headers  # type: ignore[attr-defined]
    assert headers.get("cache-control") == "no-store", where
    assert headers.get("x-frame-options") == "DENY", where
    csp = headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, where


def test_inbox_pages_and_api_answers_are_no_store_with_csp_and_no_framing(
    container: Container, staff: dict[str, User], as_user: Login
) -> None:
    c = file_one(container)
    officer, _ = as_user("officer")
    for path in ("/inbox", f"/inbox/c/{c.tracking_number}", f"/inbox/c/{c.tracking_number}/timeline"):
        answer = officer.get(path)
        assert answer.status_code == 200, path
        _assert_private(answer, path)
    with db.write_session(container.engine) as s:
        token = auth.create_token(s, user=staff["officer"], name="uji", now=container.now())
    api = TestClient(officer.app, headers={"Authorization": f"Bearer {token}"})
    answer = api.get(f"/api/v1/complaints/{c.tracking_number}")
    assert answer.status_code == 200
    _assert_private(answer, "api")
    status = TestClient(officer.app).get("/status", params={"nomor": c.tracking_number})
    _assert_private(status, "/status")


def test_static_files_keep_their_own_cache_policy(client: TestClient) -> None:
    answer = client.get("/inbox/static/htmx.min.js")
    assert answer.status_code == 200 and answer.headers["cache-control"].startswith("public")


@pytest.mark.parametrize("path", ["/api/docs"])
def test_api_docs_load_their_assets_from_aduan_itself(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/api/docs/") for s in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200, source
    assert "cdn" not in page.text.lower()
