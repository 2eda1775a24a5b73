"""SMS through Twilio (R2e): webhook ``POST /hooks/sms``, replies through the outbox.

https://www.twilio.com/docs/messaging/guides/webhook-request
"""

from __future__ import annotations

from typing import Any

from channels import _twilio
from channels.base import InboundMessage, RawRequest

NAME = "sms"
WEBHOOK_PATH = "/hooks/sms"
ACK_BODY = _twilio.ACK_BODY
ACK_CONTENT_TYPE = _twilio.ACK_CONTENT_TYPE


def verify(raw: RawRequest, config: Any) -> None:
    """Raise SignatureError unless Twilio signed this request with the account's auth token."""
    _twilio.verify(raw, config.secret(_twilio.AUTH_TOKEN_ENV))


def external_id(raw: RawRequest) -> str:
    """Return the MessageSid: a Twilio retry of the same message is one record."""
    return _twilio.external_id(raw)


def parse(raw: RawRequest) -> list[InboundMessage]:
    """Turn a Twilio SMS/MMS webhook into one message from ``tel:+62…``."""
    return _twilio.parse_message(raw, channel=NAME, scheme="tel")


def make_sender(config: Any) -> _twilio.TwilioSender:
    """Build the Twilio sender of SMS replies."""
    return _twilio.make_sender(config, scheme="tel")


def media_source(client: Any, url: str, config: Any) -> tuple[str, dict[str, str]]:
    """Return where to download an MMS attachment and the account credentials it needs."""
    return _twilio.media_source(url, config)
