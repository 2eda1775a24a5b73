"""``aduan telegram-webhook`` against a local Bot API, and ``aduan x-poll`` refusing a disabled channel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli import main as cli
from tests.conftest import ROOT, TEST_ENV
from tests.fakeapi_channels import FakeAPI

TOKEN = TEST_ENV["ADUAN_TELEGRAM_BOT_TOKEN"]
ME = {"id": 123456, "is_bot": True, "first_name": "Aduan", "username": "aduan_test_bot"}


def write_config(db_url: str, tmp_path: Path, *, base_url: str, api: str) -> Path:
    """Write the demo config with only Telegram on, a public https base and a local Bot API."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('public_base_url = "http://127.0.0.1:8000"', f'public_base_url = "{base_url}"')
    text = text.replace('url = ""', f'url = "{db_url}"')
    text = text.replace("enabled = true", "enabled = false")
    text = text.replace('api_base_url = "https://api.telegram.org/bot"', f'api_base_url = "{api}/bot"')
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI and return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test secrets in the environment (the CLI reads the real environment)."""
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ADUAN_PUBLIC_BASE_URL", raising=False)
    monkeypatch.delenv("ADUAN_DATABASE_URL", raising=False)


def test_telegram_webhook_registers_url_and_secret(
    db_url: str, tmp_path: Path, env: None, capsys: Any
) -> None:
    def ok(result: Any) -> Any:
        return lambda req: (200, {"ok": True, "result": result})

    routes = {("POST", f"/bot{TOKEN}/getMe"): ok(ME), ("POST", f"/bot{TOKEN}/setWebhook"): ok(True)}
    with FakeAPI(routes) as api:
        config = write_config(db_url, tmp_path, base_url="https://aduan.example.test", api=api.url)
        code, out, _ = run(["--config", str(config), "telegram-webhook"], capsys)
    assert code == 0 and json.loads(out)["url"] == "https://aduan.example.test/hooks/telegram"
    [call] = api.calls("POST", "/setWebhook")
    assert call["form"]["url"] == ["https://aduan.example.test/hooks/telegram"]
    assert call["form"]["secret_token"] == [TEST_ENV["ADUAN_TELEGRAM_WEBHOOK_SECRET"]]
    assert json.loads(call["form"]["allowed_updates"][0]) == ["message", "edited_message"]


def test_telegram_webhook_refuses_plain_http(db_url: str, tmp_path: Path, env: None, capsys: Any) -> None:
    config = write_config(db_url, tmp_path, base_url="http://127.0.0.1:8000", api="http://127.0.0.1:9")
    code, out, err = run(["--config", str(config), "telegram-webhook"], capsys)
    assert code == 2 and "https://" in err and out == ""


def test_x_poll_refuses_disabled_channel(db_url: str, tmp_path: Path, env: None, capsys: Any) -> None:
    config = write_config(db_url, tmp_path, base_url="https://aduan.example.test", api="http://127.0.0.1:9")
    code, _, err = run(["--config", str(config), "x-poll"], capsys)
    assert code == 2 and "twitter is not enabled" in err
