"""SMS through Twilio (R2e): one test per fixture in tests/fixtures/sms, no database, no network."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from app.container import ChannelConfig
from channels import _twilio, sms
from channels.base import Ignored, RawRequest, SignatureError, UnsupportedPayload
from tests.conftest import TEST_ENV, read_fixture

URL = "https://aduan.example.test/hooks/sms"
FORM = {"content-type": "application/x-www-form-urlencoded"}
CONFIG = ChannelConfig(name="sms", table={"from_number": "+6281809898222"}, secrets=TEST_ENV)


def signed(body: bytes, url: str = URL) -> RawRequest:
    """Sign a body exactly as Twilio does, with the twilio package itself."""
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    sig = RequestValidator(TEST_ENV["ADUAN_TWILIO_AUTH_TOKEN"]).compute_signature(url, params)
    return RawRequest(body=body, headers=FORM | {"X-Twilio-Signature": sig}, url=url)


def test_r2e_plain_sms_becomes_one_message_from_a_tel_urn() -> None:
    raw = signed(read_fixture("sms", "message__plain.form"))
    sms.verify(raw, CONFIG)
    [m] = sms.parse(raw)
    assert m.channel == "sms"
    assert m.external_id == "SM1f0e8c2a9b3d4e5f60718293a4b5c6d7" == sms.external_id(raw)
    assert m.sender == "tel:+6281234567890"
    assert m.recipient == "tel:+6281809898222"
    assert m.text.startswith("Selamat siang, izin PBG")
    assert m.attachments == () and m.location is None and m.sender_name is None
    assert m.complete is False


def test_r2e_local_notation_is_the_same_person_as_e164() -> None:
    [m] = sms.parse(RawRequest(read_fixture("sms", "message__local_notation.form")))
    assert m.sender == "tel:+6281234567890"


def test_r2e_sms_with_two_images_carries_two_attachments_to_download() -> None:
    [m] = sms.parse(RawRequest(read_fixture("sms", "message__two_images.form")))
    assert [a.content_type for a in m.attachments] == ["image/jpeg", "image/png"]
    assert all(
        a.url and a.url.startswith("https://api.twilio.com/2010-04-01/Accounts/") for a in m.attachments
    )
    assert m.external_id.startswith("MM")


def test_r2e_message_from_our_own_number_is_ignored() -> None:
    assert sms.parse(RawRequest(read_fixture("sms", "message__own_number.form"))) == []


def test_r2e_empty_body_is_unsupported_with_a_reason() -> None:
    with pytest.raises(UnsupportedPayload, match="empty body"):
        sms.parse(RawRequest(read_fixture("sms", "message__empty.form")))


def test_r2e_forged_body_with_the_signature_of_another_fails_verification() -> None:
    good = signed(read_fixture("sms", "message__plain.form"))
    forged = RawRequest(read_fixture("sms", "message__forged.form"), headers=good.headers, url=URL)
    with pytest.raises(SignatureError, match="does not match"):
        sms.verify(forged, CONFIG)


def test_r2e_missing_signature_fails_verification() -> None:
    raw = RawRequest(read_fixture("sms", "message__plain.form"), headers=FORM, url=URL)
    with pytest.raises(SignatureError, match="missing X-Twilio-Signature"):
        sms.verify(raw, CONFIG)


def test_r2e_signature_for_another_url_fails_verification() -> None:
    raw = signed(read_fixture("sms", "message__plain.form"), url="http://aduan.example.test/hooks/sms")
    with pytest.raises(SignatureError):
        sms.verify(RawRequest(raw.body, raw.headers, URL), CONFIG)


def test_r2e_signature_with_another_auth_token_fails_verification() -> None:
    raw = signed(read_fixture("sms", "message__plain.form"))
    other = ChannelConfig(name="sms", table={}, secrets={"ADUAN_TWILIO_AUTH_TOKEN": "someone-else"})
    with pytest.raises(SignatureError):
        sms.verify(raw, other)


def test_r2e_a_repeated_field_is_signed_with_every_value() -> None:
    """Twilio signs each value of a field sent twice; a body that changes the second one is forged."""

    class Values(dict[str, list[str]]):  # how a framework's multi-dict hands the values to twilio
        def getall(self, name: str) -> list[str]:
            return self[name]

    body = read_fixture("sms", "message__plain.form") + b"&AddOns=first&AddOns=second"
    values = Values()
    for name, value in parse_qsl(body.decode(), keep_blank_values=True):
        values.setdefault(name, []).append(value)
    sig = RequestValidator(TEST_ENV["ADUAN_TWILIO_AUTH_TOKEN"]).compute_signature(URL, values)
    sms.verify(RawRequest(body=body, headers=FORM | {"X-Twilio-Signature": sig}, url=URL), CONFIG)
    forged = body.replace(b"AddOns=second", b"AddOns=changed")
    with pytest.raises(SignatureError, match="does not match"):
        sms.verify(RawRequest(body=forged, headers=FORM | {"X-Twilio-Signature": sig}, url=URL), CONFIG)


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("status__queued.form", "queued"),
        ("status__sent.form", "sent"),
        ("status__delivered.form", "delivered"),
        ("status__failed.form", "failed"),
        ("status__undelivered.form", "undelivered"),
    ],
)
def test_r2e_status_callback_maps_to_outbox_status(fixture: str, expected: str) -> None:
    update = _twilio.parse_status(RawRequest(read_fixture("sms", fixture)))
    assert update.provider_id == "SM9a8b7c6d5e4f30211a2b3c4d5e6f7a8b"
    assert update.status == expected
    # a status callback posted to the inbound URL is not a citizen message
    assert sms.parse(RawRequest(read_fixture("sms", fixture))) == []


def test_r2e_failed_status_keeps_twilio_error_code() -> None:
    update = _twilio.parse_status(RawRequest(read_fixture("sms", "status__failed.form")))
    assert update.error == "Twilio error 30008: Unknown error"
    assert _twilio.parse_status(RawRequest(read_fixture("sms", "status__undelivered.form"))).error == (
        "Twilio error 30005"
    )


def test_r2e_unknown_status_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(
        UnsupportedPayload, match=r"unknown MessageStatus 'vanished'; known: accepted, .*undelivered"
    ):
        _twilio.parse_status(RawRequest(read_fixture("sms", "status__unknown.form")))


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("Pengaduan Anda diterima", "GSM-7", 1),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("[" * 80, "GSM-7", 1),  # an extension character takes two septets
        ("[" * 81, "GSM-7", 2),
        ("Terima kasih 🙏", "UCS-2", 1),
        ("é" * 70, "GSM-7", 1),
        ("ā" * 70, "UCS-2", 1),
        ("ā" * 71, "UCS-2", 2),
        ("ā" * 134, "UCS-2", 2),
        ("ā" * 135, "UCS-2", 3),
    ],
)
def test_r2e_sms_segments_are_counted_by_encoding(text: str, encoding: str, segments: int) -> None:
    assert _twilio.sms_segments(text) == (encoding, segments)


def test_r2e_a_status_callback_posted_to_the_inbound_url_is_ignored_saying_where_it_belongs() -> None:
    # Issue 17, item 6: a callback pointed at /hooks/sms was quarantined ("no From in the form").
    body = read_fixture("sms", "status__delivered.form")
    ignored = sms.parse(RawRequest(body))
    assert ignored == [] and isinstance(ignored, Ignored)
    assert (
        "delivery status callback (delivered)" in ignored.reason and "/hooks/twilio/status" in ignored.reason
    )
