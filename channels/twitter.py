"""Twitter/X (R2h): mentions of the office account and direct messages, X API v2 through tweepy.

https://docs.x.com/x-api/posts/user-mention-timeline-by-user-id
https://docs.x.com/x-api/direct-messages/get-dm-events

X has no webhook for us: ``channels/x_poller.py`` fetches pages of mentions and DM events and stores
each page as it arrived (the raw payload), then calls ``parse`` here like any webhook would. The
poller puts headers on the stored page: ``X-Aduan-X-Endpoint`` (``mentions`` or ``dm_events``),
``X-Aduan-X-Account`` (our own user id, to drop our own echoes) and ``X-Aduan-X-Since-Id`` (the
cursor: items at or below it were read before; the DM list cannot be asked for "since").

Privacy by design (UU 27/2022): a mention is public, so the sender answers a mention publicly
only with the configured acknowledgement that invites the citizen to continue by DM; the text of
the message (which may carry the complaint's details or personal data) goes by DM only. The
poller queues that acknowledgement once per new mention (``extra[ACK_ONLY]``); the dialogue's
own replies carry no ``reply_to`` and go by DM.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import urllib.parse
from typing import Any

import requests
import tweepy
from requests.adapters import HTTPAdapter

from channels import _shape
from channels.base import (
    Attachment,
    InboundMessage,
    OutboundMessage,
    PermanentFailure,
    RawRequest,
    TemporaryFailure,
    UnsupportedPayload,
)
from channels.urns import urn_path

NAME = "twitter"
ENDPOINT_HEADER = "X-Aduan-X-Endpoint"
ACCOUNT_HEADER = "X-Aduan-X-Account"
SINCE_HEADER = "X-Aduan-X-Since-Id"
ENDPOINTS = ("mentions", "dm_events")
API_HOST = "https://api.twitter.com"
BEARER_ENV = "ADUAN_X_BEARER_TOKEN"
USER_AUTH_ENVS = (
    "ADUAN_X_CONSUMER_KEY",
    "ADUAN_X_CONSUMER_SECRET",
    "ADUAN_X_ACCESS_TOKEN",
    "ADUAN_X_ACCESS_TOKEN_SECRET",
)
#: The only words ever posted in public, in answer to a mention (no details, no personal data).
DEFAULT_PUBLIC_REPLY = (
    "Terima kasih, laporan Anda kami terima. Demi menjaga data pribadi Anda, mohon lanjutkan "
    "melalui Direct Message (DM) ke akun ini."
)
TWEET_LIMIT = 280
#: ``OutboundMessage.extra`` key of the poller's acknowledgement of a new mention: no DM with it.
ACK_ONLY = "public_ack_only"
DM_LIMIT = 10_000
#: Media types of X with the content type they are stored under.
MEDIA_TYPES = {"photo": "image/jpeg", "video": "video/mp4", "animated_gif": "video/mp4"}
#: DM event types that carry no citizen message.
IGNORED_DM_EVENTS = ("ParticipantsJoin", "ParticipantsLeave")
_LEADING_MENTIONS = re.compile(r"^(?:@\w{1,15}\s+)+")

log = logging.getLogger("aduan.channels.twitter")


# -- parse ----------------------------------------------------------------------------------------


def _load(raw: RawRequest) -> tuple[str, str, dict[str, Any]]:
    endpoint = raw.header(ENDPOINT_HEADER) or ""
    if endpoint not in ENDPOINTS:
        raise UnsupportedPayload(f"{ENDPOINT_HEADER} is {endpoint!r}; known: {list(ENDPOINTS)}")
    account = raw.header(ACCOUNT_HEADER) or ""
    if not account:
        raise UnsupportedPayload(f"missing {ACCOUNT_HEADER}: cannot tell our own posts from citizens'")
    data = _shape.json_document(raw.body)
    if not isinstance(data, dict):
        raise UnsupportedPayload("an X API v2 answer is a JSON object")
    if "data" not in data and data.get("errors"):
        # A page that is only errors (X answers 200 with errors for partial failures).
        first = data["errors"][0]
        raise UnsupportedPayload(f"X API error: {first.get('title') or first.get('message') or first}")
    if not isinstance(data.get("data", []), list):
        raise UnsupportedPayload("data must be a list")
    return endpoint, account, data


def external_id(raw: RawRequest) -> str:
    """Return ``<endpoint>:<newest id>:<oldest id>:<count>`` of a page (a re-fetched page is one record)."""
    endpoint, _, data = _load(raw)
    ids = [str(item.get("id")) for item in data.get("data", [])]
    if not ids:
        return raw.body_hash()
    return f"{endpoint}:{ids[0]}:{ids[-1]}:{len(ids)}"


def _when(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _media(item: dict[str, Any], includes: dict[str, Any]) -> tuple[Attachment, ...]:
    keys = (item.get("attachments") or {}).get("media_keys") or []
    by_key = {m.get("media_key"): m for m in includes.get("media", [])}
    out = []
    for key in keys:
        media = by_key.get(key) or {}
        kind = media.get("type", "photo")
        out.append(
            Attachment(
                content_type=MEDIA_TYPES.get(kind, "application/octet-stream"),
                url=media.get("url") or media.get("preview_image_url"),
            )
        )
    return tuple(out)


def _users(includes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(u.get("id")): u for u in includes.get("users", [])}


def _mention(tweet: dict[str, Any], includes: dict[str, Any], account: str) -> InboundMessage | None:
    author = str(tweet.get("author_id") or "")
    if not author or not tweet.get("id"):
        raise UnsupportedPayload("a mention needs id and author_id (ask for expansions=author_id)")
    if author == account:
        return None  # our own post (a thread reply that names the account): an echo
    user = _users(includes).get(author, {})
    tweet_id = str(tweet["id"])
    return InboundMessage(
        channel=NAME,
        external_id=f"tweet:{tweet_id}",
        sender=f"twitter:{author}",
        text=_LEADING_MENTIONS.sub("", str(tweet.get("text") or "")).strip(),
        sent_at=_when(tweet.get("created_at")),
        sender_name=user.get("name"),
        attachments=_media(tweet, includes),
        reply_to=f"tweet:{tweet_id}",
        thread_id=str(tweet.get("conversation_id") or tweet_id),
        # "public" tells the dialogue and the sender this came in the open (privacy rule above).
        extra={"kind": "mention", "public": True, "username": user.get("username")},
    )


def _dm(event: dict[str, Any], includes: dict[str, Any], account: str) -> InboundMessage | None:
    kind = event.get("event_type")
    if kind in IGNORED_DM_EVENTS:
        return None
    if kind != "MessageCreate":
        raise UnsupportedPayload(
            f"unknown DM event_type {kind!r}; known: MessageCreate, {', '.join(IGNORED_DM_EVENTS)}"
        )
    sender = str(event.get("sender_id") or "")
    if not sender or not event.get("id"):
        raise UnsupportedPayload("a DM event needs id and sender_id (ask for dm_event.fields=sender_id)")
    if sender == account:
        return None  # the DM list holds our own sent messages too: our echo
    user = _users(includes).get(sender, {})
    return InboundMessage(
        channel=NAME,
        external_id=f"dm:{event['id']}",
        sender=f"twitter:{sender}",
        text=str(event.get("text") or "").strip(),
        sent_at=_when(event.get("created_at")),
        sender_name=user.get("name"),
        attachments=_media(event, includes),
        thread_id=str(event.get("dm_conversation_id") or ""),
        extra={"kind": "dm", "public": False, "username": user.get("username")},
    )


def _number(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise UnsupportedPayload(f"X ids are numbers, got {value!r}") from None


def parse(raw: RawRequest) -> list[InboundMessage]:
    """Turn one stored page of mentions or DM events into inbound messages, oldest first."""
    endpoint, account, data = _load(raw)
    includes = data.get("includes") or {}
    read = _mention if endpoint == "mentions" else _dm
    since = _number(raw.header(SINCE_HEADER) or "0")
    # Items at or below the poller's cursor were read before (or predate the channel being on).
    fresh = [item for item in data.get("data", []) if _number(item.get("id")) > since]
    out = [m for item in fresh if (m := read(item, includes, account)) is not None]
    return list(reversed(out))  # X lists newest first; the dialogue wants the order they were written


# -- transport ------------------------------------------------------------------------------------


class RedirectAdapter(HTTPAdapter):
    """Send tweepy's requests to another host (a test server) keeping its auth and parsing."""

    def __init__(self, base: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base = urllib.parse.urlsplit(base)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        """Rewrite the URL's scheme and host, then send."""
        url = urllib.parse.urlsplit(str(request.url))
        request.url = urllib.parse.urlunsplit((self.base.scheme, self.base.netloc, url.path, url.query, ""))
        return super().send(request, *args, **kwargs)


def make_client(config: Any, *, raw_responses: bool = False) -> tweepy.Client:
    """Build a tweepy Client from the environment; ``api_base_url`` in the table points it elsewhere."""
    secrets = config.secrets
    client = tweepy.Client(
        bearer_token=secrets.get(BEARER_ENV),
        consumer_key=secrets.get(USER_AUTH_ENVS[0]),
        consumer_secret=secrets.get(USER_AUTH_ENVS[1]),
        access_token=secrets.get(USER_AUTH_ENVS[2]),
        access_token_secret=secrets.get(USER_AUTH_ENVS[3]),
        return_type=requests.Response if raw_responses else tweepy.Response,
        wait_on_rate_limit=False,  # never sleep in a worker: the poller persists the reset time
    )
    base = str(config.table.get("api_base_url", API_HOST) or API_HOST).rstrip("/")
    if base != API_HOST:
        # tweepy hard-codes api.twitter.com (RECIPES.md §5): redirect at the transport level.
        client.session.mount(f"{API_HOST}/", RedirectAdapter(base))
    return client


def reset_after(response: requests.Response | None) -> float | None:
    """Return seconds until ``x-rate-limit-reset`` (epoch seconds), if the header is there."""
    if response is None:
        return None
    value = response.headers.get("x-rate-limit-reset")
    if not value or not value.isdigit():
        return None
    return max(0.0, int(value) - dt.datetime.now(dt.UTC).timestamp())


# -- send -----------------------------------------------------------------------------------------


class XSender:
    """Answer citizens on X: by DM; a mention gets only the public acknowledgement, never details."""

    def __init__(self, client: tweepy.Client, *, public_reply: str = DEFAULT_PUBLIC_REPLY) -> None:
        if len(public_reply) > TWEET_LIMIT:
            raise ValueError(f"public_reply is {len(public_reply)} characters; X allows {TWEET_LIMIT}")
        self.client = client
        self.public_reply = public_reply
        #: Mentions already acknowledged by this process: one public reply per mention is enough.
        self.acknowledged: set[str] = set()

    def _call(self, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except tweepy.TooManyRequests as exc:
            raise TemporaryFailure("X rate limit reached", retry_after=reset_after(exc.response)) from exc
        except tweepy.TwitterServerError as exc:
            raise TemporaryFailure(f"X server error {exc.response.status_code}") from exc
        except (tweepy.BadRequest, tweepy.Unauthorized, tweepy.Forbidden, tweepy.NotFound) as exc:
            raise PermanentFailure(
                f"X refused: {type(exc).__name__}: {'; '.join(exc.api_messages)[:300]}"
            ) from exc
        except (requests.RequestException, tweepy.TweepyException) as exc:
            raise TemporaryFailure(f"X unreachable: {type(exc).__name__}") from exc

    def _dm(self, user_id: str, text: str) -> str:
        answer = self._call(self.client.create_direct_message, participant_id=user_id, text=text[:DM_LIMIT])
        return f"dm:{answer.data['dm_event_id']}"

    def send(self, out: OutboundMessage) -> str:
        """Deliver ``out``; a reply to a public mention posts only the acknowledgement in public."""
        if not out.text.strip():
            raise PermanentFailure("empty message")
        user_id = urn_path(out.to)
        reply_to = out.reply_to or ""
        mention = reply_to[len("tweet:") :] if reply_to.startswith("tweet:") else None
        if mention is None and not out.extra.get("public"):
            return self._dm(user_id, out.text)
        tweet_id = None
        if mention and mention not in self.acknowledged:
            # Privacy rule: the public reply is ALWAYS the fixed acknowledgement, whatever out.text says.
            answer = self._call(
                self.client.create_tweet, text=self.public_reply, in_reply_to_tweet_id=mention
            )
            tweet_id = f"tweet:{answer.data['id']}"
            self.acknowledged.add(mention)
        if out.extra.get(ACK_ONLY):
            return tweet_id or f"tweet:acknowledged:{mention}"
        try:
            return self._dm(user_id, out.text)
        except PermanentFailure:
            # The citizen does not accept DMs from us yet; the public reply invited them to write first.
            if tweet_id is None:
                raise
            log.info("X: DM refused after a public acknowledgement; waiting for the citizen's DM")
            return tweet_id


def make_sender(config: Any) -> XSender:
    """Build the sender from ``[channels.twitter]`` and the ADUAN_X_* secrets (user context)."""
    for name in USER_AUTH_ENVS:
        config.secret(name)  # ConfigError naming the first missing variable
    return XSender(
        make_client(config), public_reply=str(config.table.get("public_reply", DEFAULT_PUBLIC_REPLY))
    )
