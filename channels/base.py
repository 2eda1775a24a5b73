"""The adapter contract every channel implements, and the normalised message types it speaks.

A channel *translates*; it never decides. The data flows one way:

    provider ──► channels/<name>.py ──► intake.ingest() ──► bot/ (dialogue, outbox) ──► channel.send()

Contract of a channel module (see ``channels/__init__.py`` for the registry):

``verify(raw: RawRequest, config: app.container.ChannelConfig) -> None``
    Raise :class:`SignatureError` when the request does not come from the provider (forged, missing
    or stale signature). ``raw.url`` is the public URL the provider called; ``config`` carries the
    channel's table and secrets. Pure: no database, no network. Poll-based channels (IMAP, X) have nothing
    to verify and may omit it.

``parse(raw: RawRequest) -> list[InboundMessage]``
    Pure translation of one provider payload into zero or more normalised messages. An empty list
    means the payload was deliberately ignored (a status callback, our own echo, a reaction).
    Raise :class:`UnsupportedPayload` with a reason a human can read when the payload cannot be
    understood; the caller keeps the raw bytes and quarantines them. Push (webhook) and pull
    (poller) paths call the same ``parse``.

``external_id(raw: RawRequest) -> str``
    The provider's id of the payload, for storing it idempotently *before* parsing. Optional: the
    default is a hash of the body, which already makes an exact replay one record.

``send(out: OutboundMessage) -> str``  (an object with this method, built by app.container)
    Deliver one message and return the provider's id for it. Raise :class:`TemporaryFailure`
    (retry later: timeouts, 429, 5xx) or :class:`PermanentFailure` (give up: bad number, 4xx).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol


class ChannelError(Exception):
    """Base class of the errors a channel raises."""


class SignatureError(ChannelError):
    """The request is not signed by the provider (forged, missing or wrong signature): HTTP 403."""


class UnsupportedPayload(ChannelError):
    """The payload cannot be understood; the reason is shown to officers and in the 400 answer."""


class Ignored(list["InboundMessage"]):
    """An empty ``parse`` result that says why: the payload is acknowledged and recorded as ignored.

    It compares equal to ``[]``; the pipeline stores ``reason`` on the raw row (a status callback,
    a reaction, an event kind Aduan does not act on). The reason is plain words for officers.
    """

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class TemporaryFailure(ChannelError):
    """Sending failed in a way that may succeed later (timeout, 429, 5xx)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(ChannelError):
    """Sending failed for good (invalid recipient, rejected content)."""


@dataclass(frozen=True)
class RawRequest:
    """One payload exactly as it arrived: body bytes, headers and the URL the provider called."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    url: str = ""
    method: str = "POST"
    query: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """Return a header case-insensitively."""
        low = name.lower()
        for key, value in self.headers.items():
            if key.lower() == low:
                return value
        return None

    def body_hash(self) -> str:
        """Return ``sha256:<hex>`` of the body: the default idempotency key of a payload."""
        return "sha256:" + hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message: a provider URL to download later, or the bytes themselves."""

    content_type: str
    url: str | None = None
    filename: str | None = None
    data: bytes | None = None
    size: int | None = None


@dataclass(frozen=True)
class Location:
    """A shared location (WhatsApp, Telegram)."""

    latitude: float
    longitude: float
    label: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """One citizen message, normalised; the only shape ``intake`` accepts from channels.

    ``sender`` is a URN (``tel:+62…``, ``whatsapp:+62…``, ``mailto:…``, ``telegram:123``).
    ``sender_name`` is what the provider shows (WhatsApp profile name, e-mail display name): a
    hint the bot confirms, not proof of identity. ``reporter_name`` is a name the citizen gave
    themselves (web form, officer entry), which counts as identity for R5a.
    ``complete`` marks a whole submission (web form, officer entry, ``aduan ingest``) that is
    filed at once without a dialogue.
    """

    channel: str
    external_id: str
    sender: str
    text: str = ""
    recipient: str | None = None
    sent_at: dt.datetime | None = None
    sender_name: str | None = None
    reporter_name: str | None = None
    attachments: tuple[Attachment, ...] = ()
    location: Location | None = None
    reply_to: str | None = None
    thread_id: str | None = None
    service: str | None = None
    service_date: dt.date | None = None
    problem_type: str | None = None
    anonymous: bool = False
    complete: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundMessage:
    """One message to send to a citizen or a member of staff."""

    channel: str
    to: str
    text: str
    id: int | None = None
    subject: str | None = None
    template: str | None = None
    template_vars: dict[str, str] = field(default_factory=dict)
    reply_to: str | None = None
    thread_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Sender(Protocol):
    """What the outbox needs from a channel to deliver a message."""

    def send(self, out: OutboundMessage) -> str:
        """Deliver ``out`` and return the provider's message id."""
        ...


def split_text(text: str, limit: int) -> list[str]:
    """Split a long text into parts of at most ``limit`` characters, on line breaks where it can.

    For providers that cap one message's length (Telegram, Instagram): each part is one message.
    """
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    parts.append(rest)
    return parts
