"""Backup and restore of the PostgreSQL database with ``pg_dump -Fc`` and ``pg_restore``.

The tools are taken from PATH, /usr/local/bin or /usr/lib/postgresql/*/bin (the newest version
found, which must not be older than the server). ``aduan backup``/``aduan restore``
(``cli/ops.py``) call these.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import sqlalchemy as sa

from intake import db

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
        url.host or str(url.query.get("host") or "127.0.0.1"),  # a Unix socket folder (var/pgdata)
        "--port",
        str(url.port or 5432),
        "--username",
        url.username or "postgres",
    ]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)  # never on the command line (visible in ps)
    return args, env


def _resolved(database_url: str) -> sa.URL:
    """The database's URL (an empty one names the local server under var/, started if needed)."""
    engine = db.create_engine(database_url)
    url = engine.url
    engine.dispose()
    return url


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def backup_database(database_url: str, target: Path) -> None:
    """Write a consistent copy of the database to ``target`` (pg_dump custom format)."""
    url = _resolved(database_url)
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
    url = _resolved(database_url)
    head = source.read_bytes()[:16] if source.is_file() else b""
    if not head.startswith(PGDUMP_MAGIC):
        raise BackupError(f"{source} is not a pg_dump custom-format backup")
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
