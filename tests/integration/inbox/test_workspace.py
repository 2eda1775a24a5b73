"""The officers' workspace in Chromium: one conversation per page, the guided path, managers' loop.

One browser for the module; the app runs under uvicorn per test (``live`` of test_browser.py) on
PostgreSQL. Screenshots of the queue, the complaint page and the dashboard go to docs/screenshots/
for the README; the others to artifacts/screenshots/.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import select

from app.container import Container
from channels.base import InboundMessage
from intake import db
from intake.ingest import ingest
from intake.models import Complaint, Message, User
from outbound.outbox import OutboxMessage, deliver_due, enqueue
from tests.conftest import ROOT, Clock
from tests.e2e import test_browser
from tests.e2e.test_browser import ARGS, CHROMIUM, SHOTS
from tests.integration.inbox.conftest import file_one, password_hash

DOCS = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CONTACT = "whatsapp:+6281234567890"
pytestmark = pytest.mark.browser
#: The whole app under uvicorn and the fake Twilio, as in test_browser.py.
live = test_browser.live
twilio = test_browser.twilio


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the whole module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


class Session:
    """A logged-in page that counts what the officer does (clicks and keys) and full page loads."""

    def __init__(self, browser: Any, base: str, username: str, viewport: dict[str, int]) -> None:
        self.base = base
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.loads = 0
        self.actions = 0
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("load", lambda _: self._loaded())
        self.page.goto(f"{base}/inbox/login")
        self.page.get_by_label("Nama pengguna").fill(username)
        self.page.get_by_label("Kata sandi").fill("kata-sandi-uji-123")
        self.page.get_by_role("button", name="Masuk").click()
        self.page.wait_for_url(f"{base}/inbox")
        self.loads = 0

    def _loaded(self) -> None:
        self.loads += 1

    def click(self, locator: Any) -> None:
        """One action of the officer."""
        self.actions += 1
        locator.click()

    def close(self) -> None:
        assert self.errors == []
        self.context.close()


def _whatsapp_conversation(container: Container) -> str:
    """A citizen's WhatsApp report after the bot's question (as the dialogue stores both)."""
    now = container.now()
    with db.write_session(container.engine) as s:
        enqueue(
            s,
            channel="whatsapp",
            to=CONTACT,
            text="Baik, Bapak/Ibu. Mohon ceritakan apa yang terjadi dan di layanan apa?",
            now=now - dt.timedelta(seconds=30),
            purpose="dialogue",
            created_by="bot",
            office=container.office.code,
        )
        result = ingest(
            session=s,
            message=InboundMessage(
                channel="whatsapp",
                external_id="SM00000000000000000000000000000ws1",
                sender=CONTACT,
                text="Izin PBG rumah saya belum keluar sudah 2 bulan padahal berkas sudah lengkap.",
                sender_name="Budi",
                reporter_name="Budi Santoso",
                complete=True,
            ),
            now=now,
            office=container.office,
        )
        assert result.complaint is not None
        return result.complaint.tracking_number


def _busy_office(container: Container) -> None:
    """Earlier records on several channels, one overdue and one held by an officer (for the pictures)."""
    now = container.now()
    for days, channel, contact, name, text in (
        (25, "letter", "tel:+6281234500011", "Siti Aminah", "Surat: NIB usaha katering belum terbit"),
        (9, "walkin", "tel:+6281234500012", "Joko Susilo", "Antrean loket MPP panjang, nomor habis jam 9"),
        (4, "phone", "tel:+6281234500013", "Rina Marlina", "Petugas meminta biaya tambahan untuk SIP"),
        (1, "email", "mailto:dedi@example.test", "Dedi Kurnia", "Status PBG di SIMBG tidak berubah"),
    ):
        file_one(
            container,
            channel=channel,
            contact=contact,
            name=name,
            text=text,
            received_at=now - dt.timedelta(days=days),
        )
    with db.write_session(container.engine) as s:
        held = s.exec(select(Complaint).where(Complaint.channel == "phone")).one()
        officer = s.exec(select(User).where(User.username == "petugas2")).one()
        held.claimed_by_id = held.assignee_id = officer.id
        s.add(held)


def _record(container: Container, tracking: str) -> Complaint:
    with db.session(container.engine) as s:
        return s.exec(select(Complaint).where(Complaint.tracking_number == tracking)).one()


def _in_view(page: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]


def test_queue_to_closed_with_a_final_answer_in_six_actions(
    live: tuple[str, Container], browser: Any
) -> None:
    from playwright.sync_api import expect

    base, container = live
    DOCS.mkdir(parents=True, exist_ok=True)
    _busy_office(container)
    tracking = _whatsapp_conversation(container)
    officer = Session(browser, base, "petugas1", DESKTOP)
    page = officer.page
    expect(page.locator(f'tr[data-tracking="{tracking}"]')).to_have_attribute("data-unread", "1")
    page.screenshot(path=str(DOCS / "queue.png"))

    # j/k walk the queue's records from a complaint page too (keys are no actions on the record).
    first = page.locator("tr[data-tracking]").first.get_attribute("data-tracking")
    second = page.locator("tr[data-tracking]").nth(1).get_attribute("data-tracking")
    page.goto(f"{base}/inbox/c/{first}")
    page.keyboard.press("j")
    expect(page.get_by_test_id("tracking")).to_have_text(second or "")
    page.goto(f"{base}/inbox")

    # 1: open it from the queue. The bot's question is in the conversation, before the answer.
    officer.click(page.get_by_role("link", name=tracking))
    expect(page.get_by_test_id("tracking")).to_have_text(tracking)
    messages = page.locator("ol.timeline > li")
    expect(messages).to_have_count(2)
    expect(messages.nth(0)).to_have_attribute("data-kind", "bot")
    expect(messages.nth(0)).to_contain_text("Mohon ceritakan apa yang terjadi")
    expect(messages.nth(1)).to_contain_text("Izin PBG rumah saya")
    # 1280×800: the newest message and the reply box are above the fold.
    assert _in_view(page, messages.last) and _in_view(page, page.get_by_test_id("reply-form"))
    expect(page.get_by_test_id("step-hint")).to_contain_text("mulai telaah")
    assert page.locator("button[data-action=report_up], button[data-action=close]").count() == 0
    loads = officer.loads

    # 2: start the review (takes the record); the path moves on without reloading the page.
    officer.click(page.locator("button[data-action=start_review]"))
    expect(page.get_by_test_id("status")).to_have_text("Ditelaah")
    expect(page.locator(".path li[aria-current=step]")).to_have_text("Pilih jalur")

    # 3: the final answer straight from the reply box (the track is optional when answered at once).
    page.get_by_label("Isi balasan").fill("Izin PBG Anda sudah terbit hari ini dan dapat diambil di MPP.")
    page.screenshot(path=str(DOCS / "complaint.png"))
    officer.click(page.locator("button[data-action=send-final]"))
    expect(page.get_by_test_id("status")).to_have_text("Dijawab")
    expect(page.get_by_label("Isi balasan")).to_have_value("")

    # 4: report up: it lands in the section head's queue and the officer waits for them.
    officer.click(page.locator("button[data-action=report_up]"))
    expect(page.get_by_test_id("status")).to_have_text("Dilaporkan")
    expect(page.get_by_test_id("waiting-superior")).to_contain_text("Kasi")
    assert page.locator("button[data-action=close]").count() == 0
    assert officer.loads == loads, "actions must update the page in place"
    expect(page.get_by_test_id("changed")).to_be_hidden()  # its own actions are no news

    # 5–6: the superior opens it from "reported to me" and acknowledges it, which closes it.
    boss = Session(browser, base, "kasi", DESKTOP)
    boss.page.goto(f"{base}/inbox?queue=reported")
    expect(boss.page.get_by_test_id("count-reported")).to_have_text("1")
    boss.click(boss.page.get_by_role("link", name=tracking))
    boss.click(boss.page.locator("button[data-action=close]"))
    expect(boss.page.get_by_test_id("status")).to_have_text("Selesai")
    assert officer.actions + boss.actions <= 6
    # The officer's open page learns of it live (the conversation polls) and says so.
    expect(page.get_by_test_id("changed")).to_be_visible(timeout=15_000)
    record = _record(container, tracking)
    assert (record.status, record.answer_text) == (
        "closed",
        "Izin PBG Anda sudah terbit hari ini dan dapat diambil di MPP.",
    )

    # A closed record offers nothing but reopening: no reply box, no other action.
    expect(boss.page.get_by_test_id("closed-no-reply")).to_be_visible()
    guided = boss.page.locator("[data-testid=guide] button[data-action]")
    expect(guided).to_have_count(1)
    expect(guided).to_have_attribute("data-action", "reopen")
    events = boss.page.get_by_test_id("events").text_content() or ""
    for leak in ("user:", "claimed_by_id", "set_review", "R6", "assignee_id"):
        assert leak not in events, leak
    assert "Petugas1 mulai menangani" in events and "Diterima → Ditelaah" in events
    officer.close()
    boss.close()


def test_reply_box_canned_slash_ctrl_enter_note_and_a_refusal_keeps_the_text(
    live: tuple[str, Container], browser: Any, twilio: Any
) -> None:
    from playwright.sync_api import expect

    base, container = live
    tracking = _whatsapp_conversation(container)
    officer = Session(browser, base, "petugas1", DESKTOP)
    page = officer.page
    page.goto(f"{base}/inbox/c/{tracking}")
    box = page.get_by_label("Isi balasan")

    # "/" + a name picks a canned answer; Ctrl+Enter sends it.
    page.locator("body").press("/")
    expect(page.locator("#canned-menu")).to_be_visible()
    box.press_sequentially("tanda")
    expect(page.locator("#canned-menu [role=option]")).to_have_count(1)
    box.press("Enter")
    expect(box).to_have_value(
        f"Yth. Budi Santoso, pengaduan Anda telah kami terima dengan nomor {tracking}. Kami akan "
        "memberikan jawaban paling lambat 07-04-2026. Terima kasih. — DPMPTSP Kabupaten Purwakarta"
    )
    box.press("Control+Enter")
    expect(page.get_by_test_id("flash")).to_have_text("Balasan masuk antrean kirim.")
    last = page.locator("ol.timeline > li").last
    expect(last.get_by_test_id("tick")).to_have_attribute("aria-label", "Dalam antrean")
    # The clock icon is drawn (an SVG), not a character the font may lack.
    assert last.locator("[data-testid=tick] svg circle").count() == 1
    assert deliver_due(container) == 2  # the bot's question, still queued, and this reply
    expect(last.get_by_test_id("tick")).to_have_attribute("aria-label", "Terkirim", timeout=15_000)

    # Another officer's reply goes out meanwhile: the refusal keeps what this officer typed.
    with db.write_session(container.engine) as s:
        other = s.exec(select(User).where(User.username == "petugas2")).one()
        enqueue(
            s,
            channel="whatsapp",
            to=CONTACT,
            text="Balasan dari petugas lain",
            now=container.now(),
            complaint_id=_record(container, tracking).id,
            created_by=f"user:{other.username}",
        )
    box.fill("Mohon kirimkan foto tanda terima berkas Anda.")
    box.press("Control+Enter")
    expect(page.get_by_test_id("error")).to_contain_text("Ada balasan lain yang terkirim")
    expect(box).to_have_value("Mohon kirimkan foto tanda terima berkas Anda.")
    box.press("Control+Enter")  # now seen: it goes
    expect(page.get_by_test_id("flash")).to_be_visible()

    # n: a private note, kept in the conversation and never sent.
    page.locator("h1").click()
    page.keyboard.press("n")
    expect(page.locator("#composer")).to_have_class("composer mode-note")
    box.fill("Sudah cek ke bidang PBG: berkas lengkap sejak 2 Januari.")
    box.press("Control+Enter")
    note = page.locator("ol.timeline > li.note")
    expect(note).to_contain_text("Sudah cek ke bidang PBG")
    expect(note).to_contain_text("Catatan internal")
    with db.session(container.engine) as s:
        texts = [o.text for o in s.exec(select(OutboxMessage))]
    assert not any("Sudah cek" in x for x in texts)
    page.screenshot(path=str(SHOTS / "complaint-compose.png"))
    officer.close()


def test_phone_reply_box_within_one_scroll_and_citizen_replied_queue(
    live: tuple[str, Container], browser: Any, clock: Clock
) -> None:
    from playwright.sync_api import expect

    base, container = live
    tracking = _whatsapp_conversation(container)
    with db.write_session(container.engine) as s:
        record = s.exec(select(Complaint).where(Complaint.tracking_number == tracking)).one()
        officer_row = s.exec(select(User).where(User.username == "petugas1")).one()
        record.claimed_by_id = record.assignee_id = officer_row.id
        s.add(record)
        enqueue(
            s,
            channel="whatsapp",
            to=CONTACT,
            text="Mohon kirimkan nomor registrasi berkas Anda.",
            now=container.now(),
            complaint_id=record.id,
            created_by="user:petugas1",
        )
    phone = Session(browser, base, "petugas1", PHONE)
    page = phone.page
    page.goto(f"{base}/inbox?queue=waiting")
    expect(page.locator(f'tr[data-tracking="{tracking}"]')).to_be_visible()
    page.goto(f"{base}/inbox/c/{tracking}")
    box = page.get_by_test_id("reply-form").bounding_box()
    assert box is not None and box["y"] < 2 * PHONE["height"], box
    page.screenshot(path=str(SHOTS / "complaint-phone.png"))

    # The citizen answers: the record moves to "citizen replied", unread, live.
    page.goto(f"{base}/inbox?queue=replied")
    expect(page.get_by_test_id("count-replied")).to_have_text("0")
    clock.advance(minutes=5)
    with db.write_session(container.engine) as s:
        s.add(
            Message(
                channel="whatsapp",
                external_id="SM00000000000000000000000000000ws2",
                sender_urn=CONTACT,
                text="Nomor registrasi PBG-2026-0113",
                complaint_id=record.id,
                received_at=clock.now,
            )
        )
    row = page.locator(f'tr[data-tracking="{tracking}"]')
    expect(row).to_have_attribute("data-unread", "1", timeout=15_000)
    expect(page.get_by_test_id("count-replied")).to_have_text("1")
    # j opens the keyboard cursor on the first row, Enter opens it; reading clears the mark.
    page.locator("h1").first.dispatch_event("click")
    page.keyboard.press("j")
    expect(row).to_have_class("unread kb-current")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("tracking")).to_have_text(tracking)
    page.goto(f"{base}/inbox?queue=replied")
    expect(page.locator(f'tr[data-tracking="{tracking}"]')).not_to_have_attribute("data-unread", "1")
    phone.close()


def test_axe_finds_no_serious_violation_on_queue_complaint_dashboard_and_admin(
    live: tuple[str, Container], browser: Any
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    base, container = live
    with db.write_session(container.engine) as s:
        s.add(User(username="admin", role="admin", full_name="Admin", password_hash=password_hash()))
    _busy_office(container)
    tracking = _whatsapp_conversation(container)
    axe = Axe()
    head = Session(browser, base, "kepala", DESKTOP)
    admin = Session(browser, base, "admin", DESKTOP)
    found: dict[str, list[str]] = {}
    for who, path in (
        (head, "/inbox"),
        (head, f"/inbox/c/{tracking}"),
        (head, "/inbox/dashboard"),
        (head, "/inbox/alerts"),
        (admin, "/inbox/admin"),
        (admin, "/inbox/admin/access"),
    ):
        who.page.goto(f"{base}{path}")
        result = axe.run(who.page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}"
            for v in result.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        if bad:
            found[path] = bad
        header = who.page.locator("header.top").bounding_box()
        assert header is not None and header["height"] < 70, (path, header)  # one line at 1280 px
        if path == "/inbox/dashboard":
            who.page.screenshot(path=str(DOCS / "dashboard.png"), full_page=True)
    assert found == {}
    head.close()
    admin.close()
