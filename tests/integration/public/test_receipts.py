"""/lapor receipts on the filer's own phone or e-mail, saran receipts without a deadline, /status spellings,
and /lapor and /status for every citizen (axe-core, a 320 px screen, JavaScript off)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app import settings as config_mod
from app.bootstrap import build
from app.container import Container
from channels.base import OutboundMessage
from intake import db
from intake.models import Complaint
from outbound import outbox
from outbound.outbox import OutboxMessage
from tests.integration.public.test_lapor import NAME, PHONE, TEXT, app_for, live_url, submit

__all__ = ["live_url"]


@dataclass
class RecordingSender:
    """A channel sender that keeps what the outbox gave it (the provider's place in a test)."""

    sent: list[OutboundMessage] = field(default_factory=list)

    def send(self, out: OutboundMessage) -> str:
        self.sent.append(out)
        return f"fake-{len(self.sent)}"


def container_with(
    config_data: dict[str, Any], engine: Any, clock: Any, tmp_path: Path, channels: tuple[str, ...]
) -> Container:
    for name, table in config_data["channels"].items():
        table["enabled"] = name in channels
    config_data.setdefault("storage", {})["attachments_dir"] = str(tmp_path / "attachments")
    from tests.conftest import TEST_ENV

    return build(
        config_mod.from_dict(config_data, env=dict(TEST_ENV)), engine=engine, clock=clock, migrate=False
    )


@pytest.fixture
def sms_container(config_data: dict[str, Any], engine: Any, clock: Any, tmp_path: Path) -> Container:
    """The demo office with the web form and SMS on."""
    return container_with(config_data, engine, clock, tmp_path, ("web", "sms"))


@pytest.fixture
def web_container(config_data: dict[str, Any], engine: Any, clock: Any, tmp_path: Path) -> Container:
    """The demo office with only the web form on (the fixture ``live_url`` serves)."""
    return container_with(config_data, engine, clock, tmp_path, ("web",))


def only_complaint(container: Container) -> Complaint:
    with db.session(container.engine) as s:
        [complaint] = s.exec(select(Complaint)).all()
    return complaint


def delivered(container: Container, channel: str) -> list[OutboundMessage]:
    """Deliver the outbox with today's mechanism to a recording sender; return what it got."""
    sender = RecordingSender()
    container.senders[channel] = sender
    outbox.deliver_due(container)
    return sender.sent


def test_a_lapor_filer_who_left_a_phone_number_gets_the_tracking_number_by_sms(
    sms_container: Container,
) -> None:
    client = TestClient(app_for(sms_container))
    page = submit(client, name=NAME, contact=PHONE, service="pbg", text=TEXT)
    complaint = only_complaint(sms_container)
    assert "juga kami kirim ke nomor telepon" in page.text
    [sms] = delivered(sms_container, "sms")
    assert sms.to == "tel:+6281234567890"
    assert complaint.tracking_number in sms.text and "Selasa, 7 April 2026" in sms.text
    assert NAME not in sms.text  # a shared phone shows no name


def test_the_same_form_sent_twice_sends_one_receipt(sms_container: Container) -> None:
    client = TestClient(app_for(sms_container))
    token = re.search(r'name="token" value="([^"]+)"', client.get("/lapor").text)
    assert token
    for _ in range(2):
        submit(client, token=token.group(1), name=NAME, contact=PHONE, text=TEXT)
    with db.session(sms_container.engine) as s:
        assert len(s.exec(select(OutboxMessage)).all()) == 1


def test_a_lapor_filer_who_left_an_e_mail_address_gets_it_by_e_mail(
    config_data: dict[str, Any], engine: Any, clock: Any, tmp_path: Path
) -> None:
    container = container_with(config_data, engine, clock, tmp_path, ("web", "email"))
    client = TestClient(app_for(container))
    page = submit(client, name=NAME, contact="budi.santoso@example.org", text=TEXT)
    complaint = only_complaint(container)
    assert "juga kami kirim ke alamat e-mail" in page.text
    [mail] = delivered(container, "email")
    assert mail.to == "mailto:budi.santoso@example.org"
    assert mail.subject == f"Nomor laporan {complaint.tracking_number}"
    assert complaint.tracking_number in mail.text


def test_a_filer_without_contact_gets_the_number_on_the_page_only(sms_container: Container) -> None:
    client = TestClient(app_for(sms_container))
    page = submit(client, name=NAME, text=TEXT)
    assert only_complaint(sms_container).tracking_number in page.text
    assert "juga kami kirim" not in page.text
    with db.session(sms_container.engine) as s:
        assert s.exec(select(OutboxMessage)).all() == []


def test_r3_late_saran_receipt_and_status_say_lewat_30_hari_and_show_no_deadline(
    web_container: Container,
) -> None:
    client = TestClient(app_for(web_container))
    page = submit(client, name=NAME, contact=PHONE, text=TEXT, service_date="2026-01-05")
    complaint = only_complaint(web_container)
    assert complaint.kind == "saran" and complaint.reason_list == ["late"]
    assert "lewat 30 hari" in page.text
    assert "kelengkapan" not in page.text and "paling lambat" not in page.text
    status = client.get("/status", params={"nomor": complaint.tracking_number})
    assert "lewat 30 hari" in status.text
    assert "Batas waktu" not in status.text and "hari kerja" not in status.text


def test_r5b_saran_without_name_keeps_the_completeness_hint_and_no_deadline(web_container: Container) -> None:
    client = TestClient(app_for(web_container))
    page = submit(client, contact=PHONE, text=TEXT)
    assert "nama pelapor tidak diisi" in page.text and "kelengkapan" in page.text
    assert "paling lambat" not in page.text


@pytest.mark.parametrize("typed", ["PWK 2026 000001", "pwk-2026-1", "PWK2026000001", "1", "no 000001"])
def test_status_accepts_the_spellings_the_bot_does(web_container: Container, typed: str) -> None:
    client = TestClient(app_for(web_container))
    submit(client, name=NAME, contact=PHONE, text=TEXT)
    complaint = only_complaint(web_container)
    assert complaint.tracking_number == "PWK-2026-000001"
    page = client.get("/status", params={"nomor": typed})
    assert page.status_code == 200 and 'id="result"' in page.text
    assert "Diterima, menunggu penelaahan" in page.text


# -- every citizen: screen readers, old phones ---------------------------------------------------------------


@pytest.fixture
def chromium() -> Iterator[Any]:
    from tests.conftest import missing_dependency

    path = Path("/usr/bin/chromium")
    if not path.exists():
        missing_dependency("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(path),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


def _filed_number(web_container: Container) -> str:
    client = TestClient(app_for(web_container))
    submit(client, name=NAME, contact=PHONE, text=TEXT)
    return only_complaint(web_container).tracking_number


@pytest.mark.browser
def test_axe_finds_no_violation_on_lapor_and_status(
    chromium: Any, live_url: str, web_container: Container
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    number = _filed_number(web_container)
    page = chromium.new_context(viewport={"width": 390, "height": 844}).new_page()
    for path in ("/lapor", "/status", f"/status?nomor={number}", "/status?nomor=PWK-2026-999999"):
        page.goto(f"{live_url}{path}")
        results = Axe().run(page)
        assert results.violations_count == 0, f"{path}: {results.generate_report()}"


@pytest.mark.browser
def test_lapor_and_status_work_on_a_320_px_screen_without_javascript(chromium: Any, live_url: str) -> None:
    page = chromium.new_context(java_script_enabled=False, viewport={"width": 320, "height": 640}).new_page()
    page.goto(f"{live_url}/lapor")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320  # no sideways scrolling
    page.fill("#name", NAME)
    page.fill("#contact", PHONE)
    page.fill("#text", TEXT)
    page.click("#kirim")
    page.wait_for_selector("#tracking")
    number = page.inner_text("#tracking").strip()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.goto(f"{live_url}/status")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.fill("#nomor", number.lower().replace("-", " "))
    page.click("button[type=submit]")
    page.wait_for_selector("#result")
    assert page.inner_text("#status") == "Diterima, menunggu penelaahan"
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
