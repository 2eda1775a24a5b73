"""Threading of replies (R2g/R8): which complaint a reply joins when its References name several."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from typing import Any

import pytest
from sqlmodel import select

from app.container import Container
from channels.base import RawRequest
from intake import db
from intake.ingest import IngestResult, file_complaint
from intake.models import STATUS_MERGED, Complaint, Event, Message
from jobs.pipeline import receive
from outbound import outbox

OFFICE = "pengaduan@dpmptsp.purwakartakab.go.id"


@pytest.fixture(autouse=True)
def _email_enabled(config_data: dict[str, Any]) -> None:
    config_data["channels"]["email"].update(enabled=True, address=OFFICE, smtp_security="none")


@pytest.fixture
def filing(container: Container) -> Container:
    """The container with a stand-in dialogue that files each new citizen mail at once."""

    def file_it(c: Container, session: Any, result: IngestResult, now: dt.datetime) -> bool:
        stored = result.message
        if stored.complaint_id is not None:
            return False
        file_complaint(
            session=session,
            office=c.office,
            channel="email",
            contact_urn=stored.sender_urn,
            text=stored.text,
            received_at=now,
            now=now,
            reporter_name="Warga Purwakarta",
            messages=[stored],
        )
        return True

    container.message_hooks[:] = [h for h in container.message_hooks if h.__module__ != "bot.dialogue"]
    container.message_hooks.append(file_it)
    return container


def citizen(mid: str, subject: str, text: str, references: str = "") -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "Budi Santoso <budi@example.test>", OFFICE, subject
    m["Message-ID"], m["Date"] = f"<{mid}@example.test>", "Tue, 10 Mar 2026 09:00:00 +0700"
    if references:
        m["In-Reply-To"] = references.split()[-1]
        m["References"] = references
    m.set_content(text)
    return m.as_bytes()


def arrive(container: Container, body: bytes) -> Message:
    receipt = receive(container, "email", RawRequest(body=body), verify=False)
    assert receipt.status == 200
    with db.session(container.engine) as s:
        stored = s.get(Message, receipt.results[0].message.id)
        assert stored is not None
        return stored


def answered(container: Container, complaint_id: int | None, provider_id: str) -> None:
    """Put one of Aduan's answers, as sent, in the outbox."""
    with db.write_session(container.engine) as s:
        row = outbox.enqueue(
            s,
            channel="email",
            to="mailto:budi@example.test",
            text="Sedang kami proses.",
            now=container.now(),
            complaint_id=complaint_id,
            purpose="reply",
        )
        row.provider_id = provider_id
        s.add(row)


def threaded_by(container: Container, message_id: int | None) -> list[str]:
    with db.session(container.engine) as s:
        notes = s.exec(select(Event.note).where(Event.action == "message")).all()
    return [n for n in notes if n and f"message #{message_id} " in n]


def test_r8_reply_naming_our_answer_and_an_earlier_mail_joins_the_complaint_we_answered(
    filing: Container,
) -> None:
    first = arrive(filing, citizen("a1", "Izin PBG belum keluar", "Izin PBG saya belum keluar."))
    second = arrive(filing, citizen("b1", "Petugas loket tidak ramah", "Petugas loket kasar."))
    assert first.complaint_id and second.complaint_id and first.complaint_id != second.complaint_id
    answered(filing, first.complaint_id, "<aduan.1.abc@dpmptsp.purwakartakab.go.id>")
    # The newest earlier mail (b1) is on another complaint: our own answer's complaint still wins.
    reply = arrive(
        filing,
        citizen(
            "r1",
            "Re: Izin PBG belum keluar",
            "Sudah dua minggu.",
            "<b1@example.test> <aduan.1.abc@dpmptsp.purwakartakab.go.id>",
        ),
    )
    assert reply.complaint_id == first.complaint_id
    assert threaded_by(filing, reply.id) == [f"message #{reply.id} threaded by in-reply-to"]


def test_r8_reply_naming_only_an_earlier_mail_joins_its_complaint(filing: Container) -> None:
    first = arrive(filing, citizen("a1", "Izin PBG belum keluar", "Izin PBG saya belum keluar."))
    answered(filing, None, "<aduan.9.def@dpmptsp.purwakartakab.go.id>")  # an answer on no complaint
    reply = arrive(
        filing,
        citizen(
            "r1",
            "Re: Izin PBG belum keluar",
            "Sudah dua minggu.",
            "<a1@example.test> <aduan.9.def@dpmptsp.purwakartakab.go.id>",
        ),
    )
    assert reply.complaint_id == first.complaint_id
    assert threaded_by(filing, reply.id) == [f"message #{reply.id} threaded by references"]


def test_r8_reply_to_a_merged_complaint_joins_the_one_it_was_merged_into(filing: Container) -> None:
    first = arrive(filing, citizen("a1", "Izin PBG belum keluar", "Izin PBG saya belum keluar."))
    second = arrive(filing, citizen("a2", "Izin PBG masih belum keluar", "Izin PBG belum juga keluar."))
    with db.write_session(filing.engine) as s:
        merged = s.get(Complaint, second.complaint_id)
        assert merged is not None
        merged.status, merged.merged_into_id = STATUS_MERGED, first.complaint_id
        s.add(merged)
    reply = arrive(filing, citizen("r2", "Re: Izin PBG", "Sudah dua minggu.", "<a2@example.test>"))
    assert reply.complaint_id == first.complaint_id


def test_new_mail_with_unknown_references_is_a_new_matter(filing: Container) -> None:
    arrive(filing, citizen("a1", "Izin PBG belum keluar", "Izin PBG saya belum keluar."))
    other = arrive(
        filing, citizen("x1", "Re: Reklame liar", "Reklame di depan kantor.", "<elsewhere@example.test>")
    )
    with db.session(filing.engine) as s:
        assert len(s.exec(select(Complaint)).all()) == 2
    assert other.complaint_id is not None and threaded_by(filing, other.id) == []
