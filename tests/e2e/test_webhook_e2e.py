"""End to end through a real uvicorn server on a free port: signed Twilio webhooks in, record out.

``aduan serve`` is ``inbox.app.create_app(container)`` under uvicorn; the webhook is signed with the
twilio package, and ``aduan list --json`` (a real subprocess) must show what the webhook made.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import uvicorn
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from app.container import Container
from channels import _meta, whatsapp
from inbox.app import create_app
from intake import db
from intake.ingest import IngestResult, file_complaint
from intake.models import Complaint, Message, RawInbound, Rejection
from tests.conftest import ROOT, TEST_ENV, fixture_path, read_fixture, settle


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def config_data(config_data: dict[str, Any], port: int) -> dict[str, Any]:
    """The demo office, its public URL being the test server (Twilio signs that exact URL)."""
    config_data["office"]["public_base_url"] = f"http://127.0.0.1:{port}"
    return config_data


def file_at_once(container: Container, session: Session, result: IngestResult, now: dt.datetime) -> bool:
    """Stand-in for the dialogue (a later part): file every chat message as a complaint at once."""
    message = result.message
    file_complaint(
        session=session,
        office=container.office,
        channel=message.channel,
        contact_urn=message.sender_urn,
        text=message.text,
        received_at=now,
        now=now,
        messages=[message],
    )
    return True


@pytest.fixture
def server(container: Container, port: int) -> Iterator[str]:
    container.message_hooks.insert(0, file_at_once)
    config = uvicorn.Config(
        create_app(container),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",  # as `aduan serve` (its worker is off in tests: `settle` runs the jobs)
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def signed_post(
    base: str, path: str, body: bytes, token: str = TEST_ENV["ADUAN_TWILIO_AUTH_TOKEN"]
) -> httpx.Response:
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    sig = RequestValidator(token).compute_signature(base + path, params)
    return httpx.post(
        base + path,
        content=body,
        timeout=10,
        headers={"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"},
    )


def aduan_list(container: Container, tmp_path: Path) -> list[dict[str, Any]]:
    """Run ``aduan list --json`` as a real process against the test database."""
    text = (
        (ROOT / "config.toml")
        .read_text(encoding="utf-8")
        .replace("auto_migrate = true", "auto_migrate = false")
    )
    config = tmp_path / "e2e.toml"
    config.write_text(text, encoding="utf-8")
    url = container.engine.url.render_as_string(hide_password=False)
    env = os.environ | TEST_ENV | {"ADUAN_CONFIG": str(config), "ADUAN_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "list", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def counts(container: Container) -> tuple[int, int, int, int]:
    with db.session(container.engine) as s:
        return tuple(len(s.exec(select(m)).all()) for m in (RawInbound, Message, Complaint, Rejection))  # type: ignore[return-value]


def test_r2e_signed_sms_webhook_becomes_a_complaint_listed_by_the_cli(
    server: str, container: Container, tmp_path: Path
) -> None:
    response = signed_post(server, "/hooks/sms", read_fixture("sms", "message__plain.form"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    settle(container)  # the answer means "stored"; a worker derives the record right after
    [listed] = aduan_list(container, tmp_path)
    assert listed["channel"] == "sms" and listed["tracking_number"].startswith("PWK-2026-")


def test_r2e_same_payload_three_times_is_one_record(server: str, container: Container) -> None:
    body = read_fixture("whatsapp", "message__text_profile_name.form")
    for _ in range(3):
        assert signed_post(server, "/hooks/whatsapp", body).status_code == 200
    settle(container)
    assert counts(container) == (1, 1, 1, 0)


def test_r2e_forged_webhook_is_403_and_only_a_rejection_is_kept(server: str, container: Container) -> None:
    good = signed_post(
        server, "/hooks/sms", read_fixture("sms", "message__forged.form"), token="stolen-token"
    )
    assert good.status_code == 403
    unsigned = httpx.post(
        server + "/hooks/sms",
        content=read_fixture("sms", "message__plain.form"),
        timeout=10,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert unsigned.status_code == 403
    assert counts(container) == (0, 0, 0, 2)
    with db.session(container.engine) as s:
        assert {r.status_code for r in s.exec(select(Rejection)).all()} == {403}


def test_r2e_empty_body_is_400_with_the_reason(server: str, container: Container) -> None:
    response = signed_post(server, "/hooks/sms", read_fixture("sms", "message__empty.form"))
    assert response.status_code == 400
    assert "empty body" in response.json()["error"]


@pytest.mark.parametrize(
    ("channel", "fixture"), [("sms", "message__plain.form"), ("whatsapp", "message__image_caption.form")]
)
def test_r2e_aduan_ingest_replays_a_twilio_form_file(
    container: Container,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    channel: str,
    fixture: str,
) -> None:
    from cli.main import main

    text = (
        (ROOT / "config.toml")
        .read_text(encoding="utf-8")
        .replace("auto_migrate = true", "auto_migrate = false")
    )
    config = tmp_path / "ingest.toml"
    config.write_text(text, encoding="utf-8")
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ADUAN_CONFIG", str(config))
    monkeypatch.setenv("ADUAN_DATABASE_URL", container.engine.url.render_as_string(hide_password=False))
    records = []
    for _ in range(2):
        with pytest.raises(SystemExit) as done:
            main(["ingest", "--channel", channel, str(fixture_path(channel, fixture))])
        out, err = capsys.readouterr()
        assert done.value.code in (0, None), err
        records.append(json.loads(out))
    assert records[0]["channel"] == channel and records[0]["duplicate"] is False
    assert records[0]["tracking_number"].startswith("PWK-")
    assert records[1]["duplicate"] is True and records[1]["tracking_number"] == records[0]["tracking_number"]


@pytest.fixture
def meta_whatsapp(config_data: dict[str, Any]) -> None:
    """WhatsApp through Meta's Cloud API (set before the container is built)."""
    config_data["channels"]["whatsapp"].update(enabled=True, provider="meta")


def test_r2f_one_whatsapp_message_delivered_twice_makes_one_record(
    meta_whatsapp: None, server: str, container: Container
) -> None:
    """Message-level dedupe end to end: Meta redelivers a message in a body serialised differently
    (so a new raw payload); the ``wamid`` makes one message and one complaint."""
    first = read_fixture("whatsapp", "cloud_message__text.json")
    again = json.dumps(json.loads(first), indent=2).encode()
    for body in (first, again):
        signature = _meta.signature(body, TEST_ENV["ADUAN_META_APP_SECRET"])
        answer = httpx.post(
            server + whatsapp.CLOUD_WEBHOOK_PATH,
            content=body,
            timeout=10,
            headers={"Content-Type": "application/json", _meta.SIGNATURE_HEADER: signature},
        )
        assert answer.status_code == 200, answer.text
    settle(container)
    assert counts(container) == (2, 1, 1, 0)  # two payloads kept as received, one message, one record
    with db.session(container.engine) as s:
        rows = s.exec(select(RawInbound).order_by(RawInbound.id)).all()  # type: ignore[arg-type]
        # the replay is kept and recorded as ignored, saying why (issue 17)
        assert [r.status for r in rows] == ["processed", "ignored"]
        assert "already received" in (rows[1].error or "")
