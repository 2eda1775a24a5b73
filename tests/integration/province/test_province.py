"""Two offices in one database: routing, numbering, calendars, staff, alerts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.container import Container
from inbox import auth
from inbox.app import create_app
from intake import db
from intake.ingest import IngestResult, file_complaint
from intake.models import Complaint, RawInbound, User
from outbound import alerts, escalation, outbox
from outbound.alerts import AlertMessage, Recipients
from tests.conftest import JAKARTA, TEST_ENV, read_fixture, settle
from tests.e2e.test_twilio_outbound import MESSAGES
from tests.fakeapi import FakeAPI
from tests.integration.inbox.conftest import login
from tests.integration.province.conftest import signed_sms

BDG_NUMBER = "+6281100000222"
PWK_NUMBER = "+6281809898222"


@pytest.fixture
def app(container: Container) -> FastAPI:
    return create_app(container)


def file_at_once(container: Container, session: Session, result: IngestResult, now: dt.datetime) -> bool:
    """Stand-in for the dialogue: file every chat message as a complaint of the current office."""
    message = result.message
    file_complaint(
        session=session,
        office=container.office,
        channel=message.channel,
        contact_urn=message.sender_urn,
        text=message.text,
        received_at=now,
        now=now,
        messages=[message],
    )
    return True


def complaints(container: Container) -> dict[str, Complaint]:
    with db.session(container.engine) as s:
        return {c.tracking_number: c for c in s.exec(select(Complaint))}


def file_in(
    container: Container, office: str, text: str = "Izin PBG saya belum keluar sudah dua bulan"
) -> str:
    """File a walk-in complaint at ``office`` and return its tracking number."""
    with db.write_session(container.engine) as s:
        return file_complaint(
            session=s,
            office=container.offices[office],
            channel="walkin",
            contact_urn="tel:+6281234567001",
            text=text,
            received_at=container.now(),
            now=container.now(),
            reporter_name="Budi Santoso",
        ).tracking_number


def token_of(container: Container, user: User) -> dict[str, str]:
    with db.write_session(container.engine) as s:
        token = auth.create_token(s, user=user, name="uji", now=container.now())
    return {"Authorization": f"Bearer {token}"}


# -- inbound: routing, numbering, calendar --------------------------------------------------------


def test_sms_to_the_second_office_number_becomes_a_bdg_complaint_due_on_its_calendar(
    container: Container, app: FastAPI
) -> None:
    container.message_hooks.insert(0, file_at_once)
    client = TestClient(app)
    assert (
        signed_sms(client, "/hooks/sms", read_fixture("sms", "message__to_second_office.form")).status_code
        == 200
    )
    assert signed_sms(client, "/hooks/sms", read_fixture("sms", "message__plain.form")).status_code == 200
    settle(container)
    found = complaints(container)
    # R4 on each office's calendar (Bandung is closed on 12 March), numbers counted per office.
    assert {n: (c.office, c.due_date) for n, c in found.items()} == {
        "BDG-2026-000001": ("bdg", dt.date(2026, 4, 8)),
        "PWK-2026-000001": ("pwk", dt.date(2026, 4, 7)),
    }
    with db.session(container.engine) as s:
        raw_offices = sorted(r.office for r in s.exec(select(RawInbound)))
    assert raw_offices == ["bdg", "pwk"]


def test_tracking_counters_of_the_offices_are_independent(container: Container) -> None:
    numbers = [
        file_in(container, "pwk"),
        file_in(container, "bdg"),
        file_in(container, "bdg"),
        file_in(container, "pwk"),
    ]
    assert numbers == ["PWK-2026-000001", "BDG-2026-000001", "BDG-2026-000002", "PWK-2026-000002"]


def test_each_office_answers_in_its_own_name_from_its_own_number(
    container: Container, app: FastAPI, api: FakeAPI
) -> None:
    client = TestClient(app)
    signed_sms(client, "/hooks/sms", read_fixture("sms", "message__to_second_office.form"))
    signed_sms(client, "/hooks/sms", read_fixture("sms", "message__plain.form"))
    settle(container)
    with db.session(container.engine) as s:
        rows = {r.office: r for r in s.exec(select(outbox.OutboxMessage))}
    assert set(rows) == {"bdg", "pwk"}  # the dialogue greeted each citizen for the office written to
    assert "DPMPTSP Kabupaten Bandung" in rows["bdg"].text
    assert "Purwakarta" in rows["pwk"].text
    assert outbox.deliver_due(container) == 2
    sent = {r.form["To"]: r.form["From"] for r in api.requests_to("POST", MESSAGES)}
    assert sent == {"+6281234567891": BDG_NUMBER, "+6281234567890": PWK_NUMBER}


def test_office_webhook_path_checks_the_office_token_and_stores_for_it(
    settings: Any, engine: Any, clock: Any
) -> None:
    from app.bootstrap import build

    settings.env["ADUAN_BDG_TWILIO_AUTH_TOKEN"] = "bandung-own-token"
    container = build(settings, engine=engine, clock=clock, migrate=False)
    container.message_hooks.insert(0, file_at_once)
    client = TestClient(create_app(container))
    body = read_fixture("sms", "message__to_second_office.form")
    # Signed with the deployment's token: not Bandung's, so refused on Bandung's path.
    assert signed_sms(client, "/hooks/bdg/sms", body).status_code == 403
    assert signed_sms(client, "/hooks/bdg/sms", body, token="bandung-own-token").status_code == 200
    settle(container)
    assert list(complaints(container)) == ["BDG-2026-000001"]
    # the main path keeps the deployment's token
    plain = read_fixture("sms", "message__plain.form")
    assert signed_sms(client, "/hooks/sms", plain, token="bandung-own-token").status_code == 403
    assert (
        signed_sms(client, "/hooks/sms", plain, token=TEST_ENV["ADUAN_TWILIO_AUTH_TOKEN"]).status_code == 200
    )


# -- staff see their office only --------------------------------------------------------------------


def test_officer_of_one_office_gets_404_for_the_other_office_page_and_api(
    container: Container, app: FastAPI, staff: dict[str, User]
) -> None:
    pwk, bdg = file_in(container, "pwk"), file_in(container, "bdg")
    web = TestClient(app, follow_redirects=False)
    csrf = login(web, "pwk_officer", "kata-sandi-uji-123")
    assert web.get(f"/inbox/c/{pwk}").status_code == 200
    page = web.get(f"/inbox/c/{bdg}")
    assert page.status_code == 404  # not 403: the record's existence is not told
    assert "Budi" not in page.text
    queue = web.get("/inbox", params={"queue": "all"}).text
    assert pwk in queue and bdg not in queue
    act = web.post(f"/inbox/c/{bdg}/act/claim", data={"csrf_token": csrf})
    assert act.status_code == 404
    headers = token_of(container, staff["pwk_officer"])
    api = TestClient(app)
    assert api.get(f"/api/v1/complaints/{bdg}", headers=headers).status_code == 404
    assert api.post(f"/api/v1/complaints/{bdg}/actions/claim", headers=headers, json={}).status_code == 404
    listed = [c["tracking_number"] for c in api.get("/api/v1/complaints", headers=headers).json()]
    assert listed == [pwk]
    assert api.get("/api/v1/queues", headers=headers).json()["new"] == 1
    with db.session(container.engine) as s:
        assert s.exec(select(Complaint).where(Complaint.tracking_number == bdg)).one().claimed_by_id is None


def test_officer_of_the_second_office_works_on_its_records_and_files_under_its_prefix(
    container: Container, app: FastAPI, staff: dict[str, User]
) -> None:
    pwk, bdg = file_in(container, "pwk"), file_in(container, "bdg")
    headers = token_of(container, staff["bdg_officer"])
    api = TestClient(app)
    assert api.get(f"/api/v1/complaints/{pwk}", headers=headers).status_code == 404
    detail = api.get(f"/api/v1/complaints/{bdg}", headers=headers).json()
    assert detail["due_date"] == "2026-04-08"
    events = [(e["action"], e["field"], e["new_value"]) for e in detail["events"]]
    assert events == [("created", "kind", "pengaduan")]
    assert api.post(f"/api/v1/complaints/{bdg}/actions/claim", headers=headers, json={}).status_code == 200
    made = api.post(
        "/api/v1/complaints",
        headers=headers,
        json={"channel": "walkin", "text": "Antrean loket reklame sangat panjang", "reporter_name": "Rina"},
    )
    assert made.status_code == 201 and made.json()["tracking_number"] == "BDG-2026-000002"
    web = TestClient(app, follow_redirects=False)
    login(web, "bdg_officer", "kata-sandi-uji-123")
    assert "DPMPTSP Kabupaten Bandung" in web.get("/inbox").text


def test_province_auditor_sees_every_office_and_may_pick_one(
    container: Container, app: FastAPI, staff: dict[str, User]
) -> None:
    pwk, bdg = file_in(container, "pwk"), file_in(container, "bdg")
    api = TestClient(app)
    province = token_of(container, staff["province_auditor"])
    assert sorted(c["tracking_number"] for c in api.get("/api/v1/complaints", headers=province).json()) == [
        bdg,
        pwk,
    ]
    picked = api.get("/api/v1/complaints", params={"office": "bdg"}, headers=province).json()
    assert [c["tracking_number"] for c in picked] == [bdg]
    assert api.get(f"/api/v1/complaints/{bdg}", headers=province).status_code == 200
    # an auditor of one office is not a province auditor
    local = token_of(container, staff["pwk_auditor"])
    assert [c["tracking_number"] for c in api.get("/api/v1/complaints", headers=local).json()] == [pwk]
    assert api.get(f"/api/v1/complaints/{bdg}", headers=local).status_code == 404
    web = TestClient(app, follow_redirects=False)
    login(web, "province_auditor", "kata-sandi-uji-123")
    assert web.get(f"/inbox/c/{bdg}").status_code == 200
    queue = web.get("/inbox", params={"queue": "all"}).text
    assert pwk in queue and bdg in queue
    only = web.get("/inbox", params={"queue": "all", "office": "bdg"}).text
    assert bdg in only and pwk not in only


def test_only_auditors_and_admins_may_belong_to_the_province(container: Container) -> None:
    with db.write_session(container.engine) as s:
        with pytest.raises(ValueError, match="only admin, auditor may belong to the whole province"):
            auth.create_user(s, username="x", role="officer", password="kata-sandi-123", office="*")
        with pytest.raises(ValueError, match="unknown office 'bdx'"):
            auth.create_user(
                s,
                username="y",
                role="officer",
                password="kata-sandi-123",
                office="bdx",
                known_offices=list(container.offices),
            )


# -- deadline sweep and alerts per office --------------------------------------------------------


class RecordingAlerts:
    """An alert medium that keeps what it was asked to send."""

    name = "email"

    def __init__(self) -> None:
        self.sent: list[tuple[AlertMessage, Recipients]] = []

    def send(self, message: AlertMessage, recipients: Recipients) -> None:
        self.sent.append((message, recipients))


def test_sweep_alerts_each_office_own_heads_on_its_own_checkpoints(
    container: Container, staff: dict[str, User], clock: Any
) -> None:
    medium = RecordingAlerts()
    container.services["alert_senders"] = [medium]
    pwk, bdg = file_in(container, "pwk"), file_in(container, "bdg")
    # Thursday 2 April 2026, 09:00: working day 12 of Purwakarta, day 11 of Bandung (closed 12 March).
    clock.set(dt.datetime(2026, 4, 2, 9, 0, tzinfo=JAKARTA))
    report = escalation.sweep(container)
    got = {(a["tracking_number"], a["checkpoint"]) for a in report.alerts}
    # Purwakarta: config.toml's checkpoints; Bandung: its profile's shorter ladder (no section head).
    assert (pwk, "section_head") in got and (pwk, "head") in got
    assert (bdg, "head") in got and (bdg, "section_head") not in got
    to_heads = {m.tracking_number: r.email for m, r in medium.sent if m.text.count("Kepala DPMPTSP")}
    assert to_heads[pwk] == ("pwk_head@example.test",)
    assert to_heads[bdg] == ("bdg_head@example.test", "kepala@dpmptsp.bandungkab.example")
    # a second sweep at the same moment sends nothing again
    assert escalation.sweep(container).alerts == []
    with db.session(container.engine) as s:
        mine = alerts.alerts_for(s, user=staff["bdg_head"], offices=["bdg"])
        assert mine and {a.complaint_id for a in mine} == {complaints(container)[bdg].id}


def test_a_draft_left_unfinished_is_filed_for_the_office_it_was_written_to(
    container: Container, app: FastAPI, clock: Any
) -> None:
    from bot import dialogue

    client = TestClient(app)
    signed_sms(client, "/hooks/sms", read_fixture("sms", "message__to_second_office.form"))
    settle(container)
    assert complaints(container) == {}  # the dialogue is still asking
    clock.advance(hours=25)
    assert dialogue.file_stale_drafts(container) == 1
    [(number, complaint)] = complaints(container).items()
    assert number.startswith("BDG-2026-") and complaint.office == "bdg"


def test_assigning_to_staff_of_another_office_is_refused(
    container: Container, app: FastAPI, staff: dict[str, User]
) -> None:
    bdg = file_in(container, "bdg")
    api = TestClient(app)
    across = {"assignee_id": str(staff["pwk_officer"].id)}
    refused = api.post(
        f"/api/v1/complaints/{bdg}/actions/assign",
        headers=token_of(container, staff["bdg_head"]),
        json=across,
    )
    assert refused.status_code == 409 and "staff of this office" in refused.json()["detail"]
    same = {"assignee_id": str(staff["bdg_officer"].id)}
    head = token_of(container, staff["bdg_head"])
    assert api.post(f"/api/v1/complaints/{bdg}/actions/assign", headers=head, json=same).status_code == 200
    assert complaints(container)[bdg].assignee_id == staff["bdg_officer"].id
