"""A voice note and a shared location through the signed WhatsApp webhook and the dialogue, to the inbox."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import col, select
from twilio.request_validator import RequestValidator

from app.container import Container
from inbox.app import create_app
from intake import db
from intake.models import Complaint, Message
from outbound.outbox import OutboxMessage
from tests.conftest import TEST_ENV, Clock, read_fixture, settle

Login = Callable[[str], tuple[TestClient, str]]
CITIZEN = "whatsapp:+6281322223333"


def post_signed(client: TestClient, container: Container, params: dict[str, str]) -> None:
    """POST a Twilio WhatsApp webhook signed as Twilio signs it, and let the service process it."""
    url = container.settings.public_base_url.rstrip("/") + "/hooks/whatsapp"
    signature = RequestValidator(TEST_ENV["ADUAN_TWILIO_AUTH_TOKEN"]).compute_signature(url, params)
    response = client.post(
        "/hooks/whatsapp",
        content=urllib.parse.urlencode(params).encode(),
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    settle(container)


def fixture_params(name: str, sid: str) -> dict[str, str]:
    params = dict(urllib.parse.parse_qsl(read_fixture("whatsapp", name).decode(), keep_blank_values=True))
    for key in ("MessageSid", "SmsSid", "SmsMessageSid"):
        params[key] = sid
    params["From"], params["WaId"] = CITIZEN, CITIZEN.removeprefix("whatsapp:+")
    return params


def text_params(text: str, sid: str) -> dict[str, str]:
    params = fixture_params("message__text_profile_name.form", sid)
    params["Body"] = text
    return params


def replies(container: Container) -> list[str]:
    with db.session(container.engine) as s:
        query = select(OutboxMessage).where(OutboxMessage.to_urn == CITIZEN)
        rows = s.exec(query.order_by(col(OutboxMessage.id))).all()
    return [r.text for r in rows]


def test_voice_note_and_location_through_the_webhook_reach_the_complaint_page(
    container: Container, clock: Clock, as_user: Login
) -> None:
    client = TestClient(create_app(container))
    post_signed(client, container, fixture_params("message__voice_note_no_text.form", "SM" + "1" * 32))
    [first] = replies(container)
    assert "Pesan suara Anda sudah kami terima" in first and "ringkasan singkat" in first
    clock.advance(minutes=3)
    post_signed(
        client,
        container,
        text_params("Nama saya Ujang Sopandi. Izin PBG abdi teu acan kaluar ti tgl 2 mrt", "SM" + "2" * 32),
    )
    assert "Mohon periksa laporan Anda" in replies(container)[-1]
    clock.advance(minutes=3)
    post_signed(client, container, fixture_params("message__location.form", "SM" + "3" * 32))
    assert "Lokasi yang Anda kirim sudah kami terima" in replies(container)[-1]
    clock.advance(minutes=3)
    post_signed(client, container, text_params("ya", "SM" + "4" * 32))
    assert "Pengaduan Anda sudah kami terima" in replies(container)[-1]

    with db.session(container.engine) as s:
        complaint = s.exec(select(Complaint).where(Complaint.contact_urn == CITIZEN)).one()
        attached = s.exec(select(Message).where(Message.complaint_id == complaint.id)).all()
    assert complaint.kind == "pengaduan" and complaint.service_date is not None
    assert len(attached) == 4  # the voice note and the location are part of the record
    officer, _ = as_user("officer")
    page = officer.get(f"/inbox/c/{complaint.tracking_number}")
    assert page.status_code == 200
    assert "Izin PBG abdi teu acan kaluar" in page.text
    # The voice note is on the page (its provider link until the media job has stored the file).
    assert "ME44444444444444444444444444444444" in page.text
