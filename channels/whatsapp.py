"""WhatsApp (R2f) through Twilio (``POST /hooks/whatsapp``) or Meta's Cloud API (``/hooks/whatsapp-cloud``).

https://www.twilio.com/docs/whatsapp/api
https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples

``[channels.whatsapp] provider`` chooses the provider for signatures and sending; ``parse`` reads
both wire shapes (a Twilio form or a Meta JSON document), so ``aduan ingest`` replays either.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from channels import _meta, _twilio
from channels.base import (
    Attachment,
    InboundMessage,
    Location,
    OutboundMessage,
    PermanentFailure,
    RawRequest,
    TemporaryFailure,
    UnsupportedPayload,
)
from channels.urns import InvalidContact, phone_urn, urn_path

NAME = "whatsapp"
WEBHOOK_PATH = "/hooks/whatsapp"
CLOUD_WEBHOOK_PATH = "/hooks/whatsapp-cloud"
ACK_BODY = _twilio.ACK_BODY
ACK_CONTENT_TYPE = _twilio.ACK_CONTENT_TYPE
PROVIDERS = ("twilio", "meta")
DEFAULT_GRAPH_BASE_URL = "https://graph.facebook.com/v21.0"
META_APP_SECRET_ENV = "ADUAN_META_APP_SECRET"
META_VERIFY_TOKEN_ENV = "ADUAN_META_VERIFY_TOKEN"
META_ACCESS_TOKEN_ENV = "ADUAN_META_ACCESS_TOKEN"
#: Prefix of an attachment URL that is a Cloud API media id (resolved to a URL when downloaded).
META_MEDIA_SCHEME = "meta-media:"

#: Cloud API message types: True = a citizen message, False = stored and deliberately ignored.
META_TYPES: dict[str, bool] = {
    "text": True,
    "image": True,
    "document": True,
    "audio": True,
    "video": True,
    "sticker": True,
    "location": True,
    "interactive": True,
    "button": True,
    "contacts": True,
    "reaction": False,
    "unsupported": False,
    "system": False,
}
#: Cloud API delivery statuses → the outbox's.
META_STATUSES: dict[str, str] = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}
#: Graph API error codes that mean "slow down", sent with HTTP 400: retry, do not give up.
META_RATE_LIMIT_CODES = (4, 80007, 130429, 131048, 131056)


def provider(config: Any) -> str:
    """Return the configured provider; raise ValueError listing the known ones."""
    name = str(config.table.get("provider", "twilio"))
    if name not in PROVIDERS:
        raise ValueError(f"[channels.whatsapp] provider {name!r} unknown; known: {', '.join(PROVIDERS)}")
    return name


def _is_json(raw: RawRequest) -> bool:
    ctype = (raw.header("content-type") or "").lower()
    return "json" in ctype or raw.body.lstrip()[:1] == b"{"


def verify(raw: RawRequest, config: Any) -> None:
    """Raise SignatureError unless the configured provider signed the request."""
    if provider(config) == "meta":
        _meta.verify_signature(raw, config.secret(META_APP_SECRET_ENV))
    else:
        _twilio.verify(raw, config.secret(_twilio.AUTH_TOKEN_ENV))


def external_id(raw: RawRequest) -> str:
    """Return Twilio's MessageSid; a Cloud API delivery (maybe several messages) is keyed by its hash."""
    if _is_json(raw):
        return raw.body_hash()
    return _twilio.external_id(raw)


def parse(raw: RawRequest) -> list[InboundMessage]:
    """Turn a Twilio WhatsApp form or a Cloud API document into messages from ``whatsapp:+62…``."""
    if _is_json(raw):
        return parse_cloud(raw)
    return _twilio.parse_message(raw, channel=NAME, scheme="whatsapp")


# -- Meta Cloud API ------------------------------------------------------------------------------


def _document(raw: RawRequest) -> dict[str, Any]:
    try:
        doc = json.loads(raw.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UnsupportedPayload(f"not a JSON document: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("object") != "whatsapp_business_account":
        raise UnsupportedPayload("not a WhatsApp Cloud API webhook (object is not whatsapp_business_account)")
    return doc


def _values(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for entry in doc.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value")
            if isinstance(value, dict):
                out.append(value)
    return out


def _cloud_message(item: dict[str, Any], names: dict[str, str], own: str | None) -> InboundMessage | None:
    kind = str(item.get("type", ""))
    if kind not in META_TYPES:
        raise UnsupportedPayload(f"unknown WhatsApp message type {kind!r}; known: {', '.join(META_TYPES)}")
    wa_id = str(item.get("from", ""))
    if not item.get("id") or not wa_id:
        raise UnsupportedPayload("a WhatsApp message needs id and from")
    if not META_TYPES[kind] or (own and wa_id.lstrip("+") == own.lstrip("+")):
        return None
    try:
        sender = phone_urn("whatsapp", "+" + wa_id.lstrip("+"))
    except InvalidContact as exc:
        raise UnsupportedPayload(f"from is not a phone number ({exc})") from exc
    text = ""
    attachments: list[Attachment] = []
    location = None
    extra: dict[str, Any] = {"message_type": kind}
    body = item.get(kind) or {}
    if kind == "text":
        text = str(body.get("body", ""))
    elif kind in ("image", "document", "audio", "video", "sticker"):
        if not body.get("id"):
            raise UnsupportedPayload(f"{kind} message without a media id")
        attachments.append(
            Attachment(
                content_type=str(body.get("mime_type", "application/octet-stream")).split(";")[0].strip(),
                url=META_MEDIA_SCHEME + str(body["id"]),
                filename=body.get("filename"),
            )
        )
        text = str(body.get("caption", ""))
    elif kind == "location":
        try:
            location = Location(float(body["latitude"]), float(body["longitude"]),
                                body.get("name") or body.get("address") or None)
        except (KeyError, TypeError, ValueError) as exc:
            raise UnsupportedPayload(f"location without latitude/longitude: {exc}") from exc
    elif kind == "interactive":
        reply = body.get(body.get("type", "")) or {}
        text = str(reply.get("title", ""))
        extra["button_payload"] = str(reply.get("id", ""))
    elif kind == "button":
        text = str(body.get("text", ""))
        extra["button_payload"] = str(body.get("payload", ""))
    elif kind == "contacts":
        extra["contacts"] = len(body) if isinstance(body, list) else 1
    sent_at = None
    if str(item.get("timestamp", "")).isdigit():
        sent_at = dt.datetime.fromtimestamp(int(item["timestamp"]), dt.UTC)
    context = item.get("context") or {}
    return InboundMessage(
        channel=NAME,
        external_id=str(item["id"]),
        sender=sender,
        recipient=phone_urn("whatsapp", "+" + own.lstrip("+")) if own else None,
        text=text.strip(),
        sent_at=sent_at,
        # R5a: the profile name is a hint the bot confirms, not an identity.
        sender_name=names.get(wa_id) or None,
        attachments=tuple(attachments),
        location=location,
        reply_to=context.get("id"),
        extra=extra,
    )


def parse_cloud(raw: RawRequest) -> list[InboundMessage]:
    """Return every citizen message of one Cloud API delivery (it may carry several)."""
    out = []
    for value in _values(_document(raw)):
        names = {
            str(c.get("wa_id")): str((c.get("profile") or {}).get("name", ""))
            for c in value.get("contacts") or []
        }
        own = (value.get("metadata") or {}).get("display_phone_number")
        for item in value.get("messages") or []:
            message = _cloud_message(item, names, str(own) if own else None)
            if message is not None:
                out.append(message)
    return out


def parse_statuses(raw: RawRequest) -> list[_twilio.StatusUpdate]:
    """Return the delivery statuses of a Cloud API delivery; raise UnsupportedPayload on an unknown one."""
    out = []
    for value in _values(_document(raw)):
        for item in value.get("statuses") or []:
            given = str(item.get("status", ""))
            if given not in META_STATUSES:
                known = ", ".join(META_STATUSES)
                raise UnsupportedPayload(f"unknown WhatsApp status {given!r}; known: {known}")
            errors = item.get("errors") or []
            error = None
            if errors:
                first = errors[0]
                error = f"Meta error {first.get('code')}: {first.get('title', '')}".strip()
            out.append(_twilio.StatusUpdate(provider_id=str(item.get("id", "")), status=META_STATUSES[given],
                                            error=error))
    return out


def verification_challenge(query: dict[str, str], config: Any) -> str | None:
    """Answer Meta's ``GET`` subscription check with the challenge, or None when the token is wrong."""
    return _meta.verification_challenge(query, config.secret(META_VERIFY_TOKEN_ENV))


class MetaSender:
    """Send WhatsApp messages through the Graph API (``POST /{phone_number_id}/messages``)."""

    def __init__(
        self,
        *,
        access_token: str,
        phone_number_id: str,
        graph_base_url: str = DEFAULT_GRAPH_BASE_URL,
        timeout: float = 15.0,
        language: str = "id",
    ) -> None:
        import httpx

        self.url = f"{graph_base_url.rstrip('/')}/{phone_number_id}/messages"
        self.language = language
        self.http = httpx.Client(timeout=timeout, headers={"Authorization": f"Bearer {access_token}"})

    def payload(self, out: OutboundMessage) -> dict[str, Any]:
        """Return the JSON body for ``out``: free text, or an approved template outside the window."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual",
                                "to": urn_path(out.to).lstrip("+")}
        template = out.extra.get("meta_template")
        if template:
            params = [{"type": "text", "text": str(v)} for v in out.extra.get("template_parameters", [])]
            body["type"] = "template"
            language = out.extra.get("language", self.language)
            body["template"] = {"name": template, "language": {"code": language},
                                "components": [{"type": "body", "parameters": params}] if params else []}
        else:
            body["type"] = "text"
            body["text"] = {"body": out.text, "preview_url": False}
        return body

    def send(self, out: OutboundMessage) -> str:
        """Post the message and return its ``wamid``; map errors to Temporary/PermanentFailure."""
        import httpx

        try:
            response = self.http.post(self.url, json=self.payload(out))
        except httpx.TransportError as exc:
            raise TemporaryFailure(f"Graph API unreachable: {type(exc).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            retry = response.headers.get("retry-after")
            raise TemporaryFailure(f"Graph API {response.status_code}",
                                   retry_after=float(retry) if retry and retry.isdigit() else None)
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400:
            code = (data.get("error") or {}).get("code") if isinstance(data, dict) else None
            reason = f"Graph API {response.status_code} (code {code})"
            if code in META_RATE_LIMIT_CODES:
                raise TemporaryFailure(reason)
            raise PermanentFailure(reason)
        try:
            return str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise TemporaryFailure("Graph API answered without a message id") from None


def make_sender(config: Any) -> _twilio.TwilioSender | MetaSender:
    """Build the sender of the configured provider."""
    if provider(config) == "meta":
        table = config.table
        return MetaSender(
            access_token=config.secret(META_ACCESS_TOKEN_ENV),
            phone_number_id=str(table.get("phone_number_id", "")),
            graph_base_url=str(table.get("graph_base_url") or DEFAULT_GRAPH_BASE_URL),
            timeout=float(table.get("timeout_seconds", 15)),
            language=str(table.get("template_language", "id")),
        )
    return _twilio.make_sender(config, scheme="whatsapp")


def media_source(client: Any, url: str, config: Any) -> tuple[str, dict[str, str]]:
    """Return where to download an attachment and the headers (credentials) it needs."""
    if url.startswith(META_MEDIA_SCHEME):
        # A Cloud API media id: ask the Graph API for a short-lived URL, fetched with the same token.
        token = config.secret(META_ACCESS_TOKEN_ENV)
        base = str(config.table.get("graph_base_url") or DEFAULT_GRAPH_BASE_URL).rstrip("/")
        headers = {"Authorization": f"Bearer {token}"}
        response = client.get(f"{base}/{url[len(META_MEDIA_SCHEME):]}", headers=headers)
        response.raise_for_status()
        return str(response.json()["url"]), headers
    return twilio_media_source(url, config)


def twilio_media_source(url: str, config: Any) -> tuple[str, dict[str, str]]:
    """Return a Twilio media URL (pointed at ``api_base_url`` when set) with HTTP Basic credentials."""
    base = config.table.get("api_base_url")
    if base and url.startswith("https://api.twilio.com"):
        url = str(base).rstrip("/") + url[len("https://api.twilio.com"):]
    pair = f"{config.secret(_twilio.ACCOUNT_SID_ENV)}:{config.secret(_twilio.AUTH_TOKEN_ENV)}"
    return url, {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
