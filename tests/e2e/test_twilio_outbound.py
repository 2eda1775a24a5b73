"""Outbound SMS/WhatsApp through the real twilio client and httpx, against a local fake of the APIs.

The fake speaks Twilio's ``Messages.json`` and the Graph API's ``/messages`` (RECIPES.md §3, §6);
no database here: the outbox's retries are tested in test_twilio_outbox.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from app.container import ChannelConfig
from channels import sms, whatsapp
from channels.base import OutboundMessage, PermanentFailure, TemporaryFailure
from tests.conftest import TEST_ENV
from tests.fakeapi import FakeAPI, Recorded, Reply

SID = TEST_ENV["ADUAN_TWILIO_ACCOUNT_SID"]
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"
GRAPH = "/v21.0/106540352242922/messages"


def twilio_created(req: Recorded) -> Reply:
    """Answer like Twilio's Messages.json create: 201 with the new message."""
    return Reply(
        201,
        {
            "sid": "SM" + "c" * 32,
            "account_sid": SID,
            "status": "queued",
            "to": req.form["To"],
            "from": req.form.get("From"),
            "body": req.form.get("Body", ""),
            "num_segments": "1",
        },
    )


def graph_created(req: Recorded) -> Reply:
    """Answer like the Graph API's /messages: 200 with the wamid."""
    return Reply(
        200,
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": req.json["to"], "wa_id": req.json["to"]}],
            "messages": [{"id": "wamid.HBgNNjI4MTMxMTExMjIyMhUCABEYEkZBS0VTRU5EMDEA"}],
        },
    )


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI({("POST", MESSAGES): twilio_created, ("POST", GRAPH): graph_created}) as fake:
        yield fake


def config(name: str, api: FakeAPI, **table: object) -> ChannelConfig:
    base = {"from_number": "+6281809898222", "api_base_url": api.url, "timeout_seconds": 2}
    return ChannelConfig(
        name=name, table=base | table, secrets=TEST_ENV, public_base_url="https://aduan.example.test"
    )


def out(channel: str = "sms", to: str = "tel:+6281234567890", **extra: object) -> OutboundMessage:
    return OutboundMessage(
        channel=channel, to=to, text="Pengaduan Anda PWK-2026-000001 sudah kami terima.", extra=dict(extra)
    )


def test_r8_sms_reply_goes_to_twilio_with_basic_auth_and_status_callback(api: FakeAPI) -> None:
    sender = sms.make_sender(config("sms", api))
    assert sender.send(out()) == "SM" + "c" * 32
    [req] = api.requests
    assert req.path == MESSAGES
    assert req.form["To"] == "+6281234567890" and req.form["From"] == "+6281809898222"
    assert req.form["Body"].startswith("Pengaduan Anda PWK-2026-000001")
    assert req.form["StatusCallback"] == "https://aduan.example.test/hooks/twilio/status"
    authorization = req.header("Authorization")
    assert authorization is not None
    user, _, token = base64.b64decode(authorization.split()[1]).decode().partition(":")
    assert (user, token) == (SID, TEST_ENV["ADUAN_TWILIO_AUTH_TOKEN"])


def test_r8_whatsapp_reply_through_twilio_uses_whatsapp_addresses(api: FakeAPI) -> None:
    sender = whatsapp.make_sender(config("whatsapp", api, from_number="whatsapp:+6281809898222"))
    sender.send(out("whatsapp", "whatsapp:+6281311112222"))
    assert api.requests[0].form["To"] == "whatsapp:+6281311112222"
    assert api.requests[0].form["From"] == "whatsapp:+6281809898222"


def test_r8_whatsapp_template_through_twilio_sends_content_sid_and_variables(api: FakeAPI) -> None:
    sender = whatsapp.make_sender(config("whatsapp", api))
    sender.send(
        out(
            "whatsapp",
            "whatsapp:+6281311112222",
            content_sid="HX" + "1" * 32,
            content_variables={"1": "PWK-2026-000001", "2": "Izin sudah terbit."},
        )
    )
    form = api.requests[0].form
    assert form["ContentSid"] == "HX" + "1" * 32 and "Body" not in form
    assert json.loads(form["ContentVariables"]) == {"1": "PWK-2026-000001", "2": "Izin sudah terbit."}


@pytest.mark.parametrize("status", [500, 503, 429])
def test_r8_twilio_5xx_and_429_are_temporary(api: FakeAPI, status: int) -> None:
    api.script(
        "POST",
        MESSAGES,
        Reply(status, {"code": 20429 if status == 429 else 20500, "message": "x", "status": status}),
    )
    with pytest.raises(TemporaryFailure, match=f"Twilio {status}"):
        sms.make_sender(config("sms", api)).send(out())


def test_r8_twilio_4xx_is_permanent(api: FakeAPI) -> None:
    api.script(
        "POST",
        MESSAGES,
        Reply(400, {"code": 21211, "message": "The 'To' number is not valid.", "status": 400}),
    )
    with pytest.raises(PermanentFailure, match="code 21211"):
        sms.make_sender(config("sms", api)).send(out())


def test_r8_twilio_timeout_is_temporary(api: FakeAPI) -> None:
    api.script("POST", MESSAGES, Reply(201, {"sid": "SMlate"}, delay=1.5))
    with pytest.raises(TemporaryFailure, match="unreachable"):
        sms.make_sender(config("sms", api, timeout_seconds=0.3)).send(out())


def test_r8_twilio_unreachable_is_temporary() -> None:
    with FakeAPI() as gone:
        url = gone.url
    cfg = ChannelConfig(
        name="sms", table={"from_number": "+6281809898222", "api_base_url": url}, secrets=TEST_ENV
    )
    with pytest.raises(TemporaryFailure):
        sms.make_sender(cfg).send(out())


def meta(api: FakeAPI) -> ChannelConfig:
    return ChannelConfig(
        name="whatsapp",
        table={
            "provider": "meta",
            "phone_number_id": "106540352242922",
            "graph_base_url": api.url + "/v21.0",
            "timeout_seconds": 2,
        },
        secrets=TEST_ENV,
    )


def test_r8_cloud_text_goes_to_graph_api_with_bearer_token(api: FakeAPI) -> None:
    wamid = whatsapp.make_sender(meta(api)).send(out("whatsapp", "whatsapp:+6281311112222"))
    assert wamid.startswith("wamid.")
    [req] = api.requests
    assert req.header("Authorization") == f"Bearer {TEST_ENV['ADUAN_META_ACCESS_TOKEN']}"
    assert req.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "6281311112222",
        "type": "text",
        "text": {"body": out().text, "preview_url": False},
    }


def test_r8_cloud_template_outside_the_window(api: FakeAPI) -> None:
    whatsapp.make_sender(meta(api)).send(
        out(
            "whatsapp",
            "whatsapp:+6281311112222",
            meta_template="jawaban_pengaduan",
            template_parameters=["PWK-2026-000001"],
        )
    )
    body = api.requests[0].json
    assert body["type"] == "template"
    assert body["template"] == {
        "name": "jawaban_pengaduan",
        "language": {"code": "id"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "PWK-2026-000001"}]}],
    }


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(500, {"error": {"code": 1, "message": "An unknown error occurred"}}), TemporaryFailure),
        (
            Reply(
                429, {"error": {"code": 130429, "message": "Rate limit hit"}}, headers={"Retry-After": "30"}
            ),
            TemporaryFailure,
        ),
        (Reply(400, {"error": {"code": 131056, "message": "Pair rate limit hit"}}), TemporaryFailure),
        (Reply(400, {"error": {"code": 131026, "message": "Message undeliverable"}}), PermanentFailure),
    ],
)
def test_r8_cloud_errors_are_classified(api: FakeAPI, reply: Reply, error: type[Exception]) -> None:
    api.script("POST", GRAPH, reply)
    with pytest.raises(error):
        whatsapp.make_sender(meta(api)).send(out("whatsapp", "whatsapp:+6281311112222"))


def test_r8_cloud_429_passes_retry_after(api: FakeAPI) -> None:
    api.script("POST", GRAPH, Reply(429, {"error": {"code": 130429}}, headers={"Retry-After": "30"}))
    with pytest.raises(TemporaryFailure) as info:
        whatsapp.make_sender(meta(api)).send(out("whatsapp", "whatsapp:+6281311112222"))
    assert info.value.retry_after == 30
