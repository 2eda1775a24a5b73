"""Twilio delivery statuses in a province: each office's callbacks are signed with its own token.

Bandung (bdg) has its own Twilio auth token (``ADUAN_BDG_TWILIO_AUTH_TOKEN``); Purwakarta, the
primary office, uses the deployment's. A status callback is checked with the token of the office
whose message it reports on, found by the path (``/hooks/bdg/twilio/status``) or, on the
deployment's path, by the outbox row of the message's SID.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.bootstrap import build
from app.container import Container
from inbox.app import create_app
from intake import db
from intake.models import RawInbound, Rejection
from outbound import outbox
from tests.conftest import TEST_ENV, read_fixture, settle
from tests.e2e.test_twilio_outbound import MESSAGES
from tests.fakeapi import FakeAPI
from tests.integration.province.conftest import PUBLIC, signed_sms

BDG_TOKEN = "bandung-own-token"
DEPLOYMENT_TOKEN = TEST_ENV["ADUAN_TWILIO_AUTH_TOKEN"]


@pytest.fixture
def province(settings: Any, engine: Any, clock: Any) -> Container:
    """The province with Bandung's own Twilio token (set before its senders are built)."""
    settings.env["ADUAN_BDG_TWILIO_AUTH_TOKEN"] = BDG_TOKEN
    return build(settings, engine=engine, clock=clock, migrate=False)


def status_form(sid: str, status: str = "delivered") -> bytes:
    """Twilio's status callback (the stored real payload) for message ``sid``."""
    params = parse_qsl(read_fixture("sms", f"status__{status}.form").decode(), keep_blank_values=True)
    return urlencode([(k, sid if k in ("MessageSid", "SmsSid") else v) for k, v in params]).encode()


def sent_row(container: Container, office: str, sid: str) -> int:
    """An SMS reply of ``office`` that Twilio accepted as ``sid``."""
    with db.write_session(container.engine) as s:
        row = outbox.enqueue(
            s, channel="sms", to="tel:+6281234567890", text="Terima kasih", now=container.now(), office=office
        )
        row.status, row.provider_id = outbox.SENT, sid
        s.add(row)
        s.flush()
        assert row.id is not None
        return row.id


def status_of(container: Container, row_id: int) -> str:
    with db.session(container.engine) as s:
        row = s.get(outbox.OutboxMessage, row_id)
        assert row is not None
        return row.status


def rejections(container: Container) -> list[tuple[int, int, int]]:
    """(status code, body size, excerpt size) of every refused request."""
    with db.session(container.engine) as s:
        return [(r.status_code, r.body_size, len(r.body_excerpt)) for r in s.exec(select(Rejection))]


def test_office_path_takes_the_office_token_only(province: Container) -> None:
    client = TestClient(create_app(province))
    row = sent_row(province, "bdg", "SM" + "b1" * 16)
    body = status_form("SM" + "b1" * 16)
    forged = signed_sms(client, "/hooks/bdg/twilio/status", body, token=DEPLOYMENT_TOKEN)
    assert forged.status_code == 403 and forged.json() == {"error": "invalid signature"}
    assert status_of(province, row) == "sent"
    assert rejections(province) == [(403, len(body), len(body))]
    assert signed_sms(client, "/hooks/bdg/twilio/status", body, token=BDG_TOKEN).status_code == 200
    assert status_of(province, row) == "delivered"


def test_deployment_path_checks_the_token_of_the_office_that_sent_the_message(province: Container) -> None:
    client = TestClient(create_app(province))
    bdg = sent_row(province, "bdg", "SM" + "b2" * 16)
    pwk = sent_row(province, "pwk", "SM" + "a2" * 16)
    # Bandung's message: the deployment's token does not sign for it, Bandung's does.
    bdg_body = status_form("SM" + "b2" * 16)
    assert signed_sms(client, "/hooks/twilio/status", bdg_body, token=DEPLOYMENT_TOKEN).status_code == 403
    assert status_of(province, bdg) == "sent"
    assert signed_sms(client, "/hooks/twilio/status", bdg_body, token=BDG_TOKEN).status_code == 200
    assert status_of(province, bdg) == "delivered"
    # Purwakarta's message: the other way round.
    pwk_body = status_form("SM" + "a2" * 16, "failed")
    assert signed_sms(client, "/hooks/twilio/status", pwk_body, token=BDG_TOKEN).status_code == 403
    assert status_of(province, pwk) == "sent"
    assert signed_sms(client, "/hooks/twilio/status", pwk_body, token=DEPLOYMENT_TOKEN).status_code == 200
    assert status_of(province, pwk) == "failed"
    # The forgeries left a size-capped trace each, and nothing else.
    assert rejections(province) == [(403, len(bdg_body), len(bdg_body)), (403, len(pwk_body), len(pwk_body))]
    with db.session(province.engine) as s:
        assert s.exec(select(RawInbound)).all() == []


def test_an_office_token_never_moves_another_office_message(province: Container) -> None:
    client = TestClient(create_app(province))
    pwk = sent_row(province, "pwk", "SM" + "a3" * 16)
    body = status_form("SM" + "a3" * 16, "undelivered")
    # Signed by Bandung on Bandung's path: authentic for Bandung, but the message is Purwakarta's.
    assert signed_sms(client, "/hooks/bdg/twilio/status", body, token=BDG_TOKEN).status_code == 200
    assert status_of(province, pwk) == "sent"


def test_a_forged_oversized_callback_stores_only_the_capped_rejection(province: Container) -> None:
    client = TestClient(create_app(province))
    row = sent_row(province, "bdg", "SM" + "b4" * 16)
    body = status_form("SM" + "b4" * 16) + b"&Padding=" + b"x" * 20000
    assert signed_sms(client, "/hooks/twilio/status", body, token=DEPLOYMENT_TOKEN).status_code == 403
    assert status_of(province, row) == "sent"
    [(code, size, excerpt)] = rejections(province)
    assert (code, size) == (403, len(body)) and excerpt < len(body)


def test_each_office_reply_asks_for_its_statuses_at_its_own_path_and_they_arrive(
    province: Container, api: FakeAPI
) -> None:
    client = TestClient(create_app(province))
    signed_sms(client, "/hooks/sms", read_fixture("sms", "message__to_second_office.form"))
    signed_sms(client, "/hooks/sms", read_fixture("sms", "message__plain.form"))
    settle(province)
    assert outbox.deliver_due(province) == 2
    asked = {r.form["From"]: (r.form["StatusCallback"], r) for r in api.requests_to("POST", MESSAGES)}
    assert {k: v[0] for k, v in asked.items()} == {
        "+6281100000222": f"{PUBLIC}/hooks/bdg/twilio/status",
        "+6281809898222": f"{PUBLIC}/hooks/twilio/status",
    }
    with db.session(province.engine) as s:
        rows = {r.office: r for r in s.exec(select(outbox.OutboxMessage))}
    # Twilio calls back where it was told, signed with the token of the account that sent.
    tokens = {"+6281100000222": BDG_TOKEN, "+6281809898222": DEPLOYMENT_TOKEN}
    for number, (url, _) in asked.items():
        office = "bdg" if number == "+6281100000222" else "pwk"
        body = status_form(str(rows[office].provider_id))
        assert signed_sms(client, urlsplit(url).path, body, token=tokens[number]).status_code == 200
    with db.session(province.engine) as s:
        assert {r.office: r.status for r in s.exec(select(outbox.OutboxMessage))} == {
            "bdg": "delivered",
            "pwk": "delivered",
        }
    assert rejections(province) == []
