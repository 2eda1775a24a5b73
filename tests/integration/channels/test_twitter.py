"""Twitter/X (R2h): a test per fixture, the sender's privacy rule, and the poller against a local X API."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from app import settings as config_mod
from app.container import ChannelConfig, Container
from channels import twitter as tw
from channels import x_poller
from channels.base import OutboundMessage, PermanentFailure, RawRequest, TemporaryFailure, UnsupportedPayload
from intake import db
from intake.channel_state import XPollState
from intake.models import Message, RawInbound
from outbound.outbox import OutboxMessage
from tests.conftest import FIXTURES, TEST_ENV, read_fixture
from tests.fakeapi_channels import FakeAPI

ACCOUNT = "999000111"
SITI = "1500000000000000055"
X_ENV = dict(
    TEST_ENV,
    ADUAN_X_CONSUMER_KEY="ck",
    ADUAN_X_CONSUMER_SECRET="cs",
    ADUAN_X_ACCESS_TOKEN="at",
    ADUAN_X_ACCESS_TOKEN_SECRET="ats",
)


def raw(name: str, *, since: str | None = None) -> RawRequest:
    """Return a stored page as the poller keeps it (body as X sent it, plus the poller's headers)."""
    endpoint = name.split("__")[0]
    headers = {tw.ENDPOINT_HEADER: endpoint, tw.ACCOUNT_HEADER: ACCOUNT}
    if since:
        headers[tw.SINCE_HEADER] = since
    return RawRequest(body=read_fixture("twitter", name), headers=headers, method="GET")


# -- parse: one test per fixture ----------------------------------------------------------------------


def test_r2h_mentions_page() -> None:
    older, newer = tw.parse(raw("mentions__page.json"))
    assert (older.external_id, newer.external_id) == (
        "tweet:1899000000000000101",
        "tweet:1899000000000000102",
    )
    assert newer.sender == f"twitter:{SITI}" and newer.sender_name == "Siti Rahayu"
    assert newer.text.startswith("sudah antre dari pagi")  # the leading @mentions are not the message
    assert newer.reply_to == "tweet:1899000000000000102" and newer.thread_id == "1899000000000000102"
    assert newer.extra["public"] is True
    assert newer.sent_at == dt.datetime(2026, 3, 10, 2, 5, tzinfo=dt.UTC)
    [photo] = newer.attachments
    assert (
        photo.content_type == "image/jpeg" and photo.url == "https://pbs.twimg.example.test/media/antrean.jpg"
    )
    assert tw.external_id(raw("mentions__page.json")) == "mentions:1899000000000000102:1899000000000000101:2"


def test_mentions_page_below_cursor_is_not_read_again() -> None:
    [only] = tw.parse(raw("mentions__page.json", since="1899000000000000101"))
    assert only.external_id == "tweet:1899000000000000102"


def test_mentions_own_post_is_echo() -> None:
    assert tw.parse(raw("mentions__own_post.json")) == []


def test_mentions_empty() -> None:
    assert tw.parse(raw("mentions__empty.json")) == []


def test_mentions_errors_only_unsupported() -> None:
    with pytest.raises(UnsupportedPayload, match="Not Found Error"):
        tw.parse(raw("mentions__errors_only.json"))


def test_r2h_dm_events_message() -> None:
    [dm] = tw.parse(raw("dm_events__message.json"))
    assert dm.external_id == "dm:1899000000000007001" and dm.sender == f"twitter:{SITI}"
    assert dm.thread_id == f"{ACCOUNT}-{SITI}" and dm.extra["public"] is False
    assert dm.reply_to is None


def test_dm_events_own_echo_ignored() -> None:
    assert tw.parse(raw("dm_events__own_echo.json")) == []


def test_dm_events_participants_join_ignored() -> None:
    assert tw.parse(raw("dm_events__participants_join.json")) == []


def test_dm_events_unknown_type_unsupported() -> None:
    with pytest.raises(UnsupportedPayload, match="unknown DM event_type 'MessageReaction'; known"):
        tw.parse(raw("dm_events__unknown_type.json"))


def test_page_without_poller_headers_unsupported() -> None:
    with pytest.raises(UnsupportedPayload, match="X-Aduan-X-Endpoint"):
        tw.parse(RawRequest(body=read_fixture("twitter", "dm_events__message.json")))


def test_every_fixture_is_used() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    names = {p.name for p in Path(FIXTURES, "twitter").iterdir()}
    assert names and {n for n in names if f'"{n}"' not in source} == set()


# -- a local X API v2 ------------------------------------------------------------------------------------


class FakeX:
    """Pages of mentions and DM events served in order; records what tweepy sent."""

    def __init__(self) -> None:
        self.mention_pages: list[Any] = []
        self.dm_pages: list[Any] = []
        self.tweet_ids = iter(range(1899000000000009000, 1899000000000009999))
        self.dm_ids = iter(range(1899000000000008000, 1899000000000008999))
        self.dm_status = 201
        self.api = FakeAPI(
            {
                ("GET", f"/2/users/{ACCOUNT}/mentions"): lambda r: self._next(self.mention_pages),
                ("GET", "/2/dm_events"): lambda r: self._next(self.dm_pages),
                ("GET", "/2/users/me"): lambda r: (
                    200,
                    {"data": {"id": ACCOUNT, "name": "DPMPTSP", "username": "dpmptsp_pwk"}},
                ),
                ("POST", "/2/tweets"): lambda r: (
                    201,
                    {
                        "data": {
                            "id": str(next(self.tweet_ids)),
                            "text": r["json"]["text"],
                            "edit_history_tweet_ids": [],
                        }
                    },
                ),
                ("POST", "/2/dm_conversations/with/"): self._dm,
            }
        )

    @staticmethod
    def _next(pages: list[Any]) -> tuple[Any, ...]:
        if not pages:
            return 200, {"meta": {"result_count": 0}}
        page = pages.pop(0)
        return page if isinstance(page, tuple) else (200, page)

    def _dm(self, req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.dm_status != 201:
            return self.dm_status, {
                "title": "Forbidden",
                "detail": "You cannot send messages to this user.",
                "type": "about:blank",
                "status": self.dm_status,
            }
        return 201, {"data": {"dm_conversation_id": f"{ACCOUNT}-x", "dm_event_id": str(next(self.dm_ids))}}

    def __enter__(self) -> FakeX:
        self.api.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.__exit__(*exc)

    def calls(self, method: str, suffix: str) -> list[dict[str, Any]]:
        """Return the recorded requests to an endpoint."""
        return self.api.calls(method, suffix)


def fixture_json(name: str) -> dict[str, Any]:
    """Return a fixture as a dict, to serve it from the fake API."""
    return json.loads(read_fixture("twitter", name))  # type: ignore[no-any-return]


@pytest.fixture
def fake_x() -> Any:
    """A running local X API."""
    with FakeX() as fake:
        yield fake


def sender_for(fake: FakeX, **table: Any) -> tw.XSender:
    """A sender whose tweepy client talks to the fake API."""
    return tw.make_sender(
        ChannelConfig(name="twitter", table={"api_base_url": fake.api.url, **table}, secrets=X_ENV)
    )


# -- the sender: privacy by design ------------------------------------------------------------------------


def test_privacy_reply_to_mention_is_only_the_public_acknowledgement(fake_x: FakeX) -> None:
    sender = sender_for(fake_x)
    details = "Pengaduan PWK-2026-000001 atas nama Siti Rahayu (0812…) diterima, tenggat 7 April 2026."
    out = OutboundMessage(
        channel="twitter", to=f"twitter:{SITI}", text=details, reply_to="tweet:1899000000000000102"
    )
    provider_id = sender.send(out)
    [tweet] = fake_x.calls("POST", "/2/tweets")
    assert tweet["json"] == {
        "text": tw.DEFAULT_PUBLIC_REPLY,
        "reply": {"in_reply_to_tweet_id": "1899000000000000102"},
    }
    assert "Siti" not in tweet["body"].decode() and "PWK" not in tweet["body"].decode()
    [dm] = fake_x.calls("POST", f"/2/dm_conversations/with/{SITI}/messages")
    assert dm["json"] == {"text": details}  # the details go privately
    assert provider_id.startswith("dm:")


def test_privacy_second_reply_to_same_mention_is_dm_only(fake_x: FakeX) -> None:
    sender = sender_for(fake_x)
    for text in ("Layanan apa yang Anda maksud?", "Kapan Anda menerima layanan itu?"):
        sender.send(
            OutboundMessage(
                channel="twitter", to=f"twitter:{SITI}", text=text, reply_to="tweet:1899000000000000102"
            )
        )
    assert len(fake_x.calls("POST", "/2/tweets")) == 1
    assert len(fake_x.calls("POST", "/messages")) == 2


def test_privacy_dm_refused_after_public_acknowledgement_counts_as_sent(fake_x: FakeX) -> None:
    fake_x.dm_status = 403
    sender = sender_for(fake_x)
    provider_id = sender.send(
        OutboundMessage(
            channel="twitter", to=f"twitter:{SITI}", text="rincian", reply_to="tweet:1899000000000000102"
        )
    )
    assert provider_id.startswith("tweet:")


def test_privacy_acknowledgement_row_posts_only_the_public_reply(fake_x: FakeX) -> None:
    sender = sender_for(fake_x)
    out = OutboundMessage(
        channel="twitter",
        to=f"twitter:{SITI}",
        text="catatan untuk petugas",
        reply_to="tweet:1899000000000000102",
        extra={tw.ACK_ONLY: True},
    )
    assert sender.send(out).startswith("tweet:")
    [tweet] = fake_x.calls("POST", "/2/tweets")
    assert tweet["json"]["text"] == tw.DEFAULT_PUBLIC_REPLY
    assert fake_x.calls("POST", "/messages") == []


def test_dm_reply_goes_by_dm(fake_x: FakeX) -> None:
    sender = sender_for(fake_x)
    assert sender.send(
        OutboundMessage(channel="twitter", to=f"twitter:{SITI}", text="Terima kasih")
    ).startswith("dm:")
    assert fake_x.calls("POST", "/2/tweets") == []


def test_dm_refused_without_mention_is_permanent(fake_x: FakeX) -> None:
    fake_x.dm_status = 403
    with pytest.raises(PermanentFailure, match="Forbidden"):
        sender_for(fake_x).send(OutboundMessage(channel="twitter", to=f"twitter:{SITI}", text="halo"))


def test_dm_rate_limited_is_temporary(fake_x: FakeX) -> None:
    fake_x.dm_status = 429
    with pytest.raises(TemporaryFailure, match="rate limit"):
        sender_for(fake_x).send(OutboundMessage(channel="twitter", to=f"twitter:{SITI}", text="halo"))


def test_public_reply_longer_than_a_tweet_refused(fake_x: FakeX) -> None:
    with pytest.raises(ValueError, match="280"):
        sender_for(fake_x, public_reply="x" * 281)


def test_sender_needs_user_context_secrets() -> None:
    with pytest.raises(config_mod.ConfigError, match="ADUAN_X_CONSUMER_KEY"):
        tw.make_sender(ChannelConfig(name="twitter", table={}, secrets=dict(TEST_ENV)))


# -- the poller ----------------------------------------------------------------------------------------------


@pytest.fixture
def x_container(config_data: dict[str, Any], engine: Any, clock: Any, fake_x: FakeX) -> Container:
    """A container with only Twitter on, talking to the fake API (no dialogue: the poller alone)."""
    for name, table in config_data["channels"].items():
        table["enabled"] = name == "twitter"
    config_data["channels"]["twitter"].update(
        api_base_url=fake_x.api.url, account_id=ACCOUNT, poll_interval=120
    )
    return Container(settings=config_mod.from_dict(config_data, env=X_ENV), engine=engine, clock=clock)


def states(container: Container) -> dict[str, XPollState]:
    """Return the poll state rows by endpoint."""
    with db.session(container.engine) as s:
        return {row.key.split(":")[0]: row for row in s.exec(select(XPollState)).all()}


def messages(container: Container) -> list[str]:
    """Return the external ids of the stored messages."""
    with db.session(container.engine) as s:
        return sorted(m.external_id for m in s.exec(select(Message)).all())


def test_first_poll_only_sets_the_cursor(x_container: Container, fake_x: FakeX) -> None:
    fake_x.mention_pages.append(fixture_json("mentions__page.json"))
    fake_x.dm_pages.append(fixture_json("dm_events__message.json"))
    x_poller.poll_once(x_container)
    assert messages(x_container) == []  # old posts are not filed as new complaints
    assert states(x_container)["mentions"].since_id == "1899000000000000102"
    assert states(x_container)["dm_events"].since_id == "1899000000000007001"


def test_r2h_poll_walks_pages_stores_raw_and_advances_since_id(x_container: Container, fake_x: FakeX) -> None:
    x_poller.poll_once(x_container)  # cursor at "0": nothing there yet
    first = fixture_json("mentions__page.json")
    first["meta"]["next_token"] = "7140dibdnow9c7btw4"
    second = fixture_json("mentions__own_post.json")
    fake_x.mention_pages += [first, second]
    report = x_poller.poll_once(x_container)
    assert report["mentions"].pages == 2 and report["mentions"].messages == 2
    requests_ = fake_x.calls("GET", "/mentions")
    assert requests_[-2]["query"]["since_id"] == ["0"]
    assert requests_[-1]["query"]["pagination_token"] == ["7140dibdnow9c7btw4"]
    assert requests_[-1]["headers"]["Authorization"] == "Bearer test-x-bearer"
    assert messages(x_container) == ["tweet:1899000000000000101", "tweet:1899000000000000102"]
    state = states(x_container)["mentions"]
    assert state.since_id == "1899000000000000102" and state.pagination_token is None
    with db.session(x_container.engine) as s:
        stored = s.exec(select(RawInbound).where(RawInbound.channel == "twitter")).all()
    assert json.loads(stored[0].body) == first  # the page exactly as X sent it
    with db.session(x_container.engine) as s:
        acks = s.exec(select(OutboxMessage).where(OutboxMessage.purpose == "ack")).all()
    assert sorted(a.reply_to or "" for a in acks) == [
        "tweet:1899000000000000101",
        "tweet:1899000000000000102",
    ]
    assert all(json.loads(a.extra) == {tw.ACK_ONLY: True} for a in acks)


def test_dm_poll_skips_echo_and_already_seen(x_container: Container, fake_x: FakeX) -> None:
    fake_x.dm_pages.append(fixture_json("dm_events__participants_join.json"))
    x_poller.poll_once(x_container)  # first run: cursor at the join event
    page = fixture_json("dm_events__message.json")
    page["data"] = (
        fixture_json("dm_events__own_echo.json")["data"]
        + page["data"]
        + fixture_json("dm_events__participants_join.json")["data"]
    )
    page["data"].sort(key=lambda e: -int(e["id"]))
    fake_x.dm_pages.append(page)
    x_poller.poll_once(x_container)
    assert messages(x_container) == []  # the citizen's DM (…7001) is older than the cursor (…7003)
    fresh = fixture_json("dm_events__message.json")
    fresh["data"][0]["id"] = "1899000000000007010"
    fake_x.dm_pages.append(fresh)
    x_poller.poll_once(x_container)
    assert messages(x_container) == ["dm:1899000000000007010"]


def test_rate_limit_429_waits_until_reset(x_container: Container, fake_x: FakeX, clock: Any) -> None:
    x_poller.poll_once(x_container)
    reset = int(clock.now.timestamp()) + 900
    fake_x.mention_pages.append(
        (
            429,
            {"title": "Too Many Requests", "status": 429},
            {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
        )
    )
    assert x_poller.poll_once(x_container)["mentions"].rate_limited
    before = len(fake_x.calls("GET", "/mentions"))
    clock.advance(minutes=10)
    assert x_poller.poll_once(x_container)["mentions"].rate_limited
    assert len(fake_x.calls("GET", "/mentions")) == before  # no request before x-rate-limit-reset
    clock.advance(minutes=6)
    fake_x.mention_pages.append(fixture_json("mentions__page.json"))
    assert not x_poller.poll_once(x_container)["mentions"].rate_limited
    assert "tweet:1899000000000000102" in messages(x_container)


def test_poll_if_due_honours_interval_and_switch(x_container: Container, fake_x: FakeX, clock: Any) -> None:
    assert set(x_poller.poll_if_due(x_container)) == {"mentions", "dm_events"}
    clock.advance(seconds=60)
    assert x_poller.poll_if_due(x_container) == {}
    clock.advance(seconds=61)
    assert x_poller.poll_if_due(x_container) != {}
    x_container.settings.channels["twitter"]["enabled"] = False
    clock.advance(seconds=600)
    assert x_poller.poll_if_due(x_container) == {}


def test_account_id_asked_once_when_not_configured(x_container: Container, fake_x: FakeX) -> None:
    x_container.settings.channels["twitter"]["account_id"] = ""
    x_poller.poll_once(x_container)
    x_poller.poll_once(x_container)
    assert len(fake_x.calls("GET", "/2/users/me")) == 1
