"""Telegram channel: one test per fixture, the webhook secret, the webhook route, and the sender."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, select

from app.bootstrap import build
from app.container import ChannelConfig
from channels import telegram as tg
from channels.base import (
    Ignored,
    Location,
    OutboundMessage,
    PermanentFailure,
    RawRequest,
    SignatureError,
    TemporaryFailure,
    UnsupportedPayload,
)
from intake import db
from intake.models import Message, RawInbound, Rejection
from tests.conftest import FIXTURES, TEST_ENV, read_fixture, settle
from tests.fakeapi_channels import FakeAPI

SECRET = TEST_ENV["ADUAN_TELEGRAM_WEBHOOK_SECRET"]
TOKEN = TEST_ENV["ADUAN_TELEGRAM_BOT_TOKEN"]


def raw(name: str, secret: str | None = SECRET) -> RawRequest:
    """Return a fixture as the webhook receives it."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[tg.SECRET_HEADER] = secret
    return RawRequest(
        body=read_fixture("telegram", name), headers=headers, url="https://aduan.example.test/hooks/telegram"
    )


def config(**table: Any) -> ChannelConfig:
    """Return a channel config with the test secrets."""
    return ChannelConfig(name="telegram", table=table, secrets=dict(TEST_ENV))


# -- verify -----------------------------------------------------------------------------------------


def test_secret_token_accepted() -> None:
    tg.verify(raw("message__text.json"), config())


def test_missing_secret_token_rejected() -> None:
    with pytest.raises(SignatureError, match="missing"):
        tg.verify(raw("message__text.json", secret=None), config())


def test_wrong_secret_token_rejected() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        tg.verify(raw("message__text.json", secret=SECRET + "x"), config())


# -- parse: one test per fixture ----------------------------------------------------------------------


def test_message_text() -> None:
    [msg] = tg.parse(raw("message__text.json"))
    assert msg.channel == "telegram"
    assert msg.sender == "telegram:5550001"
    assert msg.external_id == "5550001:15"
    assert msg.text.startswith("Saya mengurus PBG")
    assert msg.sender_name == "Siti Rahayu"
    assert msg.reporter_name is None  # r5a: a display name is a hint, not an identity
    assert msg.sent_at == dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC)
    assert not msg.complete
    assert tg.external_id(raw("message__text.json")) == "update:810001"


def test_message_photo_caption() -> None:
    [msg] = tg.parse(raw("message__photo_caption.json"))
    assert msg.text == "Ini bukti antrean di loket PBG, sudah 3 jam."
    [att] = msg.attachments
    assert att.url == "tg-file:AgACAgUAAxkBAAMQlarge"  # the largest size, not the thumbnail
    assert att.content_type == "image/jpeg"


def test_message_document() -> None:
    [msg] = tg.parse(raw("message__document.json"))
    [att] = msg.attachments
    assert (att.filename, att.content_type, att.size) == ("tanda-terima-pbg.pdf", "application/pdf", 202144)
    assert msg.text == ""


def test_r5a_message_contact_gives_phone_and_name_hint() -> None:
    [msg] = tg.parse(raw("message__contact.json"))
    assert msg.extra["contact_phone"] == "+6281234567890"
    assert msg.extra["contact_own"] is True
    assert msg.reporter_name == "Siti Rahayu"
    assert msg.reply_to == "5550001:17"


def test_a_reply_whose_quote_is_empty_is_refused_with_the_reason() -> None:
    """Found by the parser fuzz test: an empty ``reply_to_message`` passed the type check (it skipped
    empty objects) and then raised KeyError, where a parser must take the update or refuse it with
    a reason (the webhook's 400)."""
    update = json.loads(raw("message__contact.json").body)
    update["message"]["reply_to_message"] = {}
    with pytest.raises(UnsupportedPayload, match=r"message\.reply_to_message\.message_id is missing"):
        tg.parse(RawRequest(body=json.dumps(update).encode()))


def test_r5a_message_contact_of_someone_else_is_no_identity() -> None:
    [msg] = tg.parse(raw("message__contact_of_someone_else.json"))
    assert msg.extra["contact_own"] is False
    assert msg.reporter_name is None


def test_edited_message_is_a_new_version_linked_to_the_original() -> None:
    [msg] = tg.parse(raw("edited_message__text.json"))
    assert msg.extra["edited"] is True
    assert msg.extra["original_external_id"] == "5550001:15"
    assert msg.external_id == "5550001:15:edit:1773111900"
    assert "5 Januari 2026" in msg.text


def test_message_group_chat_ignored() -> None:
    assert tg.parse(raw("message__group_chat.json")) == []


def test_my_chat_member_blocked_ignored() -> None:
    assert tg.parse(raw("my_chat_member__blocked.json")) == []


def test_update_no_update_id_unsupported() -> None:
    with pytest.raises(UnsupportedPayload, match="update_id"):
        tg.parse(raw("update__no_update_id.json"))


def test_update_unknown_kind_is_acknowledged_and_ignored_with_its_reason() -> None:
    # Issue 17: Telegram adds update kinds; a 400 would be retried for a day and never taken in.
    ignored = tg.parse(raw("update__unknown_kind.json"))
    assert ignored == [] and isinstance(ignored, Ignored) and "does not read" in ignored.reason


def test_updates_without_is_bot_or_file_unique_id_are_read_with_every_media_kind() -> None:
    # Issue 17: older Bot API payloads (and other projects' fixtures) omit is_bot and file_unique_id;
    # PTB refused them with a TypeError shown to officers. Voice, audio, video, video notes, venues.
    body = {
        "update_id": 900946531,
        "message": {
            "message_id": 91,
            "from": {"id": 3527065, "first_name": "Nic"},
            "chat": {"id": 3527065, "type": "private"},
            "date": 1493844646,
            "voice": {"duration": 1, "mime_type": "audio/ogg", "file_id": "AwADAQ", "file_size": 4288},
            "video_note": {"file_id": "DQADAQ", "length": 240, "duration": 2},
            "venue": {
                "location": {"latitude": -6.55, "longitude": 107.44},
                "title": "MPP",
                "address": "Purwakarta",
            },
        },
    }
    [msg] = tg.parse(RawRequest(body=json.dumps(body).encode()))
    assert [(a.content_type, a.url) for a in msg.attachments] == [
        ("audio/ogg", "tg-file:AwADAQ"),
        ("video/mp4", "tg-file:DQADAQ"),
    ]
    assert msg.location == Location(-6.55, 107.44, "MPP, Purwakarta")


def test_not_json_unsupported() -> None:
    with pytest.raises(UnsupportedPayload, match="JSON"):
        tg.parse(RawRequest(body=b"\xff\x00not json"))


def test_every_fixture_is_used() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    names = {p.name for p in Path(FIXTURES, "telegram").iterdir()}
    assert names and {n for n in names if f'"{n}"' not in source} == set()


# -- the webhook route through the pipeline ------------------------------------------------------------


@pytest.fixture
def tg_container(config_data: dict[str, Any], settings: Any, engine: Any, clock: Any) -> Any:
    """A container with the Telegram channel enabled."""
    from app import settings as config_mod

    for name, table in config_data["channels"].items():
        table["enabled"] = name == "telegram"  # only this channel's routes and sender
    return build(
        config_mod.from_dict(config_data, env=dict(TEST_ENV)), engine=engine, clock=clock, migrate=False
    )


def hook_client(container: Any) -> TestClient:
    """A web app with only the webhook routes."""
    from inbox import hooks

    app = FastAPI()
    app.include_router(hooks.build_router(container))
    return TestClient(app)


def test_webhook_stores_raw_and_message(tg_container: Any) -> None:
    client = hook_client(tg_container)
    body = read_fixture("telegram", "message__text.json")
    ok = client.post(tg.WEBHOOK_PATH, content=body, headers={tg.SECRET_HEADER: SECRET})
    again = client.post(tg.WEBHOOK_PATH, content=body, headers={tg.SECRET_HEADER: SECRET})
    assert (ok.status_code, again.status_code) == (200, 200)
    settle(tg_container)
    with db.session(tg_container.engine) as s:
        rows = s.exec(select(RawInbound).where(RawInbound.channel == "telegram")).all()
        # the provider id with a hash of the body (a reused id with another body is kept too)
        assert [r.external_id.split("#")[0] for r in rows] == ["update:810001"]
        assert [m.sender_urn for m in s.exec(select(Message)).all()] == ["telegram:5550001"]


def test_one_telegram_message_in_two_updates_is_stored_once(tg_container: Any) -> None:
    """Message-level dedupe: a second update carrying the same message (same chat and message id)
    is a new payload, kept as received, but files no second message."""
    client = hook_client(tg_container)
    first = json.loads(read_fixture("telegram", "message__text.json"))
    again = dict(first, update_id=first["update_id"] + 1)  # a new update, the same message
    for update in (first, again):
        body = json.dumps(update).encode()
        assert (
            client.post(tg.WEBHOOK_PATH, content=body, headers={tg.SECRET_HEADER: SECRET}).status_code == 200
        )
    settle(tg_container)
    with db.session(tg_container.engine) as s:
        rows = s.exec(select(RawInbound).order_by(col(RawInbound.id))).all()
        assert [r.external_id.split("#")[0] for r in rows] == ["update:810001", "update:810002"]
        # the second is recorded as ignored, saying why (issue 17): the message was already received
        assert [r.status for r in rows] == ["processed", "ignored"]
        assert "already received" in (rows[1].error or "")
        [message] = s.exec(select(Message)).all()
        assert message.external_id == "5550001:15" and message.raw_id == rows[0].id


def test_webhook_forged_secret_is_403_and_recorded(tg_container: Any) -> None:
    client = hook_client(tg_container)
    body = read_fixture("telegram", "message__text.json")
    answer = client.post(tg.WEBHOOK_PATH, content=body, headers={tg.SECRET_HEADER: "forged"})
    assert answer.status_code == 403
    with db.session(tg_container.engine) as s:
        assert s.exec(select(RawInbound)).all() == []
        [rejection] = s.exec(select(Rejection)).all()
        assert rejection.channel == "telegram" and rejection.status_code == 403


# -- the sender against a local Bot API ---------------------------------------------------------------


def bot_api(fail: dict[str, Any] | None = None) -> FakeAPI:
    """A local Bot API that answers sendMessage (or fails the way ``fail`` says)."""
    counter = iter(range(1000, 10**6))

    def send_message(req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if fail is not None:
            return int(fail["error_code"]), {"ok": False, **fail}
        chat = int(req["form"]["chat_id"][0])
        return 200, {
            "ok": True,
            "result": {
                "message_id": next(counter),
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private"},
                "text": req["form"]["text"][0],
            },
        }

    return FakeAPI({("POST", "/bot"): send_message})


def test_sender_delivers_through_bot_api() -> None:
    with bot_api() as api:
        sender = tg.make_sender(config(api_base_url=f"{api.url}/bot"))
        provider_id = sender.send(
            OutboundMessage(channel="telegram", to="telegram:5550001", text="Pengaduan diterima")
        )
    assert provider_id == "5550001:1000"
    [call] = api.calls("POST", "/sendMessage")
    assert call["path"] == f"/bot{TOKEN}/sendMessage"
    assert call["form"] == {"chat_id": ["5550001"], "text": ["Pengaduan diterima"]}


def test_sender_splits_long_text() -> None:
    with bot_api() as api:
        sender = tg.make_sender(config(api_base_url=f"{api.url}/bot"))
        sender.send(OutboundMessage(channel="telegram", to="telegram:1", text="a" * 5000))
    assert [len(c["form"]["text"][0]) for c in api.calls("POST", "/sendMessage")] == [4096, 904]


def test_sender_blocked_user_is_permanent_failure() -> None:
    with bot_api({"error_code": 403, "description": "Forbidden: bot was blocked by the user"}) as api:
        sender = tg.make_sender(config(api_base_url=f"{api.url}/bot"))
        with pytest.raises(PermanentFailure, match="blocked"):
            sender.send(OutboundMessage(channel="telegram", to="telegram:5550001", text="halo"))


def test_sender_flood_control_is_temporary_with_retry_after() -> None:
    fail = {
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    with bot_api(fail) as api:
        sender = tg.make_sender(config(api_base_url=f"{api.url}/bot"))
        with pytest.raises(TemporaryFailure) as info:
            sender.send(OutboundMessage(channel="telegram", to="telegram:5550001", text="halo"))
    assert info.value.retry_after == 7


def test_media_source_resolves_file_id_with_getfile() -> None:
    import httpx

    def get_file(req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert req["query"]["file_id"] == ["AgACAgUAAxkBAAMQlarge"]
        return 200, {
            "ok": True,
            "result": {"file_id": "AgACAgUAAxkBAAMQlarge", "file_path": "photos/file_7.jpg"},
        }

    with FakeAPI({("GET", f"/bot{TOKEN}/getFile"): get_file}) as api:
        cfg = config(api_base_url=f"{api.url}/bot", file_base_url=f"{api.url}/file/bot")
        with httpx.Client() as client:
            url, headers = tg.media_source(client, "tg-file:AgACAgUAAxkBAAMQlarge", cfg)
    assert url == f"{api.url}/file/bot{TOKEN}/photos/file_7.jpg" and headers == {}


def test_r5a_sender_offers_share_phone_button() -> None:
    with bot_api() as api:
        sender = tg.make_sender(config(api_base_url=f"{api.url}/bot"))
        out = OutboundMessage(
            channel="telegram",
            to="telegram:5550001",
            text="Boleh kami tahu nomor Anda?",
            extra={tg.ASK_CONTACT: True},
        )
        sender.send(out)
    [call] = api.calls("POST", "/sendMessage")
    markup = json.loads(call["form"]["reply_markup"][0])
    assert markup["keyboard"] == [[{"text": tg.CONTACT_BUTTON, "request_contact": True}]]
    assert markup["one_time_keyboard"] is True
