"""Instagram channel: one test per fixture, X-Hub-Signature-256, the GET handshake, the Graph API sender."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app import settings as config_mod
from app.bootstrap import build
from app.container import ChannelConfig
from channels import _meta
from channels import instagram as ig
from channels.base import (
    Ignored,
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

APP_SECRET = TEST_ENV["ADUAN_META_APP_SECRET"]


def raw(name: str, *, signed: bool = True, secret: str = APP_SECRET) -> RawRequest:
    """Return a fixture as the webhook receives it, signed the way Meta signs it."""
    body = read_fixture("instagram", name)
    headers = {"Content-Type": "application/json"}
    if signed:
        headers[_meta.SIGNATURE_HEADER] = _meta.signature(body, secret)
    return RawRequest(body=body, headers=headers, url="https://aduan.example.test/hooks/instagram")


def config(**table: Any) -> ChannelConfig:
    """Return a channel config with the test secrets."""
    return ChannelConfig(name="instagram", table=table, secrets=dict(TEST_ENV))


# -- verify -----------------------------------------------------------------------------------------


def test_signature_accepted() -> None:
    ig.verify(raw("message__text.json"), config())


def test_missing_signature_rejected() -> None:
    with pytest.raises(SignatureError, match="missing"):
        ig.verify(raw("message__text.json", signed=False), config())


def test_signature_with_another_secret_rejected() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        ig.verify(raw("message__text.json", secret="not-the-app-secret"), config())


def test_signature_of_a_changed_body_rejected() -> None:
    good = raw("message__text.json")
    tampered = RawRequest(body=good.body.replace(b"3 minggu", b"9 minggu"), headers=good.headers)
    with pytest.raises(SignatureError):
        ig.verify(tampered, config())


# -- parse: one test per fixture ----------------------------------------------------------------------


def test_message_text() -> None:
    [msg] = ig.parse(raw("message__text.json"))
    assert msg.sender == "instagram:1122334455667788"
    assert msg.recipient == "17841400000000001"
    assert msg.text.startswith("Selamat siang, izin restoran")
    assert msg.sent_at == dt.datetime.fromtimestamp(1773111600.123, dt.UTC)
    assert msg.external_id.startswith("aWdfZAG1")
    assert ig.external_id(raw("message__text.json")) == f"mid:{msg.external_id}"


def test_message_image() -> None:
    [msg] = ig.parse(raw("message__image.json"))
    [att] = msg.attachments
    assert att.content_type == "image/jpeg"
    assert att.url is not None and att.url.startswith("https://lookaside.fbsbx.example.test/")
    assert msg.text == ""


def test_message_story_reply_ignored() -> None:
    assert ig.parse(raw("message__story_reply.json")) == []


def test_reaction_love_ignored() -> None:
    assert ig.parse(raw("reaction__love.json")) == []


def test_message_own_echo_ignored() -> None:
    assert ig.parse(raw("message__own_echo.json")) == []


def test_webhook_not_instagram_unsupported() -> None:
    with pytest.raises(UnsupportedPayload, match="not 'instagram'"):
        ig.parse(raw("webhook__not_instagram.json"))


def test_message_unknown_attachment_unsupported() -> None:
    with pytest.raises(UnsupportedPayload, match="unknown attachment type 'hologram'; known"):
        ig.parse(raw("message__unknown_attachment.json"))


def test_every_fixture_is_used() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    names = {p.name for p in Path(FIXTURES, "instagram").iterdir()}
    assert names and {n for n in names if f'"{n}"' not in source} == set()


# -- webhook routes: GET handshake and signed POST through the pipeline -------------------------------


@pytest.fixture
def ig_container(config_data: dict[str, Any], engine: Any, clock: Any) -> Any:
    """A container with only the Instagram channel enabled."""
    for name, table in config_data["channels"].items():
        table["enabled"] = name == "instagram"
    return build(
        config_mod.from_dict(config_data, env=dict(TEST_ENV)), engine=engine, clock=clock, migrate=False
    )


def client_for(container: Any) -> TestClient:
    """A web app with the webhook routes and the Instagram handshake."""
    from inbox import hooks, meta_verify_instagram

    app = FastAPI()
    app.include_router(hooks.build_router(container))
    app.include_router(meta_verify_instagram.build_router(container))
    return TestClient(app)


def test_get_handshake_echoes_challenge(ig_container: Any) -> None:
    client = client_for(ig_container)
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": TEST_ENV["ADUAN_META_VERIFY_TOKEN"],
        "hub.challenge": "1158201444",
    }
    ok = client.get(ig.WEBHOOK_PATH, params=params)
    bad = client.get(ig.WEBHOOK_PATH, params={**params, "hub.verify_token": "guess"})
    assert (ok.status_code, ok.text, bad.status_code) == (200, "1158201444", 403)


def test_signed_post_stores_raw_then_message(ig_container: Any) -> None:
    client = client_for(ig_container)
    good = raw("message__text.json")
    answer = client.post(ig.WEBHOOK_PATH, content=good.body, headers=good.headers)
    assert answer.status_code == 200
    settle(ig_container)
    with db.session(ig_container.engine) as s:
        [row] = s.exec(select(RawInbound)).all()
        assert row.channel == "instagram" and row.body == good.body
        assert [m.sender_urn for m in s.exec(select(Message)).all()] == ["instagram:1122334455667788"]


def test_one_instagram_message_in_two_deliveries_is_stored_once(ig_container: Any) -> None:
    """Message-level dedupe: Meta delivers a message again batched with a new one (a new payload, a
    new raw key); the repeated ``mid`` files no second message."""
    client = client_for(ig_container)
    first = json.loads(read_fixture("instagram", "message__text.json"))
    event = first["entry"][0]["messaging"][0]
    newer = json.loads(json.dumps(event))
    newer["message"]["mid"] += "-2"
    newer["message"]["text"] = "Mohon kabarnya, terima kasih."
    batched = json.loads(json.dumps(first))
    batched["entry"][0]["messaging"] = [event, newer]
    for doc in (first, batched):
        body = json.dumps(doc).encode()
        headers = {
            "content-type": "application/json",
            _meta.SIGNATURE_HEADER: _meta.signature(body, APP_SECRET),
        }
        assert client.post(ig.WEBHOOK_PATH, content=body, headers=headers).status_code == 200
    settle(ig_container)
    with db.session(ig_container.engine) as s:
        assert len(s.exec(select(RawInbound)).all()) == 2
        mids = sorted(m.external_id for m in s.exec(select(Message)).all())
        assert mids == sorted([event["message"]["mid"], newer["message"]["mid"]])


def test_forged_post_is_403_and_recorded(ig_container: Any) -> None:
    client = client_for(ig_container)
    forged = raw("message__text.json", secret="attacker")
    answer = client.post(ig.WEBHOOK_PATH, content=forged.body, headers=forged.headers)
    assert answer.status_code == 403
    with db.session(ig_container.engine) as s:
        assert s.exec(select(RawInbound)).all() == []
        assert [r.status_code for r in s.exec(select(Rejection)).all()] == [403]


# -- the sender against a local Graph API --------------------------------------------------------------


def graph(status: int = 200, error: dict[str, Any] | None = None) -> FakeAPI:
    """A local Graph API answering ``/<version>/<account>/messages``."""
    counter = iter(range(1, 100))

    def messages(req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if status != 200:
            return status, {"error": error or {}}
        return 200, {"recipient_id": req["json"]["recipient"]["id"], "message_id": f"mid.out.{next(counter)}"}

    return FakeAPI({("POST", "/v21.0/"): messages})


def test_sender_posts_to_graph_api() -> None:
    with graph() as api:
        sender = ig.make_sender(config(account_id="17841400000000001", graph_base_url=api.url))
        provider_id = sender.send(
            OutboundMessage(
                channel="instagram", to="instagram:1122334455667788", text="Pengaduan Anda kami terima."
            )
        )
    assert provider_id == "mid.out.1"
    [call] = api.requests
    assert call["path"] == "/v21.0/17841400000000001/messages"
    assert call["headers"]["Authorization"] == f"Bearer {TEST_ENV['ADUAN_INSTAGRAM_ACCESS_TOKEN']}"
    assert call["json"] == {
        "recipient": {"id": "1122334455667788"},
        "message": {"text": "Pengaduan Anda kami terima."},
    }


def test_sender_splits_text_over_1000_characters() -> None:
    with graph() as api:
        sender = ig.make_sender(config(graph_base_url=api.url))
        sender.send(OutboundMessage(channel="instagram", to="instagram:1", text="x" * 1500))
    assert [len(r["json"]["message"]["text"]) for r in api.requests] == [1000, 500]


def test_sender_outside_window_is_permanent() -> None:
    error = {
        "message": "This message is sent outside of allowed window.",
        "code": 10,
        "error_subcode": 2018278,
    }
    with graph(400, error) as api:
        sender = ig.make_sender(config(graph_base_url=api.url))
        with pytest.raises(PermanentFailure, match="code 10"):
            sender.send(OutboundMessage(channel="instagram", to="instagram:1", text="halo"))


def test_sender_rate_limited_is_temporary() -> None:
    with graph(400, {"message": "Application request limit reached", "code": 4}) as api:
        sender = ig.make_sender(config(graph_base_url=api.url))
        with pytest.raises(TemporaryFailure, match="code 4"):
            sender.send(OutboundMessage(channel="instagram", to="instagram:1", text="halo"))


def test_a_heart_sent_as_a_message_is_ignored_with_a_plain_reason() -> None:
    # Issue 17, item 6: Instagram's ❤️ ("like_heart") was quarantined as an unknown attachment.
    body = raw("message__unknown_attachment.json").body.replace(b'"hologram"', b'"like_heart"')
    ignored = ig.parse(RawRequest(body=body))
    assert ignored == [] and isinstance(ignored, Ignored) and ignored.reason == "a like heart with no text"


def test_a_messaging_event_of_a_kind_aduan_does_not_read_is_acknowledged_and_ignored() -> None:
    # Issue 17: Meta adds event kinds; a 400 would be retried and never taken in.
    body = b'{"object":"instagram","entry":[{"id":"1","messaging":[{"sender":{"id":"5"},"hologram":{}}]}]}'
    ignored = ig.parse(RawRequest(body=body))
    assert isinstance(ignored, Ignored) and "does not read (hologram)" in ignored.reason
