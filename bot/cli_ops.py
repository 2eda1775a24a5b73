"""Operating commands: ``aduan purge`` (retention), ``aduan backup FILE`` and ``aduan restore FILE``.

SQLite is copied with its online ``.backup`` API (consistent while the service runs, WAL
included). PostgreSQL uses ``pg_dump -Fc`` and ``pg_restore`` from PATH, /usr/local/bin or
/usr/lib/postgresql/*/bin (the newest version found, which must not be older than the server).
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli import app, container_of, fail, parse_when, settings_of

if TYPE_CHECKING:
    import sqlalchemy as sa

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


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

    from bot import heartbeat
    from bot import purge as purge_mod

    settings = settings_of(ctx)
    retention = purge_mod.retention_of(settings.section("retention"))
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


# -- backup / restore ----------------------------------------------------------------------------


def pg_tool(name: str) -> str | None:
    """Return the path of a PostgreSQL client tool (the newest major version installed)."""
    found = shutil.which(name)
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    if found:
        return found
    local = Path("/usr/local/bin") / name
    return str(local) if local.exists() else None


def _pg_args(url: sa.URL) -> tuple[list[str], dict[str, str]]:
    args = [
        "--host",
        url.host or "127.0.0.1",
        "--port",
        str(url.port or 5432),
        "--username",
        url.username or "postgres",
    ]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)  # never on the command line (visible in ps)
    return args, env


def _sqlite_path(url: sa.URL) -> Path:
    if not url.database or url.database == ":memory:":
        fail("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def backup_database(database_url: str, target: Path) -> None:
    """Write a consistent copy of the database to ``target`` (SQLite file or pg_dump custom format)."""
    from sqlalchemy import make_url  # deliberate lazy import (CLI start-up time)

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        source = _sqlite_path(url)
        if not source.is_file():
            fail(f"database file {source} not found")
        partial = target.with_name(target.name + ".partial")
        src, dst = sqlite3.connect(source), sqlite3.connect(partial)
        try:
            with dst:
                src.backup(dst)
        finally:
            src.close()
            dst.close()
        partial.replace(target)
        return
    if url.get_backend_name() != "postgresql":
        fail(f"backups of {url.get_backend_name()} are not supported")
    tool = pg_tool("pg_dump")
    if tool is None:
        fail("pg_dump not found (install postgresql-client)")
    args, env = _pg_args(url)
    partial = target.with_name(target.name + ".partial")
    run = subprocess.run(
        [tool, "-Fc", "--no-owner", "--no-acl", *args, "-f", str(partial), url.database or ""],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        partial.unlink(missing_ok=True)
        fail(f"pg_dump failed: {_last_line(run.stderr) or run.returncode}")
    partial.replace(target)


def restore_database(database_url: str, source: Path) -> None:
    """Replace the database's content with a backup made by :func:`backup_database`."""
    from sqlalchemy import make_url  # deliberate lazy import (CLI start-up time)

    url = make_url(database_url)
    head = source.read_bytes()[:16] if source.is_file() else b""
    if url.get_backend_name() == "sqlite":
        if not head.startswith(SQLITE_MAGIC):
            fail(f"{source} is not a SQLite backup (the configured database is SQLite)")
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        src, dst = sqlite3.connect(source), sqlite3.connect(target)
        try:
            if src.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                fail(f"{source} fails SQLite's integrity check")
            with dst:
                src.backup(dst)  # page-by-page copy into the live file, under SQLite's own locks
        finally:
            src.close()
            dst.close()
        return
    if not head.startswith(PGDUMP_MAGIC):
        fail(f"{source} is not a pg_dump custom-format backup (the configured database is PostgreSQL)")
    tool = pg_tool("pg_restore")
    if tool is None:
        fail("pg_restore not found (install postgresql-client)")
    args, env = _pg_args(url)
    run = subprocess.run(
        [
            tool,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-acl",
            "--single-transaction",
            "--exit-on-error",
            *args,
            "-d",
            url.database or "",
            str(source),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        fail(f"pg_restore failed: {_last_line(run.stderr) or run.returncode}")


@app.command()
def backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Berkas cadangan (backup file) to write.")],
    force: Annotated[bool, typer.Option("--force", help="Timpa berkas yang ada (overwrite).")] = False,
) -> None:
    """Cadangkan basis data (back up the database: SQLite .backup or pg_dump -Fc)."""
    settings = settings_of(ctx)
    if file.exists() and not force:
        fail(f"{file} exists; use --force to overwrite it")
    if not file.parent.is_dir():
        fail(f"folder {file.parent} does not exist")
    backup_database(settings.database_url, file)
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
    settings = settings_of(ctx)
    if not file.is_file():
        fail(f"file not found: {file}")
    if not yes and not typer.confirm("Replace ALL data of the configured database with this backup?"):
        fail("restore cancelled", code=1)
    restore_database(settings.database_url, file)
    from intake import db

    engine = db.create_engine(settings.database_url)
    try:
        revisions = ", ".join(sorted(db.current_revisions(engine))) or "(none)"
    finally:
        engine.dispose()
    typer.echo(f"restored from {file}; database at {revisions} (run `aduan db upgrade` if newer code)")
