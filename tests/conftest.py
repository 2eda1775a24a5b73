"""Shared fixtures: a real PostgreSQL database per test, settings, a wired container, a clock.

The server is ``ADUAN_TEST_POSTGRES_URL`` (default 127.0.0.1:5432) when it answers, else the
embedded PostgreSQL under ``var/test-pgdata``. Each test session (each xdist worker) migrates one
template database once; every test that takes ``engine`` gets a fresh copy of it (``CREATE
DATABASE … TEMPLATE``), made ahead and dropped afterwards on background threads. With
``ADUAN_STRICT_DEPS=1`` (CI) a missing dependency fails the test instead of skipping it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import datetime as dt
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

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


def _server_url() -> str:
    """The test PostgreSQL server's maintenance URL: the configured one if it answers, else embedded."""
    probe = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with probe.connect():
            pass
        return sa.engine.make_url(PG_URL).set(database="postgres").render_as_string(hide_password=False)
    except sa.exc.OperationalError:
        pass
    finally:
        probe.dispose()
    try:
        local = db.local_server_url(ROOT / "var" / "test-pgdata", database="postgres")
    except Exception as exc:  # no server and no embedded PostgreSQL either
        missing_dependency(f"PostgreSQL at {PG_URL} or embedded: {type(exc).__name__}")
    return local


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    """An AUTOCOMMIT engine on the test server's maintenance database."""
    admin = sa.create_engine(
        _server_url(), isolation_level="AUTOCOMMIT", pool_size=2, max_overflow=_Dropper.THREADS + 1
    )
    yield admin
    admin.dispose()


@pytest.fixture(scope="session")
def pg_template(pg_admin: sa.Engine) -> Iterator[str]:
    """The name of this session's template database: migrated once (tables, indexes, job queue)."""
    name = f"aduan_tpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    engine = db.create_engine(_url_of(pg_admin, name), poolclass=sa.pool.NullPool)
    db.upgrade(engine)
    engine.dispose()
    yield name
    _drops.join()
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _url_of(admin: sa.Engine, database: str) -> str:
    return admin.url.set(database=database).render_as_string(hide_password=False)


class _Dropper:
    """Drops used test databases on background threads, so a test never waits for it.

    PostgreSQL runs a checkpoint for every ``DROP DATABASE`` and lets drops that arrive together
    share one: dropped one after another, eight databases take about 2 s here; at once, 0.2 s.
    """

    #: Drops in flight at once.
    THREADS = 8

    def __init__(self) -> None:
        self.pool: concurrent.futures.ThreadPoolExecutor | None = None

    def drop(self, admin: sa.Engine, name: str) -> None:
        if self.pool is None:
            self.pool = concurrent.futures.ThreadPoolExecutor(self.THREADS, thread_name_prefix="test-db-drop")
        self.pool.submit(self._drop, admin, name)

    @staticmethod
    def _drop(admin: sa.Engine, name: str) -> None:
        with contextlib.suppress(sa.exc.SQLAlchemyError), admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def join(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None


_drops = _Dropper()


def create_test_database(admin: sa.Engine, template: str, prefix: str = "aduan_t") -> str:
    """Create a copy of ``template`` named after ``prefix``; return its name (the caller drops it).

    Its sessions commit without waiting for the WAL flush (``synchronous_commit = off``): what they
    see is unchanged, only a crash of the server could lose the last commits, and the shared test
    server is never crashed on purpose (the outage test crashes a private cluster of its own).
    """
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        # WAL_LOG copies the small template through the WAL; FILE_COPY would take two checkpoints of
        # the whole (shared) server per test: 0.05 s against 0.2-0.4 s here.
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY WAL_LOG'))
        conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    return name


class _Copies:
    """Copies of the template made ahead on a background thread while tests run.

    The template never changes once migrated, so a copy made during the previous test is the same
    as one made now; the test just does not wait the 0.05-0.3 s the copy takes on a busy server.
    """

    #: Copies kept in the making ahead of the tests that will take them.
    AHEAD = 2

    def __init__(self, admin: sa.Engine, template: str) -> None:
        self.admin = admin
        self.template = template
        self.maker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="test-db-copy")
        self.ahead: collections.deque[concurrent.futures.Future[str]] = collections.deque(
            self.maker.submit(create_test_database, admin, template) for _ in range(self.AHEAD)
        )

    def take(self) -> str:
        """Return the name of a fresh copy (the caller drops it) and start making the next one."""
        self.ahead.append(self.maker.submit(create_test_database, self.admin, self.template))
        return self.ahead.popleft().result()

    def close(self) -> None:
        """Drop the copies no test took."""
        self.maker.shutdown(wait=True)
        for made in self.ahead:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                _drops.drop(self.admin, made.result())
        self.ahead.clear()


@pytest.fixture(scope="session")
def db_copies(pg_admin: sa.Engine, pg_template: str) -> Iterator[_Copies]:
    """This session's maker of fresh template copies."""
    copies = _Copies(pg_admin, pg_template)
    yield copies
    copies.close()


@pytest.fixture
def db_url(pg_admin: sa.Engine, db_copies: _Copies) -> Iterator[str]:
    """The URL of a fresh database of this test: a copy of the migrated template."""
    name = db_copies.take()
    yield _url_of(pg_admin, name)
    _drops.drop(pg_admin, name)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on a fresh database with every table and the job queue's schema."""
    eng = db.create_engine(db_url)
    yield eng
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
    jobs = config_data.setdefault("jobs", {})
    jobs["worker_in_web"] = False  # tests run the jobs with ``settle``; a test may start a worker
    jobs["inbound_retry_seconds"] = 0  # a failed payload is retried at once, within one ``settle``
    jobs["inbound_attempts"] = 3
    return config_mod.from_dict(config_data, env=dict(TEST_ENV))


@pytest.fixture
def clock() -> Clock:
    """A clock set to Tuesday 10 March 2026, 10:00 in Jakarta."""
    return Clock(dt.datetime(2026, 3, 10, 10, 0, tzinfo=JAKARTA))


@pytest.fixture
def container(settings: config_mod.Settings, engine: sa.Engine, clock: Clock) -> Iterator[Container]:
    """A wired Aduan on the test database with the settable clock."""
    built = build(settings, engine=engine, clock=clock, migrate=False)
    yield built


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In strict mode (CI) a skipped test fails the run: nothing may be left untested silently."""
    if not STRICT:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and session.exitstatus == 0:
        session.exitstatus = 1


def settle(container: Container) -> int:
    """Run every job that is due now (what webhooks and the outbox deferred); return how many ran.

    A running service's worker does this as jobs arrive; here one worker runs until the queue has
    nothing due, so a test sees the derived records and the messages sent.
    """
    from jobs import worker

    return worker.run_until_idle(container)


@contextlib.contextmanager
def migration_engine(db_url: str, schema: str) -> Iterator[sa.Engine]:
    """An engine on an empty database for a migration test, disposed afterwards."""
    admin = sa.create_engine(
        sa.engine.make_url(db_url).set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    name = f"{schema}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = db.create_engine(
        sa.engine.make_url(db_url).set(database=name).render_as_string(hide_password=False)
    )
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def served(app: Any, *, lifespan: Literal["auto", "on", "off"] = "off") -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
