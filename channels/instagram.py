"""Instagram messaging (R2i): Meta webhooks in, Graph API ``/messages`` out.

https://developers.facebook.com/docs/instagram-platform/webhooks
https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api

Verification and ``X-Hub-Signature-256`` are the same as WhatsApp Cloud's (``channels/_meta.py``);
the GET subscription check is served by ``inbox/meta_verify_instagram.py``. Text and image
messages become inbound messages; story replies, story mentions, reactions, read receipts and
our own echoes are ignored on purpose (no complaint in them, SPEC R5a reading).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from channels import _meta, _shape
from channels.base import (
    Attachment,
    Ignored,
    InboundMessage,
    OutboundMessage,
    PermanentFailure,
    RawRequest,
    TemporaryFailure,
    UnsupportedPayload,
    split_text,
)
from channels.urns import urn_path

NAME = "instagram"
WEBHOOK_PATH = "/hooks/instagram"
APP_SECRET_ENV = "ADUAN_META_APP_SECRET"
VERIFY_TOKEN_ENV = "ADUAN_META_VERIFY_TOKEN"
ACCESS_TOKEN_ENV = "ADUAN_INSTAGRAM_ACCESS_TOKEN"
DEFAULT_GRAPH_URL = "https://graph.instagram.com"
DEFAULT_GRAPH_VERSION = "v21.0"
#: Instagram refuses a text longer than 1000 characters; longer answers are split.
MAX_TEXT = 1000

#: Attachment types read as evidence, with the content type they are stored under.
ATTACHMENT_TYPES = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/mpeg",
    "file": "application/pdf",
}
#: Attachment types that are not a message from the citizen to the office.
#: ``like_heart`` is the ❤️ a user sends as a whole message (a reaction, not a complaint).
IGNORED_ATTACHMENTS = ("story_mention", "share", "ig_reel", "reel", "template", "fallback", "like_heart")
#: ``messaging[]`` events without a message in them.
IGNORED_EVENTS = ("reaction", "read", "postback", "referral", "message_edit", "optin", "delivery")
#: Graph API error codes that mean "slow down" rather than "never" (application/user rate limits).
RATE_LIMIT_CODES = {4, 17, 32, 613}

log = logging.getLogger("aduan.channels.instagram")


def verify(raw: RawRequest, config: Any) -> None:
    """Raise SignatureError unless ``X-Hub-Signature-256`` matches the body (app secret)."""
    _meta.verify_signature(raw, config.secret(APP_SECRET_ENV))


def _load(raw: RawRequest) -> dict[str, Any]:
    data = _shape.json_document(raw.body)
    if not isinstance(data, dict):
        raise UnsupportedPayload("a Meta webhook is a JSON object")
    if data.get("object") != "instagram":
        raise UnsupportedPayload(f"object {data.get('object')!r} is not 'instagram'")
    if not isinstance(data.get("entry"), list):
        raise UnsupportedPayload("a Meta webhook has an entry list")
    return data


def _events(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Return ``(path, event)`` of every ``entry[].messaging[]`` event and ``changes[]`` message value."""
    events: list[tuple[str, dict[str, Any]]] = []
    for entry_path, entry in _shape.objects(data["entry"], "entry"):
        events += _shape.objects(entry.get("messaging"), f"{entry_path}.messaging")
        # Subscriptions through the "messages" field of changes[] carry the same event in value.
        for change_path, change in _shape.objects(entry.get("changes"), f"{entry_path}.changes"):
            if change.get("field") == "messages" and isinstance(change.get("value"), dict):
                events.append((f"{change_path}.value", change["value"]))
    return events


def external_id(raw: RawRequest) -> str:
    """Return the message ids (``mid``) of the payload; Meta repeats them on a retry."""
    mids = [
        str(e["message"]["mid"])
        for _, e in _events(_load(raw))
        if isinstance(e.get("message"), dict) and e["message"].get("mid")
    ]
    key = "mid:" + ",".join(mids)
    return key if mids and len(key) <= 255 else raw.body_hash()


def _message(event: dict[str, Any], path: str) -> InboundMessage | str:
    """Return the message of a message event, or why it is not a citizen's message."""
    msg = event["message"]
    where = f"{path}.message"
    if msg.get("is_echo"):
        return "our own reply, echoed back"
    if msg.get("is_deleted"):
        return "the user unsent a message"
    if msg.get("is_unsupported"):
        return "a message type Instagram does not show to businesses"
    reply_to = _shape.opt_obj(msg.get("reply_to"), f"{where}.reply_to")
    if "story" in reply_to:
        return "a reply to the office's story: a reaction to content, not a complaint"
    attachments = []
    skipped: list[str] = []
    for att_path, att in _shape.objects(msg.get("attachments"), f"{where}.attachments"):
        kind = _shape.opt_str(att.get("type"), f"{att_path}.type")
        if kind in IGNORED_ATTACHMENTS:
            skipped.append(str(kind))
            continue
        if kind is None or kind not in ATTACHMENT_TYPES:
            known = list(ATTACHMENT_TYPES) + list(IGNORED_ATTACHMENTS)
            raise UnsupportedPayload(f"unknown attachment type {kind!r}; known: {known}")
        payload = _shape.opt_obj(att.get("payload"), f"{att_path}.payload")
        url = _shape.opt_str(payload.get("url"), f"{att_path}.payload.url")
        attachments.append(Attachment(content_type=ATTACHMENT_TYPES[kind], url=url))
    text = _shape.text(msg.get("text"), f"{where}.text").strip()
    if not text and not attachments:
        # Only a ❤️, a story mention or a shared post: nothing addressed to the office.
        return f"a {skipped[0].replace('_', ' ')} with no text" if skipped else "an empty message"
    sender = _shape.text(_shape.opt_obj(event.get("sender"), f"{path}.sender").get("id"), f"{path}.sender.id")
    mid = _shape.text(msg.get("mid"), f"{where}.mid")
    if not sender or not mid:
        raise UnsupportedPayload("a message event needs sender.id and message.mid")
    recipient = _shape.opt_obj(event.get("recipient"), f"{path}.recipient")
    reply_mid = _shape.opt_str(reply_to.get("mid"), f"{where}.reply_to.mid")
    return InboundMessage(
        channel=NAME,
        external_id=mid,
        sender=f"instagram:{sender}",
        recipient=_shape.opt_str(recipient.get("id"), f"{path}.recipient.id") or None,
        text=text,
        # Meta's messaging timestamps are milliseconds.
        sent_at=_shape.epoch(event.get("timestamp") or None, f"{path}.timestamp", scale=1000),
        attachments=tuple(attachments),
        reply_to=reply_mid or None,
        thread_id=sender,
    )


def parse(raw: RawRequest) -> list[InboundMessage]:
    """Turn an Instagram messaging webhook into inbound messages (ignored events give none)."""
    out = []
    why: list[str] = []
    for path, event in _events(_load(raw)):
        if isinstance(event.get("message"), dict):
            found = _message(event, path)
            if isinstance(found, str):
                why.append(found)
            else:
                out.append(found)
        elif any(k in event for k in IGNORED_EVENTS):
            why.append(f"a {next(k for k in IGNORED_EVENTS if k in event)} event, not a message")
        else:
            # Meta adds event kinds: acknowledge them (a 400 is retried) and say which one it was.
            keys = sorted(k for k in event if k not in ("sender", "recipient", "timestamp"))
            why.append(
                f"a messaging event Aduan does not read ({', '.join(keys) or 'empty'}); reads: message"
            )
    if out:
        return out
    return Ignored("; ".join(dict.fromkeys(why)) or "a delivery with no messaging event in it")


class InstagramSender:
    """Send text replies through the Graph API ``/<account>/messages`` endpoint."""

    def __init__(
        self,
        *,
        token: str,
        account_id: str,
        base_url: str = DEFAULT_GRAPH_URL,
        version: str = DEFAULT_GRAPH_VERSION,
        timeout: float = 15.0,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/{version}/{account_id or 'me'}/messages"
        self.token = token
        self.timeout = timeout

    def _post(self, client: httpx.Client, recipient: str, text: str) -> str:
        try:
            answer = client.post(
                self.url,
                json={"recipient": {"id": recipient}, "message": {"text": text}},
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except httpx.HTTPError as exc:
            raise TemporaryFailure(f"Graph API unreachable: {type(exc).__name__}") from exc
        if answer.status_code == 200:
            return str(answer.json().get("message_id", ""))
        try:
            error = answer.json().get("error", {})
        except ValueError:
            error = {}
        reason = (
            f"Graph API {answer.status_code}: code {error.get('code')} {error.get('message', '')}".strip()
        )
        if answer.status_code == 429 or answer.status_code >= 500 or error.get("code") in RATE_LIMIT_CODES:
            retry = answer.headers.get("Retry-After")
            raise TemporaryFailure(reason, retry_after=float(retry) if retry and retry.isdigit() else None)
        # Outside the 24-hour messaging window (code 10 / subcode 2018278), unknown user, bad token.
        raise PermanentFailure(reason)

    def send(self, out: OutboundMessage) -> str:
        """Deliver ``out`` to ``instagram:<IGSID>`` and return the first ``message_id``."""
        if not out.text.strip():
            raise PermanentFailure("empty message")
        recipient = urn_path(out.to)
        with httpx.Client(timeout=self.timeout) as client:
            ids = [self._post(client, recipient, part) for part in split_text(out.text, MAX_TEXT)]
        return ids[0]


def make_sender(config: Any) -> InstagramSender:
    """Build the sender from ``[channels.instagram]`` and ADUAN_INSTAGRAM_ACCESS_TOKEN."""
    table = config.table
    return InstagramSender(
        token=config.secret(ACCESS_TOKEN_ENV),
        account_id=str(table.get("account_id", "") or "me"),
        base_url=str(table.get("graph_base_url", DEFAULT_GRAPH_URL)),
        version=str(table.get("graph_version", DEFAULT_GRAPH_VERSION)),
    )
