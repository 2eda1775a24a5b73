"""What SMS and WhatsApp share through Twilio: signature check, form parsing, statuses and the sender.

https://www.twilio.com/docs/messaging/guides/webhook-request
https://www.twilio.com/docs/usage/security#validating-requests

One module, two thin channels (``channels/sms.py``, ``channels/whatsapp.py``), as RapidPro's
Courier serves its Twilio-style channels from one handler.
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from channels.base import (
    Attachment,
    Ignored,
    InboundMessage,
    Location,
    OutboundMessage,
    PermanentFailure,
    RawRequest,
    SignatureError,
    TemporaryFailure,
    UnsupportedPayload,
)
from channels.urns import InvalidContact, phone_urn, urn_path

log = logging.getLogger("aduan.twilio")

SIGNATURE_HEADER = "X-Twilio-Signature"
ACCOUNT_SID_ENV = "ADUAN_TWILIO_ACCOUNT_SID"
AUTH_TOKEN_ENV = "ADUAN_TWILIO_AUTH_TOKEN"
#: Twilio takes empty TwiML as "no automatic reply"; replies go out later through the outbox.
ACK_BODY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
ACK_CONTENT_TYPE = "text/xml"
#: Where delivery status callbacks arrive (inbox/provider_hooks.py).
STATUS_PATH = "/hooks/twilio/status"

#: Twilio's message statuses → the outbox's. ``received``/``receiving`` belong to inbound messages.
STATUSES: dict[str, str] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "undelivered",
    "canceled": "failed",
}
INBOUND_STATUSES = ("received", "receiving")

#: WhatsApp message types Twilio reports in ``MessageType``; unknown ones are refused with this list.
MESSAGE_TYPES = (
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "button",
    "interactive",
    "contacts",
    "reaction",
    "unsupported",
)
#: Types that carry nothing a complaint can use; the payload is stored and deliberately ignored.
IGNORED_TYPES = ("reaction", "unsupported")


@dataclass(frozen=True)
class StatusUpdate:
    """A provider's delivery report for one outbound message."""

    provider_id: str
    status: str
    error: str | None = None


def form(raw: RawRequest) -> dict[str, str]:
    """Decode a form-encoded Twilio body (UTF-8) into single values; raise UnsupportedPayload."""
    if not raw.body.strip():
        raise UnsupportedPayload("empty body: a Twilio webhook posts a form with MessageSid")
    try:
        pairs = _pairs(raw.body)
    except UnicodeDecodeError as exc:
        raise UnsupportedPayload("body is not UTF-8 text: a Twilio webhook posts a form") from exc
    except ValueError as exc:
        raise UnsupportedPayload("body is not a form (application/x-www-form-urlencoded)") from exc
    return dict(pairs)


#: Bodies up to this size are decoded once: the signature check, the idempotency key and the parser
#: all read the same body (a Twilio form is ~1 KB; larger ones are not kept in the cache).
_FORM_CACHE_BYTES = 16384


def _pairs(body: bytes) -> tuple[tuple[str, str], ...]:
    """The body's fields in order, strictly parsed; UnicodeDecodeError or ValueError when it is not a form."""
    if len(body) <= _FORM_CACHE_BYTES:
        return _cached_pairs(body)
    return _parse_pairs(body)


def _parse_pairs(body: bytes) -> tuple[tuple[str, str], ...]:
    return tuple(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))


_cached_pairs = functools.lru_cache(maxsize=32)(_parse_pairs)


class _Values(dict[str, list[str]]):
    """Every value of every field, as twilio's validator reads a framework's multi-dict (``getall``).

    A plain dict would cost the validator two caught AttributeErrors per field before it falls back
    to ``[value]``, and would sign only the last of a repeated field.
    """

    def getall(self, name: str) -> list[str]:
        return self[name]


def external_id(raw: RawRequest) -> str:
    """Return ``MessageSid`` (Twilio's id), the idempotency key of a webhook."""
    params = form(raw)
    sid = params.get("MessageSid") or params.get("SmsMessageSid") or params.get("SmsSid")
    if not sid:
        raise UnsupportedPayload("no MessageSid in the form")
    return sid


def verify(raw: RawRequest, auth_token: str) -> None:
    """Raise SignatureError unless ``X-Twilio-Signature`` matches the public URL and the form."""
    given = raw.header(SIGNATURE_HEADER)
    if not given:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    try:
        pairs = _pairs(raw.body)
    except UnicodeDecodeError:
        raise SignatureError("body is not UTF-8, cannot be a signed Twilio form") from None
    except ValueError:
        # Not a strict form (the parser will say why with a 400): sign what a lenient reader sees.
        pairs = tuple(parse_qsl(raw.body.decode("utf-8"), keep_blank_values=True))
    params = _Values()
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    validator = _validator(auth_token)
    # Twilio signs the exact URL it called: check that first (one HMAC); the library's full check
    # (the URL with and without its port, two more HMACs) runs only when that does not match.
    if hmac.compare_digest(validator.compute_signature(raw.url, params).encode(), given.encode()):
        return
    if not validator.validate(raw.url, params, given):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the URL and body")


@functools.lru_cache(maxsize=64)
def _validator(auth_token: str) -> Any:
    from twilio.request_validator import RequestValidator

    return RequestValidator(auth_token)


def _urn(scheme: str, value: str, field: str) -> str:
    try:
        return phone_urn(scheme, value)  # cached in channels.urns: the same numbers come again and again
    except InvalidContact as exc:
        raise UnsupportedPayload(f"{field} is not a phone number ({exc})") from exc


def _sender(scheme: str, value: str) -> str:
    """Return the sender's URN; Twilio signs it, so a number no plan knows is kept as given.

    WhatsApp users known only by a business-scoped id (``whatsapp:US.1234``) keep that id.
    """
    try:
        return phone_urn(scheme, value)
    except InvalidContact as exc:
        bare = value.split(":", 1)[1] if ":" in value else value
        if bare.lstrip("+").isdigit():
            return f"{scheme}:+{bare.lstrip('+')}"
        if scheme == "whatsapp" and re.fullmatch(r"[A-Za-z]{2}\.[\w.-]{1,100}", bare):
            return f"whatsapp:{bare}"
        raise UnsupportedPayload(f"From is not a phone number ({exc})") from exc


def _float(params: Mapping[str, str], key: str) -> float:
    try:
        return float(params[key])
    except ValueError as exc:
        # the value itself stays out of the reason: a location is personal data
        raise UnsupportedPayload(f"{key} is not a number") from exc


def parse_message(raw: RawRequest, *, channel: str, scheme: str) -> list[InboundMessage]:
    """Turn one Twilio inbound webhook into a message; ``[]`` for a status echo or our own number."""
    params = form(raw)
    sid = params.get("MessageSid") or params.get("SmsMessageSid") or params.get("SmsSid")
    if not sid:
        raise UnsupportedPayload("no MessageSid in the form")
    # A status callback pointed at the inbound URL carries MessageStatus (sent, delivered…): it is
    # a report about our own message, never a citizen's.
    status = params.get("MessageStatus") or params.get("SmsStatus") or "received"
    if status not in INBOUND_STATUSES:
        return Ignored(
            f"a delivery status callback ({status[:32]}) about one of our replies, not a message; "
            f"point status callbacks at {STATUS_PATH}"
        )
    if not params.get("From"):
        raise UnsupportedPayload("no From in the form")
    sender = _sender(scheme, params["From"])
    try:
        recipient = _urn(scheme, params["To"], "To") if params.get("To") else None
    except UnsupportedPayload:
        recipient = None  # our own number as a placeholder must not lose the citizen's message
    if recipient is not None and recipient == sender:
        return Ignored("sent from our own number to itself (an echo), not by a citizen")
    kind = params.get("MessageType", "text") or "text"
    if kind not in MESSAGE_TYPES:
        return Ignored(
            f"a message of type {kind[:32]!r}, which Aduan does not read; known: {', '.join(MESSAGE_TYPES)}"
        )
    if kind in IGNORED_TYPES:
        return Ignored(f"a WhatsApp {kind}, not a message")
    try:
        count = int(params.get("NumMedia", "0") or 0)
    except ValueError as exc:
        raise UnsupportedPayload(f"NumMedia {params['NumMedia']!r} is not a number") from exc
    attachments = []
    for i in range(count):
        url = params.get(f"MediaUrl{i}")
        if not url:
            raise UnsupportedPayload(f"NumMedia is {count} but MediaUrl{i} is missing")
        attachments.append(
            Attachment(content_type=params.get(f"MediaContentType{i}", "application/octet-stream"), url=url)
        )
    location = None
    if params.get("Latitude") and params.get("Longitude"):
        location = Location(
            latitude=_float(params, "Latitude"),
            longitude=_float(params, "Longitude"),
            label=params.get("Address") or params.get("Label") or None,
        )
    text = params.get("Body", "")
    extra: dict[str, Any] = {"message_type": kind}
    if params.get("ButtonPayload") or params.get("ButtonText"):
        # A quick-reply button: the citizen's choice is the payload; the title is what they saw.
        text = text or params.get("ButtonText", "")
        extra["button_payload"] = params.get("ButtonPayload", "")
    if params.get("NumSegments"):
        extra["segments"] = params["NumSegments"]
    return [
        InboundMessage(
            channel=channel,
            external_id=sid,
            sender=sender,
            recipient=recipient,
            text=text.strip(),
            # R5a: a WhatsApp profile name is a hint the bot confirms, not an identity.
            sender_name=params.get("ProfileName") or None,
            attachments=tuple(attachments),
            location=location,
            reply_to=params.get("OriginalRepliedMessageSid") or None,
            extra=extra,
        )
    ]


def parse_status(raw: RawRequest) -> StatusUpdate:
    """Turn a status callback into a StatusUpdate; raise UnsupportedPayload listing known statuses."""
    params = form(raw)
    sid = params.get("MessageSid") or params.get("SmsSid")
    if not sid:
        raise UnsupportedPayload("no MessageSid in the status callback")
    given = params.get("MessageStatus") or params.get("SmsStatus")
    if not given:
        raise UnsupportedPayload(f"no MessageStatus in the status callback; known: {', '.join(STATUSES)}")
    if given not in STATUSES:
        raise UnsupportedPayload(f"unknown MessageStatus {given!r}; known: {', '.join(STATUSES)}")
    error = None
    if params.get("ErrorCode"):
        error = f"Twilio error {params['ErrorCode']}"
        if params.get("ErrorMessage"):
            error += f": {params['ErrorMessage']}"
    return StatusUpdate(provider_id=sid, status=STATUSES[given], error=error)


# -- SMS segments --------------------------------------------------------------------------------

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


def sms_segments(text: str) -> tuple[str, int]:
    """Return the encoding (``GSM-7`` or ``UCS-2``) and the number of SMS segments ``text`` needs."""
    if all(c in _GSM7_BASIC or c in _GSM7_EXTENDED for c in text):
        units = sum(2 if c in _GSM7_EXTENDED else 1 for c in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        # UCS-2 counts UTF-16 code units: an emoji outside the BMP takes two.
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if units <= single:
        return encoding, 1
    return encoding, -(-units // multi)


# -- outbound ------------------------------------------------------------------------------------


class TwilioSender:
    """Send SMS or WhatsApp messages through Twilio's REST API (``Messages.json``)."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        scheme: str,
        status_callback: str | None = None,
        api_base_url: str | None = None,
        timeout: float = 15.0,
        messaging_service_sid: str | None = None,
    ) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
        if api_base_url:
            # The SDK has no base-URL option; Domain.base_url is honoured while edge/region are unset.
            self.client.api.base_url = api_base_url.rstrip("/")
        self.from_number = from_number
        self.scheme = scheme
        self.status_callback = status_callback
        self.messaging_service_sid = messaging_service_sid

    def _address(self, urn: str) -> str:
        number = urn_path(urn)
        return f"whatsapp:{number}" if self.scheme == "whatsapp" else number

    def send(self, out: OutboundMessage) -> str:
        """Create the message at Twilio and return its SID; map errors to Temporary/PermanentFailure."""
        import requests
        from twilio.base.exceptions import TwilioRestException

        kwargs: dict[str, Any] = {"to": self._address(out.to)}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            kwargs["from_"] = self._address(self.from_number)
        content_sid = out.extra.get("content_sid")
        if content_sid:
            # An approved WhatsApp template (Content API): variables are positional {"1": …}.
            kwargs["content_sid"] = content_sid
            variables = out.extra.get("content_variables", {})
            kwargs["content_variables"] = json.dumps(variables, ensure_ascii=False)
        else:
            kwargs["body"] = out.text
        if self.status_callback:
            kwargs["status_callback"] = self.status_callback
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            reason = f"Twilio {exc.status} (code {exc.code})"
            if exc.status == 429 or exc.status >= 500:
                raise TemporaryFailure(reason) from None
            raise PermanentFailure(reason) from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TemporaryFailure(f"Twilio unreachable: {type(exc).__name__}") from None
        if not message.sid:
            raise TemporaryFailure("Twilio answered without a message SID")
        return str(message.sid)


def make_sender(config: Any, *, scheme: str) -> TwilioSender:
    """Build a TwilioSender from a channel's config (``from_number``, ``api_base_url``) and secrets."""
    table = config.table
    callback = table.get("status_callback_url")
    if callback is None and config.public_base_url:
        callback = config.public_base_url.rstrip("/") + STATUS_PATH
    return TwilioSender(
        account_sid=config.secret(ACCOUNT_SID_ENV),
        auth_token=config.secret(AUTH_TOKEN_ENV),
        from_number=str(table.get("from_number", "")),
        scheme=scheme,
        status_callback=callback or None,
        api_base_url=table.get("api_base_url") or None,
        timeout=float(table.get("timeout_seconds", 15)),
        messaging_service_sid=table.get("messaging_service_sid") or None,
    )


def media_source(url: str, config: Any) -> tuple[str, dict[str, str]]:
    """Return a Twilio media URL (pointed at ``api_base_url`` when set) with HTTP Basic credentials."""
    base = config.table.get("api_base_url")
    if base and url.startswith("https://api.twilio.com/"):
        url = str(base).rstrip("/") + url[len("https://api.twilio.com") :]
    # The account's credentials only for Twilio's own API host, whatever host the payload named.
    api_host = urlsplit(str(base)).netloc if base else "api.twilio.com"
    if urlsplit(url).netloc != api_host:
        return url, {}
    pair = f"{config.secret(ACCOUNT_SID_ENV)}:{config.secret(AUTH_TOKEN_ENV)}"
    return url, {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
