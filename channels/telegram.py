"""Telegram (python-telegram-bot 22): a citizen channel by webhook.

https://core.telegram.org/bots/api#update — https://docs.python-telegram-bot.org/en/v22.8/

Telegram is not named by the service standard (SPEC R2); Aduan offers it as one more citizen
channel (officers' deadline alerts use it too, through ``outbound/alerts.py`` and its own bot token,
which may be the same token). Inbound updates arrive at ``POST /hooks/telegram``
(``inbox/hooks.py``) with the secret set by ``setWebhook(secret_token=…)`` in the header
``X-Telegram-Bot-Api-Secret-Token``; they are parsed here with PTB's own ``Update.de_json`` and go
through the same pipeline as every channel. PTB's ``Application``/``Updater`` is not needed: the
pipeline is the dispatcher.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
from typing import Any

import telegram
import telegram.error

from channels import _shape
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
    split_text,
)
from channels.urns import InvalidContact, e164, urn_path

NAME = "telegram"
WEBHOOK_PATH = "/hooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_ENV = "ADUAN_TELEGRAM_WEBHOOK_SECRET"
TOKEN_ENV = "ADUAN_TELEGRAM_BOT_TOKEN"
DEFAULT_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_FILE_URL = "https://api.telegram.org/file/bot"
#: ``OutboundMessage.extra`` key asking for the "share my phone number" button under the text.
ASK_CONTACT = "ask_contact"
CONTACT_BUTTON = "Bagikan nomor telepon saya"
#: How a Telegram file is referenced in a message's attachments until it is downloaded.
FILE_SCHEME = "tg-file:"
#: Telegram's limit on one text message (characters); longer answers are split.
MAX_TEXT = 4096

#: Update fields Aduan reads, and those it ignores on purpose (no citizen message in them).
MESSAGE_FIELDS = ("message", "edited_message")
IGNORED_FIELDS = (
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "inline_query",
    "chosen_inline_result",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "message_reaction",
    "message_reaction_count",
    "poll",
    "poll_answer",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "shipping_query",
    "pre_checkout_query",
    "chat_boost",
    "removed_chat_boost",
    "purchased_paid_media",
)

log = logging.getLogger("aduan.channels.telegram")


def verify(raw: RawRequest, config: Any) -> None:
    """Raise SignatureError unless the secret-token header equals ADUAN_TELEGRAM_WEBHOOK_SECRET."""
    expected = config.secret(SECRET_ENV)
    given = raw.header(SECRET_HEADER)
    if not given:
        raise SignatureError(f"missing {SECRET_HEADER} header")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureError(f"{SECRET_HEADER} does not match")


def _load(raw: RawRequest) -> dict[str, Any]:
    data = _shape.json_document(raw.body)
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise UnsupportedPayload("a Telegram update is a JSON object with an integer update_id")
    return data


def external_id(raw: RawRequest) -> str:
    """Return ``update:<update_id>``: unique per bot, and what Telegram repeats on a retry."""
    return f"update:{_load(raw)['update_id']}"


def _full_name(first: str | None, last: str | None) -> str | None:
    name = " ".join(p for p in (first, last) if p).strip()
    return name or None


#: Media a message may carry, each kept as an attachment: field → content type when none is given.
MEDIA_FIELDS: dict[str, str] = {
    "document": "application/octet-stream",
    "voice": "audio/ogg",
    "audio": "audio/mpeg",
    "video": "video/mp4",
    "video_note": "video/mp4",
    "animation": "video/mp4",
    "sticker": "image/webp",
}


def _attachments(msg: dict[str, Any]) -> tuple[Attachment, ...]:
    """Return every file of a message: the largest photo size, a document, voice note, audio, video,
    video note, animation or sticker. Files are referenced by file_id (``tg-file:``); the bytes are
    fetched later with getFile, because parse is pure and the Bot API file URL contains the token."""
    found: list[Attachment] = []
    photos = [p for p in msg.get("photo") or [] if isinstance(p, dict) and p.get("file_id")]
    if photos:
        best = max(
            photos, key=lambda p: (p.get("file_size") or 0, (p.get("width") or 0) * (p.get("height") or 0))
        )
        found.append(
            Attachment(
                content_type="image/jpeg", url=f"{FILE_SCHEME}{best['file_id']}", size=best.get("file_size")
            )
        )
    for field, default_type in MEDIA_FIELDS.items():
        media = msg.get(field)
        if not isinstance(media, dict) or not media.get("file_id"):
            continue
        content_type = media.get("mime_type") or default_type
        if field == "sticker" and (media.get("is_video") or media.get("is_animated")):
            content_type = "video/webm" if media.get("is_video") else "application/x-tgsticker"
        found.append(
            Attachment(
                content_type=str(content_type),
                url=f"{FILE_SCHEME}{media['file_id']}",
                filename=media.get("file_name"),
                size=media.get("file_size"),
            )
        )
    return tuple(found)


def _location(msg: dict[str, Any]) -> Location | None:
    """Return a shared location, a venue's title and address as its label."""
    venue = msg.get("venue") if isinstance(msg.get("venue"), dict) else None
    where = msg.get("location") or (venue or {}).get("location")
    if not isinstance(where, dict):
        return None
    label = None
    if venue:
        label = ", ".join(str(v) for v in (venue.get("title"), venue.get("address")) if v) or None
    return Location(
        latitude=_shape.number(where.get("latitude"), "message.location.latitude"),
        longitude=_shape.number(where.get("longitude"), "message.location.longitude"),
        label=label,
    )


def _message(update_id: int, msg: dict[str, Any], field: str) -> InboundMessage | Ignored:
    chat = msg["chat"]
    if chat.get("type") != "private":
        # Citizens talk to the bot one to one; group chatter is not a complaint.
        return Ignored(
            f"a message in a {chat.get('type') or 'non-private'} chat, not a private chat with the bot"
        )
    user = msg.get("from") if isinstance(msg.get("from"), dict) else None
    if user is not None and user.get("is_bot"):
        return Ignored("a message from a bot")
    extra: dict[str, Any] = {"update_id": update_id, "message_id": msg["message_id"]}
    reporter_name = None
    key = f"{chat['id']}:{msg['message_id']}"
    sent_at = _shape.epoch(msg.get("date"), f"{field}.date")
    if field == "edited_message":
        # An edit is a new version of an earlier message: its own id, and the stored original gets
        # the new text (its old text kept in its history).
        edited = _shape.epoch(msg.get("edit_date"), f"{field}.edit_date") or sent_at
        extra.update(edited=True, original_external_id=key, edit_of=key)
        key = f"{key}:edit:{int(edited.timestamp()) if edited else 0}"
    contact = msg.get("contact") if isinstance(msg.get("contact"), dict) else None
    if contact is not None:
        # The "share my phone number" button sends the user's own contact; a contact card of
        # someone else is not the sender's identity (it is kept as a card, below).
        own = user is not None and contact.get("user_id") == user.get("id")
        extra["contact_own"] = own
        try:
            extra["contact_phone"] = e164(str(contact.get("phone_number") or ""))
        except InvalidContact:
            extra["contact_phone_invalid"] = True
        if own:
            # A hint only (SPEC R5a reading): the dialogue asks the citizen to confirm it.
            reporter_name = _full_name(contact.get("first_name"), contact.get("last_name"))
    attachments = _attachments(msg)
    if contact is not None and not extra.get("contact_own"):
        card = _vcard(contact)
        attachments += (
            Attachment(content_type="text/vcard", filename="kontak.vcf", data=card, size=len(card)),
        )
    if isinstance(msg.get("sticker"), dict):
        extra["content"] = "sticker"  # no object (SPEC R5a reading): the dialogue asks again
    reply = msg.get("reply_to_message")
    return InboundMessage(
        channel=NAME,
        external_id=key,
        sender=f"telegram:{chat['id']}",
        text=(msg.get("text") or msg.get("caption") or "").strip(),
        sent_at=sent_at,
        sender_name=_full_name(user.get("first_name"), user.get("last_name")) if user else None,
        reporter_name=reporter_name,
        attachments=attachments,
        location=_location(msg),
        reply_to=f"{chat['id']}:{reply['message_id']}" if isinstance(reply, dict) else None,
        thread_id=str(chat["id"]),
        extra=extra,
    )


def _vcard(contact: dict[str, Any]) -> bytes:
    """Return a contact card a citizen shared as vCard 3.0 bytes (kept as an attachment)."""
    if contact.get("vcard"):
        return str(contact["vcard"]).encode("utf-8")
    name = _full_name(contact.get("first_name"), contact.get("last_name")) or ""
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        f"FN:{name}",
        f"TEL:{contact.get('phone_number', '')}",
        "END:VCARD",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _check_user(value: Any, path: str) -> None:
    user = _shape.opt_obj(value, path)
    if user:
        _shape.integer(user.get("id"), f"{path}.id")
        _shape.opt_bool(user.get("is_bot"), f"{path}.is_bot")
        _shape.opt_str(user.get("first_name"), f"{path}.first_name", numbers=False)
        _shape.opt_str(user.get("last_name"), f"{path}.last_name", numbers=False)


def _check_message(value: Any, path: str) -> None:
    """Check the types of every field ``_message`` reads (PTB's de_json does not check types)."""
    msg = _shape.obj(value, path)
    _shape.integer(msg.get("message_id"), f"{path}.message_id")
    # Unix seconds as integers; epoch() refuses the ones datetime cannot represent.
    _shape.epoch(_shape.integer(msg.get("date"), f"{path}.date"), f"{path}.date")
    _shape.epoch(_shape.opt_int(msg.get("edit_date"), f"{path}.edit_date"), f"{path}.edit_date")
    chat = _shape.obj(msg.get("chat"), f"{path}.chat")
    _shape.integer(chat.get("id"), f"{path}.chat.id")
    _shape.text(chat.get("type"), f"{path}.chat.type", numbers=False)
    _check_user(msg.get("from"), f"{path}.from")
    _shape.opt_str(msg.get("text"), f"{path}.text", numbers=False)
    _shape.opt_str(msg.get("caption"), f"{path}.caption", numbers=False)
    if msg.get("reply_to_message") is not None:
        # Checked whenever present: an empty quote is no message either (it has no message_id).
        _check_message(msg["reply_to_message"], f"{path}.reply_to_message")
    contact = _shape.opt_obj(msg.get("contact"), f"{path}.contact")
    if contact:
        _shape.text(contact.get("phone_number"), f"{path}.contact.phone_number", numbers=False)
        _shape.opt_int(contact.get("user_id"), f"{path}.contact.user_id")
        _shape.opt_str(contact.get("first_name"), f"{path}.contact.first_name", numbers=False)
        _shape.opt_str(contact.get("last_name"), f"{path}.contact.last_name", numbers=False)
    location = _shape.opt_obj(msg.get("location"), f"{path}.location")
    if location:
        _shape.number(location.get("latitude"), f"{path}.location.latitude")
        _shape.number(location.get("longitude"), f"{path}.location.longitude")
    for size_path, size in _shape.objects(msg.get("photo"), f"{path}.photo"):
        _shape.text(size.get("file_id"), f"{size_path}.file_id", numbers=False)
        _shape.integer(size.get("width"), f"{size_path}.width")
        _shape.integer(size.get("height"), f"{size_path}.height")
        _shape.opt_int(size.get("file_size"), f"{size_path}.file_size")
    document = _shape.opt_obj(msg.get("document"), f"{path}.document")
    if document:
        _shape.text(document.get("file_id"), f"{path}.document.file_id", numbers=False)
        _shape.opt_str(document.get("mime_type"), f"{path}.document.mime_type", numbers=False)
        _shape.opt_str(document.get("file_name"), f"{path}.document.file_name", numbers=False)
        _shape.opt_int(document.get("file_size"), f"{path}.document.file_size")
    _shape.opt_obj(msg.get("sticker"), f"{path}.sticker")


def parse(raw: RawRequest) -> list[InboundMessage]:
    """Turn one Telegram update into zero or one inbound message (non-message updates: ignored)."""
    data = _load(raw)
    kinds = [k for k in data if k != "update_id"]
    for field in MESSAGE_FIELDS:
        if data.get(field) is None:
            continue
        _check_message(data[field], field)
        found = _message(data["update_id"], data[field], field)
        return found if isinstance(found, Ignored) else [found]
    if not kinds:
        return Ignored("an update with nothing in it")
    ignored = [k for k in kinds if k in IGNORED_FIELDS]
    if ignored:
        return Ignored(f"a {ignored[0]} update, not a message to the bot")
    # Telegram adds update kinds over time: acknowledge them (a 400 would be retried for a day).
    return Ignored(f"an update kind Aduan does not read ({', '.join(kinds)})")


def media_source(client: Any, url: str, config: Any) -> tuple[str, dict[str, str]]:
    """Resolve ``tg-file:<file_id>`` with getFile into the download URL (``outbound/attachments.py``)."""
    if not url.startswith(FILE_SCHEME):
        return url, {}
    token = config.secret(TOKEN_ENV)
    api = str(config.table.get("api_base_url", DEFAULT_BASE_URL))
    answer = client.get(f"{api}{token}/getFile", params={"file_id": url[len(FILE_SCHEME) :]})
    answer.raise_for_status()
    path = answer.json()["result"]["file_path"]
    # The download URL carries the token: it is used at once and never stored.
    files = str(config.table.get("file_base_url", DEFAULT_FILE_URL))
    return f"{files}{token}/{path}", {}


class TelegramSender:
    """Send text to citizens through the Bot API (officers' alerts: ``outbound/alerts.py``)."""

    def __init__(self, token: str, *, base_url: str = DEFAULT_BASE_URL) -> None:
        self.token = token
        self.base_url = base_url

    async def _send(self, token: str, chat_id: str, text: str, *, ask_contact: bool = False) -> str:
        bot = telegram.Bot(token, base_url=self.base_url)
        ids = []
        parts = split_text(text, MAX_TEXT)
        try:
            for i, part in enumerate(parts):
                markup = None
                if ask_contact and i == len(parts) - 1:
                    # The "share my phone number" button: Telegram sends back the user's own contact.
                    button = telegram.KeyboardButton(CONTACT_BUTTON, request_contact=True)
                    markup = telegram.ReplyKeyboardMarkup(
                        [[button]], one_time_keyboard=True, resize_keyboard=True
                    )
                sent = await bot.send_message(chat_id=chat_id, text=part, reply_markup=markup)
                ids.append(str(sent.message_id))
        finally:
            await bot.shutdown()
        return f"{chat_id}:{ids[0]}"

    def send(self, out: OutboundMessage) -> str:
        """Deliver ``out`` to ``telegram:<chat id>`` and return ``<chat id>:<message id>``."""
        if not out.text.strip():
            raise PermanentFailure("empty message")
        chat_id = urn_path(out.to)
        try:
            # PTB is asyncio; the outbox worker is a plain thread: give each send its own loop.
            ask = bool(out.extra.get(ASK_CONTACT))
            return asyncio.run(self._send(self.token, chat_id, out.text, ask_contact=ask))
        except telegram.error.RetryAfter as exc:
            retry = exc.retry_after
            seconds = retry.total_seconds() if isinstance(retry, dt.timedelta) else float(retry)
            raise TemporaryFailure(f"Telegram flood control: {exc}", retry_after=seconds) from exc
        except (telegram.error.Forbidden, telegram.error.BadRequest, telegram.error.InvalidToken) as exc:
            # Blocked by the user, chat not found, bad token: retrying will not help.
            raise PermanentFailure(f"Telegram refused: {type(exc).__name__}: {exc}") from exc
        except telegram.error.TelegramError as exc:
            raise TemporaryFailure(f"Telegram unreachable: {type(exc).__name__}: {exc}") from exc


def make_sender(config: Any) -> TelegramSender:
    """Build the sender from ``[channels.telegram]`` and ADUAN_TELEGRAM_BOT_TOKEN."""
    return TelegramSender(
        config.secret(TOKEN_ENV), base_url=str(config.table.get("api_base_url", DEFAULT_BASE_URL))
    )
