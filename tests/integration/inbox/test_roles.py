"""The role matrix: every role × every page and action → allowed or 403, on the pages and the API."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.container import Container
from inbox.auth import PERMISSIONS, create_token
from inbox.web import ACTION_PERMISSION
from intake import db, roles
from intake.models import User
from tests.integration.inbox.conftest import file_one

#: Page → the permission it needs.
PAGES = {
    "/inbox": "view_queue",
    "/inbox/rows?queue=all": "view_queue",
    "/inbox/c/{t}": "view_complaint",
    "/inbox/c/{t}/timeline": "view_complaint",
    "/inbox/new": "create_complaint",
    "/inbox/dashboard": "dashboard",
}


def form_for(action: str, staff: dict[str, User], other: str) -> dict[str, str]:
    """A plausible form for each action (refusal must not depend on it)."""
    return {
        "assign": {"assignee_id": str(staff["officer"].id)},
        "reply": {"text": "Pengaduan Anda sedang kami proses.", "seen_outbox": "0"},
        "note": {"text": "cek arsip 2025"},
        "classify": {"service_code": "pbg", "problem_type": "waktu"},
        "review": {"core_problem": "izin terlambat", "handling_plan": "klarifikasi"},
        "set_track": {"track": "internal"},
        "change_kind": {"kind": "saran", "reason": "uji"},
        "request_apip": {"note": "perlu pemeriksaan"},
        "transition": {"to": "under_review"},
        "reopen": {"reason": "uji"},
        "merge": {"into": other},
    }.get(action, {})


def expected(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]


@pytest.mark.parametrize("role", list(roles.ROLES))
def test_role_matrix_pages(
    role: str, container: Container, staff: dict[str, User], as_user: Callable[[str], tuple[TestClient, str]]
) -> None:
    client, csrf = as_user(role)
    target = file_one(container)
    for path, permission in PAGES.items():
        r = client.get(path.format(t=target.tracking_number))
        assert (r.status_code != 403) == expected(role, permission), (role, path, r.status_code)
        assert r.status_code in (200, 403), (role, path, r.status_code)
    for action, permission in ACTION_PERMISSION.items():
        c, other = file_one(container), file_one(container, contact="whatsapp:+6281234567999")
        r = client.post(
            f"/inbox/c/{c.tracking_number}/act/{action}",
            data={"csrf_token": csrf, **form_for(action, staff, other.tracking_number)},
        )
        assert (r.status_code != 403) == expected(role, permission), (
            role,
            action,
            r.status_code,
            r.text[:300],
        )
        assert r.status_code in (303, 403, 409), (role, action, r.status_code, r.text[:300])


@pytest.mark.parametrize("role", list(roles.ROLES))
def test_role_matrix_api(role: str, app: FastAPI, container: Container, staff: dict[str, User]) -> None:
    with db.write_session(container.engine) as s:
        token = create_token(s, user=s.get(User, staff[role].id), name="matrix", now=container.now())  # type: ignore[arg-type]
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    target = file_one(container)
    reads = {
        "/api/v1/queues": "view_queue",
        "/api/v1/complaints": "view_queue",
        f"/api/v1/complaints/{target.tracking_number}": "view_complaint",
        "/api/v1/dashboard": "dashboard",
        "/api/v1/outbox/failed": "view_failed",
    }
    for path, permission in reads.items():
        r = client.get(path)
        assert (r.status_code != 403) == expected(role, permission), (role, path, r.status_code)
        assert r.status_code in (200, 403), (role, path, r.status_code, r.text[:300])
    r = client.post(
        "/api/v1/complaints",
        json={
            "channel": "phone",
            "text": "Biaya izin tidak sesuai tarif resmi",
            "reporter_name": "Ani Rahmawati",
            "contact": "+6281234567002",
        },
    )
    assert (r.status_code != 403) == expected(role, "create_complaint"), (role, r.status_code)
    for action, permission in ACTION_PERMISSION.items():
        c, other = file_one(container), file_one(container, contact="whatsapp:+6281234567999")
        r = client.post(
            f"/api/v1/complaints/{c.tracking_number}/actions/{action}",
            json=form_for(action, staff, other.tracking_number),
        )
        assert (r.status_code != 403) == expected(role, permission), (
            role,
            action,
            r.status_code,
            r.text[:300],
        )
        assert r.status_code in (200, 403, 409), (role, action, r.status_code, r.text[:300])


def test_api_without_token_is_401(client: TestClient) -> None:
    assert client.get("/api/v1/queues").status_code == 401
    assert client.get("/api/v1/queues", headers={"Authorization": "Bearer adn_forged"}).status_code == 401


def test_r7c_only_the_head_approves_apip_and_it_sticks(
    container: Container, staff: dict[str, User], as_user: Callable[[str], tuple[TestClient, str]]
) -> None:
    c = file_one(container)
    officer, ocsrf = as_user("officer")
    assert (
        officer.post(
            f"/inbox/c/{c.tracking_number}/act/request_apip",
            data={"csrf_token": ocsrf, "note": "perlu audit"},
        ).status_code
        == 303
    )
    assert (
        officer.post(f"/inbox/c/{c.tracking_number}/act/approve_apip", data={"csrf_token": ocsrf}).status_code
        == 403
    )
    head, hcsrf = as_user("head")
    assert "Setujui APIP" in head.get(f"/inbox/c/{c.tracking_number}").text
    assert (
        head.post(f"/inbox/c/{c.tracking_number}/act/approve_apip", data={"csrf_token": hcsrf}).status_code
        == 303
    )
    assert "APIP disetujui" in officer.get(f"/inbox/c/{c.tracking_number}").text
