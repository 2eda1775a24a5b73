"""The command line in a province deployment: staff of an office, province staff, one office's view."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlmodel import select

from cli.main import main
from intake import db
from intake.models import User
from tests.conftest import ROOT, TEST_ENV, fixture_path


@pytest.fixture
def province_cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """config.toml with the Bandung example switched on, on a fresh PostgreSQL database."""
    (tmp_path / "offices").mkdir()
    shutil.copy(ROOT / "offices" / "bdg.toml", tmp_path / "offices" / "bdg.toml")
    url = db_url
    text = (ROOT / "config.toml").read_text(encoding="utf-8").replace('url = ""', f'url = "{url}"')
    (tmp_path / "config.toml").write_text(text + '\n[offices]\ndir = "offices"\n', encoding="utf-8")
    monkeypatch.setenv("ADUAN_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("ADUAN_DATABASE_URL", raising=False)
    monkeypatch.delenv("ADUAN_OFFICE", raising=False)
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    return url


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_user_add_office_puts_staff_in_an_office_or_the_province(
    province_cli: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "user", "add", "dedi", "--role", "officer", "--office", "bdg")
    assert code == 0 and "user dedi (officer, bdg) created" in out
    code, out, _ = run(capsys, "user", "add", "apip", "--role", "auditor", "--office", "province")
    assert code == 0 and "(auditor, the province)" in out
    code, out, _ = run(capsys, "user", "add", "rina", "--role", "officer")
    assert code == 0 and "(officer, pwk)" in out
    code, _, err = run(capsys, "user", "add", "budi", "--role", "officer", "--office", "*")
    assert code == 2 and "only admin, auditor may belong to the whole province" in err
    code, _, err = run(capsys, "user", "add", "budi", "--role", "officer", "--office", "bdx")
    assert code == 2 and "unknown office 'bdx'; known: pwk, bdg, *" in err
    with db.session(db.create_engine(province_cli)) as s:
        assert {u.username: u.office for u in s.exec(select(User))} == {
            "dedi": "bdg",
            "apip": "*",
            "rina": "",
        }


def test_aduan_office_makes_a_command_act_for_one_office(
    province_cli: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    file = str(fixture_path("web", "submission__complete.json"))
    monkeypatch.setenv("ADUAN_OFFICE", "bdg")
    # A form file names no address of an office: it is filed for the office the command acts for.
    code, out, err = run(capsys, "ingest", "--channel", "web", file, "--received-at", "2026-03-10T10:00")
    assert code == 0, err
    record = json.loads(out)
    assert (record["tracking_number"], record["due_date"]) == ("BDG-2026-000001", "2026-04-08")
    monkeypatch.setenv("ADUAN_OFFICE", "xyz")
    code, _, err = run(capsys, "list", "--json")
    assert code == 2 and "ADUAN_OFFICE=xyz: unknown office 'xyz'; known: pwk, bdg" in err
