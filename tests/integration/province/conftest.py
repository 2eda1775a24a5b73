"""A province deployment in the tests: Purwakarta (primary, config.toml) and Bandung (offices/bdg.toml).

The Bandung profile is the example the repository ships, copied into a folder named by
``[offices] dir``: if the example stops loading, these tests say so.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from app.container import Container
from intake import db, roles
from intake.models import User
from tests.conftest import ROOT, TEST_ENV
from tests.e2e.test_twilio_outbound import MESSAGES, twilio_created
from tests.fakeapi import FakeAPI, Recorded, Reply
from tests.integration.inbox.conftest import password_hash

#: config.toml's public address: Twilio signs the URL it calls, so tests sign this one.
PUBLIC = "http://127.0.0.1:8000"


@pytest.fixture
def offices_dir(tmp_path: Path) -> Path:
    """A folder of office profiles holding the shipped Bandung example."""
    folder = tmp_path / "offices"
    folder.mkdir()
    shutil.copy(ROOT / "offices" / "bdg.toml", folder / "bdg.toml")
    return folder


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    """Twilio's REST API on loopback, where each office's replies are sent, a SID of its own each."""
    numbers = itertools.count(1)

    def created(req: Recorded) -> Reply:
        reply = twilio_created(req)
        reply.body["sid"] = f"SM{next(numbers):032x}"  # status callbacks find their message by it
        return reply

    with FakeAPI({("POST", MESSAGES): created}) as fake:
        yield fake


@pytest.fixture
def config_data(config_data: dict[str, Any], offices_dir: Path, api: FakeAPI) -> dict[str, Any]:
    """config.toml with the offices folder switched on, sending SMS to the local Twilio."""
    config_data["offices"] = {"dir": str(offices_dir)}
    config_data["channels"]["sms"]["api_base_url"] = api.url
    return config_data


#: username → (role, office as stored: "" the primary, "bdg", "*" the province).
PROVINCE_STAFF: dict[str, tuple[str, str]] = {
    "pwk_officer": (roles.OFFICER, ""),
    "pwk_head": (roles.HEAD, "pwk"),
    "pwk_auditor": (roles.AUDITOR, ""),
    "bdg_officer": (roles.OFFICER, "bdg"),
    "bdg_head": (roles.HEAD, "bdg"),
    "province_auditor": (roles.AUDITOR, roles.PROVINCE),
}


@pytest.fixture
def staff(container: Container) -> dict[str, User]:
    """Staff of both offices and the province's auditor, each with an e-mail address for alerts."""
    users: dict[str, User] = {}
    with db.write_session(container.engine) as s:
        for username, (role, office) in PROVINCE_STAFF.items():
            user = User(
                username=username,
                role=role,
                office=office,
                full_name=f"Uji {username}",
                password_hash=password_hash(),
                email=f"{username}@example.test",
            )
            s.add(user)
            s.flush()
            users[username] = user
    return users


def signed_sms(
    client: TestClient, path: str, body: bytes, token: str = TEST_ENV["ADUAN_TWILIO_AUTH_TOKEN"]
) -> Any:
    """POST a Twilio webhook signed for ``PUBLIC + path`` with ``token``, as Twilio does."""
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return client.post(
        path,
        content=body,
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )
