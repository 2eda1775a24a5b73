"""R6–R8 actions on a real database: review, tracks, APIP approval, answer via the outbox, report, notes."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from app.container import Container
from intake import db, rules, workflow
from intake.models import Event
from intake.workflow_models import Note
from outbound.outbox import OutboxMessage, enqueue
from tests.integration.workflow.helpers import RECEIVED, file, make_staff, reload

LATER = RECEIVED + dt.timedelta(days=1)


def _events(s, complaint, action):  # type: ignore[no-untyped-def]
    return s.exec(select(Event).where(Event.complaint_id == complaint.id, Event.action == action)).all()


def test_r6_review_starts_the_review_and_checks_the_plan(container: Container) -> None:
    staff = make_staff(container)
    c = file(container)
    with db.write_session(container.engine) as s:
        c = reload(s, c)
        with pytest.raises(workflow.TransitionError, match="klarifikasi"):
            workflow.set_review(s, c, actor=staff["petugas"], now=LATER, handling_plan="tebak-tebakan")
        workflow.set_review(
            s,
            c,
            actor=staff["petugas"],
            now=LATER,
            core_problem="PBG terlambat",
            standard_ref="Standar pelayanan PBG, jangka waktu",
            handling_plan="klarifikasi",
        )
        assert c.status == "under_review"
        assert {e.field for e in _events(s, c, "review")} == {"core_problem", "standard_ref", "handling_plan"}


def test_r7c_apip_refused_without_the_heads_approval(container: Container) -> None:
    staff = make_staff(container)
    c = file(container)
    with db.write_session(container.engine) as s:
        c = reload(s, c)
        workflow.set_review(s, c, actor=staff["petugas"], now=LATER, core_problem="dugaan pungli")
        with pytest.raises(workflow.TransitionError, match="approval"):
            workflow.set_track(s, c, actor=staff["petugas"], now=LATER, track="apip")
        with pytest.raises(workflow.TransitionError, match="requested"):
            workflow.approve_apip(s, c, actor=staff["kepala"], now=LATER)
        workflow.request_apip(s, c, actor=staff["petugas"], now=LATER, note="tidak selesai secara internal")
        for who in ("petugas", "kasi", "kabid", "admin", "auditor"):
            with pytest.raises(workflow.PermissionDenied, match="head"):
                workflow.approve_apip(s, c, actor=staff[who], now=LATER)
        with pytest.raises(workflow.PermissionDenied):
            workflow.approve_apip(s, c, actor=None, now=LATER)  # type: ignore[arg-type]
        assert c.apip_approved_at is None
        with pytest.raises(workflow.TransitionError, match="approval"):
            workflow.set_track(s, c, actor=staff["petugas"], now=LATER, track="apip")


def test_r7c_head_approves_apip_and_the_approval_is_recorded(container: Container) -> None:
    staff = make_staff(container)
    c = file(container)
    with db.write_session(container.engine) as s:
        c = reload(s, c)
        workflow.set_review(s, c, actor=staff["petugas"], now=LATER, core_problem="dugaan pungli")
        workflow.request_apip(s, c, actor=staff["petugas"], now=LATER, note="perlu audit")
        workflow.approve_apip(s, c, actor=staff["kepala"], now=LATER)
        workflow.set_track(s, c, actor=staff["petugas"], now=LATER, track="apip")
        assert (c.track, c.status, c.apip_approved_by_id) == ("apip", "in_follow_up", staff["kepala"].id)
        approved = _events(s, c, "apip_approved")
        assert [e.actor for e in approved] == ["user:kepala"]


def test_r7b_agency_track_needs_the_agency(container: Container) -> None:
    staff = make_staff(container)
    c = file(container)
    with db.write_session(container.engine) as s:
        c = reload(s, c)
        with pytest.raises(workflow.TransitionError, match="review"):
            workflow.set_track(s, c, actor=staff["petugas"], now=LATER, track="internal")
        workflow.set_review(s, c, actor=staff["petugas"], now=LATER, handling_plan="konfirmasi")
        with pytest.raises(workflow.TransitionError, match="agency"):
            workflow.set_track(s, c, actor=staff["petugas"], now=LATER, track="agency")
        workflow.set_track(
            s,
            c,
            actor=staff["petugas"],
            now=LATER,
            track="agency",
            agency="Dinas PUPR",
            agency_liaison="Seksi Bangunan",
            agency_follow_up_date=dt.date(2026, 3, 20),
        )
        assert (c.agency, c.status) == ("Dinas PUPR", "in_follow_up")


def test_r8_answer_goes_out_on_the_citizens_channel_then_report_to_superior(container: Container) -> None:
    staff = make_staff(container)
    c = file(container, urn="whatsapp:+6281234567002", channel="whatsapp")
    with db.write_session(container.engine) as s:
        c = reload(s, c)
        workflow.set_review(s, c, actor=staff["petugas"], now=LATER, handling_plan="klarifikasi")
        with pytest.raises(workflow.TransitionError, match="empty"):
            workflow.answer(s, c, actor=staff["petugas"], now=LATER, text="  ", enqueue=enqueue)
        row = workflow.answer(
            s, c, actor=staff["petugas"], now=LATER, text="PBG Anda terbit 12 Maret.", enqueue=enqueue
        )
        assert isinstance(row, OutboxMessage)
        assert (row.channel, row.to_urn, row.purpose, row.complaint_id) == (
            "whatsapp",
            "whatsapp:+6281234567002",
            "answer",
            c.id,
        )
        assert (c.status, c.answer_text, c.next_checkpoint_at) == (
            "answered",
            "PBG Anda terbit 12 Maret.",
            None,
        )
        with pytest.raises(workflow.TransitionError, match="answered"):
            workflow.close(s, c, actor=staff["petugas"], now=LATER)
        boss = workflow.report_up(s, c, actor=staff["petugas"], now=LATER)
        assert boss is not None and boss.username == "kasi"
        assert c.status == "reported" and c.reported_at == LATER
        workflow.close(s, c, actor=staff["kasi"], now=LATER)
        with pytest.raises(workflow.TransitionError, match="reason"):
            workflow.reopen(s, c, actor=staff["kasi"], now=LATER, reason="")
        workflow.reopen(s, c, actor=staff["kasi"], now=LATER, reason="warga keberatan")
        assert c.status == "under_review" and c.next_checkpoint_at == LATER
    with db.session(container.engine) as s:
        assert len(s.exec(select(OutboxMessage).where(OutboxMessage.purpose == "answer")).all()) == 1


def test_r8_answer_without_contact_is_recorded_without_outbox(container: Container) -> None:
    staff = make_staff(container)
    c = file(container, urn=None, channel="box")
    with db.write_session(container.engine) as s:
        c = reload(s, c)
        workflow.set_review(s, c, actor=staff["petugas"], now=LATER, handling_plan="klarifikasi")
        assert (
            workflow.answer(
                s, c, actor=staff["petugas"], now=LATER, text="Sudah diselesaikan.", enqueue=enqueue
            )
            is None
        )
        assert c.status == "answered"
        assert "outside Aduan" in (_events(s, c, "status")[-1].note or "")


def test_r7a_escalate_climbs_the_ladder(container: Container) -> None:
    staff = make_staff(container)
    c = file(container, assignee=staff["petugas"])
    with db.write_session(container.engine) as s:
        c = reload(s, c)
        climbed = [workflow.escalate(s, c, actor=staff["kasi"], now=LATER) for _ in range(4)]
        assert [u.username if u else None for u in climbed] == ["kasi", "kabid", "kepala", None]
        assert c.assignee_id == staff["kepala"].id


def test_r3_promote_saran_needs_a_reason_and_starts_the_deadline_watch(container: Container) -> None:
    staff = make_staff(container)
    c = file(container, name=None)
    assert c.kind == rules.KIND_SARAN and c.next_checkpoint_at is None
    with db.write_session(container.engine) as s:
        c = reload(s, c)
        with pytest.raises(workflow.TransitionError, match="reason"):
            workflow.change_kind(s, c, actor=staff["petugas"], now=LATER, kind="pengaduan", reason=" ")
        workflow.change_kind(
            s,
            c,
            actor=staff["petugas"],
            now=LATER,
            kind="pengaduan",
            reason="pelapor menyebut nama lewat telepon",
        )
        assert (c.kind, c.status, c.next_checkpoint_at) == ("pengaduan", "received", LATER)
        workflow.change_kind(s, c, actor=staff["petugas"], now=LATER, kind="saran", reason="bukan pengaduan")
        assert (c.status, c.next_checkpoint_at) == ("acknowledged", None)
        workflow.forward_saran(s, c, actor=staff["petugas"], now=LATER)
        assert c.status == "forwarded"


def test_merge_and_notes(container: Container) -> None:
    staff = make_staff(container)
    first = file(container)
    dup = file(container, received_at=RECEIVED + dt.timedelta(hours=1))
    with db.write_session(container.engine) as s:
        first, dup = reload(s, first), reload(s, dup)
        with pytest.raises(workflow.TransitionError, match="itself"):
            workflow.merge(s, dup, into=dup, actor=staff["petugas"], now=LATER)
        workflow.merge(s, dup, into=first, actor=staff["petugas"], now=LATER)
        assert (dup.status, dup.merged_into_id, dup.next_checkpoint_at) == ("merged", first.id, None)
        with pytest.raises(workflow.PermissionDenied):
            workflow.add_note(s, first, actor=staff["auditor"], now=LATER, text="x")
        note = workflow.add_note(
            s, first, actor=staff["penghubung"], now=LATER, text="Dinas PUPR sudah dihubungi"
        )
        assert [n.text for n in workflow.notes_of(s, first)] == ["Dinas PUPR sudah dihubungi"]
    with db.session(container.engine) as s:
        assert s.get(Note, note.id) is not None
        assert not s.exec(select(OutboxMessage)).all()  # an internal note is never sent


def test_claim_and_release(container: Container) -> None:
    staff = make_staff(container)
    c = file(container)
    with db.write_session(container.engine) as s:
        c = reload(s, c)
        workflow.claim(s, c, actor=staff["petugas"], now=LATER)
        assert (c.claimed_by_id, c.assignee_id) == (staff["petugas"].id, staff["petugas"].id)
        with pytest.raises(workflow.TransitionError, match="claimed"):
            workflow.claim(s, c, actor=staff["officer2"], now=LATER)
        workflow.claim(s, c, actor=staff["kasi"], now=LATER)  # a head may take it over
        workflow.release(s, c, actor=staff["kasi"], now=LATER)
        assert c.claimed_by_id is None
        workflow.assign(s, c, actor=staff["kasi"], now=LATER, assignee=staff["officer2"])
        assert c.assignee_id == staff["officer2"].id
        with pytest.raises(workflow.PermissionDenied):
            workflow.assign(s, c, actor=staff["petugas"], now=LATER, assignee=staff["petugas"])
