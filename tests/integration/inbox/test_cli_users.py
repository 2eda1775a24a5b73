"""``aduan user add``, ``aduan user passwd``, ``aduan token add`` and the idempotent ``aduan demo``."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from app import settings as config_mod
from cli.main import main
from inbox import auth
from inbox.models import ApiToken
from intake import db
from intake.models import Complaint, User
from tests.conftest import ROOT, TEST_ENV


@pytest.fixture
def cli_db(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A config on a fresh PostgreSQL database, selected through ADUAN_CONFIG, with the test secrets."""
    url = db_url
    text = (ROOT / "config.toml").read_text(encoding="utf-8").replace('url = ""', f'url = "{url}"')
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ADUAN_CONFIG", str(path))
    monkeypatch.delenv("ADUAN_DATABASE_URL", raising=False)
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    return url


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def _users(url: str) -> dict[str, User]:
    engine = db.create_engine(url)
    with db.session(engine) as s:
        return {u.username: u for u in s.exec(select(User))}


def test_user_add_reads_the_password_from_stdin(
    cli_db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("rahasia-petugas-1\n"))
    code, out, _ = run(capsys, "user", "add", "dedi", "--role", "officer", "--password-stdin")
    assert code == 0 and "password" not in out
    user = _users(cli_db)["dedi"]
    assert user.role == "officer" and auth.verify_password(user.password_hash, "rahasia-petugas-1")


def test_user_add_without_stdin_prints_a_generated_password_once(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "user", "add", "rina", "--role", "section_head")
    password = re.search(r"password \(shown once\): (\S+)", out).group(1)  # type: ignore[union-attr]
    assert code == 0 and auth.verify_password(_users(cli_db)["rina"].password_hash, password)


def test_user_add_unknown_role_is_one_line_and_exit_2(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "user", "add", "x", "--role", "boss")
    assert code == 2 and err.count("\n") == 1 and "known: officer" in err


def test_user_add_twice_is_refused(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "user", "add", "rina", "--role", "officer")
    code, _, err = run(capsys, "user", "add", "rina", "--role", "officer")
    assert code == 2 and "already exists" in err


def test_demo_is_idempotent_and_prints_the_admin_password_only_when_it_creates_it(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, first, _ = run(capsys, "demo")
    assert code == 0
    password = re.search(r"demo administrator: admin / (\S+)", first).group(1)  # type: ignore[union-attr]
    users = _users(cli_db)
    assert auth.verify_password(users["admin"].password_hash, password)
    assert {u.role for u in users.values()} == {
        "admin",
        "head",
        "division_head",
        "section_head",
        "officer",
        "liaison",
        "auditor",
    }
    assert users["petugas1"].superior_id == users["kasi"].id
    code, second, _ = run(capsys, "demo")
    assert code == 0 and second == "" and password not in second
    engine = db.create_engine(cli_db)
    with db.session(engine) as s:
        complaints = list(s.exec(select(Complaint)))
    assert len(complaints) == 5 and {c.kind for c in complaints} == {"pengaduan", "saran"}


def test_token_add_gives_a_working_api_token(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    from fastapi.testclient import TestClient

    from app.bootstrap import build
    from inbox.app import create_app

    run(capsys, "user", "add", "integrasi", "--role", "auditor")
    code, out, _ = run(capsys, "token", "add", "integrasi", "--label", "dashboard kabupaten")
    token = out.strip()
    assert code == 0 and token.startswith("adn_")
    container = build(config_mod.load(), migrate=False)
    client = TestClient(create_app(container))
    assert client.get("/api/v1/dashboard", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/api/v1/dashboard", headers={"Authorization": "Bearer adn_nope"}).status_code == 401


def _api(cli_db: str) -> Any:
    from fastapi.testclient import TestClient

    from app.bootstrap import build
    from inbox.app import create_app

    return TestClient(create_app(build(config_mod.load(), migrate=False)))


def _works(client: Any, token: str) -> bool:
    answer = client.get("/api/v1/dashboard", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code in (200, 401)
    return bool(answer.status_code == 200)


def test_token_list_and_revoke(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "user", "add", "integrasi", "--role", "auditor")
    _, out, _ = run(capsys, "token", "add", "integrasi", "--label", "dashboard kabupaten")
    token = out.strip()
    code, listed, _ = run(capsys, "token", "list", "--json")
    [item] = json.loads(listed)
    assert code == 0 and item["user"] == "integrasi" and item["label"] == "dashboard kabupaten"
    assert item["state"] == "active" and item["expires_at"] is not None  # tokens expire by default
    assert token not in listed
    client = _api(cli_db)
    assert _works(client, token)
    code, out, _ = run(capsys, "token", "revoke", str(item["id"]))
    assert code == 0 and not _works(client, token)
    assert json.loads(run(capsys, "token", "list", "--json")[1])[0]["state"] == "revoked"
    code, _, err = run(capsys, "token", "revoke", "999")
    assert code == 2 and "no API token 999" in err


def test_token_expires_after_its_days(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "user", "add", "integrasi", "--role", "auditor")
    token = run(capsys, "token", "add", "integrasi", "--days", "1")[1].strip()
    engine = db.create_engine(cli_db)
    with db.write_session(engine) as s:  # a day and a minute later, seen from the token's side
        row = s.exec(select(ApiToken)).one()
        row.expires_at = row.created_at - dt.timedelta(minutes=1)
        s.add(row)
    assert not _works(_api(cli_db), token)
    assert json.loads(run(capsys, "token", "list", "--json")[1])[0]["state"] == "expired"


def test_password_reset_revokes_the_users_tokens(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "user", "add", "integrasi", "--role", "auditor")
    token = run(capsys, "token", "add", "integrasi")[1].strip()
    code, out, _ = run(capsys, "user", "passwd", "integrasi")
    assert code == 0 and "1 API token(s) revoked" in out
    assert not _works(_api(cli_db), token)
