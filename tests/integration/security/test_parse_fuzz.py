"""Hypothesis against every channel's ``parse``: any body either parses or raises UnsupportedPayload.

Another exception would be a 500 to the provider (which retries forever) instead of a quarantined
payload an officer can look at. Bodies are random bytes, random JSON, random Twilio forms, and the
channel's own fixtures with one value replaced or removed.
"""

from __future__ import annotations

import email.message
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import channels
from channels.base import InboundMessage, RawRequest, UnsupportedPayload
from tests.conftest import FIXTURES
from tests.integration.ops.util import existing_channels

CHANNELS = [name for name in existing_channels() if hasattr(channels.load(name), "parse")]
TWILIO_KEYS = [
    "MessageSid",
    "SmsSid",
    "AccountSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "MediaUrl0",
    "MediaContentType0",
    "ProfileName",
    "WaId",
    "Latitude",
    "Longitude",
    "ButtonPayload",
    "MessageType",
    "OriginalRepliedMessageSid",
    "MessageStatus",
    "ErrorCode",
]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=15,
)


def _fixtures(channel: str) -> list[Path]:
    folder = FIXTURES / channel
    return sorted(folder.glob("*.*")) if folder.is_dir() else []


def _check(channel: str, body: bytes, content_type: str) -> None:
    module = channels.load(channel)
    raw = RawRequest(
        body=body, headers={"content-type": content_type}, url=f"https://aduan.example.test/hooks/{channel}"
    )
    try:
        messages = module.parse(raw)
    except UnsupportedPayload:
        return
    assert isinstance(messages, list)
    for message in messages:
        assert isinstance(message, InboundMessage)
        assert isinstance(message.text, str) and isinstance(message.sender, str) and message.sender
        assert message.channel and message.external_id


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, (*prefix, i))
    return found


def _replace(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    if delete and not rest:
        del copy[head]
        return copy
    copy[head] = _replace(copy[head], rest, value, delete)
    return copy


@pytest.mark.parametrize("channel", CHANNELS)
@FUZZ
@given(
    body=st.binary(max_size=3000),
    ctype=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "message/rfc822", "text/plain", ""]
    ),
)
def test_random_bytes_parse_or_raise_unsupported(channel: str, body: bytes, ctype: str) -> None:
    _check(channel, body, ctype)


@pytest.mark.parametrize("channel", CHANNELS)
@FUZZ
@given(doc=json_values)
def test_random_json_parses_or_raises_unsupported(channel: str, doc: Any) -> None:
    _check(channel, json.dumps(doc).encode(), "application/json")


@pytest.mark.parametrize("channel", CHANNELS)
@FUZZ
@given(
    form=st.dictionaries(
        st.sampled_from(TWILIO_KEYS) | st.text(max_size=10), st.text(max_size=60), max_size=12
    )
)
def test_random_forms_parse_or_raise_unsupported(channel: str, form: dict[str, str]) -> None:
    _check(channel, urlencode(form).encode(), "application/x-www-form-urlencoded")


#: More examples for the mutated fixtures: they reach the nested shapes the parsers must check
#: (null ``entry``/``changes``/``messaging`` items, non-string names, wrong types).
FUZZ_MUTATED = settings(FUZZ, max_examples=600)


@pytest.mark.parametrize("channel", CHANNELS)
@FUZZ_MUTATED
@given(data=st.data())
def test_mutated_fixtures_parse_or_raise_unsupported(channel: str, data: st.DataObject) -> None:
    files = _fixtures(channel)
    if not files:
        pytest.skip(f"no fixtures for {channel}")
    path = data.draw(st.sampled_from(files))
    body = path.read_bytes()
    try:
        doc = json.loads(body) if path.suffix == ".json" else None
    except ValueError:  # a negative fixture that is not JSON at all
        doc, path = None, path.with_suffix(".bin")
    if path.suffix == ".json":
        where = data.draw(st.sampled_from(_paths(doc)))
        mutated = _replace(
            doc, where, data.draw(json_values), delete=bool(where) and data.draw(st.booleans())
        )
        _check(channel, json.dumps(mutated).encode(), "application/json")
    elif path.suffix == ".form":
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        key = data.draw(st.sampled_from(sorted(form) or ["Body"]))
        if data.draw(st.booleans()):
            form.pop(key, None)
        else:
            form[key] = data.draw(st.text(max_size=80))
        _check(channel, urlencode(form).encode(), "application/x-www-form-urlencoded")
    elif path.suffix == ".eml":
        msg = email.message_from_bytes(body)
        header = data.draw(
            st.sampled_from(
                ["From", "To", "Subject", "Message-ID", "In-Reply-To", "Date", "Content-Type", "Reply-To"]
            )
        )
        del msg[header]
        if data.draw(st.booleans()):
            msg[header] = data.draw(
                st.text(max_size=80).map(lambda t: t.replace("\n", " ").replace("\r", " "))
            )
        try:
            mutated = msg.as_bytes() if isinstance(msg, email.message.Message) else body
        except Exception:  # the stdlib cannot serialise every mutation; the fixture itself then
            mutated = body
        _check(channel, mutated, "message/rfc822")
    else:
        _check(channel, body, "application/octet-stream")


#: (channel, fixture, path to replace, new value, the reason UnsupportedPayload must give)
WRONG_SHAPES = [
    (
        "whatsapp",
        "cloud_message__multi.json",
        ("entry", 0, "changes", 0, "value", "messages", 1),
        None,
        "entry[0].changes[0].value.messages[1] must be an object, not null",
    ),
    (
        "whatsapp",
        "cloud_message__multi.json",
        ("entry", 0, "changes", 0, "value", "contacts", 0),
        "x",
        "entry[0].changes[0].value.contacts[0] must be an object, not a string",
    ),
    ("whatsapp", "cloud_message__multi.json", ("entry", 0), None, "entry[0] must be an object, not null"),
    (
        "whatsapp",
        "cloud_message__multi.json",
        ("entry", 0, "changes", 0, "value", "messages", 0, "text"),
        [1],
        "entry[0].changes[0].value.messages[0].text must be an object, not a list",
    ),
    (
        "instagram",
        "message__text.json",
        ("entry", 0, "messaging", 0),
        None,
        "entry[0].messaging[0] must be an object, not null",
    ),
    (
        "instagram",
        "message__text.json",
        ("entry", 0, "messaging", 0, "sender"),
        "1122",
        "entry[0].messaging[0].sender must be an object, not a string",
    ),
    (
        "telegram",
        "message__contact.json",
        ("message", "from", "first_name"),
        7,
        "message.from.first_name must be a string, not a number",
    ),
    (
        "telegram",
        "message__contact.json",
        ("message", "reply_to_message"),
        "17",
        "message.reply_to_message must be an object, not a string",
    ),
    ("telegram", "message__text.json", ("message", "date"), 10**20, "message.date is not a Unix timestamp"),
]


@pytest.mark.parametrize(("channel", "fixture", "where", "value", "reason"), WRONG_SHAPES)
def test_a_wrong_shape_is_refused_with_its_path(
    channel: str, fixture: str, where: tuple[Any, ...], value: Any, reason: str
) -> None:
    """The reason an officer sees names the bad value's place in the payload."""
    doc = _replace(json.loads((FIXTURES / channel / fixture).read_bytes()), where, value, delete=False)
    raw = RawRequest(body=json.dumps(doc).encode(), headers={"content-type": "application/json"})
    with pytest.raises(UnsupportedPayload) as caught:
        channels.load(channel).parse(raw)
    assert reason in str(caught.value)


def test_a_parser_bug_is_quarantined_not_a_500(container: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a parser raises, the raw payload is kept and quarantined and the provider gets 400."""
    from intake import db
    from intake.models import RAW_QUARANTINED, RawInbound
    from jobs.pipeline import receive

    module = channels.load("web")

    def broken(raw: RawRequest) -> list[InboundMessage]:
        raise TypeError("sequence item 0: expected str instance, int found")

    monkeypatch.setattr(module, "parse", broken)  # a parser bug on purpose; no fake would do here
    receipt = receive(container, "web", RawRequest(body=b'{"text": "x"}'), verify=False)
    # plain words for officers and the provider, no exception text (issue 17, item 6)
    assert (receipt.status, receipt.reason) == (
        400,
        "the payload could not be read (a fault in Aduan's parser)",
    )
    with db.session(container.engine) as s:
        row = s.get(RawInbound, receipt.raw_id)
        assert row is not None and row.status == RAW_QUARANTINED and row.body == b'{"text": "x"}'
