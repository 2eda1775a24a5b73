"""The X poller (R2h): fetch new mentions and DM events, store each page raw, then parse and ingest.

https://docs.x.com/x-api/fundamentals/rate-limits — https://docs.x.com/x-api/fundamentals/pagination

Cursors live in the database (``intake.channel_state.XPollState``) so a restart resumes where it
stopped: mentions by ``since_id`` plus the ``pagination_token`` of an unfinished walk; DM events
(which have no ``since_id``) by the newest event id already seen. The ``x-rate-limit-*`` headers
are kept; after a 429 the endpoint is left alone until ``x-rate-limit-reset``. The scheduler calls
``poll_if_due`` every few seconds; it polls at most every ``[channels.twitter] poll_interval``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

import requests
import tweepy
from sqlmodel import select

from app.container import Container
from channels import twitter
from channels.base import RawRequest
from intake import db
from intake.channel_state import XPollState, x_state
from intake.models import Message
from jobs.pipeline import receive
from outbound.outbox import enqueue

log = logging.getLogger("aduan.x_poller")

MENTION_FIELDS = {
    "expansions": ["author_id", "attachments.media_keys"],
    "tweet_fields": ["created_at", "conversation_id", "in_reply_to_user_id", "attachments"],
    "user_fields": ["name", "username"],
    "media_fields": ["url", "type", "preview_image_url"],
}
DM_FIELDS = {
    "event_types": "MessageCreate",
    "dm_event_fields": [
        "id",
        "text",
        "event_type",
        "created_at",
        "sender_id",
        "dm_conversation_id",
        "attachments",
    ],
    "expansions": ["sender_id", "attachments.media_keys"],
    "user_fields": ["name", "username"],
    "media_fields": ["url", "type", "preview_image_url"],
}
#: Response headers kept with the stored page (rate-limit state, for forensics); nothing personal.
KEPT_HEADERS = ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset", "content-type")


@dataclass
class PollReport:
    """What one poll did, per endpoint."""

    pages: int = 0
    messages: int = 0
    rate_limited: bool = False
    error: str | None = None


def _settings(container: Container) -> dict[str, Any]:
    return dict(container.settings.channel("twitter"))


def account_id(container: Container, client: tweepy.Client) -> str:
    """Return our own X user id: ``account_id`` from config, else asked once with ``GET /2/users/me``."""
    configured = str(_settings(container).get("account_id", "") or "")
    if configured:
        return configured
    cached = container.services.get("x_account_id")
    if cached:
        return str(cached)
    me = client.get_me(user_auth=True)
    body = me.json() if isinstance(me, requests.Response) else {"data": {"id": me.data.id}}
    container.services["x_account_id"] = str(body["data"]["id"])
    return str(container.services["x_account_id"])


def _client(container: Container) -> tweepy.Client:
    client = container.services.get("x_client")
    if client is None:
        client = twitter.make_client(container.channel_config("twitter"), raw_responses=True)
        container.services["x_client"] = client
    return client


def _fetch(
    client: tweepy.Client, endpoint: str, account: str, state: XPollState, page_size: int
) -> requests.Response:
    if endpoint == "mentions":
        params: dict[str, Any] = dict(MENTION_FIELDS, max_results=max(5, min(page_size, 100)))
        if state.since_id:
            params["since_id"] = state.since_id
        if state.pagination_token:
            params["pagination_token"] = state.pagination_token
        # App-only (bearer) auth has its own, larger rate limit for this endpoint.
        return client.get_users_mentions(account, user_auth=False, **params)  # type: ignore[no-any-return]
    params = dict(DM_FIELDS, max_results=max(1, min(page_size, 100)))
    if state.pagination_token:
        params["pagination_token"] = state.pagination_token
    return client.get_direct_message_events(user_auth=True, **params)  # type: ignore[no-any-return]


def _note_rate_limit(state: XPollState, response: requests.Response | None) -> None:
    if response is None:
        return
    remaining = response.headers.get("x-rate-limit-remaining", "")
    reset = response.headers.get("x-rate-limit-reset", "")
    if remaining.isdigit():
        state.rate_limit_remaining = int(remaining)
    if reset.isdigit():
        state.rate_limit_reset_at = dt.datetime.fromtimestamp(int(reset), dt.UTC)


def _save(container: Container, state: XPollState) -> None:
    with db.write_session(container.engine) as s:
        row = x_state(s, state.key)
        for name in (
            "since_id",
            "pending_newest_id",
            "pagination_token",
            "rate_limit_remaining",
            "rate_limit_reset_at",
            "last_polled_at",
            "last_error",
        ):
            setattr(row, name, getattr(state, name))
        row.updated_at = container.now()
        s.add(row)


def _load(container: Container, key: str) -> XPollState:
    with db.write_session(container.engine) as s:
        row = x_state(s, key)
        return XPollState.model_validate(row.model_dump())


def _acknowledge_mentions(container: Container, messages: list[Message]) -> None:
    """Queue the one public reply each new mention gets; the dialogue itself goes on by DM."""
    mentions = [m for m in messages if m.external_id.startswith("tweet:")]
    if not mentions:
        return
    with db.write_session(container.engine) as s:
        for message in mentions:
            # The sender posts only the configured acknowledgement for this row (privacy rule in
            # channels/twitter.py), so the text here is a note for officers, never published.
            enqueue(
                s,
                channel=twitter.NAME,
                to=message.sender_urn,
                text="(balasan publik: ucapan terima kasih dan ajakan melanjutkan lewat DM)",
                now=container.now(),
                purpose="ack",
                reply_to=message.external_id,
                office=container.office.code,
                extra={twitter.ACK_ONLY: True},
            )


def poll_endpoint(container: Container, client: tweepy.Client, endpoint: str, account: str) -> PollReport:
    """Walk the new pages of one endpoint, storing and ingesting each; persist the cursor after each."""
    table = _settings(container)
    max_pages = int(table.get("max_pages_per_poll", 5))
    page_size = int(table.get("page_size", 100))
    backfill = bool(table.get("backfill", False))
    now = container.now()
    state = _load(container, f"{endpoint}:{account}")
    report = PollReport()
    if state.rate_limit_reset_at and state.rate_limit_remaining == 0 and now < state.rate_limit_reset_at:
        report.rate_limited = True
        return report  # 429 earlier: wait for x-rate-limit-reset
    first_run = state.since_id is None and state.pagination_token is None
    for _ in range(max_pages):
        try:
            response = _fetch(
                client, endpoint, account, state, 5 if first_run and not backfill else page_size
            )
        except tweepy.TooManyRequests as exc:
            _note_rate_limit(state, exc.response)
            state.rate_limit_remaining = 0
            if state.rate_limit_reset_at is None or state.rate_limit_reset_at <= now:
                state.rate_limit_reset_at = now + dt.timedelta(minutes=15)  # X's window when no header
            report.rate_limited = True
            log.warning("X %s: rate limited until %s", endpoint, state.rate_limit_reset_at.isoformat())
            break
        except (tweepy.TweepyException, requests.RequestException) as exc:
            report.error = state.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
            log.warning("X %s: poll failed: %s", endpoint, type(exc).__name__)
            break
        _note_rate_limit(state, response)
        state.last_error = None
        body = response.content
        data = json.loads(body) if body else {}  # the bytes themselves are stored untouched
        items = data.get("data") or []
        newest = str(items[0]["id"]) if items else None
        if first_run and not backfill:
            # First start: remember where "now" is without filing old posts as new complaints.
            state.since_id = newest or state.since_id or "0"
            break
        if items:
            headers = {k: v for k, v in response.headers.items() if k.lower() in KEPT_HEADERS}
            headers[twitter.ENDPOINT_HEADER] = endpoint
            headers[twitter.ACCOUNT_HEADER] = account
            if state.since_id:
                # The DM list has no since_id parameter: parse drops what the cursor already covers.
                headers[twitter.SINCE_HEADER] = state.since_id
            raw = RawRequest(body=body, headers=headers, url=str(response.url), method="GET")
            receipt = receive(container, twitter.NAME, raw, verify=False)
            report.pages += 1
            report.messages += sum(1 for r in receipt.results if not r.duplicate)
            _acknowledge_mentions(container, [r.message for r in receipt.results if not r.duplicate])
        if state.pagination_token is None and newest:
            state.pending_newest_id = newest  # the first page of a walk holds the newest id
        token = (data.get("meta") or {}).get("next_token")
        reached_known = endpoint == "dm_events" and any(
            int(e["id"]) <= int(state.since_id or 0) for e in items
        )
        if token and not reached_known:
            state.pagination_token = token
            _save(container, state)
            continue
        # The walk is complete: what was newest at its start becomes the cursor.
        if state.pending_newest_id and int(state.pending_newest_id) > int(state.since_id or 0):
            state.since_id = state.pending_newest_id
        state.pending_newest_id = state.pagination_token = None
        break
    state.last_polled_at = now
    _save(container, state)
    return report


def poll_once(container: Container) -> dict[str, PollReport]:
    """Poll mentions and DM events once; return what happened per endpoint."""
    client = _client(container)
    account = account_id(container, client)
    endpoints = [e for e in twitter.ENDPOINTS if _settings(container).get(f"poll_{e}", True)]
    return {endpoint: poll_endpoint(container, client, endpoint, account) for endpoint in endpoints}


def poll_if_due(container: Container) -> dict[str, PollReport]:
    """Poll when the Twitter channel is on and ``poll_interval`` seconds passed since the last poll."""
    table = _settings(container)
    if not table.get("enabled"):
        return {}
    interval = dt.timedelta(seconds=float(table.get("poll_interval", 120)))
    with db.session(container.engine) as s:
        rows = s.exec(select(XPollState)).all()
    last = max((r.last_polled_at for r in rows if r.last_polled_at), default=None)
    if last is not None and container.now() - last < interval:
        return {}
    return poll_once(container)
