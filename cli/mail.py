"""``aduan import mbox|maildir``: bring an old mailbox's history in (the work is ``cli.mail_import``'s).

Kept apart from the importer so that ``aduan --help`` does not import it (start-up time, issue 17).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.app import app, container_of, echo_json, fail

import_app = typer.Typer(help="Impor riwayat kotak surat (import a mailbox's history).", no_args_is_help=True)
app.add_typer(import_app, name="import")
#: The first bytes of an mbox file: its first message's ``From `` separator line.
MBOX_START = b"From "


def not_a_mailbox(kind: str, path: Path) -> str | None:
    """Say why ``path`` is not a mailbox of ``kind`` (an mbox that does not start with ``From ``)."""
    if kind != "mbox" or not path.is_file():
        return None
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\r\n")
    if head and not head.startswith(MBOX_START):
        return (
            f"{path} is not an mbox file: it does not start with a 'From ' line (export the mailbox as mbox)"
        )
    return None


def _run(ctx: typer.Context, kind: str, path: Path, restart: bool, as_json: bool) -> None:
    # Deliberate lazy imports: the importer and the progress bar only when a mailbox is imported.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from cli.mail_import import import_mailbox, open_source
    from jobs.pipeline import DatabaseUnavailable

    if path.is_dir() and kind == "mbox":
        fail(f"{path} is a directory: an mbox is one file (use `aduan import maildir` for a Maildir folder)")
    if not path.exists():
        fail(f"not found: {path}")
    problem = not_a_mailbox(kind, path)
    if problem:
        fail(problem)
    try:
        open_source(kind, path)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    container = container_of(ctx)
    columns = (TextColumn("[bold]impor"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=as_json or not sys.stderr.isatty(), transient=False) as bar:
        task = bar.add_task("mail", total=None)

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            state = import_mailbox(container, kind, path, restart=restart, progress=show)
        except DatabaseUnavailable:
            fail("the database is unavailable; run the same command again to resume the import", 1)
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
