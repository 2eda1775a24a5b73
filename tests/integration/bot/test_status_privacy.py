"""The chat STATUS command shows what docs/channels-public.md promises: status and dates, nothing personal."""

from __future__ import annotations

from sqlmodel import select

from app.container import Container
from intake import db
from intake.models import STATUS_ANSWERED, Complaint
from tests.conftest import Clock
from tests.integration.bot.dialogue_chat import Chat


def test_status_of_an_answered_record_carries_no_answer_name_or_complaint(
    container: Container, clock: Clock
) -> None:
    reporter = Chat(container, clock, "sms", n=71)
    reporter.send("Nama saya Budi Santoso. Izin PBG saya belum keluar, saya urus kemarin.")
    reporter.send("ya")
    [filed] = reporter.complaints()
    with db.write_session(container.engine) as s:
        row = s.exec(select(Complaint).where(Complaint.id == filed.id)).one()
        row.status, row.answer_text = STATUS_ANSWERED, "Yth. Budi Santoso, PBG Anda terbit 20 Maret 2026."
        s.add(row)
    stranger = Chat(container, clock, "telegram", n=72)
    [reply] = stranger.send(f"STATUS {filed.tracking_number}")
    assert filed.tracking_number in reply
    for private in ("Budi", "Santoso", "20 Maret", "PBG saya", "+62"):
        assert private not in reply, private
