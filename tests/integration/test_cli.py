"""The ``aduan`` command line: due dates, holidays, ingest, list, show, and its error paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from tests.conftest import ROOT, TEST_ENV, fixture_path


@pytest.fixture
def cli_config(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of config.toml pointing at a fresh PostgreSQL database, selected through ADUAN_CONFIG."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('url = ""', f'url = "{db_url}"')
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ADUAN_CONFIG", str(path))
    monkeypatch.delenv("ADUAN_DATABASE_URL", raising=False)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_r4_calendar_due_prints_the_due_date_on_the_last_line(cli_config: Path, capsys) -> None:
    code, out, _ = run(capsys, "calendar", "due", "2026-03-10T09:30")
    assert code == 0
    assert out.strip().splitlines()[-1] == "2026-04-07"


def test_r4_calendar_due_json_takes_offsets_into_account(cli_config: Path, capsys) -> None:
    code, out, _ = run(capsys, "calendar", "due", "2026-03-09T18:30:00Z", "--json")
    assert code == 0
    assert json.loads(out) == {
        "received_at": "2026-03-09T18:30:00+00:00",
        "due_date": "2026-04-07",
        "working_days": 14,
    }


def test_calendar_holidays_lists_sources(cli_config: Path, capsys) -> None:
    code, out, _ = run(capsys, "calendar", "holidays", "2026", "--json")
    days = {d["date"]: d for d in json.loads(out)}
    assert code == 0
    assert days["2026-03-23"]["source"] == "cuti_bersama"
    assert days["2026-12-25"]["source"] == "national"


def test_ingest_web_file_prints_the_record_and_replay_is_a_duplicate(cli_config: Path, capsys) -> None:
    file = str(fixture_path("web", "submission__complete.json"))
    code, out, _ = run(capsys, "ingest", "--channel", "web", file, "--received-at", "2026-03-10T10:00")
    assert code == 0
    first = json.loads(out)
    assert first["tracking_number"] == "PWK-2026-000001" and first["due_date"] == "2026-04-07"
    code, out, _ = run(capsys, "ingest", "--channel", "web", file)
    assert code == 0
    assert json.loads(out)["duplicate"] is True
    code, out, _ = run(capsys, "list", "--json")
    assert [c["tracking_number"] for c in json.loads(out)] == ["PWK-2026-000001"]
    code, out, _ = run(capsys, "show", "PWK-2026-000001", "--json")
    detail = json.loads(out)
    assert detail["kind"] == "pengaduan"
    assert [e["action"] for e in detail["events"]] == ["created"]
    assert set(detail["events"][0]) == {"at", "actor", "action", "field", "old_value", "new_value", "note"}
    assert detail["events"][0]["at"].startswith("2026-")  # an ISO string, as JSON carries it


def test_ingest_unreadable_payload_is_quarantined_with_exit_1(cli_config: Path, capsys) -> None:
    file = str(fixture_path("web", "submission__truncated.json"))
    code, _out, err = run(capsys, "ingest", "--channel", "web", file)
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("quarantined: not a JSON document")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("calendar", "due", "10 Maret"), "is not an ISO-8601 date"),
        (("calendar", "due"), "Missing argument"),
        (("calendar", "holidays", "abc"), "Invalid value"),
        (("ingest", "--channel", "pigeon", "x.json"), "unknown channel 'pigeon'"),
        (("ingest", "--channel", "web", "/nonexistent/file.json"), "file not found"),
        (("ingest", "--channel", "walkin", "x.json"), "entered by officers"),
        (("frobnicate",), "No such command"),
    ],
)
def test_cli_mistakes_give_one_line_and_exit_2(
    cli_config: Path, capsys, args: tuple[str, ...], message: str
) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err


def test_missing_config_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("ADUAN_CONFIG", str(tmp_path / "absent.toml"))
    code, _, err = run(capsys, "calendar", "due", "2026-03-10")
    assert code == 2 and "not found" in err and len(err.strip().splitlines()) == 1


def test_show_unknown_tracking_number_exits_1(cli_config: Path, capsys) -> None:
    code, _, err = run(capsys, "show", "PWK-2026-999999")
    assert code == 1 and "no complaint" in err


def test_installed_console_script_runs(cli_config: Path) -> None:
    exe = Path(sys.executable).with_name("aduan")
    result = subprocess.run(
        [str(exe), "calendar", "due", "2026-03-10"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "2026-04-07"


def test_serve_runs_a_worker_in_the_web_process_unless_told_not_to(
    cli_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from tests.conftest import TEST_ENV

    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ADUAN_WEB_WORKER", raising=False)
    started: list[str | None] = []
    monkeypatch.setattr("ops.logging.configure", lambda settings: None)  # leave the logging as it is
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append(os.environ.get("ADUAN_WEB_WORKER")))
    code, _, _ = run(capsys, "serve", "--workers", "2")
    assert code == 0 and started == [None]  # the web processes run a worker each (config: worker_in_web)
    code, _, _ = run(capsys, "serve", "--no-worker")
    assert code == 0 and started == [None, "0"]  # `aduan worker` processes take the jobs


def _serve_env(monkeypatch: pytest.MonkeyPatch, **extra: str) -> list[dict[str, object]]:
    """Set the test secrets (and ``extra``) and record uvicorn.run's arguments instead of serving."""
    import uvicorn

    from tests.conftest import TEST_ENV

    for name, value in (TEST_ENV | extra).items():
        monkeypatch.setenv(name, value)
    started: list[dict[str, object]] = []
    monkeypatch.setattr("ops.logging.configure", lambda settings: None)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append(kw))
    return started


def test_serve_refuses_the_makefiles_public_demo_secrets(
    cli_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.settings import DEMO_SECRETS

    monkeypatch.delenv("ADUAN_DEMO", raising=False)
    started = _serve_env(monkeypatch, **DEMO_SECRETS)
    code, _, err = run(capsys, "serve")
    assert code == 2 and started == []
    assert "ADUAN_TWILIO_AUTH_TOKEN" in err and len(err.strip().splitlines()) == 1


def test_serve_accepts_the_demo_secrets_when_the_demo_marks_itself(
    cli_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.settings import DEMO_SECRETS

    started = _serve_env(monkeypatch, ADUAN_DEMO="1", **DEMO_SECRETS)
    code, _, _ = run(capsys, "serve")
    assert code == 0 and len(started) == 1
    makefile = (ROOT / "Makefile").read_text()
    assert "DEMO_ENV := ADUAN_DEMO=1" in makefile  # `make run` is the demo that marks itself


def test_served_answers_name_no_software(cli_config: Path, tmp_path: Path) -> None:
    # A real `aduan serve` on a port of this test's range: its answers carry no `server` header.
    import os
    import time

    import httpx

    from tests.conftest import TEST_ENV

    exe = Path(sys.executable).with_name("aduan")
    env = os.environ | TEST_ENV
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", "18161"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        answer = None
        for _ in range(150):
            try:
                answer = httpx.get("http://127.0.0.1:18161/healthz", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    pytest.fail(f"aduan serve exited: {proc.stderr.read() if proc.stderr else ''!r}")
                time.sleep(0.2)
        assert answer is not None and answer.status_code == 200
        assert "server" not in answer.headers
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1:5432/aduan_no_such_database_i17", "does not exist"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/aduan", "does not answer"),
        ("garbage", "URL cannot be read"),
    ],
)
def test_a_database_that_cannot_be_reached_is_one_line_and_exit_1(
    cli_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    # Issue 17, item 11: a new user's wrong URL printed a 100-line traceback.
    monkeypatch.setenv("ADUAN_DATABASE_URL", url)
    code, out, err = run(capsys, "list")
    assert code == 1 and out == ""
    assert err.startswith("aduan: error: ") and says in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


#: Issue 17, item 12: bad invocations a new user tried; each is one line and exit 2, no traceback.
#: (name, arguments given tmp_path, environment given tmp_path, words the line says)
BAD_INVOCATIONS: list[tuple[str, Any, Any, str]] = [
    ("calendar due 9999-12-31", lambda t: ["calendar", "due", "9999-12-31"], None, "outside the years"),
    ("calendar due 0001-01-01", lambda t: ["calendar", "due", "0001-01-01"], None, "outside the years"),
    (
        "purge --before 0001-01-01",
        lambda t: ["purge", "--before", "0001-01-01", "--dry-run"],
        None,
        "outside",
    ),
    ("list --limit huge", lambda t: ["list", "--limit", "99999999999999999999999"], None, "--limit"),
    ("outbox --limit huge", lambda t: ["outbox", "--limit", "99999999999999999999999"], None, "--limit"),
    (
        "report -o into a missing folder",
        lambda t: ["report", "--period", "2026-Q1", "-o", "/nonexistent/dir/r.csv", "--format", "csv"],
        None,
        "does not exist",
    ),
    ("report -o a folder", lambda t: ["report", "--period", "2026-Q1", "-o", str(t)], None, "is a directory"),
    (
        "report --charts a file",
        lambda t: ["report", "--period", "2026-Q1", "--charts", "/etc/passwd"],
        None,
        "a file",
    ),
    (
        "config url = 5",
        lambda t: ["list"],
        lambda t: {"ADUAN_CONFIG": _write(t, "u.toml", b"[office]\ncode = 'pwk'\n[database]\nurl = 5\n")},
        "line 4",
    ),
    (
        "binary config",
        lambda t: ["list"],
        lambda t: {"ADUAN_CONFIG": _write(t, "b.toml", bytes(range(256)))},
        "not a text",
    ),
    ("ADUAN_CONFIG a folder", lambda t: ["list"], lambda t: {"ADUAN_CONFIG": str(t)}, "is a directory"),
    ("empty config", lambda t: ["list"], lambda t: {"ADUAN_CONFIG": _write(t, "e.toml", b"")}, "is empty"),
    (
        "misspelt [officeX]",
        lambda t: ["list"],
        lambda t: {"ADUAN_CONFIG": _write(t, "x.toml", b"# office\n\n[officeX]\ncode = 'pwk'\n")},
        "line 3: unknown table",
    ),
    ("ADUAN_LOG_LEVEL=LOUD", lambda t: ["list"], lambda t: {"ADUAN_LOG_LEVEL": "LOUD"}, "not a log level"),
    (
        "ingest --received-at 9999-12-31T00:00",
        lambda t: [
            "ingest",
            "--channel",
            "email",
            "--received-at",
            "9999-12-31T00:00",
            _write(t, "m.eml", b"From: a@b.c\n\nx"),
        ],
        None,
        "outside the years",
    ),
    # a well-formed number that is not on file is exit 1 (test_show_unknown_tracking_number_exits_1)
    ("show NOPE", lambda t: ["show", "NOPE"], None, "is not a tracking number"),
    ("import mbox /etc/passwd", lambda t: ["import", "mbox", "/etc/passwd"], None, "not an mbox file"),
    (
        "import mbox binary",
        lambda t: ["import", "mbox", _write(t, "x.bin", bytes(range(256)))],
        None,
        "not an mbox",
    ),
    ("ingest /dev/null", lambda t: ["ingest", "--channel", "email", "/dev/null"], None, "not a regular file"),
    ("ingest a folder", lambda t: ["ingest", "--channel", "email", str(t)], None, "is a directory"),
]


@pytest.mark.parametrize(
    ("name", "args", "env", "says"), BAD_INVOCATIONS, ids=[b[0] for b in BAD_INVOCATIONS]
)
def test_a_bad_invocation_is_one_line_and_exit_2_never_a_traceback(
    cli_config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    args: Any,
    env: Any,
    says: str,
) -> None:
    for key, value in (env(tmp_path) if env else {}).items():
        monkeypatch.setenv(key, value)
    code, _, err = run(capsys, *args(tmp_path))
    assert (code, len(err.strip().splitlines())) == (2, 1), err
    assert err.startswith("aduan: error: ") and says in err and "Traceback" not in err, err


def test_serve_with_a_database_that_cannot_be_reached_is_one_line_and_exit_1(
    cli_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 17, item 11: the same at start-up of the service, before any web process starts.
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(
        "ADUAN_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/aduan_no_such_db_i17"
    )
    code, out, err = run(capsys, "serve", "--port", "18172")
    assert code == 1 and "running" not in out
    assert err.startswith("aduan: error: the database does not exist") and len(err.strip().splitlines()) == 1
