"""The IMAP poller of the e-mail channel (R2g): IDLE when the server has it, polling otherwise.

RFC 3501 (IMAP4rev1), RFC 2177 (IDLE); client: https://imapclient.readthedocs.io/

Never loses a mail, never doubles one:

1. fetch with ``BODY.PEEK[]`` (a plain ``RFC822`` fetch would set ``\\Seen`` before we stored it);
2. ``jobs.pipeline.receive_many`` stores the fetched batch (``fetch_batch`` mails) and commits it in
   one transaction before it returns;
3. only then mark those mails ``\\Seen`` (or move them to the processed folder);
4. only then advance the mailbox's last UID in ``email_mailbox_state``.

A crash or a dropped connection between any two steps makes the next run fetch the same mails
again, and the pipeline dedupes them on their Message-ID. A UIDVALIDITY change (the server renumbered
the folder) restarts from UID 1 and the same dedupe keeps it to one record per mail.

With ``imap_idle = true`` the job queue's ``watch_email`` job calls ``run(container, stop_event)``
(IDLE, reconnecting with backoff) in exactly one worker at a time (``jobs/``); otherwise the
periodic ``email_poll`` job calls ``ensure_watching``, which polls every ``poll_interval`` seconds.
``poll_once(container)`` is also what tests and one-off runs use.

Sign-in is a password (``auth = "password"``) or XOAUTH2 with an access token from
``channels/email_oauth.py`` (``auth = "oauth2"``: Gmail, Microsoft 365). The IDLE session signs in
again before the token it used expires; a session the server ends anyway is reconnected with a
refreshed token, and the UID bookkeeping above fetches whatever came in meanwhile.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from app.container import ChannelConfig, Container
from app.settings import ConfigError
from channels import email_oauth
from channels.base import RawRequest
from intake import db
from intake.email_store import MailboxState, mailbox_state
from jobs.pipeline import DatabaseUnavailable, oversized, receive_many
from ops import heartbeat

log = logging.getLogger("aduan.imap")

CHANNEL = "email"
SEEN = b"\\Seen"
#: Errors after which the poller reconnects (server gone, connection cut, database briefly down).
#: (A token endpoint that refuses or is down is retried the same way: it may be a passing outage.)
RECOVERABLE: tuple[type[BaseException], ...] = (
    imaplib.IMAP4.error,
    OSError,
    DatabaseUnavailable,
    EOFError,
    email_oauth.TokenError,
)
#: RFC 2177: re-issue IDLE before the server's 30-minute inactivity timeout.
MAX_IDLE_SECONDS = 25 * 60

#: ``container.services`` keys of the watcher thread and of the last plain poll.
WATCHER = "email.imap_watcher"
LAST_POLL = "email.imap_last_poll"


@dataclass(frozen=True)
class ImapSettings:
    """The ``[channels.email]`` keys the poller needs, with the password from ADUAN_IMAP_PASSWORD.

    With ``auth = "oauth2"`` the password is empty and ``oauth`` says how to get access tokens
    (``channels/email_oauth.py``; refresh token in ADUAN_IMAP_OAUTH_REFRESH_TOKEN).
    """

    host: str
    port: int
    ssl: bool
    user: str
    password: str
    folder: str = "INBOX"
    processed_folder: str = ""
    poll_interval: float = 60.0
    idle: bool = True
    idle_renew: float = 600.0
    #: Leave IDLE and look again at least this often: Dovecot announces mail stored just before IDLE
    #: began only at its next keepalive (half a minute to two minutes later), not at once.
    idle_recheck: float = 10.0
    batch_size: int = 25
    timeout: float = 60.0
    max_backoff: float = 300.0
    oauth: email_oauth.OAuthSettings | None = None

    @property
    def mailbox(self) -> str:
        """The key of this folder's state row."""
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"[:255]

    @classmethod
    def of(cls, container: Container) -> ImapSettings:
        """Read the settings from the container (ConfigError when the password or token is not set)."""
        return cls.from_config(container.channel_config(CHANNEL))

    @classmethod
    def from_config(cls, config: ChannelConfig) -> ImapSettings:
        """Read the settings from the e-mail channel's config (``aduan email check`` needs no database)."""
        table = config.table
        try:
            oauth = (
                email_oauth.OAuthSettings.of(table, config.secrets)
                if email_oauth.auth_method(table) == "oauth2"
                else None
            )
        except email_oauth.OAuthConfigError as exc:
            raise ConfigError(str(exc)) from None
        return cls(
            host=str(table.get("imap_host", "127.0.0.1")),
            port=int(table.get("imap_port", 993)),
            ssl=bool(table.get("imap_ssl", True)),
            user=str(table.get("imap_user") or table.get("address", "")),
            password="" if oauth else config.secret("ADUAN_IMAP_PASSWORD"),
            folder=str(table.get("imap_folder", "INBOX")),
            processed_folder=str(table.get("processed_folder", "")),
            poll_interval=float(table.get("poll_interval", 60)),
            idle=bool(table.get("imap_idle", True)),
            idle_renew=min(float(table.get("idle_renew", 600)), MAX_IDLE_SECONDS),
            idle_recheck=max(1.0, float(table.get("idle_recheck", 10))),
            batch_size=max(1, int(table.get("fetch_batch", 25))),
            timeout=float(table.get("imap_timeout", 60)),
            max_backoff=float(table.get("reconnect_max_delay", 300)),
            oauth=oauth,
        )


@dataclass
class PollResult:
    """What one pass over the mailbox did (counts only: no personal data)."""

    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    too_large: int = 0
    rescanned: bool = False
    uids: list[int] = field(default_factory=list)


def connect(settings: ImapSettings) -> IMAPClient:
    """Open and log in an IMAP connection (password, or XOAUTH2 with a fresh access token)."""
    client = IMAPClient(settings.host, port=settings.port, ssl=settings.ssl, timeout=settings.timeout)
    try:
        if settings.oauth is not None:
            xoauth2_login(client, settings.user, email_oauth.source(settings.oauth))
        else:
            client.login(settings.user, settings.password)
    except BaseException:
        with contextlib.suppress(Exception):
            client.shutdown()
        raise
    return client


def xoauth2_login(client: IMAPClient, user: str, tokens: email_oauth.TokenSource) -> None:
    """Sign in with XOAUTH2; a refused token is refreshed and tried once more.

    imapclient's ``sasl_login`` rather than its ``oauth2_login``: the latter answers the server's
    error challenge with the token again, where the protocol wants an empty line, and drops the
    JSON that says why (``aduan email check`` shows it).
    """
    email_oauth.signin(lambda mech: client.sasl_login("XOAUTH2", mech), user, tokens, LoginError)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _start(container: Container, client: IMAPClient, settings: ImapSettings, result: PollResult) -> int:
    """Select the folder, handle a UIDVALIDITY change, and return the last UID already stored."""
    info = client.select_folder(settings.folder)
    validity = int(info.get(b"UIDVALIDITY", 0))
    with db.write_session(container.engine) as s:
        state = mailbox_state(s, settings.mailbox)
        if state.uidvalidity != validity:
            if state.uidvalidity is not None:
                # The server renumbered the folder: rescan from the start; the pipeline dedupes by Message-ID.
                log.warning("UIDVALIDITY of %s changed: rescanning", settings.folder)
                state.rescans += 1
                result.rescanned = True
            state.uidvalidity, state.last_uid = validity, 0
            state.updated_at = container.now()
            s.add(state)
        return int(state.last_uid)


def _mark(client: IMAPClient, settings: ImapSettings, uids: list[int]) -> None:
    """Mark stored mails as handled on the server: move them, or flag them \\Seen."""
    if not uids:
        return
    if settings.processed_folder:
        if client.has_capability("MOVE"):
            client.move(uids, settings.processed_folder)
        else:
            client.copy(uids, settings.processed_folder)
            client.delete_messages(uids)
            client.expunge(uids) if client.has_capability("UIDPLUS") else client.expunge()
    else:
        client.add_flags(uids, [SEEN], silent=True)


def _advance(container: Container, settings: ImapSettings, uid: int) -> None:
    with db.write_session(container.engine) as s:
        state = mailbox_state(s, settings.mailbox)
        if uid > state.last_uid:
            state.last_uid = uid
            state.updated_at = container.now()
            s.add(state)


def sync(container: Container, client: IMAPClient, settings: ImapSettings) -> PollResult:
    """Store every mail newer than the last stored UID, then mark it, then remember its UID."""
    result = PollResult()
    last = _start(container, client, settings, result)
    # "UID n:*" always returns the highest UID even when it is below n: filter.
    uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
    for batch in _chunks(uids, settings.batch_size):
        fetched = client.fetch(batch, ["BODY.PEEK[]"])
        pending: list[tuple[int, RawRequest]] = []
        for uid in batch:
            item = fetched.get(uid)
            if item is None:  # expunged meanwhile by someone else: nothing to store
                continue
            body = item.get(b"BODY[]")
            if not isinstance(body, bytes):
                continue
            result.fetched += 1
            headers = {
                "content-type": "message/rfc822",
                "x-imap-mailbox": settings.mailbox,
                "x-imap-uid": str(uid),
            }
            raw = RawRequest(body=body, headers=headers)
            if oversized(container, CHANNEL, raw) is not None:
                # Left unread in the mailbox for a person to see; only a size-capped trace is stored.
                result.too_large += 1
                log.warning(
                    "mail uid %s in %s is larger than max_body_bytes: left in the mailbox",
                    uid,
                    settings.folder,
                )
                continue
            pending.append((uid, raw))
        # The whole fetch in one transaction (one commit, not one per mail); it has committed when
        # receive_many returns, and raises (DatabaseUnavailable) having stored nothing otherwise.
        receipts = receive_many(container, CHANNEL, [raw for _, raw in pending]) if pending else []
        handled: list[int] = []
        for (uid, _), receipt in zip(pending, receipts, strict=True):
            if receipt.status == 413:  # the limit changed meanwhile: left unread, as above
                result.too_large += 1
                continue
            if receipt.status == 400:
                result.quarantined += 1
            elif receipt.duplicate:
                result.duplicates += 1
            else:
                result.stored += 1
            handled.append(uid)
            result.uids.append(uid)
        # The raw rows are committed: only now may the server forget that these mails are new.
        _mark(client, settings, handled)
        _advance(container, settings, max(batch))
    return result


def _beat(
    container: Container,
    settings: ImapSettings,
    started: float,
    result: PollResult | None,
    error: str | None = None,
) -> None:
    """Record a heartbeat (``/readyz`` shows a stalled poller)."""
    detail = error or (
        f"fetched={result.fetched} stored={result.stored} dup={result.duplicates}" if result else ""
    )
    with contextlib.suppress(Exception):
        heartbeat.beat(
            container.engine,
            "poller:email",
            now=container.now(),
            duration=time.monotonic() - started,
            interval=int(settings.poll_interval),
            status="error" if error else "ok",
            detail=detail,
            office=container.office.code,
        )


def poll_once(container: Container, settings: ImapSettings | None = None) -> PollResult:
    """Connect, store every new mail, mark it, disconnect; errors propagate to the caller."""
    settings = settings or ImapSettings.of(container)
    started = time.monotonic()
    client = connect(settings)
    try:
        result = sync(container, client, settings)
    except RECOVERABLE as exc:
        _beat(container, settings, started, None, error=type(exc).__name__)
        with contextlib.suppress(Exception):
            client.shutdown()
        raise
    with contextlib.suppress(Exception):
        client.logout()
    _beat(container, settings, started, result)
    return result


def scheduled_poll(container: Container) -> None:
    """Scheduler entry point: one poll when the e-mail channel is enabled; failures are logged, retried."""
    if not container.settings.channel(CHANNEL).get("enabled"):
        return
    try:
        result = poll_once(container)
    except RECOVERABLE as exc:
        log.warning("email poll failed: %s", type(exc).__name__)
        return
    if result.fetched:
        log.info(
            "email poll: %s fetched, %s new, %s duplicates", result.fetched, result.stored, result.duplicates
        )


@dataclass
class Watcher:
    """The IDLE thread of this process and the event that stops it."""

    thread: threading.Thread
    stop: threading.Event


def ensure_watching(container: Container) -> None:
    """Scheduler job: keep the IDLE watcher thread alive, or poll when IDLE is switched off."""
    table = container.settings.channel(CHANNEL)
    if not table.get("enabled"):
        return
    if table.get("imap_idle", True):
        watcher = container.services.get(WATCHER)
        if watcher is None or not watcher.thread.is_alive():
            stop = threading.Event()
            thread = threading.Thread(target=run, args=(container, stop), name="aduan-imap", daemon=True)
            thread.start()
            container.services[WATCHER] = Watcher(thread, stop)
        return
    last = container.services.get(LAST_POLL)
    if last is not None and time.monotonic() - last < float(table.get("poll_interval", 60)):
        return
    container.services[LAST_POLL] = time.monotonic()
    scheduled_poll(container)


def stop_watching(container: Container, timeout: float = 10.0) -> None:
    """Stop this process's IDLE watcher (on shutdown)."""
    watcher = container.services.pop(WATCHER, None)
    if watcher is not None:
        watcher.stop.set()
        watcher.thread.join(timeout)


def _pending(container: Container, client: IMAPClient, settings: ImapSettings) -> bool:
    """Tell whether mail came in while we were storing (checked before IDLE, which would not announce it).

    A server reports mail that arrived during a command with that command's response; IDLE then
    stays silent about it. NOOP brings the folder's view up to date, and a UID search finds it.
    Mail that arrives while the search itself runs is not in its result but is announced (EXISTS)
    with its response, and so never again: that announcement counts as pending mail too.
    """
    client.noop()
    with db.session(container.engine) as s:
        state = s.get(MailboxState, settings.mailbox)
        last = int(state.last_uid) if state is not None else 0
    # imaplib keeps the untagged responses a command did not ask for (EXISTS with a SEARCH) here;
    # drop the older ones so that only what comes with the search below is seen.
    untagged = client._imap.untagged_responses
    for name in _ANNOUNCEMENTS:
        untagged.pop(name, None)
    found = any(u > last for u in client.search(["UID", f"{last + 1}:*"]))
    announced = any(untagged.pop(name, None) for name in _ANNOUNCEMENTS)
    return found or announced


#: Untagged responses by which a server announces new mail in the selected folder.
_ANNOUNCEMENTS = ("EXISTS", "RECENT")


def _wait_for_mail(client: IMAPClient, settings: ImapSettings, stop: threading.Event) -> None:
    """IDLE until the server announces new mail, ``idle_recheck`` passes, or ``stop`` is set."""
    client.idle()
    try:
        # Re-check at least every poll_interval even in IDLE: a lost notification delays, never loses.
        # The check before IDLE (``_pending``) leaves a moment between its search and IDLE's start;
        # mail stored then is announced late, so the mailbox is looked at again every idle_recheck.
        deadline = time.monotonic() + min(settings.idle_renew, settings.poll_interval, settings.idle_recheck)
        while not stop.is_set() and time.monotonic() < deadline:
            asked = time.monotonic()
            responses = client.idle_check(timeout=1.0)
            # imapclient swallows EOF during IDLE and returns [] at once: that is a dropped link.
            if not responses and time.monotonic() - asked < 0.5:
                raise ConnectionError("IMAP connection closed during IDLE")
            if any(isinstance(r, tuple) and b"BYE" in r[:2] for r in responses):
                raise ConnectionError("IMAP server said BYE during IDLE")
            if any(isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                return
    finally:
        client.idle_done()


def run(container: Container, stop: threading.Event, settings: ImapSettings | None = None) -> None:
    """Watch the mailbox until ``stop`` is set: IDLE (or poll), reconnecting with exponential backoff."""
    settings = settings or ImapSettings.of(container)
    backoff = 1.0
    while not stop.is_set():
        started = time.monotonic()
        client: IMAPClient | None = None
        try:
            client = connect(settings)
            backoff = 1.0
            use_idle = settings.idle and client.has_capability("IDLE")
            renew_at = _renew_at(settings)
            while not stop.is_set():
                started = time.monotonic()
                result = sync(container, client, settings)
                _beat(container, settings, started, result)
                if renew_at is not None and time.time() >= renew_at:
                    # The access token this session signed in with is about to expire, and Microsoft
                    # 365 ends the session then (BYE ... AccessTokenExpired): sign in again now with
                    # a refreshed one. The next session's first sync fetches whatever came meanwhile.
                    log.info("IMAP session renewed: its OAuth2 access token is about to expire")
                    break
                if use_idle:
                    if _pending(container, client, settings):
                        continue
                    _wait_for_mail(client, settings, stop)
                elif stop.wait(settings.poll_interval):
                    break
                else:
                    client.noop()
        except RECOVERABLE as exc:
            log.warning("IMAP connection lost (%s); reconnecting in %.0f s", type(exc).__name__, backoff)
            _beat(container, settings, started, None, error=type(exc).__name__)
            if client is not None:  # no LOGOUT on a dead link: it would wait for the socket timeout
                with contextlib.suppress(Exception):
                    client.shutdown()
                client = None
            stop.wait(backoff)
            backoff = min(backoff * 2, settings.max_backoff)
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.logout()


def _renew_at(settings: ImapSettings) -> float | None:
    """Return when (epoch seconds) this XOAUTH2 session should sign in again; None: never (password)."""
    if settings.oauth is None:
        return None
    at = email_oauth.source(settings.oauth).renew_at()
    if at is not None and at <= time.time():
        # The provider's tokens live shorter than oauth_refresh_before: renewing at once would loop.
        log.warning("OAuth2 access tokens expire within oauth_refresh_before: lower it")
        return None
    return at
