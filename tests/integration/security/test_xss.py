"""HTML in citizens' messages stays text everywhere in the inbox (an XSS payload in a WhatsApp message).

A citizen controls the text, the name and (on WhatsApp) the profile name of what arrives; every
page an officer opens must show them escaped, never as markup.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient

from app.container import Container
from channels.base import RawRequest
from inbox.app import create_app
from intake import db
from intake.models import User
from jobs.pipeline import receive
from tests.integration.inbox.conftest import login, password_hash

SCRIPT = '<script>alert("xss")</script>'
IMG = "<img src=x onerror=alert(1)>"


def _officer(container: Container) -> None:
    with db.write_session(container.engine) as s:
        s.add(
            User(username="officer", role="officer", full_name="Uji officer", password_hash=password_hash())
        )


def _file_hostile(container: Container) -> str:
    body = json.dumps(
        {
            "name": f"Budi {IMG}",
            "contact": "+6281234500077",
            "text": f"Izin PBG {SCRIPT} belum keluar",
            "service": "pbg",
        }
    ).encode()
    receipt = receive(container, "web", RawRequest(body=body), verify=False, complete=True)
    complaint = receipt.results[0].complaint
    assert complaint is not None
    # the same citizen writes on WhatsApp too, with markup in the text and in the profile name
    form = {
        "MessageSid": "SM" + "7" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": "whatsapp:+6281234500077",
        "To": "whatsapp:+6281809898222",
        "Body": f"Tambahan {SCRIPT}",
        "NumMedia": "0",
        "ProfileName": IMG,
        "WaId": "6281234500077",
    }
    receive(
        container,
        "whatsapp",
        RawRequest(
            body=urlencode(form).encode(), headers={"content-type": "application/x-www-form-urlencoded"}
        ),
        verify=False,
    )
    return complaint.tracking_number


def _assert_escaped(html: str, where: str) -> None:
    assert SCRIPT not in html and IMG not in html, where
    assert "onerror=alert(1)>" not in html, where


def test_markup_from_citizens_is_escaped_on_every_inbox_page(container: Container) -> None:
    _officer(container)
    tracking = _file_hostile(container)
    client = TestClient(create_app(container), follow_redirects=False)
    login(client, "officer")
    pages: dict[str, Any] = {}
    for path in ("/inbox", "/inbox/rows", f"/inbox/c/{tracking}", f"/inbox/c/{tracking}/timeline"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        pages[path] = response.text
        _assert_escaped(response.text, path)
    detail = pages[f"/inbox/c/{tracking}"]
    assert "&lt;script&gt;" in detail  # the text is there, as text
    status = client.get(f"/status?nomor={tracking}")
    _assert_escaped(status.text, "/status")
