"""Shared fixtures: a real database (SQLite file and PostgreSQL), settings, a wired container, a clock.

Every test that takes ``engine`` (directly or through ``container``) runs twice: on a SQLite file
and on a PostgreSQL database created for this test session. With ``ADUAN_STRICT_DEPS=1`` (CI) a
missing dependency fails the test instead of skipping it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app import settings as config_mod
from app.bootstrap import build
from app.container import Container
from intake import db

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PG_URL = os.environ.get("ADUAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STRICT = os.environ.get("ADUAN_STRICT_DEPS") == "1"
JAKARTA = dt.timezone(dt.timedelta(hours=7))

#: Fake secrets for tests; real deployments set these in the environment.
TEST_ENV = {
    "ADUAN_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "ADUAN_TWILIO_AUTH_TOKEN": "test-twilio-auth-token",
    "ADUAN_META_APP_SECRET": "test-meta-app-secret",
    "ADUAN_META_VERIFY_TOKEN": "test-meta-verify-token",
    "ADUAN_META_ACCESS_TOKEN": "test-meta-access-token",
    "ADUAN_INSTAGRAM_ACCESS_TOKEN": "test-instagram-access-token",
    "ADUAN_TELEGRAM_BOT_TOKEN": "123456:TEST-token_abc",
    "ADUAN_TELEGRAM_WEBHOOK_SECRET": "test-telegram-secret",
    "ADUAN_IMAP_PASSWORD": "secret",
    "ADUAN_X_BEARER_TOKEN": "test-x-bearer",
    "ADUAN_SESSION_SECRET": "test-session-secret-0123456789abcdef",
}


def missing_dependency(what: str) -> None:
    """Skip (locally) or fail (CI, ADUAN_STRICT_DEPS=1) a test whose dependency is missing."""
    if STRICT:
        pytest.fail(f"missing dependency: {what}")
    pytest.skip(f"missing dependency: {what}")


def fixture_path(channel: str, name: str) -> Path:
    """Return the path of ``tests/fixtures/<channel>/<name>``."""
    return FIXTURES / channel / name


def read_fixture(channel: str, name: str) -> bytes:
    """Return a fixture's bytes exactly as the provider sends them."""
    return fixture_path(channel, name).read_bytes()


class Clock:
    """A settable clock for rules that take ``now``."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, value: dt.datetime) -> None:
        self.now = value

    def advance(self, **delta: float) -> dt.datetime:
        self.now = self.now + dt.timedelta(**delta)
        return self.now


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """Create a PostgreSQL database for this test session (parallel runs never share one)."""
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"aduan_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        missing_dependency(f"PostgreSQL at {PG_URL}: {type(exc).__name__}")
    url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    engine = db.create_engine(url, pool_size=20)
    db.create_all(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database with every table, on SQLite then on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aduan.db'}"
    return str(request.getfixturevalue("pg_database"))


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on an empty database with every table created."""
    eng = db.create_engine(db_url)
    if eng.dialect.name == "sqlite":
        db.create_all(eng)
    yield eng
    if eng.dialect.name == "postgresql":
        meta = db.import_all_models()
        names = ", ".join(f'"{t.name}"' for t in meta.sorted_tables)
        with eng.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    eng.dispose()


@pytest.fixture
def config_data() -> dict[str, Any]:
    """The repository's config.toml as a dict; tests may change it before ``settings`` is built."""
    import tomllib

    return tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))


@pytest.fixture
def settings(config_data: dict[str, Any], tmp_path: Path) -> config_mod.Settings:
    """Settings of the demo office with test secrets and an attachment folder in tmp."""
    config_data.setdefault("storage", {})["attachments_dir"] = str(tmp_path / "attachments")
    return config_mod.from_dict(config_data, env=dict(TEST_ENV))


@pytest.fixture
def clock() -> Clock:
    """A clock set to Tuesday 10 March 2026, 10:00 in Jakarta."""
    return Clock(dt.datetime(2026, 3, 10, 10, 0, tzinfo=JAKARTA))


@pytest.fixture
def container(settings: config_mod.Settings, engine: sa.Engine, clock: Clock) -> Iterator[Container]:
    """A wired Aduan on the test database with the settable clock (its threads stopped after)."""
    from bot import accept

    built = build(settings, engine=engine, clock=clock, migrate=False)
    yield built
    accept.shutdown(built)


@pytest.fixture(autouse=True)
def _stop_background_threads() -> Iterator[None]:
    """Stop every raw writer and drainer a test started, so none touches the next test's data."""
    from bot import accept

    yield
    accept.shutdown_all()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In strict mode (CI) a skipped test fails the run: nothing may be left untested silently."""
    if not STRICT:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and session.exitstatus == 0:
        session.exitstatus = 1


def settle(container: Container) -> int:
    """Process what webhooks accepted (a background drainer does it in a running service).

    Webhooks answer once the raw payload is committed; this drains the same way the drainer thread
    does, waiting for it if it is mid-transaction, so a test sees the derived records.
    """
    from bot import accept

    return accept.drain(container)


@contextlib.contextmanager
def migration_engine(db_url: str, schema: str) -> Iterator[sa.Engine]:
    """An engine on an empty database for a migration test, disposed afterwards.

    SQLite: the test's own file. PostgreSQL: a schema of its own (the session database was built
    with ``create_all``), dropped afterwards.
    """
    engine = db.create_engine(db_url)
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
        engine.dispose()
        engine = db.create_engine(db_url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        if postgres:
            with engine.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()
