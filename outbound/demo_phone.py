"""The demo phone: a newcomer chats as a citizen on a simulated WhatsApp number (demo mode only).

``install`` puts the sandbox provider (``channels.sandbox``) in front of the WhatsApp sender so
replies to demo numbers come back through the real outbox; ``signed_message`` builds the Twilio
webhook a phone would cause, signed with the demo secret; ``conversation`` reads what the page
shows: the citizen's messages and the messages the outbox delivered to the sandbox.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from sqlmodel import Session, col, select
from twilio.request_validator import RequestValidator

from channels import _twilio
from channels.sandbox import DEMO_PREFIX, SandboxSender, is_demo_number
from intake.models import Message
from outbound.outbox import OutboxMessage

if TYPE_CHECKING:
    from app.container import Container


def install(container: Container) -> None:
    """In demo mode, deliver WhatsApp messages for demo numbers to the sandbox provider."""
    if not container.settings.demo_phone():
        return
    current = container.senders.get("whatsapp")
    if not isinstance(current, SandboxSender):
        container.senders["whatsapp"] = SandboxSender(current)


def new_number() -> str:
    """A fresh simulated WhatsApp number (URN) for one demo phone."""
    return DEMO_PREFIX + "".join(secrets.choice("0123456789") for _ in range(7))


@dataclass(frozen=True)
class Bubble:
    """One message on the demo phone's screen."""

    mine: bool  # sent by the citizen (right) or received (left)
    text: str
    at: dt.datetime
    attachments: int = 0


def signed_message(container: Container, *, urn: str, text: str, url: str) -> tuple[bytes, dict[str, str]]:
    """Return Twilio's WhatsApp webhook (body, headers) for ``text`` from ``urn``, signed for ``url``."""
    if not is_demo_number(urn):
        raise ValueError("only a demo number can be simulated")
    token = container.settings.secret(_twilio.AUTH_TOKEN_ENV)
    if not token:
        raise ValueError(f"{_twilio.AUTH_TOKEN_ENV} is not set: the demo phone signs with the demo secret")
    office = str(container.settings.channel("whatsapp").get("from_number") or "whatsapp:+6281809898222")
    sid = "SM" + secrets.token_hex(16)
    params = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": container.settings.secret(_twilio.ACCOUNT_SID_ENV) or "AC" + "0" * 32,
        "From": urn,
        "To": "whatsapp:" + office.removeprefix("whatsapp:"),
        "WaId": urn.removeprefix("whatsapp:+"),
        "Body": text,
        "NumMedia": "0",
        "MessageType": "text",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    signature = RequestValidator(token).compute_signature(url, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return urlencode(params).encode(), headers


def conversation(session: Session, urn: str, *, limit: int = 200) -> list[Bubble]:
    """The demo phone's screen: the citizen's messages and what the sandbox received, oldest first."""
    if not is_demo_number(urn):
        return []
    inbound = session.exec(
        select(Message).where(Message.sender_urn == urn).order_by(col(Message.id).desc()).limit(limit)
    ).all()
    outbound = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.to_urn == urn, col(OutboxMessage.sent_at).is_not(None))
        .order_by(col(OutboxMessage.id).desc())
        .limit(limit)
    ).all()
    # oldest first; at the same moment the citizen's message comes before the answer to it
    bubbles = [
        Bubble(True, m.text, m.received_at, m.attachments.count('"content_type"')) for m in reversed(inbound)
    ]
    bubbles += [Bubble(False, o.text, o.sent_at or o.created_at) for o in reversed(outbound)]
    bubbles.sort(key=lambda b: b.at)
    return bubbles[-limit:]
