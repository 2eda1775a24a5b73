"""WhatsApp (R2f) through Twilio and Meta's Cloud API: one test per fixture, no database, no network."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from app.container import ChannelConfig
from channels import _meta, _twilio, whatsapp
from channels.base import Ignored, Location, RawRequest, SignatureError, UnsupportedPayload
from tests.conftest import TEST_ENV, read_fixture

URL = "https://aduan.example.test/hooks/whatsapp"
TWILIO = ChannelConfig(name="whatsapp", table={"provider": "twilio"}, secrets=TEST_ENV)
META = ChannelConfig(name="whatsapp", table={"provider": "meta"}, secrets=TEST_ENV)
JSON = {"content-type": "application/json"}


def twilio_signed(name: str) -> RawRequest:
    body = read_fixture("whatsapp", name)
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    sig = RequestValidator(TEST_ENV["ADUAN_TWILIO_AUTH_TOKEN"]).compute_signature(URL, params)
    return RawRequest(body, {"X-Twilio-Signature": sig}, URL)


def cloud(name: str, *, secret: str = TEST_ENV["ADUAN_META_APP_SECRET"]) -> RawRequest:
    body = read_fixture("whatsapp", name)
    return RawRequest(body, JSON | {"X-Hub-Signature-256": _meta.signature(body, secret)}, URL + "-cloud")


# -- Twilio --------------------------------------------------------------------------------------


def test_r2f_twilio_text_with_profile_name_is_only_a_name_hint() -> None:
    raw = twilio_signed("message__text_profile_name.form")
    whatsapp.verify(raw, TWILIO)
    [m] = whatsapp.parse(raw)
    assert m.channel == "whatsapp" and m.sender == "whatsapp:+6281311112222"
    assert m.recipient == "whatsapp:+6281809898222"
    assert m.sender_name == "Siti Rahma"
    assert m.reporter_name is None  # R5a: a profile name is not an identity the citizen gave
    assert whatsapp.external_id(raw) == m.external_id == "SMa1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"


def test_r2f_twilio_image_with_caption_keeps_caption_as_text() -> None:
    [m] = whatsapp.parse(twilio_signed("message__image_caption.form"))
    assert m.text == "Foto berkas yang ditolak petugas"
    [a] = m.attachments
    assert (
        a.content_type == "image/jpeg"
        and a.url
        and a.url.endswith("/Media/ME33333333333333333333333333333333")
    )


def test_r2f_twilio_location_becomes_a_location() -> None:
    [m] = whatsapp.parse(twilio_signed("message__location.form"))
    assert m.location == Location(-6.5569, 107.4433, "Jl. Gandanegara No.25, Purwakarta")
    assert m.text == ""


def test_r2f_twilio_button_reply_carries_payload_and_replied_message() -> None:
    [m] = whatsapp.parse(twilio_signed("message__button_reply.form"))
    assert m.text == "Ya, benar"
    assert m.extra["button_payload"] == "confirm_yes"
    assert m.reply_to == "SM9a8b7c6d5e4f30211a2b3c4d5e6f7a8b"


def test_r2f_twilio_reaction_is_deliberately_ignored() -> None:
    assert whatsapp.parse(twilio_signed("message__reaction.form")) == []


def test_r2f_twilio_unknown_message_type_is_ignored_listing_known_ones() -> None:
    # Issue 17, item 5: acknowledged and recorded as ignored, never a 400 retried forever.
    ignored = whatsapp.parse(twilio_signed("message__unknown_type.form"))
    assert (
        isinstance(ignored, Ignored)
        and "'hologram'" in ignored.reason
        and "known: text, image" in ignored.reason
    )


@pytest.mark.parametrize(
    ("fixture", "status"), [("status__read.form", "read"), ("status__delivered.form", "delivered")]
)
def test_r2f_twilio_whatsapp_status_callbacks(fixture: str, status: str) -> None:
    raw = RawRequest(read_fixture("whatsapp", fixture))
    assert _twilio.parse_status(raw).status == status
    assert whatsapp.parse(raw) == []


def test_r2f_twilio_signature_is_checked_when_provider_is_twilio() -> None:
    raw = twilio_signed("message__text_profile_name.form")
    with pytest.raises(SignatureError):
        whatsapp.verify(RawRequest(raw.body + b"&x=1", raw.headers, URL), TWILIO)


# -- Meta Cloud API ------------------------------------------------------------------------------


def test_r2f_cloud_text_message() -> None:
    raw = cloud("cloud_message__text.json")
    whatsapp.verify(raw, META)
    [m] = whatsapp.parse(raw)
    assert m.sender == "whatsapp:+6281311112222" and m.sender_name == "Siti Rahma"
    assert m.recipient == "whatsapp:+6281809898222"
    assert m.external_id.startswith("wamid.")
    assert m.text.startswith("Selamat pagi")
    assert m.sent_at == dt.datetime.fromtimestamp(1773111600, dt.UTC)
    assert whatsapp.external_id(raw) == raw.body_hash()


def test_r2f_cloud_image_is_a_media_id_to_resolve_later() -> None:
    [m] = whatsapp.parse(cloud("cloud_message__image.json"))
    [a] = m.attachments
    assert (a.url, a.content_type) == ("meta-media:1311123456789012", "image/jpeg")
    assert m.text == "Bukti pembayaran retribusi"


def test_r2f_cloud_document_keeps_filename() -> None:
    [m] = whatsapp.parse(cloud("cloud_message__document.json"))
    [a] = m.attachments
    assert (a.filename, a.content_type) == ("surat_penolakan.pdf", "application/pdf")


def test_r2f_cloud_audio_drops_codec_parameter_from_content_type() -> None:
    [m] = whatsapp.parse(cloud("cloud_message__audio.json"))
    assert m.attachments[0].content_type == "audio/ogg"


def test_r2f_cloud_location() -> None:
    [m] = whatsapp.parse(cloud("cloud_message__location.json"))
    assert m.location == Location(
        -6.5569, 107.4433, "Mal Pelayanan Publik Purwakarta, Jl. Kol. Kornel Singawinata"
    )


def test_r2f_cloud_interactive_button_reply() -> None:
    [m] = whatsapp.parse(cloud("cloud_message__interactive.json"))
    assert (m.text, m.extra["button_payload"]) == ("Pengaduan", "kind_pengaduan")
    assert m.reply_to == "wamid.HBgNNjI4MTgwOTg5ODIyMhUCABEYEjA0QzFGRDI0QjdCQzRFQjAxAA=="


def test_r2f_cloud_one_delivery_can_carry_several_messages() -> None:
    messages = whatsapp.parse(cloud("cloud_message__multi.json"))
    assert [(m.sender, m.sender_name) for m in messages] == [
        ("whatsapp:+6281311112222", "Siti Rahma"),
        ("whatsapp:+6285798765432", "Asep"),
    ]
    assert len({m.external_id for m in messages}) == 2


def test_r2f_cloud_reaction_is_ignored() -> None:
    assert whatsapp.parse(cloud("cloud_message__reaction.json")) == []


def test_r2f_cloud_message_from_our_own_number_is_ignored() -> None:
    assert whatsapp.parse(cloud("cloud_message__own_number.json")) == []


def test_r2f_cloud_unknown_type_is_ignored_with_a_reason_listing_known_ones() -> None:
    # Issue 17, item 5: Meta adds types; a 400 is retried forever and the rest is never taken in.
    ignored = whatsapp.parse(cloud("cloud_message__unknown_type.json"))
    assert ignored == [] and isinstance(ignored, Ignored)
    assert "'hologram'" in ignored.reason and "reads: text, image" in ignored.reason


def test_r2f_cloud_other_webhook_object_is_refused() -> None:
    with pytest.raises(UnsupportedPayload, match="whatsapp_business_account"):
        whatsapp.parse(cloud("cloud_webhook__not_whatsapp.json"))


@pytest.mark.parametrize(
    ("fixture", "status", "error"),
    [
        ("cloud_status__delivered.json", "delivered", None),
        ("cloud_status__read.json", "read", None),
        ("cloud_status__failed.json", "failed", "Meta error 131047: Re-engagement message"),
    ],
)
def test_r2f_cloud_status_webhooks(fixture: str, status: str, error: str | None) -> None:
    raw = cloud(fixture)
    assert whatsapp.parse(raw) == []
    [update] = whatsapp.parse_statuses(raw)
    assert (update.status, update.error) == (status, error)
    assert update.provider_id == "wamid.HBgNNjI4MTMxMTExMjIyMhUCABEYEjdGMEE5QjFDMkQzRTRGNTA2AA=="


def test_r2f_cloud_unknown_status_is_skipped_and_the_delivery_acknowledged() -> None:
    # Issue 17, item 5: "played", "deleted", a call's "RINGING": skipped, the known ones applied.
    raw = cloud("cloud_status__unknown.json")
    assert whatsapp.parse_statuses(raw) == []
    ignored = whatsapp.parse(raw)
    assert isinstance(ignored, Ignored) and "delivery statuses" in ignored.reason


def test_r2f_cloud_signature_with_another_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        whatsapp.verify(cloud("cloud_message__text.json", secret="not-the-app-secret"), META)


def test_r2f_cloud_missing_signature_is_refused() -> None:
    raw = RawRequest(read_fixture("whatsapp", "cloud_message__text.json"), JSON, URL)
    with pytest.raises(SignatureError, match="missing"):
        whatsapp.verify(raw, META)


def test_r2f_cloud_subscription_check_echoes_challenge_only_with_our_token() -> None:
    token = TEST_ENV["ADUAN_META_VERIFY_TOKEN"]
    ok = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
    assert whatsapp.verification_challenge(ok, META) == "1158201444"
    assert whatsapp.verification_challenge(ok | {"hub.verify_token": "nope"}, META) is None


def test_r2f_unknown_provider_is_a_clear_error() -> None:
    bad = ChannelConfig(name="whatsapp", table={"provider": "wablas"}, secrets=TEST_ENV)
    with pytest.raises(ValueError, match="provider 'wablas' unknown; known: twilio, meta"):
        whatsapp.verify(RawRequest(b""), bad)


def test_r2f_cloud_voice_note_from_a_business_scoped_user_is_kept_as_an_attachment() -> None:
    # Issue 17, items 4 and 6: "voice" was an unknown type, a user without a number was refused.
    [m] = whatsapp.parse(cloud("cloud_message__voice_contacts_bsuid.json"))
    assert m.sender == "whatsapp:ID.20817734550012345678" and m.sender_name == "Rudi"
    assert [(a.content_type, a.url) for a in m.attachments] == [("audio/ogg", "meta-media:1029384756102938")]
    assert m.extra["voice_note"] is True


def test_r2f_cloud_edit_names_the_message_it_replaces() -> None:
    [m] = whatsapp.parse(cloud("cloud_message__edit.json"))
    assert m.extra["edit_of"].startswith("wamid.HBgNNjI4MTMxMTExMjIyMhUCABIYIDNBMDFB")
    assert m.text.endswith("sudah 25 hari kerja.")
