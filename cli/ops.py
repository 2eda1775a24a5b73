"""Operating commands: ``aduan purge`` (retention), ``aduan backup FILE`` and ``aduan restore FILE``.

The work is ``ops.purge`` and ``ops.backup``'s; these commands parse arguments and print results.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from cli.app import app, container_of, fail, parse_when, settings_of

# -- purge ---------------------------------------------------------------------------------------


@app.command()
def purge(
    ctx: typer.Context,
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            help="Hapus data pribadi catatan selesai sebelum tanggal ini (YYYY-MM-DD); "
            "default: [retention] closed_record_days.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Hanya hitung (count only, change nothing).")
    ] = False,
) -> None:
    """Hapus data pribadi catatan selesai (remove personal data of closed records; keep statistics)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # Deliberate lazy imports (CLI start-up time, issue 17): the record's models load only here.
    from ops import heartbeat
    from ops import purge as purge_mod

    settings = settings_of(ctx)
    retention = purge_mod.retention_of(settings.retention)
    tz = settings.office.calendar.timezone
    container = container_of(ctx)
    now = container.now()
    today = now.astimezone(tz).date()
    moment = parse_when(before, ctx) if before else parse_when(retention.cutoff(today).isoformat(), ctx)
    if moment.date() > today:
        fail(f"--before {moment.date()} is in the future; give a past date")
    ids = purge_mod.candidates(container.engine, before=moment, statuses=retention.statuses)
    started = dt.datetime.now(dt.UTC)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        disable=not ids,
    ) as bar:
        task = bar.add_task("purge" if not dry_run else "count", total=len(ids))
        report = purge_mod.purge(
            container.engine,
            before=moment,
            now=now,
            statuses=retention.statuses,
            storage_dir=container.storage_dir(),
            dry_run=dry_run,
            progress=lambda n: bar.advance(task, n),
        )
    if not dry_run:
        heartbeat.beat(
            container.engine,
            "purge",
            now=now,
            office=container.office.code,
            duration=(dt.datetime.now(dt.UTC) - started).total_seconds(),
            detail=f"before {moment.date().isoformat()}: {report.complaints} records",
        )
    verb = "would purge" if dry_run else "purged"
    typer.echo(
        f"{verb} records received before {moment.date().isoformat()} "
        f"(statuses: {', '.join(retention.statuses)}):"
    )
    for key, value in report.as_dict().items():
        typer.echo(f"  {key:<17} {value}")


@app.command()
def backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Berkas cadangan (backup file) to write.")],
    force: Annotated[bool, typer.Option("--force", help="Timpa berkas yang ada (overwrite).")] = False,
) -> None:
    """Cadangkan basis data (back up the database with pg_dump -Fc)."""
    from ops import backup as backup_mod  # deliberate lazy import (CLI start-up time, issue 17)

    settings = settings_of(ctx)
    if file.exists() and not force:
        fail(f"{file} exists; use --force to overwrite it")
    if not file.parent.is_dir():
        fail(f"folder {file.parent} does not exist")
    try:
        backup_mod.backup_database(settings.database_url, file)
    except backup_mod.BackupError as exc:
        fail(str(exc))
    typer.echo(f"backup written: {file} ({file.stat().st_size:,} bytes)")


@app.command()
def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Berkas cadangan (backup file) made by `aduan backup`.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Jangan bertanya (do not ask; replaces all data).")
    ] = False,
) -> None:
    """Pulihkan basis data dari cadangan (restore the database; stop `aduan serve`/`worker` first)."""
    # Deliberate lazy imports (CLI start-up time, issue 17).
    from intake import db
    from ops import backup as backup_mod

    settings = settings_of(ctx)
    if not file.is_file():
        fail(f"file not found: {file}")
    if not yes and not typer.confirm("Replace ALL data of the configured database with this backup?"):
        fail("restore cancelled", code=1)
    try:
        backup_mod.restore_database(settings.database_url, file)
    except backup_mod.BackupError as exc:
        fail(str(exc))

    engine = db.create_engine(settings.database_url)
    try:
        revisions = ", ".join(sorted(db.current_revisions(engine))) or "(none)"
    finally:
        engine.dispose()
    typer.echo(f"restored from {file}; database at {revisions} (run `aduan db upgrade` if newer code)")
