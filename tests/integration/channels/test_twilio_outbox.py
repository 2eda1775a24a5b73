"""Replies through the outbox: retries against a local Twilio/Graph fake, status callbacks, WhatsApp's window.

Runs on PostgreSQL (``engine`` fixture); the providers are a real HTTP server on
127.0.0.1 (tests/fakeapi.py) reached by the real twilio client and httpx.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from twilio.request_validator import RequestValidator

from app.container import Container
from channels import _meta
from inbox.app import create_app
from intake import db
from intake.ingest import contact_for
from intake.models import Message, RawInbound, Rejection
from outbound import outbox
from tests.conftest import TEST_ENV, read_fixture
from tests.e2e.test_twilio_outbound import GRAPH, MESSAGES, graph_created, twilio_created
from tests.fakeapi import FakeAPI, Reply

PUBLIC = "http://127.0.0.1:8000"
STATUS_SID = "SM9a8b7c6d5e4f30211a2b3c4d5e6f7a8b"


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI({("POST", MESSAGES): twilio_created, ("POST", GRAPH): graph_created}) as fake:
        yield fake


@pytest.fixture
def config_data(config_data: dict[str, Any], api: FakeAPI) -> dict[str, Any]:
    """The demo config with both Twilio channels pointed at the local fake."""
    config_data["channels"]["sms"]["api_base_url"] = api.url
    config_data["channels"]["whatsapp"]["api_base_url"] = api.url
    return config_data


def enqueue(
    container: Container,
    *,
    channel: str = "sms",
    to: str = "tel:+6281234567890",
    purpose: str = "reply",
    text: str = "Pengaduan Anda PWK-2026-000001 sudah kami terima.",
) -> int:
    with db.write_session(container.engine) as s:
        row = outbox.enqueue(s, channel=channel, to=to, text=text, now=container.now(), purpose=purpose)
        assert row.id is not None
        return row.id


def row_of(container: Container, row_id: int) -> outbox.OutboxMessage:
    with db.session(container.engine) as s:
        row = s.get(outbox.OutboxMessage, row_id)
        assert row is not None
        return row


def test_r8_reply_survives_two_500s_and_is_sent_on_the_third_attempt(
    container: Container, api: FakeAPI, clock
) -> None:
    api.script(
        "POST",
        MESSAGES,
        Reply(500, {"code": 20500, "message": "Internal"}),
        Reply(500, {"code": 20500, "message": "Internal"}),
    )
    row_id = enqueue(container)
    assert outbox.deliver_due(container) == 1
    row = row_of(container, row_id)
    assert (row.status, row.attempts, row.last_error) == ("queued", 1, "Twilio 500 (code 20500)")
    assert outbox.deliver_due(container) == 0  # not due before the 1-minute backoff
    clock.advance(minutes=1)
    outbox.deliver_due(container)
    assert row_of(container, row_id).next_attempt_at == clock.now + dt.timedelta(minutes=5)
    clock.advance(minutes=5)
    outbox.deliver_due(container)
    row = row_of(container, row_id)
    assert (row.status, row.attempts, row.provider_id, row.last_error) == ("sent", 3, "SM" + "c" * 32, None)
    assert len(api.requests_to("POST", MESSAGES)) == 3
    # SMS segments are counted on the row
    assert json.loads(row.extra) == {"sms_encoding": "GSM-7", "sms_segments": 1}


def test_r8_twilio_429_is_retried_not_lost(container: Container, api: FakeAPI) -> None:
    api.script("POST", MESSAGES, Reply(429, {"code": 20429, "message": "Too Many Requests"}))
    row_id = enqueue(container)
    outbox.deliver_due(container)
    row = row_of(container, row_id)
    assert (row.status, row.last_error) == ("queued", "Twilio 429 (code 20429)")


def test_r8_invalid_number_fails_at_once_and_is_listed_for_officers(
    container: Container, api: FakeAPI
) -> None:
    api.script("POST", MESSAGES, Reply(400, {"code": 21211, "message": "Invalid 'To' Phone Number"}))
    row_id = enqueue(container)
    outbox.deliver_due(container)
    with db.session(container.engine) as s:
        assert [r.id for r in outbox.failed_messages(s)] == [row_id]


def test_r8_long_indonesian_sms_counts_segments(container: Container, api: FakeAPI) -> None:
    row_id = enqueue(
        container, text="Jawaban atas pengaduan Anda: izin PBG sudah terbit. " * 5 + "Terima kasih 🙏"
    )
    outbox.deliver_due(container)
    assert json.loads(row_of(container, row_id).extra) == {"sms_encoding": "UCS-2", "sms_segments": 5}


# -- WhatsApp's 24-hour window ----------------------------------------------------------------------


def wrote_at(container: Container, urn: str, moment: dt.datetime) -> None:
    with db.write_session(container.engine) as s:
        contact_for(s, urn, now=moment)


def test_r8_whatsapp_inside_the_window_sends_free_text(container: Container, api: FakeAPI, clock) -> None:
    wrote_at(container, "whatsapp:+6281311112222", clock.now - dt.timedelta(hours=23))
    row_id = enqueue(container, channel="whatsapp", to="whatsapp:+6281311112222", purpose="answer")
    outbox.deliver_due(container)
    row = row_of(container, row_id)
    assert (row.channel, row.status, row.note) == ("whatsapp", "sent", None)
    assert api.requests[0].form["To"] == "whatsapp:+6281311112222" and "Body" in api.requests[0].form


def test_r8_whatsapp_outside_the_window_uses_the_configured_template(
    container: Container, api: FakeAPI, clock
) -> None:
    container.settings.channels["whatsapp"]["templates"] = {
        "jawaban_pengaduan": {"id": "HX" + "a" * 32, "variables": ["tracking_number", "text"]}
    }
    wrote_at(container, "whatsapp:+6281311112222", clock.now - dt.timedelta(days=20))
    with db.write_session(container.engine) as s:
        row_id = outbox.enqueue(
            s,
            channel="whatsapp",
            to="whatsapp:+6281311112222",
            text="Izin PBG sudah terbit.",
            now=clock.now,
            purpose="answer",
            template_vars={"tracking_number": "PWK-2026-000001"},
        ).id
    assert row_id is not None
    outbox.deliver_due(container)
    form = api.requests[0].form
    assert form["ContentSid"] == "HX" + "a" * 32
    assert json.loads(form["ContentVariables"]) == {"1": "PWK-2026-000001", "2": "Izin PBG sudah terbit."}
    row = row_of(container, row_id)
    assert row.channel == "whatsapp" and row.template == "jawaban_pengaduan"
    assert row.note == "WhatsApp 24-hour window closed: sent as approved template jawaban_pengaduan"


def test_r8_whatsapp_outside_the_window_without_template_falls_back_to_sms(
    container: Container, api: FakeAPI, clock
) -> None:
    wrote_at(container, "whatsapp:+6281311112222", clock.now - dt.timedelta(hours=25))
    row_id = enqueue(container, channel="whatsapp", to="whatsapp:+6281311112222", purpose="answer")
    outbox.deliver_due(container)
    form = api.requests[0].form
    assert (form["To"], form["From"]) == ("+6281311112222", "+6281809898222")
    row = row_of(container, row_id)
    assert (row.channel, row.to_urn, row.status) == ("sms", "tel:+6281311112222", "sent")
    assert row.note is not None and "no template jawaban_pengaduan" in row.note and "by SMS" in row.note
    assert json.loads(row.extra)["sms_segments"] == 1


# -- status callbacks ----------------------------------------------------------------------------


def post_signed(
    client: TestClient, path: str, body: bytes, *, token: str = TEST_ENV["ADUAN_TWILIO_AUTH_TOKEN"]
):
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    sig = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return client.post(
        path,
        content=body,
        headers={"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"},
    )


def sent_row(container: Container, provider_id: str = STATUS_SID, channel: str = "sms") -> int:
    row_id = enqueue(container, channel=channel)
    with db.write_session(container.engine) as s:
        row = s.get(outbox.OutboxMessage, row_id)
        assert row is not None
        row.status, row.provider_id = "sent", provider_id
        s.add(row)
    return row_id


@pytest.mark.parametrize(
    ("fixture", "status", "error"),
    [
        ("status__queued.form", "sent", None),  # a late "queued" never moves a sent row back
        ("status__sent.form", "sent", None),
        ("status__delivered.form", "delivered", None),
        ("status__failed.form", "failed", "Twilio error 30008: Unknown error"),
        ("status__undelivered.form", "undelivered", "Twilio error 30005"),
    ],
)
def test_r8_twilio_status_callback_moves_the_outbox_row(
    container: Container, fixture: str, status: str, error: str | None
) -> None:
    row_id = sent_row(container)
    response = post_signed(
        TestClient(create_app(container)), "/hooks/twilio/status", read_fixture("sms", fixture)
    )
    assert response.status_code == 200
    row = row_of(container, row_id)
    assert (row.status, row.last_error) == (status, error)


def test_r8_whatsapp_read_status_through_twilio(container: Container) -> None:
    row_id = sent_row(container, "SM7777777777777777777777777777777a", channel="whatsapp")
    client = TestClient(create_app(container))
    assert (
        post_signed(
            client, "/hooks/twilio/status", read_fixture("whatsapp", "status__delivered.form")
        ).status_code
        == 200
    )
    assert (
        post_signed(client, "/hooks/twilio/status", read_fixture("whatsapp", "status__read.form")).status_code
        == 200
    )
    row = row_of(container, row_id)
    assert row.status == "read" and row.read_at is not None and row.delivered_at is not None


def test_r8_unknown_status_answers_400_listing_known_ones(container: Container) -> None:
    response = post_signed(
        TestClient(create_app(container)), "/hooks/twilio/status", read_fixture("sms", "status__unknown.form")
    )
    assert response.status_code == 400
    assert "unknown MessageStatus 'vanished'; known: accepted, scheduled, queued" in response.json()["error"]


def test_r8_forged_status_callback_is_403_and_recorded(container: Container) -> None:
    row_id = sent_row(container)
    response = post_signed(
        TestClient(create_app(container)),
        "/hooks/twilio/status",
        read_fixture("sms", "status__failed.form"),
        token="not-our-token",
    )
    assert response.status_code == 403
    assert row_of(container, row_id).status == "sent"
    with db.session(container.engine) as s:
        assert [r.status_code for r in s.exec(select(Rejection)).all()] == [403]


# -- Meta Cloud API routes -----------------------------------------------------------------------


@pytest.fixture
def meta_container(container: Container) -> Container:
    container.settings.channels["whatsapp"]["provider"] = "meta"
    return container


def cloud_post(client: TestClient, name: str, secret: str = TEST_ENV["ADUAN_META_APP_SECRET"]):
    body = read_fixture("whatsapp", name)
    return client.post(
        "/hooks/whatsapp-cloud",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": _meta.signature(body, secret)},
    )


def test_r2f_cloud_subscription_check(meta_container: Container) -> None:
    client = TestClient(create_app(meta_container))
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": TEST_ENV["ADUAN_META_VERIFY_TOKEN"],
        "hub.challenge": "987",
    }
    ok = client.get("/hooks/whatsapp-cloud", params=query)
    assert (ok.status_code, ok.text) == (200, "987")
    assert client.get("/hooks/whatsapp-cloud", params=query | {"hub.verify_token": "x"}).status_code == 403


def test_r2f_cloud_delivery_with_two_messages_stores_both_once(meta_container: Container) -> None:
    client = TestClient(create_app(meta_container))
    for _ in range(2):
        assert cloud_post(client, "cloud_message__multi.json").status_code == 200
    with db.session(meta_container.engine) as s:
        assert len(s.exec(select(RawInbound)).all()) == 1
        assert sorted(m.sender_urn for m in s.exec(select(Message)).all()) == [
            "whatsapp:+6281311112222",
            "whatsapp:+6285798765432",
        ]


def test_r2f_cloud_status_webhook_updates_the_outbox(meta_container: Container) -> None:
    row_id = sent_row(
        meta_container, "wamid.HBgNNjI4MTMxMTExMjIyMhUCABEYEjdGMEE5QjFDMkQzRTRGNTA2AA==", "whatsapp"
    )
    client = TestClient(create_app(meta_container))
    assert cloud_post(client, "cloud_status__failed.json").status_code == 200
    row = row_of(meta_container, row_id)
    assert (row.status, row.last_error) == ("failed", "Meta error 131047: Re-engagement message")


def test_r2f_cloud_forged_delivery_is_403_and_stores_nothing(meta_container: Container) -> None:
    response = cloud_post(TestClient(create_app(meta_container)), "cloud_message__text.json", secret="forged")
    assert response.status_code == 403
    with db.session(meta_container.engine) as s:
        assert s.exec(select(RawInbound)).all() == []
        assert len(s.exec(select(Rejection)).all()) == 1


def test_r2f_cloud_unknown_status_is_acknowledged_and_recorded_as_ignored(meta_container: Container) -> None:
    # Issue 17, item 5: a 400 made Meta retry forever, and the known statuses beside it never applied.
    response = cloud_post(TestClient(create_app(meta_container)), "cloud_status__unknown.json")
    assert response.status_code == 200
    with db.session(meta_container.engine) as s:
        [row] = s.exec(select(RawInbound)).all()
    assert row.status == "ignored" and "delivery statuses" in (row.error or "")


def test_r2f_cloud_edit_updates_the_stored_message_and_keeps_its_old_text(meta_container: Container) -> None:
    # Issue 17, item 6: a WhatsApp "edit" was quarantined; the citizen's correction was lost.
    client = TestClient(create_app(meta_container))
    assert cloud_post(client, "cloud_message__text.json").status_code == 200
    for _ in range(2):  # a retry of the edit changes nothing more
        assert cloud_post(client, "cloud_message__edit.json").status_code == 200
    with db.session(meta_container.engine) as s:
        [message] = s.exec(select(Message)).all()
        raws = s.exec(select(RawInbound).order_by(RawInbound.id)).all()  # type: ignore[arg-type]
    assert message.text.endswith("sudah 25 hari kerja.")
    [old] = json.loads(message.edits)
    assert old["text"].endswith("sudah 20 hari kerja.") and old["replaced_at"]
    assert [r.status for r in raws] == ["processed", "ignored"] and "an edit of message" in (
        raws[1].error or ""
    )


def test_r2f_cloud_voice_note_of_a_business_scoped_user_is_taken_in(meta_container: Container) -> None:
    client = TestClient(create_app(meta_container))
    assert cloud_post(client, "cloud_message__voice_contacts_bsuid.json").status_code == 200
    with db.session(meta_container.engine) as s:
        [message] = s.exec(select(Message)).all()
    assert message.sender_urn == "whatsapp:ID.20817734550012345678"
    assert [a["content_type"] for a in json.loads(message.attachments)] == ["audio/ogg"]
