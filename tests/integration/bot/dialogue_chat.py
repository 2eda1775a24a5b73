"""A citizen chatting with the bot through the real inbound pipeline, on any chat channel.

Each message is built from a real provider payload in ``tests/fixtures/<channel>/`` with its
sender, text and id changed, and goes through ``jobs.pipeline.receive`` exactly as a webhook would
(without the signature check), so the dialogue sees what it sees in production.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from typing import Any

from sqlmodel import col, select

from app.container import Container
from channels.base import RawRequest
from intake import db
from intake.models import Complaint, Message
from jobs.pipeline import receive
from outbound.outbox import OutboxMessage
from tests.conftest import Clock, read_fixture

#: The payload each channel's citizen messages are built from, and the sender URN it yields.
TEMPLATES: dict[str, tuple[str, str]] = {
    "sms": ("message__plain.form", "tel:+6281200000{n:03d}"),
    "whatsapp": ("message__text_profile_name.form", "whatsapp:+6281200000{n:03d}"),
    "telegram": ("message__text.json", "telegram:555{n:04d}"),
}
#: A payload with one image, per channel that has one.
IMAGE_TEMPLATES = {"whatsapp": "message__image_caption.form", "sms": "message__two_images.form"}


class Chat:
    """One citizen (sender) on one channel; ``send`` returns the bot's new replies."""

    counter = 0

    def __init__(self, container: Container, clock: Clock, channel: str, n: int = 1) -> None:
        self.container, self.clock, self.channel = container, clock, channel
        self.sender = TEMPLATES[channel][1].format(n=n)
        self.n = n
        self.seen = 0

    def payload(self, text: str, *, image: bool = False) -> RawRequest:
        """Build the provider's payload for one message of this citizen."""
        Chat.counter += 1
        seq = Chat.counter
        if self.channel == "telegram":
            doc: dict[str, Any] = json.loads(read_fixture("telegram", TEMPLATES["telegram"][0]))
            uid = int(self.sender.split(":")[1])
            doc["update_id"] = 900000 + seq
            doc["message"]["message_id"] = seq
            doc["message"]["from"]["id"] = doc["message"]["chat"]["id"] = uid
            doc["message"]["text"] = text
            return RawRequest(body=json.dumps(doc).encode(), headers={"content-type": "application/json"})
        name = IMAGE_TEMPLATES[self.channel] if image else TEMPLATES[self.channel][0]
        params = dict(
            urllib.parse.parse_qsl(read_fixture(self.channel, name).decode(), keep_blank_values=True)
        )
        sid = f"SM{seq:032d}"
        for key in ("MessageSid", "SmsSid", "SmsMessageSid"):
            params[key] = sid
        params["From"] = self.sender.replace("tel:", "")
        if self.channel == "whatsapp":
            params["WaId"] = self.sender.split("+")[1]
        params["Body"] = text
        body = urllib.parse.urlencode(params).encode()
        return RawRequest(body=body, headers={"content-type": "application/x-www-form-urlencoded"})

    def send_payload(self, fixture: str, *, after: float = 30) -> list[str]:
        """Send one stored payload of this channel (a voice note, a location) as this citizen."""
        Chat.counter += 1
        params = dict(
            urllib.parse.parse_qsl(read_fixture(self.channel, fixture).decode(), keep_blank_values=True)
        )
        sid = f"MM{Chat.counter:032d}"
        for key in ("MessageSid", "SmsSid", "SmsMessageSid"):
            params[key] = sid
        params["From"] = self.sender.replace("tel:", "")
        if self.channel == "whatsapp":
            params["WaId"] = self.sender.split("+")[1]
        body = urllib.parse.urlencode(params).encode()
        raw = RawRequest(body=body, headers={"content-type": "application/x-www-form-urlencoded"})
        self.clock.advance(seconds=after)
        receipt = receive(self.container, self.channel, raw, verify=False)
        assert receipt.status == 200, receipt.reason
        return self.new_replies()

    def all_messages(self) -> list[Message]:
        """Return every message this citizen sent, oldest first."""
        with db.session(self.container.engine) as s:
            return list(
                s.exec(select(Message).where(Message.sender_urn == self.sender).order_by(Message.id)).all()  # type: ignore[arg-type]
            )

    def send(self, text: str = "", *, image: bool = False, after: float = 30) -> list[str]:
        """Send one message ``after`` seconds after the previous one; return the replies it caused."""
        self.clock.advance(seconds=after)
        receipt = receive(self.container, self.channel, self.payload(text, image=image), verify=False)
        assert receipt.status == 200, receipt.reason
        return self.new_replies()

    def new_replies(self) -> list[str]:
        """Return the bot's messages to this citizen not returned before."""
        texts = self.replies()
        fresh = texts[self.seen :]
        self.seen = len(texts)
        return fresh

    def replies(self) -> list[str]:
        """Return every message the bot queued for this citizen."""
        with db.session(self.container.engine) as s:
            rows = s.exec(
                select(OutboxMessage).where(OutboxMessage.to_urn == self.sender).order_by(OutboxMessage.id)  # type: ignore[arg-type]
            ).all()
        return [r.text for r in rows]

    def complaints(self) -> list[Complaint]:
        """Return the records filed for this citizen."""
        with db.session(self.container.engine) as s:
            query = select(Complaint).where(Complaint.contact_urn == self.sender)
            return list(s.exec(query.order_by(col(Complaint.id))).all())

    def messages_of(self, complaint: Complaint) -> list[Message]:
        """Return the messages attached to a record."""
        with db.session(self.container.engine) as s:
            return list(s.exec(select(Message).where(Message.complaint_id == complaint.id)).all())


def at(day: int, hour: int = 10, minute: int = 0, month: int = 3) -> dt.datetime:
    """A moment in March 2026, Jakarta time."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=dt.timezone(dt.timedelta(hours=7)))
