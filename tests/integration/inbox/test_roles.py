"""The role matrix: every role × every page, action and API route → allowed or refused.

The expected answers are written here by hand, from docs/inbox.md's role table (which
``test_the_docs_state_the_matrix_these_tests_check`` compares with ``MATRIX``), never read from
the product's own permission table: a change to ``inbox.auth.PERMISSIONS`` that the docs do not
promise (the auditor assigning, a liaison replying, the auditor losing the dashboard) fails here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.container import Container
from inbox.auth import create_token
from intake import db
from intake.models import User
from outbound.outbox import FAILED, enqueue
from tests.conftest import ROOT
from tests.integration.inbox.conftest import file_one

Login = Callable[[str], tuple[TestClient, str]]
COLUMNS = ("officer", "section_head", "division_head", "head", "liaison", "auditor", "admin")
Y, N = True, False
#: capability → allowed for officer, section_head, division_head, head, liaison, auditor, admin.
MATRIX: dict[str, tuple[bool, ...]] = {
    "records": (Y, Y, Y, Y, Y, Y, Y),
    "personal": (Y, Y, Y, Y, N, Y, N),
    "anonymous": (N, N, Y, Y, N, N, N),
    "claim": (Y, Y, Y, Y, N, N, N),
    "release": (Y, Y, Y, Y, N, N, Y),
    "assign": (N, Y, Y, Y, N, N, Y),
    "reply": (Y, Y, Y, Y, N, N, N),
    "answer": (Y, Y, Y, Y, N, N, N),
    "note": (Y, Y, Y, Y, Y, N, Y),
    "classify": (Y, Y, Y, Y, N, N, N),
    "review": (Y, Y, Y, Y, Y, N, N),
    "set_track": (Y, Y, Y, Y, N, N, N),
    "change_kind": (Y, Y, Y, Y, N, N, N),
    "escalate": (Y, Y, Y, Y, N, N, N),
    "request_apip": (Y, Y, Y, Y, N, N, N),
    "approve_apip": (N, N, N, Y, N, N, N),
    "report_up": (Y, Y, Y, Y, N, N, N),
    "status": (Y, Y, Y, Y, N, N, N),
    "merge": (Y, Y, Y, Y, N, N, N),
    "create": (Y, Y, Y, Y, N, N, N),
    "failed": (Y, Y, Y, Y, N, N, Y),
    "dashboard": (N, Y, Y, Y, N, Y, Y),
    "admin": (N, N, N, N, N, N, Y),
}
#: capability → how its row of docs/inbox.md's role table begins.
DOC_ROWS = {
    "records": "queues and record pages",
    "personal": "reporter's name and contact",
    "anonymous": "an ANONIM reporter's identity",
    "claim": "claim",
    "release": "release a claim",
    "assign": "assign",
    "reply": "reply to the citizen",
    "answer": "final answer",
    "note": "internal note",
    "classify": "classify",
    "review": "review",
    "set_track": "set the track",
    "change_kind": "change kind",
    "escalate": "escalate",
    "request_apip": "request APIP",
    "approve_apip": "approve APIP",
    "report_up": "report up",
    "status": "change status, close, reopen",
    "merge": "merge",
    "create": "file a complaint taken in person",
    "failed": "failed outbound messages",
    "dashboard": "dashboard",
    "admin": "administration",
}
#: Action of the record page and the API → the capability it needs (``reply`` with final: answer).
ACTIONS = {
    "claim": "claim",
    "release": "release",
    "assign": "assign",
    "reply": "reply",
    "note": "note",
    "classify": "classify",
    "review": "review",
    "set_track": "set_track",
    "change_kind": "change_kind",
    "escalate": "escalate",
    "request_apip": "request_apip",
    "approve_apip": "approve_apip",
    "report_up": "report_up",
    "transition": "status",
    "close": "status",
    "reopen": "status",
    "merge": "merge",
}
#: Pages (GET) → the capability they need.
PAGES = {
    "/inbox": "records",
    "/inbox/rows?queue=all": "records",
    "/inbox/c/{t}": "records",
    "/inbox/c/{t}/timeline": "records",
    "/inbox/files/{scan}": "personal",
    "/inbox/new": "create",
    "/inbox/dashboard": "dashboard",
    "/inbox/admin": "admin",
    "/inbox/admin/access": "admin",
    "/inbox/admin/tokens": "admin",
}
NAME = "Budi Santoso"
ANONIM_NAME = "Bambang Sutrisno"


def allowed(role: str, capability: str) -> bool:
    return MATRIX[capability][COLUMNS.index(role)]


def test_the_docs_state_the_matrix_these_tests_check() -> None:
    text = (ROOT / "docs" / "inbox.md").read_text(encoding="utf-8")
    table = text.split("<!-- role-table", 1)[1].split("\n\n", 1)[0]
    lines = [line for line in table.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert tuple(header[1:]) == COLUMNS
    documented: dict[str, tuple[bool, ...]] = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        key = next(k for k, start in DOC_ROWS.items() if cells[0].startswith(start))
        documented[key] = tuple(c == "yes" for c in cells[1:])
    assert documented == MATRIX
    assert set(ACTIONS) == {
        "claim", "release", "assign", "reply", "note", "classify", "review", "set_track", "change_kind",
        "escalate", "request_apip", "approve_apip", "report_up", "transition", "close", "reopen", "merge",
    }  # fmt: skip


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


def _failed_message(container: Container) -> str:
    with db.write_session(container.engine) as s:
        row = enqueue(s, channel="sms", to="tel:+6281234567001", text="x", now=container.now())
        row.status, row.last_error = FAILED, "30008: pesan gagal untuk matriks"
        s.add(row)
    return "30008: pesan gagal untuk matriks"


def _scan(container: Container) -> str:
    folder = container.storage_dir() / "scans"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "0123456789abcdef0123456789abcdef.pdf").write_bytes(b"%PDF-1.4 surat warga")
    return "0123456789abcdef0123456789abcdef.pdf"


@pytest.mark.parametrize("role", COLUMNS)
def test_role_matrix_pages(role: str, container: Container, staff: dict[str, User], as_user: Login) -> None:
    client, _ = as_user(role)
    target = file_one(container, name=NAME)
    values = {"t": target.tracking_number, "scan": _scan(container)}
    for path, capability in PAGES.items():
        r = client.get(path.format(**values))
        expected = 200 if allowed(role, capability) else 403
        assert r.status_code == expected, (role, path, r.status_code)
    page = client.get(f"/inbox/c/{target.tracking_number}").text
    assert (NAME in page) == allowed(role, "personal"), role
    hidden = file_one(
        container,
        name=ANONIM_NAME,
        anonymous=True,
        text=f"Nama saya {ANONIM_NAME}, ANONIM. Ada pungli di loket",
    )
    page = client.get(f"/inbox/c/{hidden.tracking_number}").text
    assert "pungli" in page and (ANONIM_NAME in page) == allowed(role, "anonymous"), role
    error = _failed_message(container)
    assert (error in client.get("/inbox?queue=failed").text) == allowed(role, "failed"), role


@pytest.mark.parametrize("role", COLUMNS)
def test_role_matrix_actions(role: str, container: Container, staff: dict[str, User], as_user: Login) -> None:
    client, csrf = as_user(role)
    for action, capability in [*ACTIONS.items(), ("reply_final", "answer")]:
        c, other = file_one(container), file_one(container, contact="whatsapp:+6281234567999")
        name = "reply" if action == "reply_final" else action
        form = form_for(name, staff, other.tracking_number) | (
            {"final": "1"} if action == "reply_final" else {}
        )
        r = client.post(f"/inbox/c/{c.tracking_number}/act/{name}", data={"csrf_token": csrf, **form})
        assert (r.status_code != 403) == allowed(role, capability), (
            role,
            action,
            r.status_code,
            r.text[:300],
        )
        assert r.status_code in (303, 403, 409), (role, action, r.status_code, r.text[:300])
    r = client.post(
        "/inbox/new",
        data={"csrf_token": csrf, "channel": "phone", "text": "Biaya izin tidak sesuai tarif", "name": NAME},
    )
    assert (r.status_code != 403) == allowed(role, "create"), (role, "new", r.status_code)
    r = client.post(
        "/inbox/admin/users", data={"csrf_token": csrf, "username": f"baru_{role}", "role": "officer"}
    )
    assert r.status_code == (200 if allowed(role, "admin") else 403), (role, "admin/users", r.status_code)


@pytest.mark.parametrize("role", COLUMNS)
def test_role_matrix_api(role: str, app: FastAPI, container: Container, staff: dict[str, User]) -> None:
    with db.write_session(container.engine) as s:
        token = create_token(s, user=s.get(User, staff[role].id), name="matrix", now=container.now())  # type: ignore[arg-type]
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    target = file_one(container, name=NAME)
    reads = {
        "/api/v1/queues": "records",
        "/api/v1/complaints": "records",
        f"/api/v1/complaints/{target.tracking_number}": "records",
        "/api/v1/dashboard": "dashboard",
        "/api/v1/outbox/failed": "failed",
    }
    for path, capability in reads.items():
        r = client.get(path)
        assert r.status_code == (200 if allowed(role, capability) else 403), (role, path, r.status_code)
    detail = client.get(f"/api/v1/complaints/{target.tracking_number}").json()
    assert (detail["reporter"]["name"] == NAME) == allowed(role, "personal"), role
    r = client.post(
        "/api/v1/complaints",
        json={
            "channel": "phone",
            "text": "Biaya izin tidak sesuai tarif resmi",
            "reporter_name": "Ani Rahmawati",
        },
    )
    assert (r.status_code != 403) == allowed(role, "create"), (role, r.status_code)
    for action, capability in ACTIONS.items():
        c, other = file_one(container), file_one(container, contact="whatsapp:+6281234567999")
        r = client.post(
            f"/api/v1/complaints/{c.tracking_number}/actions/{action}",
            json=form_for(action, staff, other.tracking_number),
        )
        assert (r.status_code != 403) == allowed(role, capability), (
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
