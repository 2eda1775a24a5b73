"""``aduan import mbox FILE`` and ``aduan import maildir DIR``: bring a mailbox's history into the record.

For the office's existing mailbox (a Gmail box exported with Google Takeout is one mbox file).
Each mail goes through the same pipeline as IMAP mail (raw stored first, parsed, loop guards,
threading), with its own ``Date`` as the receipt time so R3/R4 are counted from when it came.
History is never answered: the import runs with the e-mail hook and a filing hook only (no
dialogue, no survey), and each new citizen mail is filed at once with its display name as the
name given (nobody can be asked any more). Progress is checkpointed in ``email_import``: an
interrupted import resumes where it stopped, and Message-ID dedupe makes any overlap harmless.
Registered through ``bot.cli.OPTIONAL_COMMANDS``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import logging
import mailbox
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from bot.bootstrap import Container
from bot.email_store import MailImport, import_progress
from bot.email_threading import email_hook, inbound_of
from bot.pipeline import receive
from channels import email as email_channel
from channels.base import RawRequest
from intake import db
from intake.ingest import IngestResult, file_complaint

log = logging.getLogger("aduan.mail_import")

KINDS = ("mbox", "maildir")
#: Progress is committed every this many mails (at most this many are read again after a crash).
CHECKPOINT_EVERY = 50


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


def _keys(box: mailbox.Mailbox[mailbox.Message], kind: str) -> list[str]:
    # mbox keys are positions; Maildir keys are file names (delivery time first): sort for a stable order.
    keys = list(box.keys())
    return keys if kind == "mbox" else sorted(keys)


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


def import_mailbox(
    container: Container,
    kind: str,
    path: Path,
    *,
    restart: bool = False,
    progress: Callable[[int, int], None] | None = None,
    checkpoint_every: int = CHECKPOINT_EVERY,
) -> MailImport:
    """Import every mail of a source not yet imported; return the progress row (counts)."""
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
    # History is never answered: only the e-mail hook (loops, bounces, threading) and the filing hook run.
    history = dataclasses.replace(
        container, clock=lambda: moment[0], message_hooks=[email_hook, import_file_hook]
    )
    if progress:
        progress(state.position, state.total)
    since_checkpoint = 0
    for index, data, key in iter_mails(box, keys, state.position):
        when = email_channel.parse_date(data)
        if when is None:
            try:
                when = _fallback_date(box.get_message(key))
            except (KeyError, OSError, ValueError):
                when = None
        moment[0] = when or container.now()
        receipt = receive(
            history, "email", RawRequest(body=data, headers={"x-import-source": kind}), verify=False
        )
        if receipt.status != 200:
            state.quarantined += 1
        elif receipt.duplicate:
            state.duplicates += 1
        else:
            state.imported += 1
        state.position = index + 1
        since_checkpoint += 1
        if since_checkpoint >= checkpoint_every:
            _checkpoint(container, state)
            since_checkpoint = 0
        if progress:
            progress(state.position, state.total)
    state.position = state.total
    state.finished_at = container.now()
    _checkpoint(container, state)
    return state


def _checkpoint(container: Container, state: MailImport) -> None:
    with db.write_session(container.engine) as s:
        row = s.get(MailImport, state.id)
        assert row is not None
        for name in ("position", "total", "imported", "duplicates", "quarantined", "finished_at"):
            setattr(row, name, getattr(state, name))
        row.updated_at = container.now()
        s.add(row)


# -- CLI -----------------------------------------------------------------------------------------

from bot.cli import app, container_of, echo_json, fail  # noqa: E402  (registered when imported)

import_app = typer.Typer(help="Impor riwayat kotak surat (import a mailbox's history).", no_args_is_help=True)
app.add_typer(import_app, name="import")


def _run(ctx: typer.Context, kind: str, path: Path, restart: bool, as_json: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    container = container_of(ctx)
    try:
        open_source(kind, path)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    columns = (TextColumn("[bold]impor"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=as_json or not sys.stderr.isatty(), transient=False) as bar:
        task = bar.add_task("mail", total=None)

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        state = import_mailbox(container, kind, path, restart=restart, progress=show)
    summary = {
        "source": str(path),
        "total": state.total,
        "imported": state.imported,
        "duplicates": state.duplicates,
        "quarantined": state.quarantined,
    }
    if as_json:
        echo_json(summary)
    else:
        typer.echo(
            f"{state.imported} diimpor (imported), {state.duplicates} duplikat, "
            f"{state.quarantined} dikarantina (quarantined) dari {state.total}"
        )


@import_app.command("mbox")
def import_mbox(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Berkas mbox (e.g. Google Takeout's All mail.mbox).")],
    restart: Annotated[bool, typer.Option("--restart", help="Mulai dari awal (start over).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Keluaran JSON (JSON output).")] = False,
) -> None:
    """Impor berkas mbox (import an mbox file; resumable, deduplicated by Message-ID)."""
    _run(ctx, "mbox", file, restart, as_json)


@import_app.command("maildir")
def import_maildir(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder Maildir (with cur/ and new/).")],
    restart: Annotated[bool, typer.Option("--restart", help="Mulai dari awal (start over).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Keluaran JSON (JSON output).")] = False,
) -> None:
    """Impor folder Maildir (import a Maildir folder; resumable, deduplicated by Message-ID)."""
    _run(ctx, "maildir", directory, restart, as_json)
