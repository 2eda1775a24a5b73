"""The demo phone (/demo/ponsel): a newcomer chats as a citizen; off in production.

End to end in Debian's Chromium: the citizen writes on the demo phone, the message goes through
the real signed WhatsApp webhook, the bot answers through the outbox and the sandbox provider,
the complaint is filed, an officer answers from the inbox, and the citizen sees the answer.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.bootstrap import build
from app.container import Container
from app.settings import from_dict
from channels.base import OutboundMessage, PermanentFailure
from channels.sandbox import SandboxSender
from inbox.app import create_app
from intake import db
from intake.models import Complaint, User
from outbound.outbox import deliver_due
from tests.conftest import TEST_ENV, Clock, missing_dependency, served, settle
from tests.integration.inbox.conftest import PASSWORD, password_hash

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def demo_container(
    config_data: dict[str, Any], tmp_path: Path, engine: Any, clock: Any, *, demo: bool
) -> Container:
    config_data.setdefault("storage", {})["attachments_dir"] = str(tmp_path / "attachments")
    env = dict(TEST_ENV) | ({"ADUAN_DEMO_PHONE": "1"} if demo else {})
    return build(from_dict(config_data, env=env), engine=engine, clock=clock, migrate=False)


def test_the_demo_phone_is_off_in_production(
    config_data: dict[str, Any], tmp_path: Path, engine: Any, clock: Any
) -> None:
    container = demo_container(config_data, tmp_path, engine, clock, demo=False)
    client = TestClient(create_app(container))
    assert client.get("/demo/ponsel").status_code == 404
    assert client.post("/demo/ponsel", data={"text": "halo"}).status_code == 404
    assert not isinstance(container.senders.get("whatsapp"), SandboxSender)


def test_demo_mode_page_gives_a_simulated_number_and_an_empty_screen(
    config_data: dict[str, Any], tmp_path: Path, engine: Any, clock: Any
) -> None:
    container = demo_container(config_data, tmp_path, engine, clock, demo=True)
    client = TestClient(create_app(container))
    page = client.get("/demo/ponsel")
    assert page.status_code == 200 and "Belum ada pesan" in page.text
    assert client.cookies["aduan_demo_ponsel"].startswith("whatsapp:+62800")
    assert client.post("/demo/ponsel", data={"text": "  "}).status_code == 400
    first = client.cookies["aduan_demo_ponsel"]
    client.post("/demo/ponsel/baru")
    assert client.cookies["aduan_demo_ponsel"] != first  # "Nomor baru": a fresh conversation


def test_the_sandbox_keeps_demo_numbers_and_passes_real_ones_to_the_provider() -> None:
    real: list[str] = []

    class Provider:
        def send(self, out: OutboundMessage) -> str:
            real.append(out.to)
            return "SM1"

    sandbox = SandboxSender(Provider())
    assert sandbox.send(OutboundMessage("whatsapp", "whatsapp:+628001234567", "halo")).startswith("sandbox-")
    assert sandbox.send(OutboundMessage("whatsapp", "whatsapp:+6281234567890", "halo")) == "SM1"
    assert real == ["whatsapp:+6281234567890"]
    with pytest.raises(PermanentFailure):
        SandboxSender(None).send(OutboundMessage("whatsapp", "whatsapp:+6281234567890", "halo"))


@pytest.fixture
def live(
    config_data: dict[str, Any], tmp_path: Path, engine: Any, clock: Any
) -> Iterator[tuple[str, Container]]:
    """The whole app in demo mode under uvicorn on a free port, with one officer."""
    if shutil.which(CHROMIUM) is None:
        missing_dependency("chromium")
    container = demo_container(config_data, tmp_path, engine, clock, demo=True)
    with db.write_session(engine) as s:
        s.add(User(username="petugas1", role="officer", full_name="Petugas1", password_hash=password_hash()))
    with served(create_app(container)) as base:
        yield base, container


def _say(phone: Any, container: Container, text: str) -> None:
    """Type and send on the demo phone (a minute after the last), let the service process it and
    the outbox deliver it."""
    clock = container.clock
    assert isinstance(clock, Clock)
    clock.advance(minutes=1)
    phone.get_by_label("Pesan").fill(text)
    phone.get_by_role("button", name="Kirim").click()
    phone.wait_for_load_state("load")
    settle(container)
    deliver_due(container)


@pytest.mark.browser
def test_demo_phone_end_to_end_citizen_bot_filed_officer_answers_citizen_sees_it(
    live: tuple[str, Container],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, container = live
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            phone = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
            errors: list[str] = []
            phone.on("pageerror", lambda exc: errors.append(str(exc)))
            phone.goto(f"{base}/demo/ponsel")
            number = phone.locator("#number").inner_text().strip()
            assert number.startswith("+62800")

            _say(phone, container, "Nama saya Budi Santoso. Izin PBG saya belum keluar, saya urus kemarin.")
            expect(phone.locator("#chat .theirs").last).to_contain_text("Mohon periksa laporan Anda")
            _say(phone, container, "ya")
            expect(phone.locator("#chat .theirs").last).to_contain_text("Pengaduan Anda sudah kami terima")
            with db.session(container.engine) as s:
                query = select(Complaint).where(Complaint.contact_urn == f"whatsapp:{number}")
                complaint = s.exec(query).one()
            tracking = complaint.tracking_number
            expect(phone.locator("#chat")).to_contain_text(tracking)

            # The officer answers from the inbox in another tab.
            officer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            officer.goto(f"{base}/inbox/login")
            officer.get_by_label("Nama pengguna").fill("petugas1")
            officer.get_by_label("Kata sandi").fill(PASSWORD)
            officer.get_by_role("button", name="Masuk").click()
            officer.wait_for_url(f"{base}/inbox")
            officer.goto(f"{base}/inbox/c/{tracking}")
            officer.get_by_label("Isi balasan").fill("Berkas PBG Anda sedang kami periksa, mohon ditunggu.")
            officer.get_by_role("button", name="Kirim").click()
            expect(officer.get_by_test_id("flash")).to_be_visible()
            assert deliver_due(container) == 1

            # The citizen's phone shows it without reloading (the page refreshes its screen).
            expect(phone.locator("#chat .theirs").last).to_contain_text(
                "Berkas PBG Anda sedang kami periksa", timeout=15_000
            )
            # A follow-up from the phone lands on the same complaint.
            _say(phone, container, "baik pak, terima kasih infonya. berkas tambahan sudah saya siapkan")
            expect(phone.locator("#chat .theirs").last).to_contain_text(f"menangani {tracking}")
            with db.session(container.engine) as s:
                assert len(s.exec(select(Complaint)).all()) == 1
            assert errors == []
        finally:
            browser.close()
