"""The workspace without a browser: guided path, refusals, read state, alerts, reports, related records."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import select

from app.container import Container
from inbox import auth
from intake import db, rules, workflow
from intake.models import Complaint, Event, Message, User
from outbound import escalation
from outbound.outbox import OutboxMessage, enqueue
from tests.conftest import Clock
from tests.integration.inbox.conftest import file_one

Login = Callable[[str], tuple[TestClient, str]]


def _act(client: TestClient, csrf: str, tracking: str, action: str, **form: str) -> str:
    r = client.post(f"/inbox/c/{tracking}/act/{action}", data={"csrf_token": csrf, **form})
    assert r.status_code == 303, (action, r.status_code, r.text[-2000:])
    return client.get(f"/inbox/c/{tracking}").text


def _guided(html: str) -> list[str]:
    guide = html.split('data-testid="guide"')[1].split("</section>")[0]
    return re.findall(r'data-action="([^"]+)"', guide)


def test_guided_path_offers_only_the_step_that_applies_and_a_closed_record_only_reopening(
    container: Container, as_user: Login, staff: dict[str, User]
) -> None:
    c = file_one(container)
    officer, csrf = as_user("officer")
    html = officer.get(f"/inbox/c/{c.tracking_number}").text
    assert _guided(html) == ["start_review", "request_apip"]
    html = _act(officer, csrf, c.tracking_number, "start_review")
    assert "Sedang ditangani oleh Uji officer" in html
    assert _guided(html) == ["set_track", "write-answer", "request_apip", "review"]
    html = _act(officer, csrf, c.tracking_number, "reply", text="PBG Anda terbit hari ini.", final="1")
    assert _guided(html) == ["report_up"]
    html = _act(officer, csrf, c.tracking_number, "report_up")
    assert _guided(html) == [] and "Menunggu atasan (Uji section_head) menerima laporan." in html
    boss, boss_csrf = as_user("section_head")
    assert c.tracking_number in boss.get("/inbox", params={"queue": "reported"}).text
    html = _act(boss, boss_csrf, c.tracking_number, "close")
    assert _guided(html) == ["reopen"]
    assert 'data-testid="reply-form"' not in html and 'data-action="escalate"' not in html
    # The server refuses a reply on the closed record whatever the page shows: nothing is queued.
    r = boss.post(
        f"/inbox/c/{c.tracking_number}/act/reply",
        data={"csrf_token": boss_csrf, "text": "Satu hal lagi", "seen_outbox": "99"},
    )
    assert r.status_code == 409 and "buka kembali dulu" in r.text
    with db.session(container.engine) as s:
        assert [o.purpose for o in s.exec(select(OutboxMessage))] == ["answer"]


def test_refusals_and_the_event_log_speak_indonesian_without_codes(
    container: Container, as_user: Login
) -> None:
    c = file_one(container)
    officer, csrf = as_user("officer")
    r = officer.post(
        f"/inbox/c/{c.tracking_number}/act/set_track", data={"csrf_token": csrf, "track": "internal"}
    )
    assert r.status_code == 409
    assert "Telaah pengaduan dulu, lalu pilih jalur penyelesaian." in r.text
    assert "set_review" not in r.text and "(R6)" not in r.text
    _act(officer, csrf, c.tracking_number, "start_review")
    html = _act(officer, csrf, c.tracking_number, "set_track", track="internal")
    events = html.split('data-testid="events"')[1].split("</ol>")[0]
    assert "Uji officer</strong> memilih jalur penyelesaian: Internal" in events
    assert "Uji officer</strong> mengubah status: Diterima → Ditelaah" in events
    assert "Sistem</strong> mencatat laporan sebagai Pengaduan" in events
    for code in ("user:", "claimed_by_id", "assignee_id", "status ·", "R7a", "track internal"):
        assert code not in events, code


def _state(container: Container, tracking: str) -> tuple[object, ...]:
    """What an action changes on a record: status, kind, track and the number of events."""
    with db.session(container.engine) as s:
        c = s.exec(select(Complaint).where(Complaint.tracking_number == tracking)).one()
        events = s.exec(select(Event).where(Event.complaint_id == c.id)).all()
        return c.status, c.kind, c.track, len(events)


@pytest.mark.parametrize(
    ("action", "form", "missing", "value", "before", "named"),
    [
        ("transition", {"note": "tanpa tujuan"}, "to", workflow.STATUS_UNDER_REVIEW, [], "status"),
        ("set_track", {}, "track", workflow.TRACK_INTERNAL, ["start_review"], "track"),
        ("change_kind", {"reason": "Hanya usulan"}, "kind", rules.KIND_SARAN, ["start_review"], "kind"),
    ],
)
def test_an_action_posted_without_its_field_is_refused_409_and_changes_nothing(
    container: Container,
    app: FastAPI,
    as_user: Login,
    staff: dict[str, User],
    action: str,
    form: dict[str, str],
    missing: str,
    value: str,
    before: list[str],
    named: str,
) -> None:
    """The missing field reaches the workflow as '' (not None): a refusal (409), not a 422 or a 500."""
    c = file_one(container)
    officer, csrf = as_user("officer")
    for step in before:
        _act(officer, csrf, c.tracking_number, step)
    unchanged = _state(container, c.tracking_number)
    r = officer.post(f"/inbox/c/{c.tracking_number}/act/{action}", data={"csrf_token": csrf, **form})
    assert r.status_code == 409
    assert "Tindakan ini tidak dapat dilakukan sekarang. Muat ulang halaman dan coba lagi." in r.text
    assert _state(container, c.tracking_number) == unchanged
    # The API shares the action code: the same refusal, naming the empty value.
    with db.write_session(container.engine) as s:
        token = auth.create_token(s, user=staff["officer"], name="uji", now=container.now())
    api = TestClient(app).post(
        f"/api/v1/complaints/{c.tracking_number}/actions/{action}",
        json=form,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 409 and api.json()["detail"].startswith(f"unknown {named} ''")
    assert _state(container, c.tracking_number) == unchanged
    # With the field, the same post goes through: the field was all that was missing.
    _act(officer, csrf, c.tracking_number, action, **form, **{missing: value})
    assert _state(container, c.tracking_number) != unchanged


def test_a_refused_htmx_reply_keeps_the_text_and_swaps_in_place(container: Container, as_user: Login) -> None:
    c = file_one(container)
    officer, csrf = as_user("officer")
    r = officer.post(
        f"/inbox/c/{c.tracking_number}/act/reply",
        data={"csrf_token": csrf, "text": "   ", "seen_outbox": "0"},
        headers={"HX-Request": "true"},
    )
    # htmx only swaps a 2xx answer: the refusal comes as the page, with the error and the box.
    assert r.status_code == 200 and 'data-testid="error"' in r.text and "Teksnya masih kosong." in r.text
    r = officer.post(
        f"/inbox/c/{c.tracking_number}/act/reply",
        data={"csrf_token": csrf, "text": "Catatan penting", "mode": "note"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200 and "Catatan disimpan." in r.text
    assert 'class="msg note"' in r.text and "Catatan penting" in r.text


def test_apip_request_rejected_with_a_reason_shown_on_the_request(
    container: Container, as_user: Login
) -> None:
    c = file_one(container)
    officer, csrf = as_user("officer")
    _act(officer, csrf, c.tracking_number, "start_review")
    _act(officer, csrf, c.tracking_number, "request_apip", note="Dugaan pungutan liar")
    head, hcsrf = as_user("head")
    html = head.get(f"/inbox/c/{c.tracking_number}").text
    assert "Permintaan APIP: Dugaan pungutan liar" in html
    assert {"approve_apip", "reject_apip"} <= set(_guided(html))
    html = _act(head, hcsrf, c.tracking_number, "reject_apip", reason="Selesaikan dulu secara internal")
    assert "Permintaan APIP ditolak oleh Uji head: Selesaikan dulu secara internal" in html
    assert "request_apip" in _guided(html)  # the officer may ask again with better grounds
    assert c.tracking_number not in head.get("/inbox", params={"queue": "approval"}).text.split("<tbody>")[1]
    assert (
        officer.post(
            f"/inbox/c/{c.tracking_number}/act/reject_apip", data={"csrf_token": csrf, "reason": "x"}
        ).status_code
        == 403
    )


def test_unread_per_officer_and_the_citizen_replied_and_waiting_queues(
    container: Container, as_user: Login, staff: dict[str, User], clock: Clock
) -> None:
    c = file_one(container)
    officer, csrf = as_user("officer")
    other, _ = as_user("officer2")

    def rows(client: TestClient, queue: str) -> dict[str, bool]:
        html = client.get("/inbox", params={"queue": queue}).text
        return {t: bool(u) for t, u in re.findall(r'data-tracking="([^"]+)"( class="unread")?', html)}

    assert rows(officer, "new") == {c.tracking_number: True}
    _act(officer, csrf, c.tracking_number, "start_review")  # reading it clears the mark, for this officer
    assert rows(officer, "mine") == {c.tracking_number: False}
    assert rows(other, "all") == {c.tracking_number: True}
    _act(officer, csrf, c.tracking_number, "reply", text="Mohon kirim nomor registrasi.", seen_outbox="0")
    assert rows(officer, "waiting") == {c.tracking_number: False} and rows(officer, "replied") == {}
    clock.advance(minutes=30)
    with db.write_session(container.engine) as s:
        s.add(
            Message(
                channel="whatsapp",
                external_id="wamid.follow-up-1",
                sender_urn="whatsapp:+6281234567001",
                text="Nomor registrasi PBG-2026-0113",
                complaint_id=c.id,
                received_at=clock.now,
            )
        )
    assert rows(officer, "replied") == {c.tracking_number: True} and rows(officer, "waiting") == {}
    assert re.search(r'data-testid="count-replied">1<', officer.get("/inbox").text)
    officer.get(f"/inbox/c/{c.tracking_number}")
    assert rows(officer, "replied") == {c.tracking_number: False}


def test_alerts_page_lists_alerts_with_working_links_and_marks_them_seen(
    container: Container, as_user: Login, staff: dict[str, User]
) -> None:
    c = file_one(container, received_at=container.now())
    with db.write_session(container.engine) as s:
        record = s.get(Complaint, c.id)
        assert record is not None
        record.assignee_id = staff["officer"].id
        s.add(record)
    due = dt.datetime.combine(c.due_date, dt.time(9), container.office.calendar.timezone)
    escalation.sweep(container, now=due)
    escalation.sweep(container, now=due + dt.timedelta(days=1))
    head, _ = as_user("head")
    html = head.get("/inbox/alerts").text
    table = html.split('data-testid="alerts-table"')[1]
    assert f'href="/inbox/c/{c.tracking_number}"' in table
    headlines = re.findall(r'data-testid="alert-headline">([^<]+)<', table)
    assert headlines[:2] == ["Lewat batas waktu 1 hari kerja", "Jatuh tempo hari ini"]
    assert table.count('class="unread"') == len(headlines)
    assert 'class="unread"' not in head.get("/inbox/alerts").text.split('data-testid="alerts-table"')[1]
    assert head.get(f"/inbox/c/{c.tracking_number}").status_code == 200


def test_period_report_downloads_as_pdf_and_xlsx_from_the_inbox(container: Container, as_user: Login) -> None:
    file_one(container)
    head, _ = as_user("head")
    assert 'action="/inbox/reports/download"' in head.get("/inbox/reports").text
    pdf = head.get("/inbox/reports/download", params={"period": "2026-03", "format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-disposition"].endswith('2026-03.pdf"')
    xlsx = head.get("/inbox/reports/download", params={"period": "2026-Q1", "format": "xlsx"})
    assert xlsx.status_code == 200 and zipfile.is_zipfile(io.BytesIO(xlsx.content))
    assert load_workbook(io.BytesIO(xlsx.content))["Ringkasan"]["B5"].value == dt.datetime(2026, 1, 1)
    bad = head.get("/inbox/reports/download", params={"period": "maret", "format": "pdf"})
    assert bad.status_code == 400 and "Periode harus berupa bulan" in bad.text
    officer, _ = as_user("officer")
    assert officer.get("/inbox/reports/download", params={"period": "2026-03"}).status_code == 403


def test_dashboard_tiles_link_to_their_queues_and_officers_show_by_name(
    container: Container, as_user: Login, staff: dict[str, User]
) -> None:
    c = file_one(container)
    with db.write_session(container.engine) as s:
        record = s.get(Complaint, c.id)
        assert record is not None
        workflow.claim(s, record, actor=s.get(User, staff["officer"].id), now=container.now())  # type: ignore[arg-type]
    head, _ = as_user("head")
    html = head.get("/inbox/dashboard").text
    for href in ("/inbox?queue=all&amp;status=open", "/inbox?queue=due_soon", "/inbox?queue=overdue"):
        assert f'href="{href}"' in html
    assert ">Uji officer</text>" in html and ">officer</text>" not in html
    opened = head.get("/inbox", params={"queue": "all", "status": "open"}).text
    assert f'data-tracking="{c.tracking_number}"' in opened


def test_related_complaints_include_the_same_services_earlier_ones(
    container: Container, as_user: Login
) -> None:
    earlier = file_one(
        container,
        contact="whatsapp:+6281234567555",
        text="PBG gudang saya belum terbit, berkas sudah lengkap",
        received_at=container.now() - dt.timedelta(days=30),
    )
    c = file_one(container, text="Persetujuan bangunan gedung (PBG) rumah belum keluar")
    with db.session(container.engine) as s:
        both = {x.id: x for x in s.exec(select(Complaint))}
    assert both[c.id].service_code is None and both[c.id].suggested_service_code == "pbg"
    officer, _ = as_user("officer")
    html = officer.get(f"/inbox/c/{c.tracking_number}").text
    listed = html.split('data-testid="related"')[1].split("</ul>")[0]
    assert earlier.tracking_number in listed and "layanan sama" in listed


def test_the_bots_questions_before_the_record_show_in_the_conversation(
    container: Container, as_user: Login
) -> None:
    now = container.now()
    with db.write_session(container.engine) as s:
        enqueue(
            s,
            channel="whatsapp",
            to="whatsapp:+6281234567001",
            text="Siapa nama lengkap Bapak/Ibu?",
            now=now - dt.timedelta(seconds=20),
            created_by="bot",
        )
        enqueue(  # another citizen's conversation at the same time: not shown
            s, channel="whatsapp", to="whatsapp:+6281299999999", text="Siapa nama?", now=now, created_by="bot"
        )
    c = file_one(container)
    with db.write_session(container.engine) as s:
        s.add(
            Message(
                channel="whatsapp",
                external_id="wamid.dialogue-1",
                sender_urn="whatsapp:+6281234567001",
                text="Budi Santoso",
                complaint_id=c.id,
                received_at=now,
            )
        )
    officer, _ = as_user("officer")
    timeline = officer.get(f"/inbox/c/{c.tracking_number}").text.split('data-testid="timeline"')[1]
    assert timeline.index("Siapa nama lengkap Bapak/Ibu?") < timeline.index("Budi Santoso")
    assert 'data-kind="bot"' in timeline and "Siapa nama?<" not in timeline
