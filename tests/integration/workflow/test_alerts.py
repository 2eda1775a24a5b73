"""Staff alerts: Telegram against a local Bot API server, email against aiosmtpd, no personal data."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sqlmodel import select

from app.bootstrap import build
from app.container import Container
from intake import db
from intake.workflow_models import DeadlineAlert
from outbound import alerts, escalation
from tests.fakeapi import FakeAPI, Recorded, Reply
from tests.integration.workflow.helpers import JAKARTA, file, make_staff

TOKEN = "123456:ALERT-token_abc"
ON_DAY_12 = dt.datetime(2026, 4, 2, 9, 0, tzinfo=JAKARTA)  # reminder, progress, section head and head due


def telegram_api() -> FakeAPI:
    """A Bot API server answering sendMessage like Telegram does."""
    counter = iter(range(1, 10_000))

    def send_message(req: Recorded) -> tuple[int, Any]:
        chat = req.form.get("chat_id", "0")
        return 200, {
            "ok": True,
            "result": {
                "message_id": next(counter),
                "date": int(time.time()),
                "chat": {"id": int(chat), "type": "private"},
                "text": req.form.get("text"),
            },
        }

    return FakeAPI(
        {
            ("POST", f"/bot{TOKEN}/sendMessage"): send_message,
            ("POST", f"/bot{TOKEN}/getMe"): lambda r: (
                200,
                {
                    "ok": True,
                    "result": {
                        "id": 123456,
                        "is_bot": True,
                        "first_name": "Aduan",
                        "username": "aduan_alert_bot",
                    },
                },
            ),
        }
    )


def free_port() -> int:
    """Ask the OS for a free port on loopback (aiosmtpd needs a concrete one)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_alerts(settings: Any, engine: Any, clock: Any, table: dict[str, Any]) -> Container:
    settings.sections["alerts"] = table
    return build(settings, engine=engine, clock=clock, migrate=False)


def test_alerts_reach_managers_on_telegram_without_personal_data(settings, engine, clock) -> None:  # type: ignore[no-untyped-def]
    with telegram_api() as api:
        settings.env["ADUAN_TELEGRAM_ALERT_BOT_TOKEN"] = TOKEN
        container = with_alerts(
            settings,
            engine,
            clock,
            {
                "telegram": {
                    "enabled": True,
                    "api_base_url": f"{api.url}/bot",
                    "chat_ids": {"head": ["-1001"]},
                }
            },
        )
        staff = make_staff(container)
        c = file(
            container,
            assignee=staff["petugas"],
            name="Siti Rahayu",
            urn="tel:+6281298765432",
            text="Petugas meminta uang tambahan untuk PBG rumah saya di Jalan Kenanga 5",
        )
        report = escalation.sweep(container, now=ON_DAY_12)
        calls = api.requests_to("POST", f"/bot{TOKEN}/sendMessage")
    assert report.delivered == 3
    by_chat: dict[str, list[str]] = {}
    for call in calls:
        by_chat.setdefault(call.form["chat_id"], []).append(call.form["text"])
    # reminder → the assignee's own chat; section head → kasi; head → kepala and the configured group
    assert sorted(by_chat) == ["-1001", "9001", "9002", "9003"]
    for text in (t for texts in by_chat.values() for t in texts):
        assert c.tracking_number in text
        assert f"/inbox/c/{c.tracking_number}" in text
        for personal in ("Siti", "Rahayu", "6281298765432", "Kenanga", "uang tambahan"):
            assert personal not in text
    assert any("sisa 2 hari kerja" in t for t in by_chat["9001"])


def test_telegram_failure_is_retried_without_repeating_the_email(settings, engine, clock) -> None:  # type: ignore[no-untyped-def]
    from aiosmtpd.controller import Controller

    class Capture:
        def __init__(self) -> None:
            self.messages: list[Any] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages.append(envelope)
            return "250 OK"

    handler = Capture()
    smtp = Controller(handler, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with telegram_api() as api:
            api.script(
                "POST",
                f"/bot{TOKEN}/sendMessage",
                Reply(500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}),
            )
            settings.env["ADUAN_TELEGRAM_ALERT_BOT_TOKEN"] = TOKEN
            container = with_alerts(
                settings,
                engine,
                clock,
                {
                    "telegram": {"enabled": True, "api_base_url": f"{api.url}/bot"},
                    "email": {
                        "enabled": True,
                        "smtp_host": "127.0.0.1",
                        "smtp_port": smtp.port,
                        "from_address": "aduan@example.test",
                    },
                },
            )
            staff = make_staff(container)
            file(container, assignee=staff["petugas"])
            first = escalation.sweep(container, now=dt.datetime(2026, 3, 26, 9, 0, tzinfo=JAKARTA))
            assert first.delivered == 0  # Telegram answered 500: the reminder waits for a retry
            with db.session(container.engine) as s:
                row = s.exec(select(DeadlineAlert)).one()
            assert (row.status, row.channels_sent) == ("pending", "email,inbox")
            assert "telegram" in (row.error or "")
            assert [e.rcpt_tos for e in handler.messages] == [["petugas@example.test"]]
            retried = alerts.deliver_pending(container, now=dt.datetime(2026, 3, 26, 9, 10, tzinfo=JAKARTA))
            assert retried == 1
            assert len(api.requests_to("POST", f"/bot{TOKEN}/sendMessage")) == 2
        assert len(handler.messages) == 1  # the email that went out first is not sent again
        with db.session(container.engine) as s:
            row = s.exec(select(DeadlineAlert)).one()
        assert (row.status, row.channels_sent, row.attempts) == ("sent", "email,inbox,telegram", 2)
    finally:
        smtp.stop()


def test_email_alert_names_the_complaint_and_days_left(settings, engine, clock) -> None:  # type: ignore[no-untyped-def]
    from aiosmtpd.controller import Controller

    class Capture:
        def __init__(self) -> None:
            self.messages: list[Any] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages.append(envelope)
            return "250 OK"

    handler = Capture()
    smtp = Controller(handler, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        container = with_alerts(
            settings,
            engine,
            clock,
            {
                "email": {
                    "enabled": True,
                    "smtp_host": "127.0.0.1",
                    "smtp_port": smtp.port,
                    "from_address": "aduan@example.test",
                    "addresses": {"head": ["pimpinan@example.test"]},
                }
            },
        )
        staff = make_staff(container)
        c = file(container, assignee=staff["petugas"])
        escalation.sweep(container, now=dt.datetime(2026, 4, 8, 9, 0, tzinfo=JAKARTA))
    finally:
        smtp.stop()
    to_head = [e for e in handler.messages if "pimpinan@example.test" in e.rcpt_tos]
    assert len(to_head) == 2  # the head checkpoint (caught up) and the overdue alert of 8 April
    bodies = [e.content.decode() for e in to_head]
    assert any("LEWAT BATAS WAKTU 1 hari kerja" in b for b in bodies)
    assert all(c.tracking_number in b for b in bodies)
    assert {r for e in handler.messages for r in e.rcpt_tos} == {
        "petugas@example.test",
        "kasi@example.test",
        "kepala@example.test",
        "pimpinan@example.test",
    }


def test_alerts_show_in_the_inbox_for_the_role(container: Container) -> None:
    staff = make_staff(container)
    file(container, assignee=staff["petugas"])
    escalation.sweep(container, now=ON_DAY_12)
    with db.session(container.engine) as s:
        for_head = alerts.alerts_for(s, user=staff["kepala"])
        for_officer = alerts.alerts_for(s, user=staff["petugas"])
    assert [a.checkpoint for a in for_head] == ["head"]
    assert [a.checkpoint for a in for_officer] == ["reminder"]
    assert all(a.status == "sent" and a.channels_sent == "inbox" for a in for_head + for_officer)


def test_telegram_enabled_without_a_token_is_a_config_error(settings, engine, clock) -> None:  # type: ignore[no-untyped-def]
    from app.settings import ConfigError

    settings.env.pop("ADUAN_TELEGRAM_BOT_TOKEN", None)
    with pytest.raises(ConfigError, match="ADUAN_TELEGRAM_ALERT_BOT_TOKEN"):
        with_alerts(settings, engine, clock, {"telegram": {"enabled": True}})
