"""A full scenario at DEBUG, then every log line is scanned for the fixtures' personal data (UU 27/2022).

Every fixture of every existing channel goes in (signed webhooks through the app, the pipeline
directly, ``aduan ingest --channel web``), the outbox delivers against a provider that refuses with
the number in its error text, and the records are listed and shown. Then neither the records
as emitted by the code (before redaction) nor the JSON lines written may contain a phone number,
an e-mail address, a name or the message text of any fixture.
"""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import channels
from app.bootstrap import build
from app.settings import from_dict
from channels.base import RawRequest, UnsupportedPayload
from channels.urns import urn_path
from cli.main import main
from inbox.app import create_app
from jobs.pipeline import receive
from ops import logging as logging_setup
from outbound import outbox
from tests.conftest import FIXTURES, ROOT, TEST_ENV
from tests.fakeapi import FakeAPI, Reply
from tests.integration.ops.util import enable_existing
from tests.integration.security.test_webhook_signatures import PUBLIC, ROUTES, _webhook_paths

WEB_SUBMISSION = {
    "name": "Wulan Sekarsari",
    "contact": "wulan.sekar@example.test",
    "text": "Petugas parkir di kantor meminta uang sepuluh ribu",
}


class Snapshot(logging.Handler):
    """Keep every record's text (message, extras and traceback) at the moment it is emitted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        extras = {k: v for k, v in vars(record).items() if k not in logging_setup._STANDARD}
        text = record.getMessage() + " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


def _content_type(path: Path) -> str:
    return {
        ".json": "application/json",
        ".form": "application/x-www-form-urlencoded",
        ".eml": "message/rfc822",
    }.get(path.suffix, "application/octet-stream")


def _personal_values(channel: str, path: Path) -> set[str]:
    """The personal data a fixture carries: sender address, names, message text."""
    try:
        messages = channels.load(channel).parse(
            RawRequest(body=path.read_bytes(), headers={"content-type": _content_type(path)})
        )
    except UnsupportedPayload:
        return set()
    values: set[str] = set()
    for m in messages:
        if not m.sender.startswith(("web:",)):
            address = urn_path(m.sender)
            values |= {address, re.sub(r"\D", "", address) if "@" not in address else address}
        values |= {v for v in (m.sender_name, m.reporter_name) if v}
        if len(m.text.strip()) >= 12:
            values.add(m.text.strip()[:40])
    return {v for v in values if len(v) >= 6}


@pytest.fixture
def scan(
    config_data: dict[str, Any], tmp_path: Path, engine: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> Any:
    """Logging as in production, at DEBUG, captured twice: raw records and the written JSON lines."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {n: logging.getLogger(n).level for n in logging_setup.QUIET_LOGGERS}
    stream = io.StringIO()
    enable_existing(config_data)
    config_data["office"]["public_base_url"] = PUBLIC
    config_data.setdefault("storage", {})["attachments_dir"] = str(tmp_path / "att")
    settings = from_dict(config_data, env=dict(TEST_ENV) | {"ADUAN_LOG_LEVEL": "DEBUG"})
    logging_setup.configure(settings, stream=stream)
    yield settings, stream
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in quiet.items():
        logging.getLogger(name).setLevel(lvl)


def test_full_scenario_writes_no_personal_data_in_any_log_line(
    db_url: str,
    scan: Any,
    engine: Any,
    clock: Any,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings, stream = scan
    # a snapshot handler goes first: it keeps each line as emitted, before the redacting filter
    # rewrites the record, so code that logs personal data fails here even when redaction saves it
    snapshot = Snapshot()
    logging.getLogger().handlers.insert(0, snapshot)
    personal: set[str] = set(WEB_SUBMISSION.values())
    with FakeAPI() as provider:
        # the provider refuses with the number in its error text, as Twilio's 21211 does
        provider.route(
            "POST",
            "/2010-04-01/Accounts/",
            lambda req: Reply(
                400,
                {
                    "code": 21211,
                    "status": 400,
                    "message": f"The 'To' number {req.form.get('To')} is not valid",
                },
            ),
        )
        for name in ("sms", "whatsapp"):
            settings.channels.setdefault(name, {})["api_base_url"] = provider.url
        container = build(settings, engine=engine, clock=clock, migrate=False)
        container.senders = {k: v for k, v in container.senders.items() if k in ("sms", "whatsapp")}
        client = TestClient(create_app(container), raise_server_exceptions=False)
        # 1. signed webhooks through the app, one per mounted route
        for route in _webhook_paths(client.app):
            signer, channel, fixture, _, _ = ROUTES[route]
            body = (FIXTURES / channel / fixture).read_bytes()
            personal |= _personal_values(channel, FIXTURES / channel / fixture)
            assert client.post(route, content=body, headers=signer(route, body)).status_code < 500
        # 2. every fixture of every existing channel through the pipeline (negative ones too)
        for channel in enable_existing({"channels": {}}):
            for path in sorted((FIXTURES / channel).glob("*.*")) if (FIXTURES / channel).is_dir() else []:
                personal |= _personal_values(channel, path)
                receive(
                    container,
                    channel,
                    RawRequest(body=path.read_bytes(), headers={"content-type": _content_type(path)}),
                    verify=False,
                )
        # 3. the web form as `aduan ingest --channel web` does it
        sub = tmp_path / "lapor.json"
        sub.write_text(json.dumps(WEB_SUBMISSION), encoding="utf-8")
        cfg = tmp_path / "config.toml"
        cfg.write_text(
            (ROOT / "config.toml").read_text(encoding="utf-8").replace('url = ""', f'url = "{db_url}"'),
            encoding="utf-8",
        )
        monkeypatch.setenv("ADUAN_CONFIG", str(cfg))
        for key, value in TEST_ENV.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(SystemExit) as done:
            main(["ingest", str(sub), "--channel", "web"])
        assert done.value.code in (0, None)
        receive(
            container,
            "web",
            RawRequest(body=json.dumps(WEB_SUBMISSION).encode()),
            verify=False,
            complete=True,
        )
        # 4. replies and answers go out and are refused; then officers' reads
        for _ in range(len(outbox.RETRY_DELAYS) + 2):
            outbox.deliver_due(container)
            clock.advance(hours=2)
        for page in ("/metrics", "/readyz", "/healthz"):
            client.get(page)
    capsys.readouterr()
    assert len(personal) > 10, personal  # the scenario really carried personal data
    raw_lines = snapshot.lines
    written = stream.getvalue().splitlines()
    assert raw_lines and written
    leaks = sorted(
        {(value, line[:160]) for value in personal for line in raw_lines + written if value in line}
    )
    assert leaks == [], leaks[:10]
