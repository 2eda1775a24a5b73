"""``aduan import mbox FILE`` and ``aduan import maildir DIR``: bring a mailbox's history into the record.

For the office's existing mailbox (a Gmail box exported with Google Takeout is one mbox file).
Each mail gets what IMAP mail gets (raw stored first, parsed, loop guards, threading), with its
own ``Date`` as the receipt time so R3/R4 are counted from when it came. History is never
answered: only the e-mail hook's work and filing run (no dialogue, no survey), and each new
citizen mail is filed at once with its display name as the name given (nobody can be asked any
more). Mails are stored ``BATCH_SIZE`` to a transaction, each batch parsed once and written by
``cli.mail_batch`` with a statement per table (or, for what that leaves to it, by the pipeline
mail by mail with ``email_hook`` and ``import_file_hook``: the same records), and
the checkpoint in ``email_import`` commits with the batch it covers: an interrupted import resumes
at the first mail not committed, and Message-ID dedupe makes any other overlap (a re-export) harmless.
Registered by importing it in ``cli.main``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import email.utils
import logging
import mailbox
import os
import pickle
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session

from app.container import Container
from channels import email as email_channel
from channels.base import RawRequest, UnsupportedPayload
from cli import mail_batch
from intake import db
from intake.email_store import MailImport, import_progress
from intake.ingest import IngestResult, file_complaint
from jobs.pipeline import DatabaseUnavailable, Receipt, raw_key, receive_many
from outbound.email_threading import email_hook, inbound_of

log = logging.getLogger("aduan.import")

KINDS = ("mbox", "maildir")
CHANNEL = "email"
#: Mails stored per transaction; the checkpoint commits with them, so a crash redoes one batch at most.
BATCH_SIZE = 200
#: A source with more mails than this to go is parsed ahead in a second process (when there is a
#: second CPU): below it, starting that process costs more than it saves.
PARSE_AHEAD_MIN = 2 * BATCH_SIZE


def import_file_hook(container: Container, session: Session, result: IngestResult, now: dt.datetime) -> bool:
    """File a historical citizen mail as a complaint at once (the e-mail hook took replies and noise)."""
    stored = result.message
    if stored.channel != "email" or stored.complaint_id is not None:
        return False
    inbound = inbound_of(session, stored)
    file_complaint(
        session=session,
        office=container.office,
        channel="email",
        contact_urn=stored.sender_urn,
        text=stored.text,
        received_at=now,
        now=now,
        reporter_name=inbound.sender_name if inbound is not None else None,
        actor="import:email",
        messages=[stored],
        contact=result.contact,  # ingest has it already: no second lookup per mail
    )
    return True


def _fallback_date(msg: mailbox.Message) -> dt.datetime | None:
    """The mbox "From " line's date, or the Maildir delivery time, when the mail has no usable Date."""
    if isinstance(msg, mailbox.MaildirMessage):
        return dt.datetime.fromtimestamp(msg.get_date(), dt.UTC)
    if isinstance(msg, mailbox.mboxMessage):
        parts = (msg.get_from() or "").split(None, 1)
        if len(parts) == 2:
            try:
                parsed = email.utils.parsedate_to_datetime(parts[1])
            except (TypeError, ValueError, IndexError):
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def open_source(kind: str, path: Path) -> mailbox.Mailbox[mailbox.Message]:
    """Open an mbox file or a Maildir folder read-only (ValueError when it is not one)."""
    if kind == "mbox":
        if not path.is_file():
            raise ValueError(f"not an mbox file: {path}")
        return mailbox.mbox(path, create=False)  # type: ignore[return-value]
    if kind == "maildir":
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise ValueError(f"not a Maildir folder (no cur/ or new/): {path}")
        return mailbox.Maildir(path, factory=None, create=False)  # type: ignore[return-value]
    raise ValueError(f"unknown mailbox kind {kind!r}; known: {', '.join(KINDS)}")


#: A Maildir file name starts with its delivery time: seconds, then (as Python and Dovecot write
#: it) ``M`` and the microseconds, e.g. ``1764671231.M98765P412Q3.host``.
_DELIVERED = re.compile(r"^(\d+)(?:\.M(\d+))?")


def _delivery_order(key: str) -> tuple[int, int, str]:
    found = _DELIVERED.match(key)
    if found is None:
        return (0, 0, key)
    return (int(found.group(1)), int(found.group(2) or 0), key)


def _keys(box: mailbox.Mailbox[mailbox.Message], kind: str) -> list[str]:
    # mbox keys are positions; Maildir keys are file names: in delivery order, compared as numbers
    # (as text, M98765 came after M123456 of the same second, and a reply before its mail).
    keys = list(box.keys())
    return keys if kind == "mbox" else sorted(keys, key=_delivery_order)


def iter_mails(
    box: mailbox.Mailbox[mailbox.Message], keys: list[str], start: int
) -> Iterator[tuple[int, bytes, str]]:
    """Yield (index, raw bytes, key) from position ``start`` on."""
    for index in range(start, len(keys)):
        key = keys[index]
        try:
            data = box.get_bytes(key)
        except (KeyError, OSError):  # a Maildir file removed meanwhile
            continue
        yield index, data, key


def receipt_time(box: mailbox.Mailbox[mailbox.Message], key: str, raw: RawRequest) -> dt.datetime | None:
    """Return when a mail came: its ``Date``, else the mbox "From " line or the Maildir delivery time."""
    try:
        # Parsed here for the Date; the pipeline's parse of the same mail right after is remembered.
        when = email_channel.parsed(raw).sent_at
    except UnsupportedPayload:  # quarantined by the pipeline; its Date still dates the raw row
        when = email_channel.parse_date(raw.body)
    if when is None:
        try:
            when = _fallback_date(box.get_message(key))
        except (KeyError, OSError, ValueError):
            when = None
    return when


def _batches(items: Iterator[tuple[int, bytes, str]], size: int) -> Iterator[list[tuple[int, bytes, str]]]:
    """Group the mails into lists of ``size`` (the last one shorter)."""
    batch: list[tuple[int, bytes, str]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _ParseAhead:
    """A worker process that parses the next batch of mails while this one stores the current one.

    Parsing (MIME, charsets, HTML, quoted replies) is about a third of an import's work and needs
    no database, so it moves to a second core: ``python -m cli.parse_worker``, a fresh interpreter
    (nothing of this process is copied, and no script is imported twice), fed pickled batches on
    its stdin. Should it fail in any way, the import goes on parsing here: the worker only ever
    saves time, it never decides anything.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.worker: subprocess.Popen[bytes] | None = None
        self.sent: list[bytes] | None = None

    def __enter__(self) -> _ParseAhead:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.worker.wait()
            for pipe in (self.worker.stdin, self.worker.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):  # a dead worker's pipe flushes into nothing
                        pipe.close()

    def submit(self, batch: list[tuple[int, bytes, str]]) -> None:
        """Send ``batch`` to the worker to parse (nothing when parsing ahead is off)."""
        if not self.enabled:
            return
        bodies = [data for _, data, _ in batch]
        try:
            if self.worker is None:
                self.worker = subprocess.Popen(
                    [sys.executable, "-m", "cli.parse_worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
                )
            assert self.worker.stdin is not None
            # The worker has written all it was sent before (``take`` read it): it is reading now.
            pickle.dump(bodies, self.worker.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.worker.stdin.flush()
            self.sent = bodies
        except OSError as exc:
            self._give_up(exc)

    def take(self, batch: list[tuple[int, bytes, str]]) -> None:
        """Hand ``batch``'s parsed mails to the parser (see ``prime``): the worker's, else parsed here.

        Either way each mail is parsed once per batch; its date, its key, the pipeline and the
        hooks then look it up (one mail at a time, they would parse it again and again).
        """
        bodies, self.sent = self.sent, None
        results: Any = None
        if bodies is not None and self.enabled and self.worker is not None and self.worker.stdout is not None:
            try:
                results = pickle.load(self.worker.stdout)
            except Exception as exc:  # the worker died or wrote nonsense: this process parses, as without it
                self._give_up(exc)
            if results is not None and (not isinstance(results, list) or len(results) != len(bodies)):
                self._give_up(ValueError("the worker answered another batch"))
                results = None
        if results is None or bodies is None:
            bodies = [data for _, data, _ in batch]
            results = email_channel.parse_many(bodies)
        email_channel.prime(bodies, results)

    def _give_up(self, exc: BaseException) -> None:
        log.warning("parsing ahead stopped (%s); parsing in this process", type(exc).__name__)
        self.enabled = False


@dataclass
class _Tally:
    """What one batch did, applied to the import's counts only once the batch has committed."""

    position: int
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0


def import_mailbox(
    container: Container,
    kind: str,
    path: Path,
    *,
    restart: bool = False,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = BATCH_SIZE,
    parse_ahead: bool | None = None,
) -> MailImport:
    """Import every mail of a source not yet imported; return the progress row (counts).

    ``parse_ahead`` parses each next batch in a second process (None: when the machine has a second
    CPU and the source is big enough for that to pay). The records are the same either way.
    """
    box = open_source(kind, path)
    keys = _keys(box, kind)
    source = f"{kind}:{path.resolve()}"[:1000]
    with db.write_session(container.engine) as s:
        row = import_progress(s, source)
        # Start over when asked, or when a finished source changed (a new export): dedupe skips the old.
        if restart or (row.finished_at is not None and row.total != len(keys)):
            row.position = row.imported = row.duplicates = row.quarantined = 0
            row.finished_at = None
        row.total = len(keys)
        state = MailImport(**row.model_dump())
    moment: list[dt.datetime] = [container.now()]
    # History is never answered: only the e-mail hook (loops, bounces, threading) and the filing hook
    # run. Anything that reads the clock while a mail is processed sees that mail's receipt time.
    history = dataclasses.replace(
        container, clock=lambda: moment[0], message_hooks=[email_hook, import_file_hook]
    )
    if progress:
        progress(state.position, state.total)
    if parse_ahead is None:
        parse_ahead = (os.cpu_count() or 1) > 1 and state.total - state.position > PARSE_AHEAD_MIN
    batches = _batches(iter_mails(box, keys, state.position), max(1, batch_size))
    with _ParseAhead(parse_ahead) as ahead:
        # While one batch is stored and filed here, the worker parses the next one.
        current = next(batches, None)
        while current is not None:
            ahead.take(current)  # the current batch's mails, parsed while the one before was stored
            following = next(batches, None)
            if following is not None:
                ahead.submit(following)
            try:
                _import_batch(container, history, moment, box, kind, current, state, progress)
            finally:
                email_channel.forget()
            current = following
    state.position = state.total
    state.finished_at = container.now()
    with db.write_session(container.engine) as s:
        _checkpoint(s, container, state)
    return state


def _import_batch(
    container: Container,
    history: Container,
    moment: list[dt.datetime],
    box: mailbox.Mailbox[mailbox.Message],
    kind: str,
    batch: list[tuple[int, bytes, str]],
    state: MailImport,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Store and process a batch of mails and move the checkpoint past them, in one transaction.

    Either the mails and the checkpoint that covers them commit together, or neither does: an
    interruption anywhere (Ctrl-C, kill -9, the database gone) resumes at the first mail of the
    batch, and nothing of it was kept, so nothing is read twice or counted twice.
    """
    tally = _Tally(position=state.position)
    raws = [RawRequest(body=data, headers={"x-import-source": kind}) for _, data, _ in batch]

    def each(i: int, receipt: Receipt) -> None:
        if receipt.status != 200:
            tally.quarantined += 1
        elif receipt.duplicate:
            tally.duplicates += 1
        else:
            tally.imported += 1
        tally.position = batch[i][0] + 1
        if progress:
            progress(tally.position, state.total)

    def when(i: int) -> dt.datetime:
        moment[0] = receipt_time(box, batch[i][2], raws[i]) or container.now()
        return moment[0]

    def checkpoint(session: Session) -> None:
        done = MailImport(**state.model_dump())
        done.position = tally.position
        done.imported += tally.imported
        done.duplicates += tally.duplicates
        done.quarantined += tally.quarantined
        _checkpoint(session, container, done)

    moments = [when(i) for i in range(len(batch))]
    try:
        mail_batch.import_batch(
            container,
            raws,
            [raw_key(email_channel, raw) for raw in raws],
            moments,
            each=each,
            before_commit=checkpoint,
        )
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        # Nothing of the batch was kept: the pipeline takes it mail by mail, each in a savepoint, so
        # a mail whose processing raises (a bug) is kept raw for a retry and the others are filed.
        if isinstance(exc, mail_batch.NotForBatch):
            log.info("a batch of %d mails goes through the pipeline one by one: %s", len(batch), exc)
        else:
            log.error("a batch of %d mails failed (%s); redone mail by mail", len(batch), type(exc).__name__)
        tally = _Tally(position=state.position)

        def again(i: int) -> dt.datetime:
            moment[0] = moments[i]  # the clock the hooks read
            return moment[0]

        receive_many(history, CHANNEL, raws, received_at=again, each=each, before_commit=checkpoint)
    state.position = tally.position
    state.imported += tally.imported
    state.duplicates += tally.duplicates
    state.quarantined += tally.quarantined


def _checkpoint(session: Session, container: Container, state: MailImport) -> None:
    """Write the import's position and counts into its progress row (in the caller's transaction)."""
    row = session.get(MailImport, state.id)
    assert row is not None
    for name in ("position", "total", "imported", "duplicates", "quarantined", "finished_at"):
        setattr(row, name, getattr(state, name))
    row.updated_at = container.now()
    session.add(row)
