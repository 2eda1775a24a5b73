"""Backup and restore of the database: SQLite's online ``.backup`` API, PostgreSQL's pg_dump/pg_restore.

SQLite is copied with its online ``.backup`` API (consistent while the service runs, WAL
included). PostgreSQL uses ``pg_dump -Fc`` and ``pg_restore`` from PATH, /usr/local/bin or
/usr/lib/postgresql/*/bin (the newest version found, which must not be older than the server).
``aduan backup``/``aduan restore`` (``cli/ops.py``) call these.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import sqlalchemy as sa

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why in one line."""


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
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def backup_database(database_url: str, target: Path) -> None:
    """Write a consistent copy of the database to ``target`` (SQLite file or pg_dump custom format)."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        source = _sqlite_path(url)
        if not source.is_file():
            raise BackupError(f"database file {source} not found")
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
        raise BackupError(f"backups of {url.get_backend_name()} are not supported")
    tool = pg_tool("pg_dump")
    if tool is None:
        raise BackupError("pg_dump not found (install postgresql-client)")
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
        raise BackupError(f"pg_dump failed: {_last_line(run.stderr) or run.returncode}")
    partial.replace(target)


def restore_database(database_url: str, source: Path) -> None:
    """Replace the database's content with a backup made by :func:`backup_database`."""
    url = sa.make_url(database_url)
    head = source.read_bytes()[:16] if source.is_file() else b""
    if url.get_backend_name() == "sqlite":
        if not head.startswith(SQLITE_MAGIC):
            raise BackupError(f"{source} is not a SQLite backup (the configured database is SQLite)")
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        src, dst = sqlite3.connect(source), sqlite3.connect(target)
        try:
            if src.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{source} fails SQLite's integrity check")
            with dst:
                src.backup(dst)  # page-by-page copy into the live file, under SQLite's own locks
        finally:
            src.close()
            dst.close()
        return
    if not head.startswith(PGDUMP_MAGIC):
        raise BackupError(
            f"{source} is not a pg_dump custom-format backup (the configured database is PostgreSQL)"
        )
    tool = pg_tool("pg_restore")
    if tool is None:
        raise BackupError("pg_restore not found (install postgresql-client)")
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
        raise BackupError(f"pg_restore failed: {_last_line(run.stderr) or run.returncode}")
