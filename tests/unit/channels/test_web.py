"""The web-form channel: one JSON submission, one complete message (R2j–R2l)."""

from __future__ import annotations

import datetime as dt

import pytest

from channels import web
from channels.base import RawRequest, UnsupportedPayload
from tests.conftest import read_fixture


def parse(name: str) -> list:
    return web.parse(RawRequest(body=read_fixture("web", name)))


def test_submission__complete() -> None:
    [msg] = parse("submission__complete.json")
    assert msg.channel == "web"
    assert msg.sender == "tel:+6281234567890"
    assert msg.reporter_name == "Siti Aminah"
    assert msg.service == "01622"
    assert msg.service_date == dt.date(2026, 3, 2)
    assert msg.complete


def test_submission__no_name() -> None:
    [msg] = parse("submission__no_name.json")
    assert msg.reporter_name is None
    assert msg.sender == "mailto:warga@example.test"
    assert msg.service_date is None


def test_submission__late() -> None:
    [msg] = parse("submission__late.json")
    assert msg.sender == "tel:+6281320001111"
    assert msg.service_date == dt.date(2026, 1, 5)


def test_submission__empty() -> None:
    [msg] = parse("submission__empty.json")
    assert msg.text == "" and msg.reporter_name is None
    # no contact: a sender of its own, never shared with another stranger
    assert msg.sender.startswith("web:sha256:")


def test_submission__truncated() -> None:
    with pytest.raises(UnsupportedPayload, match="not a JSON document"):
        parse("submission__truncated.json")


def test_submission__bad_date() -> None:
    with pytest.raises(UnsupportedPayload, match="service_date"):
        parse("submission__bad_date.json")


def test_submission__unknown_field() -> None:
    with pytest.raises(UnsupportedPayload, match="unknown fields"):
        parse("submission__unknown_field.json")


def test_same_submission_has_the_same_external_id() -> None:
    body = read_fixture("web", "submission__complete.json")
    assert web.external_id(RawRequest(body=body)) == web.external_id(RawRequest(body=body))
