"""A citizen who writes to two offices of the province has two conversations, one with each office.

The dialogue's draft is kept per (office, sender): what the citizen tells Bandung never joins the
report being gathered for Purwakarta, each is filed under its own office, and a reply to one office
never reopens the other office's record.
"""

from __future__ import annotations

import itertools
from urllib.parse import parse_qsl, urlencode

from sqlmodel import select

from app.container import Container
from bot import dialogue
from channels.base import RawRequest
from intake import db
from intake.ingest import file_complaint
from intake.models import STATUS_CLOSED, Complaint
from jobs.pipeline import receive
from outbound import outbox
from tests.conftest import Clock, read_fixture

CITIZEN = "+6281234567001"
NUMBERS = {"pwk": "+6281809898222", "bdg": "+6281100000222"}
_sids = itertools.count(1)


def write(container: Container, clock: Clock, office: str, text: str) -> list[str]:
    """The citizen texts ``office``'s number 30 s after the last message; return that office's new replies."""
    clock.advance(seconds=30)
    params = dict(parse_qsl(read_fixture("sms", "message__plain.form").decode(), keep_blank_values=True))
    sid = f"SM{next(_sids):032d}"
    params.update(MessageSid=sid, SmsSid=sid, SmsMessageSid=sid, From=CITIZEN, To=NUMBERS[office], Body=text)
    before = len(replies(container, office))
    raw = RawRequest(
        body=urlencode(params).encode(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert receive(container, "sms", raw, verify=False).status == 200
    return replies(container, office)[before:]


def replies(container: Container, office: str) -> list[str]:
    with db.session(container.engine) as s:
        rows = s.exec(
            select(outbox.OutboxMessage)
            .where(outbox.OutboxMessage.office == office)
            .order_by(outbox.OutboxMessage.id)  # type: ignore[arg-type]
        )
        return [r.text for r in rows]


def complaints(container: Container) -> dict[str, Complaint]:
    with db.session(container.engine) as s:
        return {c.office: c for c in s.exec(select(Complaint))}


def test_two_offices_two_conversations_each_filed_for_its_office(container: Container, clock: Clock) -> None:
    assert "nama Anda" in write(container, clock, "pwk", "Izin PBG saya belum keluar sudah tiga minggu")[-1]
    bdg_first = write(container, clock, "bdg", "Izin reklame saya ditolak tanpa alasan yang jelas")
    assert "DPMPTSP Kabupaten Bandung" in bdg_first[0]  # a conversation of its own: greeted anew
    assert "Kapan Anda menerima layanan" in write(container, clock, "pwk", "Budi Santoso")[-1]
    assert "Kapan Anda menerima layanan" in write(container, clock, "bdg", "Siti Aminah")[-1]
    pwk_summary = write(container, clock, "pwk", "kemarin")[-1]
    bdg_summary = write(container, clock, "bdg", "kemarin")[-1]
    assert "PBG" in pwk_summary and "reklame" not in pwk_summary and "Budi Santoso" in pwk_summary
    assert "reklame" in bdg_summary and "PBG" not in bdg_summary and "Siti Aminah" in bdg_summary
    write(container, clock, "pwk", "YA")
    write(container, clock, "bdg", "YA")
    filed = complaints(container)
    assert {office: c.tracking_number for office, c in filed.items()} == {
        "pwk": "PWK-2026-000001",
        "bdg": "BDG-2026-000001",
    }
    assert "PBG" in filed["pwk"].text and "reklame" not in filed["pwk"].text
    assert "reklame" in filed["bdg"].text and "PBG" not in filed["bdg"].text


def test_two_abandoned_conversations_are_filed_each_for_its_office(
    container: Container, clock: Clock
) -> None:
    write(container, clock, "pwk", "Izin PBG saya belum keluar sudah tiga minggu")
    write(container, clock, "bdg", "Izin reklame saya ditolak tanpa alasan yang jelas")
    clock.advance(hours=25)
    assert dialogue.file_stale_drafts(container) == 2
    filed = complaints(container)
    assert filed["pwk"].tracking_number == "PWK-2026-000001" and "reklame" not in filed["pwk"].text
    assert filed["bdg"].tracking_number == "BDG-2026-000001" and "PBG" not in filed["bdg"].text
    # each office told the citizen of its own record
    assert "PWK-2026-000001" in replies(container, "pwk")[-1]
    assert "BDG-2026-000001" in replies(container, "bdg")[-1]


def test_a_reply_to_one_office_never_reopens_the_other_office_record(
    container: Container, clock: Clock
) -> None:
    with db.write_session(container.engine) as s:
        closed = file_complaint(
            session=s,
            office=container.offices["pwk"],
            channel="sms",
            contact_urn=f"tel:{CITIZEN}",
            text="Izin PBG saya belum keluar sudah tiga minggu",
            received_at=clock(),
            now=clock(),
            reporter_name="Budi Santoso",
        )
        closed.status, closed.closed_at = STATUS_CLOSED, clock()
        s.add(closed)
    clock.advance(days=2)
    text = "Izin saya masih belum keluar juga sampai sekarang"
    to_bdg = write(container, clock, "bdg", text)
    assert not any("buka kembali" in r for r in to_bdg)  # Bandung starts a report of its own
    assert complaints(container)["pwk"].status == STATUS_CLOSED
    to_pwk = write(container, clock, "pwk", text)
    assert "buka kembali" in to_pwk[-1]  # the office that handled it reopens it
    assert complaints(container)["pwk"].status != STATUS_CLOSED
