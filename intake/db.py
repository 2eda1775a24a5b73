"""Database engines, sessions and migrations for SQLite (embedded, WAL) and PostgreSQL (scale-out)."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from intake.search import index_queued

#: Modules that define tables. A module that adds tables adds one line here (and a migration).
MODEL_MODULES: list[str] = [
    "intake.models",
    "bot.outbox",
    "outbound.attachments",
    "intake.workflow_models",
    "bot.heartbeat",
    "inbox.models",
    "bot.survey",
    "intake.channel_state",
    "bot.dialogue",
    "intake.email_store",
    "intake.search",  # search indexes: DDL only, no tables
]

MIGRATIONS = Path(__file__).with_name("migrations")


def import_all_models() -> sa.MetaData:
    """Import every module that defines tables and return the shared metadata."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return SQLModel.metadata


def is_sqlite(engine: Engine) -> bool:
    """Tell whether the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


#: ``Connection.info`` key: the driver's count of changed rows when the transaction began.
_CHANGES = "aduan.changes_at_begin"


def create_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout, foreign keys and explicit BEGINs.

    On SQLite a write transaction must take the write lock when it begins (``BEGIN IMMEDIATE``)
    or two writers that both read first deadlock with SQLITE_BUSY; reads stay deferred. Callers
    that write use ``write_session()``.
    """
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = sa.create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")
            conn.info[_CHANGES] = conn.connection.dbapi_connection.total_changes  # type: ignore[union-attr]

        @event.listens_for(engine, "commit")
        def _on_commit(conn: sa.Connection) -> None:
            # The search index takes a transaction's new and edited rows in one go (intake.search);
            # a transaction that changed no row (a read) has nothing queued and never writes here.
            dbapi_connection = conn.connection.dbapi_connection
            if dbapi_connection is not None and dbapi_connection.total_changes != conn.info.get(_CHANGES):
                index_queued(dbapi_connection)

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return sa.create_engine(url, **kwargs)


def session(engine: Engine) -> Session:
    """Open a session for reading (and writes that cannot conflict)."""
    return Session(engine, expire_on_commit=False)


@contextlib.contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """Open a session whose transactions take SQLite's write lock at once; commit on success."""
    bound = engine.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite(engine) else engine
    with Session(bound, expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def alembic_config(engine: Engine) -> Any:
    """Return an Alembic config pointing at Aduan's migrations and this engine."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Apply every migration up to ``revision`` (all branch heads by default)."""
    from alembic import command

    import_all_models()
    with _migration_lock(engine):
        command.upgrade(alembic_config(engine), revision)


def current_revisions(engine: Engine) -> set[str]:
    """Return the migration revisions the database is at (empty when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def head_revisions(engine: Engine) -> set[str]:
    """Return the newest revisions of every migration branch."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())


def is_up_to_date(engine: Engine) -> bool:
    """Tell whether every migration has been applied."""
    return current_revisions(engine) == head_revisions(engine)


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Let only one process migrate a PostgreSQL database at a time (web processes start together)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(727000)"))
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(727000)"))
            conn.commit()


def create_all(engine: Engine) -> None:
    """Create every table directly from the models (tests; production uses ``upgrade``)."""
    import_all_models().create_all(engine)
