"""The inbox pages: personal data and the access log, XSS, search, replies, the officers' form, i18n."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import select

from app.container import Container
from channels.base import InboundMessage, Location
from inbox.i18n import catalogue
from inbox.models import AccessLog
from intake import db
from intake.ingest import ingest
from intake.models import Complaint, Contact, Message, User
from outbound.outbox import FAILED, OutboxMessage, enqueue
from tests.integration.inbox.conftest import file_one

Login = Callable[[str], tuple[TestClient, str]]
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _access_rows(container: Container) -> list[AccessLog]:
    with db.session(container.engine) as s:
        # Logins are logged too (the admin page's "last login"); these tests look at data views.
        rows = s.exec(select(AccessLog).where(AccessLog.what != "login").order_by(AccessLog.id))  # type: ignore[arg-type]
        return list(rows)


def test_viewing_the_reporter_is_recorded_in_the_access_log(
    container: Container, as_user: Login, staff: dict[str, User]
) -> None:
    c = file_one(container)
    officer, _ = as_user("officer")
    page = officer.get(f"/inbox/c/{c.tracking_number}").text
    assert "Budi Santoso" in page and "whatsapp:+6281234567001" in page
    rows = _access_rows(container)
    assert [(r.user_id, r.complaint_id, r.reporter_id, r.what, r.via) for r in rows] == [
        (staff["officer"].id, c.id, c.reporter_id, "reporter", "web")
    ]


def test_roles_without_personal_data_see_no_reporter_and_leave_no_log(
    container: Container, as_user: Login
) -> None:
    c = file_one(container)
    liaison, _ = as_user("liaison")
    page = liaison.get(f"/inbox/c/{c.tracking_number}").text
    assert "Budi Santoso" not in page and "+6281234567001" not in page
    assert "Data pribadi tidak ditampilkan" in page
    assert _access_rows(container) == []


def test_r5a_anonim_reporter_hidden_from_officer_shown_to_head_and_logged(
    container: Container, as_user: Login, staff: dict[str, User]
) -> None:
    c = file_one(container, name="Siti Aminah", anonymous=True, contact="tel:+6281234567005")
    officer, _ = as_user("officer")
    page = officer.get(f"/inbox/c/{c.tracking_number}").text
    assert "Siti Aminah" not in page and "+628123" not in page and "ANONIM" in page
    assert _access_rows(container) == []
    head, _ = as_user("head")
    assert "Siti Aminah" in head.get(f"/inbox/c/{c.tracking_number}").text
    rows = _access_rows(container)
    assert [(r.user_id, r.what) for r in rows] == [(staff["head"].id, "anonymous_reporter")]


def test_api_view_of_reporter_is_logged_as_api(
    app: object, container: Container, staff: dict[str, User]
) -> None:
    from inbox.auth import create_token

    c = file_one(container)
    with db.write_session(container.engine) as s:
        token = create_token(s, user=s.get(User, staff["officer"].id), name="t", now=container.now())  # type: ignore[arg-type]
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})  # type: ignore[arg-type]
    body = client.get(f"/api/v1/complaints/{c.tracking_number}").json()
    assert body["reporter"]["name"] == "Budi Santoso"
    assert [(r.what, r.via) for r in _access_rows(container)] == [("reporter", "api")]


def test_xss_payload_in_a_message_stays_text(container: Container, as_user: Login) -> None:
    c = file_one(container, text="Izin belum keluar " + XSS, name='Budi <b onmouseover="x">')
    officer, _ = as_user("officer")
    for path in (
        "/inbox?queue=all",
        "/inbox/rows?queue=all",
        f"/inbox/c/{c.tracking_number}",
        f"/inbox/c/{c.tracking_number}/timeline",
    ):
        html = officer.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<b onmouseover" not in html, path
        assert "&lt;script&gt;alert" in html, path


def test_search_by_tracking_phone_email_name_and_words(container: Container, as_user: Login) -> None:
    a = file_one(
        container,
        text="Biaya retribusi PBG terlalu mahal",
        contact="whatsapp:+6281234567011",
        name="Joko Widodo",
    )
    b = file_one(
        container, text="Antrean MPP sangat panjang", contact="mailto:rina@example.test", name="Rina"
    )
    officer, _ = as_user("officer")

    def found(q: str) -> set[str]:
        html = officer.get("/inbox", params={"queue": "all", "q": q}).text
        return set(re.findall(r'data-tracking="([^"]+)"', html))

    assert found(a.tracking_number.lower()) == {a.tracking_number}
    assert found("0812-3456-7011") == {a.tracking_number}
    assert found("rina@example.test") == {b.tracking_number}
    assert found("joko") == {a.tracking_number}
    assert found("antrean mpp") == {b.tracking_number}
    assert found("100%_") == set()
    assert any(r.what == "search" for r in _access_rows(container))


def test_search_by_phone_needs_the_right_to_personal_data(container: Container, as_user: Login) -> None:
    file_one(container, contact="whatsapp:+6281234567011")
    liaison, _ = as_user("liaison")
    html = liaison.get("/inbox", params={"queue": "all", "q": "+6281234567011"}).text
    assert "data-tracking=" not in html


def test_queue_sorted_by_time_left_and_counts(container: Container, as_user: Login) -> None:
    now = container.now()
    late = file_one(container, received_at=now - dt.timedelta(days=40))
    fresh = file_one(container)
    soon = file_one(container, received_at=now - dt.timedelta(days=17))
    officer, _ = as_user("officer")
    html = officer.get("/inbox?queue=all").text
    order = re.findall(r'data-tracking="([^"]+)"', html)
    assert order == [late.tracking_number, soon.tracking_number, fresh.tracking_number]
    assert re.search(r'data-testid="count-overdue">1<', html)
    assert re.search(r'data-testid="count-due_soon">1<', html)
    assert re.search(r'data-testid="count-new">3<', html)


def test_filters_by_channel(container: Container, as_user: Login) -> None:
    a = file_one(container, channel="phone")
    file_one(container, channel="walkin")
    officer, _ = as_user("officer")
    html = officer.get("/inbox?queue=all&channel=phone").text
    assert re.findall(r'data-tracking="([^"]+)"', html) == [a.tracking_number]


def test_canned_answers_have_placeholders_filled(container: Container, as_user: Login) -> None:
    c = file_one(container)
    officer, _ = as_user("officer")
    html = officer.get(f"/inbox/c/{c.tracking_number}").text
    assert f"Yth. Budi Santoso, pengaduan Anda telah kami terima dengan nomor {c.tracking_number}" in html
    assert "{nomor}" not in html and "{nama}" not in html


def test_reply_goes_to_the_outbox_on_the_citizens_channel(container: Container, as_user: Login) -> None:
    c = file_one(container)
    officer, csrf = as_user("officer")
    officer.post(f"/inbox/c/{c.tracking_number}/act/claim", data={"csrf_token": csrf})
    r = officer.post(
        f"/inbox/c/{c.tracking_number}/act/reply",
        data={"csrf_token": csrf, "text": "Sedang kami proses.", "seen_outbox": "0"},
    )
    assert r.status_code == 303
    with db.session(container.engine) as s:
        rows = list(s.exec(select(OutboxMessage).where(OutboxMessage.complaint_id == c.id)))
    assert [(o.channel, o.to_urn, o.text, o.created_by) for o in rows] == [
        ("whatsapp", "whatsapp:+6281234567001", "Sedang kami proses.", "user:officer")
    ]


def test_two_officers_cannot_both_answer_without_seeing_each_other(
    container: Container, as_user: Login
) -> None:
    c = file_one(container)
    first, csrf1 = as_user("officer")
    second, csrf2 = as_user("officer2")
    assert (
        first.post(
            f"/inbox/c/{c.tracking_number}/act/reply",
            data={"csrf_token": csrf1, "text": "Jawaban pertama", "seen_outbox": "0"},
        ).status_code
        == 303
    )
    r = second.post(
        f"/inbox/c/{c.tracking_number}/act/reply",
        data={"csrf_token": csrf2, "text": "Jawaban kedua", "seen_outbox": "0"},
    )
    assert r.status_code == 409
    assert "Jawaban pertama" in r.text  # the refusal shows the other officer's message
    assert "Ada balasan lain yang terkirim sejak Anda membuka halaman ini" in r.text
    assert ">Jawaban kedua</textarea>" in r.text  # and keeps what this officer typed
    first.post(f"/inbox/c/{c.tracking_number}/act/claim", data={"csrf_token": csrf1})
    page = second.get(f"/inbox/c/{c.tracking_number}").text
    assert "Sedang ditangani oleh Uji officer" in page
    last = re.search(r'name="seen_outbox" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    r = second.post(
        f"/inbox/c/{c.tracking_number}/act/reply",
        data={"csrf_token": csrf2, "text": "Jawaban kedua", "seen_outbox": last},
    )
    assert r.status_code == 409 and "Sedang ditangani oleh Uji officer: ambil alih dulu" in r.text


def test_whatsapp_reply_outside_24_hours_says_template(
    container: Container, as_user: Login, clock: object
) -> None:
    c = file_one(container)
    with db.write_session(container.engine) as s:
        contact = s.exec(select(Contact).where(Contact.urn == c.contact_urn)).one()
        contact.last_inbound_at = container.now()
        s.add(contact)
    officer, _ = as_user("officer")
    assert 'data-testid="wa-template"' not in officer.get(f"/inbox/c/{c.tracking_number}").text
    clock.advance(hours=25)  # type: ignore[attr-defined]
    assert 'data-testid="wa-template"' in officer.get(f"/inbox/c/{c.tracking_number}").text


def test_r2c_letter_with_scan_filed_from_the_form(
    container: Container, as_user: Login, tmp_path: Path
) -> None:
    officer, csrf = as_user("officer")
    r = officer.post(
        "/inbox/new",
        data={
            "csrf_token": csrf,
            "channel": "letter",
            "reporter_name": "Ani Rahmawati",
            "contact": "0812-3456-7002",
            "text": "Biaya izin tidak sesuai tarif resmi",
        },
        files={"scan": ("surat.pdf", b"%PDF-1.4 surat", "application/pdf")},
    )
    assert r.status_code == 303
    tracking = r.headers["location"].split("/")[-1].split("?")[0]
    html = officer.get(f"/inbox/c/{tracking}").text
    link = re.search(r'href="(/inbox/files/[0-9a-f]{32}\.pdf)"', html)
    assert link and "(PDF)" in html
    assert officer.get(link.group(1)).content == b"%PDF-1.4 surat"
    with db.session(container.engine) as s:
        c = s.exec(select(Complaint).where(Complaint.tracking_number == tracking)).one()
        assert (c.channel, c.kind, c.contact_urn) == ("letter", "pengaduan", "tel:+6281234567002")
        assert s.exec(select(Message).where(Message.complaint_id == c.id)).one().channel == "letter"
    liaison, _ = as_user("liaison")
    assert liaison.get(link.group(1)).status_code == 403


def test_r5b_box_complaint_without_name_becomes_saran(container: Container, as_user: Login) -> None:
    officer, csrf = as_user("officer")
    r = officer.post(
        "/inbox/new", data={"csrf_token": csrf, "channel": "box", "text": "Toilet MPP kotor dan bau"}
    )
    assert r.status_code == 303
    tracking = r.headers["location"].split("/")[-1].split("?")[0]
    assert "tanpa identitas" in officer.get(f"/inbox/c/{tracking}").text


def test_new_form_refuses_a_provider_channel(container: Container, as_user: Login) -> None:
    officer, csrf = as_user("officer")
    r = officer.post(
        "/inbox/new",
        data={"csrf_token": csrf, "channel": "whatsapp", "text": "Izin lama sekali", "reporter_name": "Budi"},
    )
    assert r.status_code == 400


def test_bot_suggestion_is_one_click_away(container: Container, as_user: Login) -> None:
    c = file_one(container, text="Izin PBG rumah saya belum keluar, sudah menunggu dua bulan")
    officer, csrf = as_user("officer")
    html = officer.get(f"/inbox/c/{c.tracking_number}").text
    assert 'data-action="accept-suggestion"' in html
    service = re.search(r'<input type="hidden" name="service_code" value="([^"]*)">', html).group(1)  # type: ignore[union-attr]
    assert service == "pbg"
    r = officer.post(
        f"/inbox/c/{c.tracking_number}/act/classify",
        data={"csrf_token": csrf, "service_code": "pbg", "problem_type": "waktu"},
    )
    assert r.status_code == 303
    with db.session(container.engine) as s:
        fresh = s.get(Complaint, c.id)
        assert fresh is not None and (fresh.service_code, fresh.problem_type) == ("pbg", "waktu")


def test_failed_outbound_messages_queue(container: Container, as_user: Login) -> None:
    c = file_one(container)
    with db.write_session(container.engine) as s:
        row = enqueue(
            s,
            channel="whatsapp",
            to="whatsapp:+6281234567001",
            text="x",
            now=container.now(),
            complaint_id=c.id,
        )
        row.status, row.last_error = FAILED, "63016: outside the allowed window"
        s.add(row)
    officer, _ = as_user("officer")
    html = officer.get("/inbox?queue=failed").text
    assert "63016: outside the allowed window" in html and c.tracking_number in html
    assert re.search(r'data-testid="count-failed">1<', html)


def test_dashboard_shows_figures_and_svg_charts(container: Container, as_user: Login) -> None:
    file_one(container, channel="phone", text="Biaya izin terlalu mahal, ada pungli")
    file_one(container, received_at=container.now() - dt.timedelta(days=40))
    head, _ = as_user("head")
    html = head.get("/inbox/dashboard").text
    assert re.search(r'data-testid="dash-open">2<', html)
    assert re.search(r'data-testid="dash-overdue">1<', html)
    assert html.count("<svg") == 3 and "Telepon" in html


def test_english_can_be_switched_on(container: Container, as_user: Login) -> None:
    officer, csrf = as_user("officer")
    assert "Antrean" in officer.get("/inbox").text
    officer.post("/inbox/lang", data={"csrf_token": csrf, "lang": "en", "next": "/inbox"})
    html = officer.get("/inbox").text
    assert "Queues" in html and 'lang="en"' in html


def test_every_string_used_by_the_templates_is_in_the_catalogue() -> None:
    folder = Path(__file__).resolve().parents[3] / "inbox" / "templates"
    used = set()
    for path in folder.glob("*.html"):
        used |= set(re.findall(r"(?<![\w.])t\('([a-z_.]+)'[,)]", path.read_text()))
    missing = used - set(catalogue())
    assert len(used) > 100 and not missing
    assert all(set(entry) == {"id", "en"} for entry in catalogue().values())


def test_static_htmx_is_served_from_the_package(client: TestClient) -> None:
    r = client.get("/inbox/static/htmx.min.js")
    assert r.status_code == 200 and "htmx" in r.text[:2000]
    assert client.get("/inbox/static/../auth.py").status_code == 404


def test_openapi_documents_the_api_with_bearer_auth(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    assert {
        "/api/v1/complaints",
        "/api/v1/complaints/{tracking}",
        "/api/v1/complaints/{tracking}/actions/{action}",
        "/api/v1/queues",
        "/api/v1/dashboard",
    } <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert not any(path.startswith("/inbox") for path in doc["paths"])


def test_a_shared_location_is_shown_with_its_name_coordinates_and_a_map_link(
    container: Container, as_user: Login
) -> None:
    # Issue 17, item 3: a WhatsApp/Telegram location used to become an empty saran.
    message = InboundMessage(
        channel="whatsapp",
        external_id="wamid.location-1",
        sender="whatsapp:+6281234567009",
        text="Jalan rusak di depan kantor",
        location=Location(-6.55691, 107.44331, "Mal Pelayanan Publik Purwakarta"),
        complete=True,
    )
    with db.write_session(container.engine) as s:
        result = ingest(session=s, message=message, now=container.now(), office=container.office)
        assert result.complaint is not None
        number = result.complaint.tracking_number
    officer, _ = as_user("officer")
    html = officer.get(f"/inbox/c/{number}/timeline").text
    assert "Mal Pelayanan Publik Purwakarta" in html and "-6.55691, 107.44331" in html
    assert "openstreetmap.org/?mlat=-6.55691&amp;mlon=107.44331" in html
