"""``aduan dev sign-webhook`` and ``aduan outbox``: the demo webhook verifies; the outbox masks numbers."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from sqlmodel import Session

from app.container import ChannelConfig
from channels import sms, whatsapp
from channels.base import RawRequest
from cli.main import main
from intake import db
from outbound import outbox
from tests.conftest import ROOT, TEST_ENV


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """config.toml on a fresh PostgreSQL database, the test secrets in the environment."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('url = ""', f'url = "{db_url}"')
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ADUAN_CONFIG", str(path))
    monkeypatch.delenv("ADUAN_DATABASE_URL", raising=False)
    monkeypatch.delenv("ADUAN_PUBLIC_BASE_URL", raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def curl_request(command: str) -> RawRequest:
    """Turn the printed curl command back into the request it would send."""
    words = shlex.split(command)
    headers = dict(w.split(": ", 1) for w in (words[i + 1] for i, x in enumerate(words) if x == "-H"))
    body = words[words.index("--data") + 1].encode()
    return RawRequest(body=body, headers=headers, url=words[words.index("-X") + 2])


def test_r2e_sign_webhook_prints_a_curl_that_passes_verification(cli_env: Path, capsys) -> None:
    code, out, _ = run(capsys, "dev", "sign-webhook", "--text", "Lampu MPP mati")
    assert code == 0 and out.startswith("curl ")
    raw = curl_request(out.strip())
    assert raw.url == "http://127.0.0.1:8000/hooks/sms"
    sms.verify(raw, ChannelConfig(name="sms", table={}, secrets=TEST_ENV))
    [message] = sms.parse(raw)
    assert (message.sender, message.text) == ("tel:+6281234567890", "Lampu MPP mati")


def test_r2f_sign_webhook_for_whatsapp_uses_whatsapp_addresses(cli_env: Path, capsys) -> None:
    code, out, _ = run(capsys, "dev", "sign-webhook", "--channel", "whatsapp", "--from", "081311112222")
    assert code == 0
    raw = curl_request(out.strip())
    whatsapp.verify(raw, ChannelConfig(name="whatsapp", table={}, secrets=TEST_ENV))
    assert whatsapp.parse(raw)[0].sender == "whatsapp:+6281311112222"


def test_sign_webhook_for_a_channel_twilio_does_not_sign_is_one_line_exit_2(cli_env: Path, capsys) -> None:
    code, _, err = run(capsys, "dev", "sign-webhook", "--channel", "email")
    assert (
        code == 2
        and err.strip() == "aduan: error: channel 'email' is not signed by Twilio; choose sms or whatsapp"
    )


def test_sign_webhook_without_secret_names_the_variable_and_exits_2(
    cli_env: Path, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("ADUAN_TWILIO_AUTH_TOKEN")
    code, out, err = run(capsys, "dev", "sign-webhook")
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith("aduan: error: environment variable ADUAN_TWILIO_AUTH_TOKEN is not set")


def test_r8_outbox_lists_failed_messages_with_masked_numbers(db_url: str, cli_env: Path, capsys) -> None:
    code, _, _ = run(capsys, "db", "upgrade")
    assert code == 0
    engine = db.create_engine(db_url)
    import datetime as dt

    now = dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC)
    with Session(engine) as s:
        ok = outbox.enqueue(s, channel="sms", to="tel:+6281234567890", text="Diterima", now=now)
        bad = outbox.enqueue(s, channel="sms", to="tel:+6285712345678", text="Jawaban", now=now)
        bad.status, bad.last_error, bad.note = "failed", "Twilio 400 (code 21211)", "no retry"
        s.add(bad)
        s.commit()
        ok_id, bad_id = ok.id, bad.id
    engine.dispose()
    code, out, _ = run(capsys, "outbox", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [bad_id, ok_id]
    assert "6281234567890" not in out and rows[1]["to"] == "tel:+628***90"
    code, out, _ = run(capsys, "outbox", "--failed")
    assert code == 0
    [line] = out.strip().splitlines()
    assert line.startswith(f"#{bad_id}") and "failed" in line and "error: Twilio 400 (code 21211)" in line
