"""R6c: earlier complaints of the same person, the same service, or with similar words; officer decides."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import col

from app.container import Container
from intake import db, related
from intake.models import Event
from intake.workflow import PermissionDenied
from tests.integration.workflow.helpers import RECEIVED, file, make_staff, reload


def test_r6c_finds_same_contact_same_service_and_similar_text_within_twelve_months(
    container: Container,
) -> None:
    staff = make_staff(container)
    same_person = file(
        container,
        received_at=RECEIVED - dt.timedelta(days=40),
        service="nib",
        text="Pengurusan NIB di OSS gagal terus",
    )
    same_service = file(
        container,
        received_at=RECEIVED - dt.timedelta(days=100),
        urn="tel:+6281200000002",
        text="Bangunan tetangga tanpa izin",
    )
    similar = file(
        container,
        received_at=RECEIVED - dt.timedelta(days=10),
        urn="tel:+6281200000003",
        service=None,
        text="Persetujuan bangunan gedung belum keluar sudah dua bulan menunggu tanpa kabar dari dinas",
    )
    file(container, received_at=RECEIVED - dt.timedelta(days=400))  # same person, but over 12 months ago
    file(
        container,
        received_at=RECEIVED - dt.timedelta(days=5),
        urn="tel:+6281200000004",
        service="sip",
        text="Dokter praktik tanpa SIP di desa kami",
    )
    c = file(container, text="PBG saya belum keluar sudah dua bulan menunggu tanpa kabar")
    with db.write_session(container.engine) as s:
        c = reload(s, c)
        found = {cand.tracking_number: cand.reasons for cand in related.find_related(s, c)}
        assert found == {
            same_person.tracking_number: ("contact",),
            same_service.tracking_number: ("service",),
            # no service set by hand, but the bot suggested PBG from its words: the same service too
            similar.tracking_number: ("service", "text"),
        }
        links = related.suggest_links(s, c, now=RECEIVED)
        assert {link.status for link in links} == {"suggested"} and len(links) == 3
        assert related.suggest_links(s, c, now=RECEIVED) == links  # suggesting again adds nothing
        first = next(link for link in links if link.related_id == similar.id)
        related.decide_link(s, first, actor=staff["petugas"], now=RECEIVED, confirm=True)
        second = next(link for link in links if link.related_id == same_service.id)
        related.decide_link(s, second, actor=staff["petugas"], now=RECEIVED, confirm=False)
        with pytest.raises(PermissionDenied):
            related.decide_link(s, second, actor=staff["auditor"], now=RECEIVED, confirm=True)
        assert [link.related_id for link in related.links_of(s, c, status="confirmed")] == [similar.id]
        logged = [
            e.note
            for e in s.query(Event).filter(col(Event.complaint_id) == c.id, col(Event.action) == "related")
        ]
        assert logged == [similar.tracking_number, same_service.tracking_number]


def test_r6c_similarity_ignores_filler_words() -> None:
    a = related.words("Mohon bapak, saya sudah menunggu izin reklame")
    b = related.words("Ibu tolong, kami belum dapat izin usaha")
    assert related.similarity(a, b) == 0.0
    assert (
        related.similarity(related.words("izin reklame baliho"), related.words("baliho izin reklame")) == 1.0
    )
