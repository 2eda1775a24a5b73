"""What the province work left per office: surveys, public pages, admin pages, manual escalation.

Two offices in one database: Purwakarta (primary) and Bandung
(``offices/bdg.toml``), whose public pages are reached at ``lapor.dpmptsp.bandungkab.example``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.container import Container
from bot import survey
from intake import db, roles
from intake.models import Complaint, User
from tests.conftest import Clock
from tests.integration.evaluation.helpers import complaint, outbox_to
from tests.integration.inbox.conftest import csrf_of, login, password_hash

BDG_HOST = "lapor.dpmptsp.bandungkab.example"
PASSWORD = "kata-sandi-uji-123"


@pytest.fixture
def config_data(config_data: dict[str, Any]) -> dict[str, Any]:
    """Behind a proxy that says which host name the citizen typed (X-Forwarded-Host)."""
    config_data["office"]["trust_proxy"] = True
    return config_data


@pytest.fixture
def app(container: Container) -> FastAPI:
    from inbox.app import create_app

    return create_app(container)


def add_user(container: Container, username: str, role: str, office: str) -> User:
    """Add an active account with the test password."""
    with db.write_session(container.engine) as s:
        user = User(
            username=username, role=role, office=office, full_name=username, password_hash=password_hash()
        )
        s.add(user)
        s.flush()
        return user


def get_user(container: Container, user_id: int | None) -> User:
    with db.session(container.engine) as s:
        found = s.get(User, user_id)
        assert found is not None
        return found


def by_number(container: Container, number: str) -> Complaint:
    with db.session(container.engine) as s:
        return s.exec(select(Complaint).where(Complaint.tracking_number == number)).one()


# -- E1: the survey job invites every office's citizens, in that office's name ----------------------


def test_survey_job_invites_citizens_of_each_office_in_its_own_name(
    container: Container, clock: Clock
) -> None:
    now = container.now()
    with db.write_session(container.engine) as s:
        complaint(s, container, received=now - dt.timedelta(days=3), urn="tel:+6281234500071", answered=now)
        with container.using_office("bdg"):
            complaint(
                s, container, received=now - dt.timedelta(days=3), urn="tel:+6281234500072", answered=now
            )
    clock.advance(minutes=61)
    assert survey.run_scheduled(container) == {"answered": 2, "quarterly": 0}
    [pwk] = outbox_to(container, "tel:+6281234500071")
    [bdg] = outbox_to(container, "tel:+6281234500072")
    assert (pwk.purpose, pwk.office, bdg.purpose, bdg.office) == ("survey", "pwk", "survey", "bdg")
    assert pwk.text.startswith("DPMPTSP Kabupaten Purwakarta:")
    assert bdg.text.startswith("DPMPTSP Kabupaten Bandung:")
    assert survey.run_scheduled(container) == {"answered": 0, "quarterly": 0}  # once each


# -- R2j–R2l: the public pages act for the office whose host they were reached at -------------------


def _submit(client: TestClient, headers: dict[str, str], **fields: str) -> str:
    """Fill the form at the host of ``headers``; return the tracking number shown."""
    form = client.get("/lapor", headers=headers)
    assert form.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', form.text)
    assert token is not None
    r = client.post("/lapor", headers=headers, data={"token": token.group(1), **fields})
    assert r.status_code == 200, r.text
    found = re.search(r"[A-Z]{3}-2026-\d{6}", r.text)
    assert found is not None
    return found.group(0)


def test_public_form_at_an_office_host_files_under_its_prefix_and_calendar(
    container: Container, app: FastAPI
) -> None:
    client = TestClient(app)
    at_bdg = {"X-Forwarded-Host": BDG_HOST, "X-Forwarded-Proto": "https"}
    form = client.get("/lapor", headers=at_bdg).text
    assert "DPMPTSP Kabupaten Bandung" in form and "Purwakarta" not in form
    fields = {"name": "Budi Santoso", "contact": "0812-3456-7890", "text": "Izin reklame saya belum terbit."}
    bdg = _submit(client, at_bdg, service="reklame", **fields)
    pwk = _submit(client, {}, **fields)
    assert (bdg, pwk) == ("BDG-2026-000001", "PWK-2026-000001")
    # R4 on each office's calendar: Bandung is closed on 12 March.
    assert (by_number(container, bdg).office, by_number(container, bdg).due_date) == (
        "bdg",
        dt.date(2026, 4, 8),
    )
    assert (by_number(container, pwk).office, by_number(container, pwk).due_date) == (
        "pwk",
        dt.date(2026, 4, 7),
    )


def test_status_and_open311_find_only_the_records_of_the_office_addressed(
    container: Container, app: FastAPI
) -> None:
    client = TestClient(app)
    at_bdg = {"X-Forwarded-Host": BDG_HOST}
    fields = {"name": "Budi Santoso", "contact": "0812-3456-7890", "text": "Izin reklame saya belum terbit."}
    bdg = _submit(client, at_bdg, **fields)
    pwk = _submit(client, {}, **fields)
    # The other office's number is "not found", exactly like a number nobody has.
    other = client.get("/status", params={"nomor": bdg})
    unknown = client.get("/status", params={"nomor": "PWK-2026-009999"})
    assert other.status_code == unknown.status_code == 404
    assert other.text.replace(bdg, "N") == unknown.text.replace("PWK-2026-009999", "N")
    assert client.get("/status", params={"nomor": bdg}, headers=at_bdg).status_code == 200
    assert client.get("/status", params={"nomor": pwk}, headers=at_bdg).status_code == 404
    assert client.get("/status", params={"nomor": pwk}).status_code == 200
    assert client.get(f"/open311/v2/requests/{bdg}.json").status_code == 404
    assert client.get(f"/open311/v2/requests/{bdg}.json", headers=at_bdg).json()[0]["agency_responsible"] == (
        "DPMPTSP Kabupaten Bandung"
    )
    listed = client.get("/open311/v2/requests.json", headers=at_bdg).json()
    assert [r["service_request_id"] for r in listed] == [bdg]
    codes = {s["service_code"] for s in client.get("/open311/v2/services.json", headers=at_bdg).json()}
    assert codes == {"pbg", "nib", "reklame"}


# -- admin pages: an office's administrator manages their office only ------------------------------


def test_office_admin_sees_and_manages_only_their_office_staff(
    container: Container, app: FastAPI, staff: dict[str, User]
) -> None:
    add_user(container, "pwk_admin", roles.ADMIN, "")
    web = TestClient(app, follow_redirects=False)
    csrf = login(web, "pwk_admin", PASSWORD)
    listing = web.get("/inbox/admin").text
    assert 'data-user="pwk_officer"' in listing and 'data-user="pwk_head"' in listing
    assert 'data-user="bdg_officer"' not in listing and 'data-user="province_auditor"' not in listing
    assert "DPMPTSP Kabupaten Purwakarta" in listing  # the office column names the office
    bdg_officer = staff["bdg_officer"].id
    for action in ("disable", "password"):
        r = web.post(f"/inbox/admin/users/{bdg_officer}/{action}", data={"csrf_token": csrf})
        assert r.status_code == 404
    r = web.post(f"/inbox/admin/users/{bdg_officer}/role", data={"csrf_token": csrf, "role": "head"})
    assert r.status_code == 404
    after = get_user(container, bdg_officer)
    assert (after.is_active, after.role, after.password_hash) == (
        True,
        roles.OFFICER,
        staff["bdg_officer"].password_hash,
    )
    # Adding staff: to their own office only; moving staff between offices is the province's.
    refused = web.post(
        "/inbox/admin/users",
        data={"csrf_token": csrf, "username": "dedi", "role": "officer", "office": "bdg"},
    )
    assert refused.status_code == 403
    made = web.post("/inbox/admin/users", data={"csrf_token": csrf, "username": "dedi", "role": "officer"})
    assert made.status_code == 200
    with db.session(container.engine) as s:
        dedi = s.exec(select(User).where(User.username == "dedi")).one()
    assert dedi.office == ""
    moved = web.post(f"/inbox/admin/users/{dedi.id}/office", data={"csrf_token": csrf, "office": "bdg"})
    assert moved.status_code == 403 and get_user(container, dedi.id).office == ""


def test_province_admin_sees_every_office_and_sets_the_office(
    container: Container, app: FastAPI, staff: dict[str, User]
) -> None:
    add_user(container, "prov_admin", roles.ADMIN, roles.PROVINCE)
    web = TestClient(app, follow_redirects=False)
    csrf = login(web, "prov_admin", PASSWORD)
    listing = web.get("/inbox/admin").text
    assert 'data-user="pwk_officer"' in listing and 'data-user="bdg_officer"' in listing
    assert 'name="office"' in listing
    made = web.post(
        "/inbox/admin/users",
        data={"csrf_token": csrf, "username": "rina", "role": "officer", "office": "bdg"},
    )
    assert made.status_code == 200
    with db.session(container.engine) as s:
        rina = s.exec(select(User).where(User.username == "rina")).one()
    assert rina.office == "bdg"
    # An officer cannot belong to the whole province; an unknown office is refused.
    for office in (roles.PROVINCE, "xyz"):
        r = web.post(f"/inbox/admin/users/{rina.id}/office", data={"csrf_token": csrf, "office": office})
        assert r.status_code == 400
    moved = web.post(
        f"/inbox/admin/users/{staff['pwk_officer'].id}/office", data={"csrf_token": csrf, "office": "bdg"}
    )
    assert moved.status_code == 303
    assert get_user(container, staff["pwk_officer"].id).office == "bdg"
    # The province's auditor cannot be made an officer while belonging to the whole province.
    r = web.post(
        f"/inbox/admin/users/{staff['province_auditor'].id}/role",
        data={"csrf_token": csrf, "role": "officer"},
    )
    assert r.status_code == 400 and get_user(container, staff["province_auditor"].id).role == roles.AUDITOR
    page = web.get("/inbox/admin/access").text
    assert "memindahkan kantor" in page or "moved to another office" in page


# -- R7a: a manual escalation stays in the complaint's office ---------------------------------------


def _escalate(container: Container, app: FastAPI, username: str, number: str) -> User:
    web = TestClient(app, follow_redirects=False)
    csrf = login(web, username, PASSWORD)
    page = web.get(f"/inbox/c/{number}")
    assert page.status_code == 200
    r = web.post(f"/inbox/c/{number}/act/escalate", data={"csrf_token": csrf_of(page.text) or csrf})
    assert r.status_code in (200, 303), r.text
    return get_user(container, by_number(container, number).assignee_id)


def test_manual_escalation_picks_a_superior_of_the_complaint_office(
    container: Container, app: FastAPI, staff: dict[str, User]
) -> None:
    # A section head of Bandung only: the next role up for Purwakarta's officer is then its head.
    add_user(container, "bdg_section_head", roles.SECTION_HEAD, "bdg")
    now = container.now()
    with db.write_session(container.engine) as s:
        pwk = complaint(s, container, received=now, urn="tel:+6281234500081").tracking_number
        with container.using_office("bdg"):
            bdg = complaint(s, container, received=now, urn="tel:+6281234500082").tracking_number
    assert _escalate(container, app, "pwk_officer", pwk).username == "pwk_head"
    # Bandung's officer: the next role up in Bandung (its own section head).
    assert _escalate(container, app, "bdg_officer", bdg).username == "bdg_section_head"


def test_manual_escalation_finds_the_primary_office_head_however_its_office_is_stored(
    container: Container, app: FastAPI, staff: dict[str, User]
) -> None:
    """Staff of the primary office may be stored with its code or with "" (the default)."""
    add_user(container, "pwk_officer_coded", roles.OFFICER, "pwk")
    with db.write_session(container.engine) as s:
        head = s.get(User, staff["pwk_head"].id)
        assert head is not None
        head.office = ""  # the head as `aduan user add` stores the primary office's staff
        s.add(head)
        pwk = complaint(s, container, received=container.now(), urn="tel:+6281234500083").tracking_number
    assert _escalate(container, app, "pwk_officer_coded", pwk).username == "pwk_head"
