"""Helpers of the workflow tests: staff on the R7a ladder and complaints filed through ingest."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from app.container import Container
from intake import db
from intake.ingest import file_complaint
from intake.models import Complaint, User
from intake.roles import ADMIN, AUDITOR, DIVISION_HEAD, HEAD, LIAISON, OFFICER, SECTION_HEAD

JAKARTA = dt.timezone(dt.timedelta(hours=7))
#: R4 example of the SPEC: received Tuesday 10 March 2026, due Tuesday 7 April 2026.
RECEIVED = dt.datetime(2026, 3, 10, 10, 0, tzinfo=JAKARTA)


def make_staff(container: Container) -> dict[str, User]:
    """Create one user per role; officer → section head → division head → head via superior_id."""
    with db.write_session(container.engine) as s:
        head = User(
            username="kepala",
            full_name="Kepala Dinas",
            role=HEAD,
            email="kepala@example.test",
            telegram_chat_id="9001",
        )
        s.add(head)
        s.flush()
        division = User(username="kabid", role=DIVISION_HEAD, superior_id=head.id, email="kabid@example.test")
        s.add(division)
        s.flush()
        section = User(
            username="kasi",
            role=SECTION_HEAD,
            superior_id=division.id,
            email="kasi@example.test",
            telegram_chat_id="9002",
        )
        s.add(section)
        s.flush()
        officer = User(
            username="petugas",
            role=OFFICER,
            superior_id=section.id,
            email="petugas@example.test",
            telegram_chat_id="9003",
        )
        others = [
            officer,
            User(username="officer2", role=OFFICER, superior_id=section.id),
            User(username="auditor", role=AUDITOR),
            User(username="penghubung", role=LIAISON),
            User(username="admin", role=ADMIN),
        ]
        for u in others:
            s.add(u)
        s.flush()
        users = [head, division, section, *others]
        for u in users:
            s.refresh(u)
        return {u.username: u for u in users}


def file(
    container: Container,
    *,
    received_at: dt.datetime = RECEIVED,
    urn: str | None = "tel:+6281234567001",
    name: str | None = "Budi Santoso",
    text: str = "Izin PBG saya belum keluar sudah dua bulan menunggu tanpa kabar",
    service: str | None = "pbg",
    assignee: User | None = None,
    channel: str = "sms",
) -> Complaint:
    """File a complaint through ``intake.ingest.file_complaint`` (the only creator) and commit it."""
    with db.write_session(container.engine) as s:
        c = file_complaint(
            session=s,
            office=container.office,
            channel=channel,
            contact_urn=urn,
            text=text,
            received_at=received_at,
            now=received_at,
            reporter_name=name,
            service=service,
        )
        if assignee is not None:
            c.assignee_id = assignee.id
            s.add(c)
        s.flush()
        s.refresh(c)
        return c


def reload(session: Session, complaint: Complaint) -> Complaint:
    """Return a fresh copy of a complaint in ``session``."""
    fresh = session.get(Complaint, complaint.id)
    assert fresh is not None
    return fresh
