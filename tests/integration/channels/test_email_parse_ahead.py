"""The mailbox import parses the next batch in a second process: the records are what parsing here makes."""

from __future__ import annotations

import logging
import mailbox
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from app.container import Container
from channels import email as email_channel
from channels.base import RawRequest, UnsupportedPayload
from cli import mail_import
from cli.mail_import import import_mailbox
from intake import db
from intake.models import Message, RawInbound
from tests.conftest import ROOT

OFFICE = "pengaduan@dpmptsp.purwakartakab.go.id"
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "email").glob("*.eml"))


@pytest.fixture(autouse=True)
def _email_enabled(config_data: dict[str, Any]) -> None:
    config_data["channels"]["email"].update(enabled=True, address=OFFICE)


def fixture_mbox(path: Path) -> Path:
    """Every parsing case of the fixtures (charsets, HTML, forwards, bounces, broken mail) in one mbox."""
    box = mailbox.mbox(path)
    for eml in FIXTURES:
        box.add(eml.read_bytes())
    box.flush()
    box.close()
    return path


def parsed_here_count(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the mails this process parses for a batch (so a test cannot pass with the worker idle)."""
    counted = [0]
    real = email_channel.parse_many

    def counting(bodies: list[bytes]) -> list[Any]:
        counted[0] += len(bodies)
        return real(bodies)

    monkeypatch.setattr(email_channel, "parse_many", counting)
    return counted


def inline(body: bytes) -> tuple[str, str] | str:
    """What parsing in this process makes of a mail: its text and sender, or the refusal."""
    try:
        message = email_channel.parse(RawRequest(body=body))[0]
    except UnsupportedPayload as exc:
        return str(exc)
    return message.text, message.sender


def test_mail_parsed_by_the_worker_is_recorded_as_if_parsed_here(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed_here = parsed_here_count(monkeypatch)
    path = fixture_mbox(tmp_path / "cases.mbox")
    state = import_mailbox(container, "mbox", path, batch_size=4, parse_ahead=True)
    assert state.position == state.total == len(FIXTURES)
    # The first batch is parsed here while the worker starts; every later one came from the worker.
    assert parsed_here[0] == 4
    with db.session(container.engine) as s:
        raws = s.exec(select(RawInbound)).all()
        messages = {m.raw_id: m for m in s.exec(select(Message)).all()}
        assert len(raws) == len(FIXTURES)
        for raw in raws:
            expected = inline(raw.body)
            if isinstance(expected, str):  # refused: quarantined with the reason parsing here gives
                assert raw.status == "quarantined" and expected in (raw.error or "")
                continue
            stored = messages.get(raw.id)
            if stored is None:  # noise (auto-reply, bounce, own echo): kept raw, no message
                continue
            assert (stored.text, stored.sender_urn) == expected
        assert messages, "the fixtures hold citizen mail"


def test_import_goes_on_parsing_here_when_the_worker_dies(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_take = mail_import._ParseAhead.take
    calls = [0]

    def take_after_killing_it(self: mail_import._ParseAhead, batch: list[Any]) -> None:
        calls[0] += 1
        if calls[0] == 3 and self.worker is not None:  # mid-import, with a batch sent to it
            self.worker.kill()
            self.worker.wait()
        real_take(self, batch)

    monkeypatch.setattr(mail_import._ParseAhead, "take", take_after_killing_it)
    path = fixture_mbox(tmp_path / "cases.mbox")
    with caplog.at_level(logging.WARNING, logger="aduan.import"):
        state = import_mailbox(container, "mbox", path, batch_size=4, parse_ahead=True)
    assert (state.position, state.imported + state.quarantined) == (len(FIXTURES), len(FIXTURES))
    assert any("parsing ahead stopped" in r.getMessage() for r in caplog.records)
    again = import_mailbox(container, "mbox", path, batch_size=4, parse_ahead=False, restart=True)
    assert again.imported == 0 and again.duplicates + again.quarantined == len(FIXTURES)  # nothing lost
    with db.session(container.engine) as s:
        assert len(s.exec(select(RawInbound)).all()) == len(FIXTURES)  # nor doubled
