"""Background download of provider media (MMS, WhatsApp photos and documents) into the attachment store.

A webhook never calls out (the provider waits for our answer): ``ingest`` keeps each attachment's
provider URL in the message's JSON, and ``download_pending`` (run by the scheduler, or
``aduan outbox --attachments``) fetches them with the channel's credentials, checks the content
type and the size cap, stores the file under ``<attachments_dir>/media/`` and notes its ``path``
in the message's JSON (where ``ops.purge`` finds it). Failures are retried after 1, 5, 15 and 60
minutes; a 4xx, a file too large or of a refused type is given up at once.

A media URL comes from a payload (a signed one, but its sender chooses the URL), so the download
goes only to the provider's own media hosts (``MEDIA_HOSTS``, or ``[channels.<name>] media_hosts``,
plus the hosts of the channel's configured API base URLs), follows no redirect off that list, and
refuses a host that resolves to a private, loopback or link-local address (``[storage]
media_private_hosts`` names the exceptions: tests and local demos only). Credentials go only to
the URL the channel's ``media_source`` gave for them, never along a redirect to another host.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import logging
import mimetypes
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import sqlalchemy as sa
from sqlmodel import Field, SQLModel, select

import channels
from app.container import Container
from intake import db
from intake.models import Message, ts, utcnow

log = logging.getLogger("aduan.attachments")

PENDING = "pending"
STORED = "stored"
FAILED = "failed"
REJECTED = "rejected"  # too large or a content type we do not keep
SKIPPED = "skipped"  # nothing to download (bytes already stored, or a local file)
STATUSES = (PENDING, STORED, FAILED, REJECTED, SKIPPED)
RETRY_DELAYS = (60, 300, 900, 3600)
LEASE_SECONDS = 300
#: What citizens send as evidence; anything else is refused (``[storage] allowed_content_types``).
DEFAULT_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/heic",
    "application/pdf",
    "text/plain",
    "text/vcard",
    "text/x-vcard",
    "audio/ogg",
    "audio/mpeg",
    "audio/mp4",
    "audio/amr",
    "audio/aac",
    "video/mp4",
    "video/3gpp",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)
# Remote references a download job fetches: plain URLs, Meta media ids, Telegram file ids.
_REMOTE = ("http://", "https://", "meta-media:", "tg-file:")
#: Each channel's provider media hosts ("*." covers subdomains), over https. Twilio answers a media
#: URL with a redirect to its CDN; Meta serves WhatsApp and Instagram media from lookaside/CDN hosts.
MEDIA_HOSTS: dict[str, tuple[str, ...]] = {
    "sms": ("api.twilio.com", "*.twiliocdn.com", "s3-external-1.amazonaws.com"),
    "whatsapp": (
        "api.twilio.com",
        "*.twiliocdn.com",
        "s3-external-1.amazonaws.com",
        "graph.facebook.com",
        "lookaside.fbsbx.com",
    ),
    "telegram": ("api.telegram.org",),
    "instagram": ("lookaside.fbsbx.com", "*.fbcdn.net", "*.cdninstagram.com", "graph.instagram.com"),
    "twitter": ("ton.twitter.com", "pbs.twimg.com", "video.twimg.com"),
}
#: A channel table's keys whose URL's host is the provider's (a local fake's in tests).
_BASE_URL_KEYS = ("api_base_url", "graph_base_url", "file_base_url")
MAX_REDIRECTS = 3


class AttachmentDownload(SQLModel, table=True):
    """One attachment of a message and where its download stands."""

    __tablename__ = "attachment_download"
    __table_args__ = (
        sa.UniqueConstraint("message_id", "position", name="uq_attachment_download_message_position"),
        sa.Index("ix_attachment_download_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    position: int = 0
    channel: str = Field(max_length=32)
    url: str = Field(default="", sa_type=sa.Text)
    content_type: str = Field(default="application/octet-stream", max_length=128)
    status: str = Field(default=PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: dt.datetime | None = ts()
    size: int | None = None
    sha256: str | None = Field(default=None, max_length=64)
    path: str | None = Field(default=None, max_length=500)
    error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: dt.datetime = ts(nullable=False, default=utcnow)
    stored_at: dt.datetime | None = ts()


class _Refused(Exception):
    """The file will never be accepted (too large, wrong type, 4xx)."""


class _Retry(Exception):
    """The download may work later (timeout, 429, 5xx)."""


@dataclass(frozen=True)
class MediaPolicy:
    """Where one channel's media may be fetched from (see the module's docstring)."""

    hosts: tuple[str, ...]  # "host", "host:port" or "*.domain"
    private_ok: frozenset[str]
    resolve: Callable[[str, int], list[str]]

    def check(self, url: str) -> None:
        """Raise _Refused unless ``url`` is on a provider media host that resolves to a public address."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise _Refused("media URL is not http(s)")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not any(_host_matches(entry, host, port, parts.scheme) for entry in self.hosts):
            raise _Refused(f"media host {host} is not a provider media host")
        if host in self.private_ok:
            return
        try:
            addresses = self.resolve(host, port)
        except OSError as exc:
            raise _Retry(f"cannot resolve {host}: {type(exc).__name__}") from None
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global or ip.is_multicast:
                raise _Refused(f"media host {host} resolves to a non-public address")


def _host_matches(entry: str, host: str, port: int, scheme: str) -> bool:
    name, _, wanted = entry.lower().rpartition(":") if entry.count(":") == 1 else (entry.lower(), "", "")
    if wanted and int(wanted) != port:
        return False
    if not wanted and (scheme != "https" or port != 443):
        return False  # a listed name without a port: the provider's https only
    if name.startswith("*."):
        return host.endswith(name[1:])
    return host == name


def _resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def media_policy(container: Container, channel: str) -> MediaPolicy:
    """Return the channel's media hosts: its defaults or ``media_hosts``, and its API base URLs' hosts."""
    table = container.channel_config(channel).table
    hosts = list(table.get("media_hosts") or MEDIA_HOSTS.get(channel, ()))
    for key in _BASE_URL_KEYS:
        base = urlsplit(str(table.get(key) or ""))
        if base.hostname:
            port = base.port or (443 if base.scheme == "https" else 80)
            hosts.append(f"{base.hostname}:{port}")
    private = container.settings.storage.media_private_hosts
    return MediaPolicy(tuple(hosts), frozenset(str(h).lower() for h in private), _resolve)


def discover(container: Container, *, limit: int = 200) -> int:
    """Create a download row for every attachment of messages that have none yet; return how many."""
    now = container.now()
    has_rows = sa.exists().where(AttachmentDownload.message_id == Message.id)  # type: ignore[arg-type]
    created = 0
    with db.write_session(container.engine) as s:
        messages = s.exec(
            select(Message)
            .where(Message.attachments != "[]", ~has_rows)  # type: ignore[arg-type]
            .order_by(Message.id)  # type: ignore[arg-type]
            .limit(limit)
        ).all()
        for message in messages:
            assert message.id is not None
            try:
                items = json.loads(message.attachments or "[]")
            except ValueError:
                items = []
            for i, item in enumerate(items if isinstance(items, list) else []):
                url = str(item.get("url") or "") if isinstance(item, dict) else ""
                remote = url.startswith(_REMOTE) and not item.get("path")
                s.add(
                    AttachmentDownload(
                        message_id=message.id,
                        position=i,
                        channel=message.channel,
                        url=url,
                        content_type=str(item.get("content_type") or "application/octet-stream")[:128],
                        status=PENDING if remote else SKIPPED,
                        next_attempt_at=now if remote else None,
                        created_at=now,
                    )
                )
                created += 1
    return created


def _claim(container: Container, now: dt.datetime, limit: int) -> list[AttachmentDownload]:
    with db.write_session(container.engine) as s:
        query = (
            select(AttachmentDownload)
            .where(AttachmentDownload.status == PENDING, AttachmentDownload.next_attempt_at <= now)  # type: ignore[arg-type,operator]
            .order_by(AttachmentDownload.id)  # type: ignore[arg-type]
            .limit(limit)
        )
        query = query.with_for_update(skip_locked=True)
        rows = list(s.exec(query).all())
        for row in rows:
            # A lease: a worker that dies mid-download leaves the row due again after LEASE_SECONDS.
            row.attempts += 1
            row.next_attempt_at = now + dt.timedelta(seconds=LEASE_SECONDS)
            s.add(row)
    return rows


def download_pending(container: Container, *, limit: int = 20, client: httpx.Client | None = None) -> int:
    """Discover new attachments and download the due ones; return how many downloads were tried."""
    discover(container)
    now = container.now()
    rows = _claim(container, now, limit)
    if not rows:
        return 0
    storage = container.settings.storage
    cap = storage.max_attachment_bytes
    allowed = storage.allowed_content_types or DEFAULT_TYPES
    own = client is None
    http = client or httpx.Client(timeout=30.0, follow_redirects=False)
    try:
        for row in rows:
            _download_one(container, http, row, cap=cap, allowed=allowed)
    finally:
        if own:
            http.close()
    return len(rows)


def _fetch(
    container: Container, http: httpx.Client, row: AttachmentDownload, cap: int, allowed: tuple[str, ...]
) -> tuple[bytes, str]:
    module = channels.load(row.channel)
    config = container.channel_config(row.channel)
    source = getattr(module, "media_source", None)
    policy = media_policy(container, row.channel)
    try:
        url, headers = source(http, row.url, config) if source else (row.url, {})
        first = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            policy.check(url)
            # The credentials only for the host media_source meant them for, never along a redirect.
            sent = headers if urlsplit(url).netloc == first else {}
            with http.stream("GET", url, headers=sent, follow_redirects=False) as response:
                if not response.is_redirect:
                    return _read(response, row, cap, allowed)
                url = urljoin(url, response.headers.get("location", ""))
        raise _Refused(f"more than {MAX_REDIRECTS} redirects")
    except httpx.HTTPStatusError as exc:  # raised by a channel's media_source
        code = exc.response.status_code
        if code == 429 or code >= 500:
            raise _Retry(f"HTTP {code} resolving the media") from None
        raise _Refused(f"HTTP {code} resolving the media") from None
    except httpx.TransportError as exc:
        raise _Retry(type(exc).__name__) from None


def _read(
    response: httpx.Response, row: AttachmentDownload, cap: int, allowed: tuple[str, ...]
) -> tuple[bytes, str]:
    """Check a media answer's status, type and size, and read it (up to the cap)."""
    if response.status_code == 429 or response.status_code >= 500:
        raise _Retry(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise _Refused(f"HTTP {response.status_code}")
    ctype = response.headers.get("content-type", row.content_type).split(";")[0].strip().lower()
    if ctype not in allowed:
        raise _Refused(f"content type {ctype} is not accepted")
    declared = row.content_type.split("/")[0]
    if declared not in ("application", ctype.split("/")[0]):
        raise _Refused(f"content type {ctype} does not match the declared {row.content_type}")
    length = response.headers.get("content-length")
    if length and length.isdigit() and int(length) > cap:
        raise _Refused(f"{length} bytes exceed the cap of {cap}")
    data = bytearray()
    for chunk in response.iter_bytes():
        data.extend(chunk)
        if len(data) > cap:
            raise _Refused(f"more than the cap of {cap} bytes")
    return bytes(data), ctype


def _download_one(
    container: Container, http: httpx.Client, row: AttachmentDownload, *, cap: int, allowed: tuple[str, ...]
) -> None:
    now = container.now()
    data: bytes | None = None
    error, final = None, False
    try:
        data, ctype = _fetch(container, http, row, cap, allowed)
    except _Refused as exc:
        error, final = str(exc), True
    except _Retry as exc:
        error = str(exc)
    except Exception as exc:  # a channel bug must not stop the other downloads
        error = f"{type(exc).__name__}: {exc}"
        log.exception("attachment #%s download raised", row.id)
    rel: str | None = None
    digest: str | None = None
    if data is not None:
        digest = hashlib.sha256(data).hexdigest()
        ext = mimetypes.guess_extension(ctype) or ".bin"
        local = container.office.calendar.local_date(now)
        rel = f"media/{local:%Y/%m}/{digest}{ext}"
        target = container.storage_dir() / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            tmp = target.with_suffix(target.suffix + ".part")
            tmp.write_bytes(data)
            tmp.replace(target)
    with db.write_session(container.engine) as s:
        fresh = s.get(AttachmentDownload, row.id)
        assert fresh is not None
        if data is not None:
            fresh.status, fresh.size, fresh.sha256, fresh.path = STORED, len(data), digest, rel
            fresh.stored_at, fresh.error, fresh.next_attempt_at = now, None, None
            _note_in_message(s, fresh)
        elif final or fresh.attempts > len(RETRY_DELAYS):
            fresh.status = REJECTED if final and not (error or "").startswith("HTTP") else FAILED
            fresh.error, fresh.next_attempt_at = error, None
            log.warning(
                "attachment #%s of message #%s %s: %s", fresh.id, fresh.message_id, fresh.status, error
            )
        else:
            fresh.error = error
            fresh.next_attempt_at = now + dt.timedelta(seconds=RETRY_DELAYS[fresh.attempts - 1])
        s.add(fresh)


def _note_in_message(s: Any, row: AttachmentDownload) -> None:
    """Write the stored file's path into the message's attachment JSON (the inbox and purge read it)."""
    message = s.get(Message, row.message_id)
    if message is None:
        return
    items = json.loads(message.attachments or "[]")
    if row.position < len(items) and isinstance(items[row.position], dict):
        items[row.position].update({"path": row.path, "size": row.size, "sha256": row.sha256})
        message.attachments = json.dumps(items, ensure_ascii=False)
        s.add(message)
