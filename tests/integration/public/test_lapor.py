"""The public form /lapor, the /status page and the Open311 read endpoints (R2j–R2l, R3, R4, R5)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app import settings as config_mod
from app.bootstrap import build
from app.container import Container
from inbox import public
from inbox.routes import public as public_routes
from intake import db
from intake.models import STATUS_ANSWERED, Complaint, Message, RawInbound, Reporter
from tests.conftest import served

NAME = "Budi Santoso"
PHONE = "0812-3456-7890"
TEXT = "Sudah dua bulan PBG saya belum selesai, petugas di loket tidak memberi kejelasan."


def make_container(config_data: dict[str, Any], engine: Any, clock: Any, tmp_path: Path) -> Container:
    """A container with only the web channel on; ``config_data['channels']['web']`` may be changed first."""
    for name, table in config_data["channels"].items():
        table["enabled"] = name == "web"
    config_data.setdefault("storage", {})["attachments_dir"] = str(tmp_path / "attachments")
    from tests.conftest import TEST_ENV

    return build(
        config_mod.from_dict(config_data, env=dict(TEST_ENV)), engine=engine, clock=clock, migrate=False
    )


@pytest.fixture
def web_container(config_data: dict[str, Any], engine: Any, clock: Any, tmp_path: Path) -> Container:
    """The demo office with only the web channel on."""
    return make_container(config_data, engine, clock, tmp_path)


def app_for(container: Container) -> FastAPI:
    """A web app with only the public routes."""
    app = FastAPI()
    app.state.container = container
    app.state.public_form = public.PublicForm(container)
    app.include_router(public_routes.router)
    return app


@pytest.fixture
def client(web_container: Container) -> TestClient:
    """A test client of the public routes."""
    return TestClient(app_for(web_container))


def token_of(html: str) -> str:
    """Return the form token of a rendered form."""
    found = re.search(r'name="token" value="([^"]+)"', html)
    assert found, "the form has no token"
    return found.group(1)


def submit(client: TestClient, *, token: str | None = None, files: Any = None, **fields: str) -> Any:
    """Fetch the form and post it with ``fields``."""
    data = {"token": token or token_of(client.get("/lapor").text), **fields}
    return client.post("/lapor", data=data, files=files or [])


def complaints(container: Container) -> list[Complaint]:
    """Return every complaint."""
    with db.session(container.engine) as s:
        return list(s.exec(select(Complaint)).all())


# -- the form ------------------------------------------------------------------------------------------


def test_r2j_form_lists_catalogue_and_warns_about_saran(client: TestClient) -> None:
    page = client.get("/lapor")
    assert page.status_code == 200
    assert "Persetujuan Bangunan Gedung (PBG)" in page.text
    assert "Biaya/tarif" in page.text
    # R5b: the page says before sending that a submission without a name becomes a saran.
    assert "laporan tanpa nama dicatat sebagai" in page.text
    assert 'name="website"' in page.text and 'enctype="multipart/form-data"' in page.text


def test_r5a_named_submission_is_pengaduan_with_tracking_number_and_due_date(
    client: TestClient, web_container: Container
) -> None:
    answer = submit(
        client,
        name=NAME,
        contact=PHONE,
        service="pbg",
        service_date="2026-03-02",
        problem_type="waktu",
        text=TEXT,
    )
    assert answer.status_code == 200
    [complaint] = complaints(web_container)
    assert complaint.kind == "pengaduan" and complaint.channel == "web"
    assert complaint.tracking_number in answer.text
    # R4: received Tuesday 10 March 2026 → due Tuesday 7 April 2026, said in Indonesian words.
    assert "Selasa, 7 April 2026" in answer.text
    assert complaint.contact_urn == "tel:+6281234567890"
    with db.session(web_container.engine) as s:
        [raw] = s.exec(select(RawInbound)).all()
        body = json.loads(raw.body)
        assert raw.channel == "web" and body["name"] == NAME and body["service"] == "pbg"


def test_r5b_submission_without_name_is_saran(client: TestClient, web_container: Container) -> None:
    answer = submit(client, contact=PHONE, text=TEXT)
    [complaint] = complaints(web_container)
    assert complaint.kind == "saran" and "no_identity" in complaint.reason_list
    assert "saran/masukan" in answer.text and "nama pelapor tidak diisi" in answer.text


def test_r3_service_date_31_days_back_is_saran(client: TestClient, web_container: Container) -> None:
    submit(client, name=NAME, contact=PHONE, text=TEXT, service_date="2026-02-07")
    [complaint] = complaints(web_container)
    assert complaint.kind == "saran" and complaint.reason_list == ["late"]


def test_r5a_anonymous_keeps_hidden_identity(client: TestClient, web_container: Container) -> None:
    submit(client, name=NAME, contact=PHONE, text=TEXT, anonymous="1")
    [complaint] = complaints(web_container)
    assert complaint.kind == "pengaduan" and complaint.anonymous
    with db.session(web_container.engine) as s:
        assert s.get(Reporter, complaint.reporter_id).anonymous  # type: ignore[union-attr]


def test_form_sent_twice_gives_one_record(client: TestClient, web_container: Container) -> None:
    token = token_of(client.get("/lapor").text)
    first = submit(client, token=token, name=NAME, contact=PHONE, text=TEXT)
    second = submit(client, token=token, name=NAME, contact=PHONE, text=TEXT)
    [complaint] = complaints(web_container)
    assert complaint.tracking_number in first.text and complaint.tracking_number in second.text


def test_forged_token_rejected_nothing_stored(client: TestClient, web_container: Container) -> None:
    answer = submit(client, token="forged.token.value", name=NAME, text=TEXT)
    assert answer.status_code == 400 and "kedaluwarsa" in answer.text
    with db.session(web_container.engine) as s:
        assert s.exec(select(RawInbound)).all() == []


def test_expired_token_rejected(config_data: dict[str, Any], engine: Any, clock: Any, tmp_path: Path) -> None:
    config_data["channels"]["web"]["form_token_max_age"] = -1
    container = make_container(config_data, engine, clock, tmp_path)
    client = TestClient(app_for(container))
    assert submit(client, name=NAME, text=TEXT).status_code == 400
    assert complaints(container) == []


def test_honeypot_filled_dropped(client: TestClient, web_container: Container) -> None:
    answer = submit(client, name=NAME, text=TEXT, website="http://spam.example.test")
    assert answer.status_code == 400
    assert complaints(web_container) == []


def test_rate_limit_per_address(config_data: dict[str, Any], engine: Any, clock: Any, tmp_path: Path) -> None:
    config_data["channels"]["web"]["submissions_per_hour"] = 2
    container = make_container(config_data, engine, clock, tmp_path)
    client = TestClient(app_for(container))
    codes = [submit(client, name=NAME, text=f"{TEXT} ({i})").status_code for i in range(3)]
    assert codes == [200, 200, 429]
    clock.advance(hours=1, seconds=1)
    assert submit(client, name=NAME, text=TEXT).status_code == 200  # a new window


def test_invalid_contact_shows_form_again_with_values(client: TestClient, web_container: Container) -> None:
    answer = submit(client, name=NAME, contact="bukan nomor", text=TEXT)
    assert answer.status_code == 400
    assert "tidak dikenali" in answer.text and NAME in answer.text
    assert complaints(web_container) == []


def test_attachment_stored_and_linked(client: TestClient, web_container: Container) -> None:
    photo = b"\xff\xd8\xff\xe0" + b"0" * 2000
    submit(
        client,
        name=NAME,
        contact=PHONE,
        text=TEXT,
        files=[("attachments", ("antrean.jpg", photo, "image/jpeg"))],
    )
    with db.session(web_container.engine) as s:
        [message] = s.exec(select(Message)).all()
    [att] = json.loads(message.attachments)
    assert att["filename"] == "antrean.jpg" and att["size"] == len(photo)
    stored = web_container.storage_dir() / "scans" / att["url"].rsplit("/", 1)[1]
    assert stored.read_bytes() == photo


def test_attachment_of_other_type_refused(client: TestClient, web_container: Container) -> None:
    answer = submit(
        client, name=NAME, text=TEXT, files=[("attachments", ("x.exe", b"MZ", "application/x-msdownload"))]
    )
    assert answer.status_code == 400 and "bukan foto" in answer.text
    assert complaints(web_container) == []


# -- the status page ------------------------------------------------------------------------------------


def test_status_shows_state_and_due_date_without_personal_data(
    client: TestClient, web_container: Container
) -> None:
    submit(client, name=NAME, contact=PHONE, text=TEXT)
    [complaint] = complaints(web_container)
    page = client.get("/status", params={"nomor": complaint.tracking_number.lower()})
    assert page.status_code == 200
    assert "Diterima, menunggu penelaahan" in page.text and "Selasa, 7 April 2026" in page.text
    for personal in (NAME, "3456", "kejelasan"):
        assert personal not in page.text


def test_r8_status_never_shows_the_answer_nor_the_name_it_greets(
    client: TestClient, web_container: Container
) -> None:
    # The inbox's canned final answer starts "Yth. <full name>": on a public page that is the
    # reporter's name for anyone who types (or guesses) the sequential number.
    submit(client, name=NAME, contact=PHONE, service="pbg", text=TEXT)
    with db.write_session(web_container.engine) as s:
        complaint = s.exec(select(Complaint)).one()
        complaint.status = STATUS_ANSWERED
        complaint.answer_text = f"Yth. {NAME}, PBG Anda terbit pada 20 Maret 2026."
        s.add(complaint)
        number = complaint.tracking_number
    page = client.get("/status", params={"nomor": number})
    assert page.status_code == 200 and "Sudah dijawab" in page.text
    assert "Persetujuan Bangunan Gedung (PBG)" in page.text  # service and office: what the docs promise
    assert web_container.office.name in page.text
    for private in (NAME, "Budi", "20 Maret 2026", "3456", "kejelasan"):
        assert private not in page.text


def test_status_unknown_number(client: TestClient) -> None:
    page = client.get("/status", params={"nomor": "PWK-2026-999999"})
    assert page.status_code == 404 and "tidak ditemukan" in page.text


# -- Open311 GeoReport v2 -----------------------------------------------------------------------------------


def test_open311_services_from_catalogue(client: TestClient, web_container: Container) -> None:
    services = client.get("/open311/v2/services.json").json()
    assert [s["service_code"] for s in services] == [s.code for s in web_container.office.services]
    assert all(s["type"] == "realtime" and s["metadata"] is False for s in services)


def test_open311_requests_without_personal_data(client: TestClient, web_container: Container) -> None:
    submit(client, name=NAME, contact=PHONE, service="pbg", text=TEXT)
    [item] = client.get("/open311/v2/requests.json").json()
    [complaint] = complaints(web_container)
    assert item["service_request_id"] == complaint.tracking_number
    assert item["expected_datetime"] == "2026-04-07T23:59:59+07:00"  # R4 due date, end of the day
    assert item["status"] == "open" and item["status_notes"] == "Diterima, menunggu penelaahan"
    assert item["agency_responsible"] == web_container.office.name
    dumped = json.dumps(item)
    assert NAME not in dumped and "6281234567890" not in dumped and "kejelasan" not in dumped
    assert client.get("/open311/v2/requests.json", params={"status": "closed"}).json() == []


def test_open311_single_request_and_unknown(client: TestClient, web_container: Container) -> None:
    submit(client, name=NAME, text=TEXT)
    [complaint] = complaints(web_container)
    [item] = client.get(f"/open311/v2/requests/{complaint.tracking_number}.json").json()
    assert item["service_request_id"] == complaint.tracking_number
    missing = client.get("/open311/v2/requests/PWK-2026-999999.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404


def test_open311_bad_date_is_400(client: TestClient) -> None:
    answer = client.get("/open311/v2/requests.json", params={"start_date": "kemarin"})
    assert answer.status_code == 400 and "ISO-8601" in answer.json()[0]["description"]


# -- in Chromium, with and without JavaScript ---------------------------------------------------------------


@pytest.fixture
def live_url(web_container: Container) -> Iterator[str]:
    """Serve the public routes with uvicorn on a free loopback port."""
    with served(app_for(web_container), lifespan="auto") as base:
        yield base


@pytest.mark.browser
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_r2j_browser_submit_then_status(live_url: str, javascript: bool) -> None:
    from tests.conftest import missing_dependency

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        missing_dependency("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_context(
                java_script_enabled=javascript, viewport={"width": 390, "height": 844}
            ).new_page()
            page.goto(f"{live_url}/lapor")
            assert page.is_visible("#name-notice")
            box = page.locator("#website").bounding_box()
            assert box is None or box["x"] + box["width"] <= 0  # the honeypot is out of sight
            page.fill("#name", NAME)
            page.fill("#contact", PHONE)
            page.select_option("#service", "pbg")
            page.select_option("#problem_type", "waktu")
            page.fill("#text", TEXT)
            page.click("#kirim")
            page.wait_for_selector("#tracking")
            number = page.inner_text("#tracking").strip()
            assert re.fullmatch(r"PWK-2026-\d{6}", number)
            assert page.inner_text("#due") == "Selasa, 7 April 2026"
            page.click("#status-link")
            page.wait_for_selector("#result")
            assert page.inner_text("#status") == "Diterima, menunggu penelaahan"
            page.fill("#nomor", number)
            page.click("button[type=submit]")
            page.wait_for_selector("#result")
            assert NAME not in page.content()
        finally:
            browser.close()


def test_open311_listing_is_paged_newest_first(client: TestClient, web_container: Container) -> None:
    for i in range(3):
        submit(client, name=NAME, text=f"{TEXT} ({i})")
    numbers = [c.tracking_number for c in sorted(complaints(web_container), key=lambda c: c.id or 0)]
    first = client.get("/open311/v2/requests.json", params={"page_size": 2}).json()
    second = client.get("/open311/v2/requests.json", params={"page_size": 2, "page": 2}).json()
    assert [i["service_request_id"] for i in first + second] == numbers[::-1]
    too_big = client.get("/open311/v2/requests.json", params={"page_size": 1000})
    assert too_big.status_code == 400 and "page_size" in too_big.json()[0]["description"]


def test_open311_bulk_id_lookup_is_capped(client: TestClient) -> None:
    ids = ",".join(f"PWK-2026-{n:06d}" for n in range(1, 1001))
    answer = client.get("/open311/v2/requests.json", params={"service_request_id": ids})
    assert answer.status_code == 400 and "at most 20" in answer.json()[0]["description"]


def test_open311_reads_are_rate_limited_per_client(
    config_data: dict[str, Any], engine: Any, clock: Any, tmp_path: Path
) -> None:
    config_data["channels"]["web"]["open311_requests_per_hour"] = 2
    container = make_container(config_data, engine, clock, tmp_path)
    client = TestClient(app_for(container))
    codes = [client.get("/open311/v2/requests.json").status_code for _ in range(2)]
    codes.append(client.get("/open311/v2/requests/PWK-2026-000001.json").status_code)
    assert codes == [200, 200, 429]


def proxied(container: Container, client_ip: str) -> TestClient:
    """A client whose requests arrive through a proxy at 10.0.0.5 that names ``client_ip``."""
    return TestClient(app_for(container), client=("10.0.0.5", 50000), headers={"X-Forwarded-For": client_ip})


def test_rate_limit_counts_each_client_behind_a_trusted_proxy(
    config_data: dict[str, Any], engine: Any, clock: Any, tmp_path: Path
) -> None:
    # Behind nginx every request comes from the proxy: without trusted_proxies one person's five
    # reports closed /lapor for the whole public.
    config_data["channels"]["web"]["submissions_per_hour"] = 1
    config_data.setdefault("security", {})["trusted_proxies"] = ["10.0.0.0/8"]
    container = make_container(config_data, engine, clock, tmp_path)
    first, second = proxied(container, "198.51.100.7"), proxied(container, "203.0.113.9")
    assert submit(first, name=NAME, text=TEXT).status_code == 200
    assert submit(first, name=NAME, text=f"{TEXT} lagi").status_code == 429
    assert submit(second, name=NAME, text=f"{TEXT} juga").status_code == 200  # another citizen


def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    config_data: dict[str, Any], engine: Any, clock: Any, tmp_path: Path
) -> None:
    # A stranger cannot pose as a new client per request by writing the header themselves.
    config_data["channels"]["web"]["submissions_per_hour"] = 1
    config_data.setdefault("security", {})["trusted_proxies"] = ["127.0.0.1"]
    container = make_container(config_data, engine, clock, tmp_path)
    assert submit(proxied(container, "198.51.100.7"), name=NAME, text=TEXT).status_code == 200
    assert submit(proxied(container, "203.0.113.9"), name=NAME, text=f"{TEXT} 2").status_code == 429


def test_duplicate_submission_shows_its_receipt_not_the_limit(
    config_data: dict[str, Any], engine: Any, clock: Any, tmp_path: Path
) -> None:
    config_data["channels"]["web"]["submissions_per_hour"] = 1
    container = make_container(config_data, engine, clock, tmp_path)
    client = TestClient(app_for(container))
    token = token_of(client.get("/lapor").text)
    first = submit(client, token=token, name=NAME, text=TEXT)
    again = submit(client, token=token, name=NAME, text=TEXT)  # the answer was lost; sent again
    [complaint] = complaints(container)
    assert first.status_code == 200 and again.status_code == 200
    assert complaint.tracking_number in again.text
