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
import json
import logging
from typing import Any

import telegram
import telegram.error

from channels import _shape
from channels.base import (
    Attachment,
    InboundMessage,
    Location,
    OutboundMessage,
    PermanentFailure,
    RawRequest,
    SignatureError,
    TemporaryFailure,
    UnsupportedPayload,
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
    try:
        data = json.loads(raw.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UnsupportedPayload(f"not a JSON document: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise UnsupportedPayload("a Telegram update is a JSON object with an integer update_id")
    return data


def external_id(raw: RawRequest) -> str:
    """Return ``update:<update_id>``: unique per bot, and what Telegram repeats on a retry."""
    return f"update:{_load(raw)['update_id']}"


def _full_name(first: str | None, last: str | None) -> str | None:
    name = " ".join(p for p in (first, last) if p).strip()
    return name or None


def _attachments(msg: telegram.Message) -> tuple[Attachment, ...]:
    # Files are referenced by file_id (``tg-file:``); the bytes are fetched later with getFile,
    # because parse is pure and the Bot API file URL contains the token.
    if msg.photo:
        best = max(msg.photo, key=lambda p: (p.file_size or 0, p.width * p.height))
        return (
            Attachment(content_type="image/jpeg", url=f"{FILE_SCHEME}{best.file_id}", size=best.file_size),
        )
    if msg.document:
        doc = msg.document
        return (
            Attachment(
                content_type=doc.mime_type or "application/octet-stream",
                url=f"{FILE_SCHEME}{doc.file_id}",
                filename=doc.file_name,
                size=doc.file_size,
            ),
        )
    return ()


def _message(update: telegram.Update, field: str) -> InboundMessage | None:
    msg: telegram.Message = getattr(update, field)
    if msg.chat.type != "private":
        return None  # citizens talk to the bot one to one; group chatter is not a complaint
    user = msg.from_user
    if user is not None and user.is_bot:
        return None  # another bot (or our own echo through a relay)
    extra: dict[str, Any] = {"update_id": update.update_id, "message_id": msg.message_id}
    reporter_name = None
    key = f"{msg.chat.id}:{msg.message_id}"
    if field == "edited_message":
        # An edit is a new version of an earlier message: its own id, linked to the original.
        edited = msg.edit_date or msg.date
        extra.update(edited=True, original_external_id=key)
        key = f"{key}:edit:{int(edited.timestamp())}"
    if msg.contact is not None:
        contact = msg.contact
        # The "share my phone number" button sends the user's own contact; a contact card of
        # someone else is not the sender's identity.
        own = user is not None and contact.user_id == user.id
        extra["contact_own"] = own
        try:
            extra["contact_phone"] = e164(contact.phone_number)
        except InvalidContact:
            extra["contact_phone_invalid"] = True
        if own:
            # A hint only (SPEC R5a reading): the dialogue asks the citizen to confirm it.
            reporter_name = _full_name(contact.first_name, contact.last_name)
    location = None
    if msg.location is not None:
        location = Location(latitude=msg.location.latitude, longitude=msg.location.longitude)
    if msg.sticker is not None:
        extra["content"] = "sticker"  # no object (SPEC R5a reading): the dialogue asks again
    return InboundMessage(
        channel=NAME,
        external_id=key,
        sender=f"telegram:{msg.chat.id}",
        text=(msg.text or msg.caption or "").strip(),
        sent_at=msg.date,
        sender_name=_full_name(user.first_name, user.last_name) if user else None,
        reporter_name=reporter_name,
        attachments=_attachments(msg),
        location=location,
        reply_to=(
            f"{msg.chat.id}:{msg.reply_to_message.message_id}" if msg.reply_to_message is not None else None
        ),
        thread_id=str(msg.chat.id),
        extra=extra,
    )


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
    reply = _shape.opt_obj(msg.get("reply_to_message"), f"{path}.reply_to_message")
    if reply:
        _check_message(reply, f"{path}.reply_to_message")
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
    """Turn one Telegram update into zero or one inbound message (non-message updates: none)."""
    data = _load(raw)
    kinds = [k for k in data if k != "update_id"]
    for field in MESSAGE_FIELDS:
        if data.get(field) is None:
            continue
        _check_message(data[field], field)
        try:
            # Only the part Aduan reads goes to PTB: an ignored field cannot break the parse.
            update = telegram.Update.de_json({"update_id": data["update_id"], field: data[field]}, None)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, OSError) as exc:
            # A field Aduan does not read but PTB converts (entities, forward_origin, …) has a wrong
            # type: de_json then fails on dict methods or datetime conversion of that value.
            raise UnsupportedPayload(f"not a Telegram update: {type(exc).__name__}: {exc}") from exc
        found = _message(update, field)
        return [found] if found else []
    if any(k in IGNORED_FIELDS for k in kinds):
        return []
    raise UnsupportedPayload(
        f"unknown update kind {kinds}; read: {list(MESSAGE_FIELDS)}; ignored: {list(IGNORED_FIELDS)}"
    )


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


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split a long text on line breaks (or hard) into parts Telegram accepts."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    parts.append(rest)
    return parts


class TelegramSender:
    """Send text to citizens through the Bot API (officers' alerts: ``outbound/alerts.py``)."""

    def __init__(self, token: str, *, base_url: str = DEFAULT_BASE_URL) -> None:
        self.token = token
        self.base_url = base_url

    async def _send(self, token: str, chat_id: str, text: str, *, ask_contact: bool = False) -> str:
        bot = telegram.Bot(token, base_url=self.base_url)
        ids = []
        parts = split_text(text)
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
