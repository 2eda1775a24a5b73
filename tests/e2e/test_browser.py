"""End to end in Debian's Chromium: a WhatsApp complaint arrives live, is claimed, answered and closed.

The inbox runs under uvicorn on a free port; the answer goes through the outbox to a local fake of
Twilio's REST API (tests/fakeapi.py). Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.bootstrap import build
from app.container import Container
from app.settings import Settings, from_dict
from channels.base import InboundMessage
from inbox.app import create_app
from intake import db
from intake.ingest import ingest
from intake.models import Complaint, User
from outbound.outbox import deliver_due
from tests.conftest import TEST_ENV, missing_dependency, served
from tests.fakeapi import FakeAPI, Recorded, Reply
from tests.integration.inbox.conftest import PASSWORD, password_hash

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
pytestmark = pytest.mark.browser


def twilio_created(req: Recorded) -> Reply:
    """Answer like Twilio's Messages.json create."""
    return Reply(
        201,
        {
            "sid": f"SM{len(req.body):032d}",
            "status": "queued",
            "to": req.form.get("To"),
            "body": req.form.get("Body"),
        },
    )


@pytest.fixture
def twilio() -> Iterator[FakeAPI]:
    """A local fake of Twilio's REST API."""
    with FakeAPI({("POST", "/2010-04-01/Accounts/"): twilio_created}) as api:
        yield api


@pytest.fixture
def live(
    config_data: dict[str, Any], tmp_path: Path, engine: Any, clock: Any, twilio: FakeAPI
) -> Iterator[tuple[str, Container]]:
    """The whole app under uvicorn on a free port, WhatsApp answers going to the fake Twilio."""
    if shutil.which(CHROMIUM) is None:
        missing_dependency("chromium")
    config_data["channels"]["whatsapp"]["api_base_url"] = twilio.url
    config_data["channels"]["whatsapp"]["provider"] = "twilio"
    config_data.setdefault("storage", {})["attachments_dir"] = str(tmp_path / "attachments")
    settings: Settings = from_dict(config_data, env=dict(TEST_ENV))
    container = build(settings, engine=engine, clock=clock, migrate=False)
    with db.write_session(engine) as s:
        ids: dict[str, int] = {}
        for username, role, boss in (
            ("kepala", "head", None),
            ("kabid", "division_head", "kepala"),
            ("kasi", "section_head", "kabid"),
            ("petugas1", "officer", "kasi"),
            ("petugas2", "officer", "kasi"),
        ):
            u = User(
                username=username,
                role=role,
                full_name=username.capitalize(),
                password_hash=password_hash(),
                superior_id=ids.get(boss) if boss else None,
            )
            s.add(u)
            s.flush()
            assert u.id is not None
            ids[username] = u.id
    with served(create_app(container)) as base:
        yield base, container


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/inbox/login")
    page.get_by_label("Nama pengguna").fill(username)
    page.get_by_label("Kata sandi").fill(PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    page.wait_for_url(f"{base}/inbox")


def _whatsapp_arrives(container: Container) -> str:
    message = InboundMessage(
        channel="whatsapp",
        external_id="SM0000000000000000000000000000e2e1",
        sender="whatsapp:+6281234567890",
        text="Selamat siang, izin PBG rumah saya belum keluar sudah 2 bulan padahal berkas sudah lengkap.",
        sender_name="Budi",
        reporter_name="Budi Santoso",
        complete=True,
    )
    with db.write_session(container.engine) as s:
        result = ingest(session=s, message=message, now=container.now(), office=container.office)
        assert result.complaint is not None
        return result.complaint.tracking_number


def _act(page: Any, action: str) -> None:
    page.locator(f'button[data-action="{action}"]').click()
    page.wait_for_load_state("load")


def test_officer_handles_a_whatsapp_complaint_end_to_end(
    live: tuple[str, Container], twilio: FakeAPI
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, container = live
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            officer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page_errors: list[str] = []
            officer.on("pageerror", lambda exc: page_errors.append(str(exc)))
            _login(officer, base, "petugas1")
            expect(officer.get_by_test_id("count-new")).to_have_text("0")

            # A WhatsApp complaint arrives while the page is open: htmx polling shows it.
            tracking = _whatsapp_arrives(container)
            row = officer.locator(f'tr[data-tracking="{tracking}"]')
            expect(row).to_be_visible(timeout=15_000)
            expect(officer.get_by_test_id("count-new")).to_have_text("1")
            officer.screenshot(path=str(SHOTS / "queue.png"), full_page=True)

            row.get_by_role("link", name=tracking).click()
            expect(officer.get_by_test_id("tracking")).to_have_text(tracking)
            _act(officer, "claim")
            expect(officer.get_by_test_id("claim-banner")).to_contain_text("Petugas1")

            # A second officer sees who handles it.
            other = browser.new_context().new_page()
            _login(other, base, "petugas2")
            other.goto(f"{base}/inbox/c/{tracking}")
            expect(other.get_by_test_id("claim-banner")).to_have_text("Sedang ditangani oleh Petugas1")

            # Reply with a canned answer; the outbox delivers it to the (fake) Twilio.
            officer.get_by_label("Jawaban siap pakai").select_option("received")
            expect(officer.get_by_label("Isi balasan")).to_have_value(
                f"Yth. Budi Santoso, pengaduan Anda telah kami terima dengan nomor {tracking}. Kami akan "
                "memberikan jawaban paling lambat 07-04-2026. Terima kasih. — DPMPTSP Kabupaten Purwakarta"
            )
            officer.get_by_role("button", name="Kirim").click()
            expect(officer.get_by_test_id("flash")).to_be_visible()
            expect(officer.get_by_test_id("tick").first).to_have_attribute("aria-label", "Dalam antrean")
            assert deliver_due(container) == 1
            sent = twilio.requests_to("POST", "/2010-04-01/Accounts/")
            assert [(r.form["To"], r.form["Body"][:30]) for r in sent] == [
                ("whatsapp:+6281234567890", "Yth. Budi Santoso, pengaduan A")
            ]
            expect(officer.get_by_test_id("tick").first).to_have_attribute(
                "aria-label", "Terkirim", timeout=15_000
            )

            # Review, escalate, ask for APIP (each updates the page in place).
            _act(officer, "start_review")
            expect(officer.get_by_test_id("status")).to_have_text("Ditelaah")
            officer.locator("details.more > summary").click()
            _act(officer, "escalate")
            expect(officer.get_by_test_id("flash")).to_have_text("Dinaikkan ke atasan.")
            officer.get_by_text("Perlu APIP?").click()
            officer.get_by_label("Alasan APIP").fill("Dugaan pungutan liar, perlu pemeriksaan APIP")
            _act(officer, "request_apip")
            expect(officer.get_by_test_id("flash")).to_have_text("Persetujuan APIP diminta.")
            officer.screenshot(path=str(SHOTS / "complaint.png"), full_page=True)

            # The head approves APIP (R7c).
            head = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            _login(head, base, "kepala")
            head.goto(f"{base}/inbox?queue=approval")
            expect(head.locator(f'tr[data-tracking="{tracking}"]')).to_be_visible()
            head.goto(f"{base}/inbox/c/{tracking}")
            _act(head, "approve_apip")
            expect(head.get_by_text("APIP disetujui oleh Kepala")).to_be_visible()
            head.goto(f"{base}/inbox/dashboard")
            expect(head.get_by_test_id("dash-open")).to_have_text("1")
            head.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)

            # Record the final answer (R8) and report up; the head acknowledges, which closes it.
            officer.reload()
            officer.get_by_label("Isi balasan").fill(
                "Izin PBG Anda sudah terbit hari ini dan dapat diambil di MPP."
            )
            officer.get_by_role("button", name="Kirim sebagai jawaban akhir").click()
            expect(officer.get_by_test_id("status")).to_have_text("Dijawab")
            _act(officer, "report_up")
            expect(officer.get_by_test_id("status")).to_have_text("Dilaporkan")
            head.goto(f"{base}/inbox/c/{tracking}")
            _act(head, "close")
            expect(head.get_by_test_id("status")).to_have_text("Selesai")
            with db.session(container.engine) as s:
                record = s.exec(
                    __import__("sqlmodel").select(Complaint).where(Complaint.tracking_number == tracking)
                ).one()
                assert (record.status, record.apip_approved_at is not None) == ("closed", True)

            # Phone-size screen: the queue still reads as one column.
            phone = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            _login(phone, base, "petugas2")
            phone.goto(f"{base}/inbox?queue=all")
            phone.screenshot(path=str(SHOTS / "queue-phone.png"), full_page=True)
            assert page_errors == []
        finally:
            browser.close()
    (SHOTS / "README.txt").write_text(json.dumps({"tracking": tracking}))


def test_admin_manages_staff_and_an_officer_searches_by_name(live: tuple[str, Container]) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, container = live
    SHOTS.mkdir(parents=True, exist_ok=True)
    with db.write_session(container.engine) as s:
        s.add(User(username="admin", role="admin", full_name="Admin", password_hash=password_hash()))
    tracking = _whatsapp_arrives(container)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            # An officer finds the complaint by a part of the reporter's name.
            officer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page_errors: list[str] = []
            officer.on("pageerror", lambda exc: page_errors.append(str(exc)))
            _login(officer, base, "petugas1")
            officer.get_by_label("Cari").fill("santo")
            officer.get_by_role("button", name="Terapkan").click()
            expect(officer.locator(f'tr[data-tracking="{tracking}"]')).to_be_visible()
            officer.screenshot(path=str(SHOTS / "search.png"), full_page=True)
            officer.get_by_label("Cari").fill("tidak ada yang begini")
            officer.get_by_role("button", name="Terapkan").click()
            expect(officer.get_by_text("Tidak ada data.")).to_be_visible()
            officer.goto(f"{base}/inbox/c/{tracking}")  # a view of personal data, for the access log
            officer.goto(f"{base}/inbox/admin")
            expect(officer.get_by_test_id("forbidden")).to_have_text("Akses ditolak")

            # The admin adds an account, sees its one-time password, and reads the access log.
            admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            admin.on("pageerror", lambda exc: page_errors.append(str(exc)))
            _login(admin, base, "admin")
            admin.get_by_role("link", name="Admin").click()
            expect(admin.locator('tr[data-user="petugas1"] [data-testid="last-login"]')).not_to_have_text("—")
            admin.get_by_label("Nama pengguna").fill("rina")
            admin.get_by_label("Nama lengkap").fill("Rina Marlina")
            admin.get_by_label("Peran", exact=True).select_option("officer")
            admin.get_by_role("button", name="Buat akun").click()
            expect(admin.get_by_test_id("one-time-password")).to_have_text(re.compile(r"^\S{12,}$"))
            admin.goto(f"{base}/inbox/admin")
            admin.locator('button[data-action="disable-petugas2"]').click()
            expect(admin.get_by_test_id("flash")).to_have_text("Akun dinonaktifkan.")
            admin.screenshot(path=str(SHOTS / "admin-users.png"), full_page=True)
            admin.get_by_role("link", name="Log akses data pribadi").click()
            admin.get_by_label("Nomor pelacakan").fill(tracking)
            admin.get_by_role("button", name="Terapkan").click()
            expect(admin.get_by_test_id("access-row").first).to_contain_text("Petugas1")
            expect(admin.get_by_test_id("access-row").first).to_contain_text("melihat data pelapor")
            admin.screenshot(path=str(SHOTS / "admin-access-log.png"), full_page=True)
            assert page_errors == []
        finally:
            browser.close()
