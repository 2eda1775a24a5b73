"""WhatsApp (R2f) on the record: one provider message delivered twice files one message."""

from __future__ import annotations

import json

from sqlmodel import select

from app.container import Container
from channels.base import RawRequest
from intake import db
from intake.models import Message, RawInbound
from jobs.pipeline import receive
from tests.conftest import read_fixture

JSON = {"content-type": "application/json"}


def test_r2f_one_cloud_message_in_two_deliveries_is_stored_once(container: Container) -> None:
    """Message-level dedupe: Meta delivers the same message again in a body serialised differently
    (a new payload, a new raw key: the body's hash); its ``wamid`` files no second message."""
    first = read_fixture("whatsapp", "cloud_message__text.json")
    again = json.dumps(json.loads(first), indent=2).encode()
    receipts = [
        receive(container, "whatsapp", RawRequest(body, JSON), verify=False) for body in (first, again)
    ]
    assert [r.status for r in receipts] == [200, 200]
    assert receipts[1].duplicate and receipts[1].raw_id != receipts[0].raw_id
    with db.session(container.engine) as s:
        assert len(s.exec(select(RawInbound)).all()) == 2
        [message] = s.exec(select(Message)).all()
        assert message.raw_id == receipts[0].raw_id
