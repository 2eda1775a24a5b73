"""Real provider payloads, unchanged, start the same conversation on every chat channel.

Each fixture of ``tests/fixtures/<channel>/`` that carries a citizen message goes through
``jobs.pipeline.receive`` as its webhook would deliver it; the dialogue's first reply depends only
on what the citizen wrote, never on the channel.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.container import Container
from bot import dialogue
from bot.dialogue import DialogueDraft
from channels.base import RawRequest
from intake import db
from jobs.pipeline import receive
from outbound.outbox import OutboxMessage
from tests.conftest import Clock, read_fixture

FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}


def deliver(container: Container, channel: str, name: str) -> tuple[DialogueDraft, list[OutboxMessage]]:
    """Feed one fixture through the pipeline; return the sender's draft and the replies queued."""
    headers = JSON if name.endswith(".json") else FORM
    receipt = receive(
        container, channel, RawRequest(body=read_fixture(channel, name), headers=headers), verify=False
    )
    assert receipt.status == 200 and len(receipt.results) == 1
    sender = receipt.results[0].message.sender_urn
    with db.session(container.engine) as s:
        draft = s.exec(select(DialogueDraft).where(DialogueDraft.sender_urn == sender)).one()
        replies = list(s.exec(select(OutboxMessage).where(OutboxMessage.to_urn == sender)).all())
    return draft, replies


@pytest.mark.parametrize(
    ("channel", "name", "state", "expected"),
    [
        # name and service in the message: only the date is left (R5a met, R3 asked)
        ("sms", "message__plain.form", dialogue.ASK_DATE, "Kapan Anda menerima layanan"),
        # the WhatsApp profile name is offered as a hint to confirm, not taken (SPEC R5a)
        (
            "whatsapp",
            "message__text_profile_name.form",
            dialogue.ASK_NAME,
            "Jika nama Anda Siti Rahma, balas YA",
        ),
        ("whatsapp", "cloud_message__text.json", dialogue.ASK_NAME, "Jika nama Anda Siti Rahma, balas YA"),
        ("telegram", "message__text.json", dialogue.ASK_NAME, "Jika nama Anda Siti Rahayu, balas YA"),
        ("telegram", "message__photo_caption.json", dialogue.ASK_NAME, "nama Anda"),
        ("sms", "message__two_images.form", dialogue.ASK_SERVICE, "Layanan apa"),
        ("whatsapp", "message__image_caption.form", dialogue.ASK_SERVICE, "Layanan apa"),
    ],
)
def test_first_message_of_each_channel_starts_the_same_dialogue(
    container: Container, channel: str, name: str, state: str, expected: str
) -> None:
    draft, replies = deliver(container, channel, name)
    assert draft.state == state
    assert len(replies) == 1
    assert replies[0].channel == channel and replies[0].purpose == "reply"
    assert "terima kasih telah menghubungi" in replies[0].text and expected in replies[0].text


def test_r5a_whatsapp_profile_name_confirmed_with_ya_becomes_the_identity(container: Container) -> None:
    deliver(container, "whatsapp", "message__text_profile_name.form")
    draft, _ = deliver_text(container, "whatsapp:+6281311112222", "YA")
    assert draft.name == "Siti Rahma" and draft.state == dialogue.ASK_DATE


def test_attachments_of_a_real_payload_are_counted_in_the_draft(container: Container, clock: Clock) -> None:
    draft, _ = deliver(container, "sms", "message__two_images.form")
    assert draft.attachment_count == 2


def deliver_text(container: Container, sender: str, text: str) -> tuple[DialogueDraft, list[OutboxMessage]]:
    """Answer on WhatsApp (Twilio) from ``sender``, built from the profile-name fixture."""
    import urllib.parse

    params = dict(
        urllib.parse.parse_qsl(read_fixture("whatsapp", "message__text_profile_name.form").decode())
    )
    for key in ("MessageSid", "SmsSid", "SmsMessageSid"):
        params[key] = "SM" + "f" * 32
    params["Body"], params["From"] = text, sender
    raw = RawRequest(body=urllib.parse.urlencode(params).encode(), headers=FORM)
    assert receive(container, "whatsapp", raw, verify=False).status == 200
    with db.session(container.engine) as s:
        draft = s.exec(select(DialogueDraft).where(DialogueDraft.sender_urn == sender)).one()
        replies = list(s.exec(select(OutboxMessage).where(OutboxMessage.to_urn == sender)).all())
    return draft, replies
