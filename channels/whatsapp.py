"""WhatsApp (R2f) through Twilio (``POST /hooks/whatsapp``) or Meta's Cloud API (``/hooks/whatsapp-cloud``).

https://www.twilio.com/docs/whatsapp/api
https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples

``[channels.whatsapp] provider`` chooses the provider for signatures and sending; ``parse`` reads
both wire shapes (a Twilio form or a Meta JSON document), so ``aduan ingest`` replays either.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from channels import _meta, _shape, _twilio
from channels.base import (
    Attachment,
    Ignored,
    InboundMessage,
    Location,
    OutboundMessage,
    PermanentFailure,
    RawRequest,
    TemporaryFailure,
    UnsupportedPayload,
)
from channels.urns import InvalidContact, phone_urn, urn_path

log = logging.getLogger("aduan.channels.whatsapp")

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
#: A business-scoped user id (``US.13491208655302741918``), Meta's id of users without a number.
BSUID = re.compile(r"[A-Z]{2}\.[A-Za-z0-9._-]{1,100}")
#: Prefix of an attachment URL that is a Cloud API media id (resolved to a URL when downloaded).
META_MEDIA_SCHEME = "meta-media:"

#: Cloud API message types a citizen writes (each becomes a message)…
META_TYPES: dict[str, bool] = {
    "text": True,
    "image": True,
    "document": True,
    "audio": True,
    "voice": True,
    "video": True,
    "sticker": True,
    "location": True,
    "interactive": True,
    "button": True,
    "contacts": True,
    "edit": True,
    "reaction": False,
    "unsupported": False,
    "system": False,
    "revoke": False,
    "order": False,
    "request_welcome": False,
}
#: …and why the others are stored and ignored. A type not listed here is ignored too (Meta adds
#: types): acknowledged with 200, recorded with its name, never answered 400 on every retry.
IGNORED_TYPES: dict[str, str] = {
    "reaction": "a reaction to a message, not a message",
    "unsupported": "a message type WhatsApp itself does not deliver (unsupported)",
    "system": "a system notice (the user changed number or identity)",
    "revoke": "the user deleted a message",
    "order": "an order from the business catalogue, not a complaint",
    "request_welcome": "the user opened the chat (no message yet)",
}
#: Media message types → the content type when Meta gives none.
META_MEDIA: dict[str, str] = {
    "image": "image/jpeg",
    "document": "application/octet-stream",
    "audio": "audio/ogg",
    "voice": "audio/ogg",
    "video": "video/mp4",
    "sticker": "image/webp",
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
    doc = _shape.json_document(raw.body)
    if not isinstance(doc, dict) or doc.get("object") != "whatsapp_business_account":
        raise UnsupportedPayload("not a WhatsApp Cloud API webhook (object is not whatsapp_business_account)")
    return doc


def _values(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Return ``(path, value)`` of every ``entry[].changes[].value`` (a change without a value is skipped)."""
    out = []
    for entry_path, entry in _shape.objects(doc.get("entry"), "entry"):
        for change_path, change in _shape.objects(entry.get("changes"), f"{entry_path}.changes"):
            value = change.get("value")
            if value is not None:
                out.append((f"{change_path}.value", _shape.obj(value, f"{change_path}.value")))
    return out


def _own_urn(own: str | None, path: str) -> str | None:
    if not own:
        return None
    try:
        return phone_urn("whatsapp", "+" + own.lstrip("+"))
    except InvalidContact as exc:
        raise UnsupportedPayload(f"{path} is not a phone number ({exc})") from exc


def _sender_urn(wa_id: str, user_id: str, path: str) -> str:
    """Return the sender's URN: ``whatsapp:+<number>``, or ``whatsapp:<business-scoped id>``.

    Meta now identifies some users only by a business-scoped user id (``US.…``, no phone number).
    A number Meta signs but that no numbering plan knows (test and placeholder numbers) is kept as
    Meta gave it rather than refused.
    """
    if wa_id and not wa_id.lstrip("+").isdigit():
        if not BSUID.fullmatch(wa_id):
            raise UnsupportedPayload(f"{path}.from is neither a phone number nor a business-scoped user id")
        user_id = user_id or wa_id
        wa_id = ""
    if wa_id:
        try:
            return phone_urn("whatsapp", "+" + wa_id.lstrip("+"))
        except InvalidContact:
            return f"whatsapp:+{wa_id.lstrip('+')}"
    if user_id and BSUID.fullmatch(user_id):
        return f"whatsapp:{user_id}"
    raise UnsupportedPayload(f"{path} has neither from nor from_user_id: whose message is it?")


def _vcard(card: dict[str, Any]) -> bytes:
    """Return one WhatsApp contact card as vCard 3.0 bytes."""
    found = card.get("name")
    name: dict[str, Any] = found if isinstance(found, dict) else {}
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{name.get('formatted_name') or name.get('first_name') or ''}"]
    for phone in card.get("phones") or []:
        if isinstance(phone, dict) and phone.get("phone"):
            lines.append(f"TEL;TYPE={phone.get('type') or 'CELL'}:{phone['phone']}")
    for mail in card.get("emails") or []:
        if isinstance(mail, dict) and mail.get("email"):
            lines.append(f"EMAIL:{mail['email']}")
    lines.append("END:VCARD")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _content(
    item: dict[str, Any], kind: str, where: str
) -> tuple[str, list[Attachment], Location | None, dict[str, Any]]:
    """Return the text, files, location and extra of one message body of type ``kind``."""
    text = ""
    attachments: list[Attachment] = []
    location = None
    extra: dict[str, Any] = {}
    # A contacts message carries a list of cards; every other type one object named after the type.
    body = {} if kind == "contacts" else _shape.opt_obj(item.get(kind), where)
    if kind == "text":
        text = _shape.text(body.get("body"), f"{where}.body")
    elif kind in META_MEDIA:
        media_id = _shape.text(body.get("id"), f"{where}.id")
        if not media_id:
            raise UnsupportedPayload(f"{kind} message without a media id")
        mime = _shape.text(body.get("mime_type"), f"{where}.mime_type") or META_MEDIA[kind]
        attachments.append(
            Attachment(
                content_type=mime.split(";")[0].strip(),
                url=META_MEDIA_SCHEME + media_id,
                filename=_shape.opt_str(body.get("filename"), f"{where}.filename"),
            )
        )
        text = _shape.text(body.get("caption"), f"{where}.caption")
        if kind in ("audio", "voice") and (kind == "voice" or body.get("voice")):
            extra["voice_note"] = True
    elif kind == "location":
        parts = [
            _shape.opt_str(body.get("name"), f"{where}.name"),
            _shape.opt_str(body.get("address"), f"{where}.address"),
        ]
        location = Location(
            _shape.number(body.get("latitude"), f"{where}.latitude"),
            _shape.number(body.get("longitude"), f"{where}.longitude"),
            ", ".join(p for p in parts if p) or None,
        )
    elif kind == "interactive":
        reply_kind = _shape.text(body.get("type"), f"{where}.type")
        reply = _shape.opt_obj(body.get(reply_kind), f"{where}.{reply_kind}")
        text = _shape.text(reply.get("title") or reply.get("body"), f"{where}.{reply_kind}.title")
        extra["button_payload"] = _shape.text(reply.get("id"), f"{where}.{reply_kind}.id")
    elif kind == "button":
        text = _shape.text(body.get("text"), f"{where}.text")
        extra["button_payload"] = _shape.text(body.get("payload"), f"{where}.payload")
    elif kind == "contacts":
        cards = _shape.objects(item.get(kind), where)
        extra["contacts"] = len(cards)
        for i, (_, card) in enumerate(cards, start=1):
            data = _vcard(card)
            attachments.append(
                Attachment(content_type="text/vcard", filename=f"kontak-{i}.vcf", data=data, size=len(data))
            )
    return text, attachments, location, extra


def _cloud_message(
    item: dict[str, Any], path: str, names: dict[str, str], own: str | None, recipient: str | None
) -> InboundMessage | Ignored:
    kind = _shape.text(item.get("type"), f"{path}.type")
    wa_id = _shape.text(item.get("from"), f"{path}.from")
    user_id = _shape.text(item.get("from_user_id"), f"{path}.from_user_id")
    message_id = _shape.text(item.get("id"), f"{path}.id")
    if not message_id:
        raise UnsupportedPayload(f"{path}.id is missing: a WhatsApp message needs its id")
    if kind not in META_TYPES or not META_TYPES[kind]:
        known = ", ".join(k for k, read in META_TYPES.items() if read)
        return Ignored(
            IGNORED_TYPES.get(kind)
            or f"a WhatsApp message of type {kind!r}, which Aduan does not read (reads: {known})"
        )
    if own and wa_id and wa_id.lstrip("+") == own.lstrip("+"):
        return Ignored("our own message (echo)")
    sender = _sender_urn(wa_id, user_id, path)
    extra: dict[str, Any] = {"message_type": kind}
    where = f"{path}.{kind}"
    body, body_kind, body_path = item, kind, where
    if kind == "edit":
        # An edit carries the new version of an earlier message: the stored one gets its text.
        edit = _shape.obj(item.get("edit"), where)
        extra["edit_of"] = _shape.text(edit.get("original_message_id"), f"{where}.original_message_id")
        body = _shape.obj(edit.get("message"), f"{where}.message")
        body_kind = _shape.text(body.get("type"), f"{where}.message.type")
        body_path = f"{where}.message.{body_kind}"
        extra["message_type"] = body_kind
    text, attachments, location, more = _content(body, body_kind, body_path)
    extra.update(more)
    context = _shape.opt_obj(item.get("context"), f"{path}.context")
    return InboundMessage(
        channel=NAME,
        external_id=message_id,
        sender=sender,
        recipient=recipient,
        text=text.strip(),
        sent_at=_shape.epoch(item.get("timestamp"), f"{path}.timestamp"),
        # R5a: the profile name is a hint the bot confirms, not an identity.
        sender_name=names.get(wa_id) or names.get(user_id) or None,
        attachments=tuple(attachments),
        location=location,
        reply_to=_shape.opt_str(context.get("id"), f"{path}.context.id"),
        extra=extra,
    )


def _fields(doc: dict[str, Any]) -> list[str]:
    """Return the ``field`` of every change of a delivery (``messages``, ``account_update``…)."""
    return [
        str(change.get("field") or "")
        for entry in doc.get("entry") or []
        if isinstance(entry, dict)
        for change in entry.get("changes") or []
        if isinstance(change, dict)
    ]


def parse_cloud(raw: RawRequest) -> list[InboundMessage]:
    """Return every citizen message of one Cloud API delivery (it may carry several)."""
    doc = _document(raw)
    out: list[InboundMessage] = []
    why: list[str] = []
    for path, value in _values(doc):
        names = {}
        for contact_path, contact in _shape.objects(value.get("contacts"), f"{path}.contacts"):
            profile = _shape.opt_obj(contact.get("profile"), f"{contact_path}.profile")
            name = _shape.text(profile.get("name"), f"{contact_path}.profile.name")
            for key in ("wa_id", "user_id"):
                found = _shape.text(contact.get(key), f"{contact_path}.{key}")
                if found:
                    names[found] = name
        metadata = _shape.opt_obj(value.get("metadata"), f"{path}.metadata")
        own_path = f"{path}.metadata.display_phone_number"
        own = _shape.opt_str(metadata.get("display_phone_number"), own_path)
        try:
            recipient = _own_urn(own, own_path) if value.get("messages") else None
        except UnsupportedPayload:
            recipient = None  # a placeholder in our own number must not lose the citizen's message
        for item_path, item in _shape.objects(value.get("messages"), f"{path}.messages"):
            message = _cloud_message(item, item_path, names, own, recipient)
            if isinstance(message, Ignored):
                why.append(message.reason)
            else:
                out.append(message)
        if value.get("statuses"):
            why.append("delivery statuses of our replies (applied to the outbox)")
    if out:
        return out
    fields = [f for f in _fields(doc) if f and f != "messages"]
    if fields:
        why.append(f"a {fields[0]} event, not a citizen's message")
    return Ignored("; ".join(dict.fromkeys(why)) or "a delivery with no message in it")


def parse_statuses(raw: RawRequest) -> list[_twilio.StatusUpdate]:
    """Return the delivery statuses of a Cloud API delivery that Aduan applies.

    Statuses Aduan does not track (``played``, ``deleted``, a call's ``RINGING``, ones Meta adds)
    are skipped, so the known ones in the same delivery are still applied.
    """
    out = []
    for path, value in _values(_document(raw)):
        for item_path, item in _shape.objects(value.get("statuses"), f"{path}.statuses"):
            given = _shape.text(item.get("status"), f"{item_path}.status")
            if given not in META_STATUSES:
                log.info("WhatsApp status %r not tracked; known: %s", given[:32], ", ".join(META_STATUSES))
                continue
            errors = _shape.objects(item.get("errors"), f"{item_path}.errors")
            error = None
            if errors:
                first_path, first = errors[0]
                title = _shape.text(first.get("title"), f"{first_path}.title")
                error = f"Meta error {first.get('code')}: {title}".strip()
            provider_id = _shape.text(item.get("id"), f"{item_path}.id")
            out.append(
                _twilio.StatusUpdate(provider_id=provider_id, status=META_STATUSES[given], error=error)
            )
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
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": urn_path(out.to).lstrip("+"),
        }
        template = out.extra.get("meta_template")
        if template:
            params = [{"type": "text", "text": str(v)} for v in out.extra.get("template_parameters", [])]
            body["type"] = "template"
            language = out.extra.get("language", self.language)
            body["template"] = {
                "name": template,
                "language": {"code": language},
                "components": [{"type": "body", "parameters": params}] if params else [],
            }
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
            raise TemporaryFailure(
                f"Graph API {response.status_code}",
                retry_after=float(retry) if retry and retry.isdigit() else None,
            )
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
        response = client.get(f"{base}/{url[len(META_MEDIA_SCHEME) :]}", headers=headers)
        response.raise_for_status()
        return str(response.json()["url"]), headers
    return _twilio.media_source(url, config)
