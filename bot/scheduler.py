"""Aduan's recurring jobs on APScheduler 3.x, run by exactly one process at a time.

APScheduler 3.x cannot share a job store between schedulers (RECIPES.md §8: two instances on one
store run every job twice and the loser's thread dies), so there is one leader: the holder of a
PostgreSQL session advisory lock, or of an ``fcntl`` file lock next to a SQLite database. Every
other process stands by and polls the lock; when the leader dies its lock goes with its
connection (or its file descriptor) and a standby takes over. Jobs live in memory: nothing about
a deadline is stored in the scheduler (the sweep catches up from the database on start).

Other parts add their pollers with one line in ``JOBS``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import importlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.container import Container

log = logging.getLogger("aduan.scheduler")

#: PostgreSQL advisory lock key of the scheduler leader (727000 is the migration lock).
LOCK_KEY = 727001


@dataclass(frozen=True)
class Job:
    """A recurring job: ``target`` is ``"module:function"``, called with the Container."""

    id: str
    target: str
    seconds: float
    #: ``[scheduler]`` key that overrides ``seconds``, if any.
    setting: str | None = None


#: Every recurring job. A job whose module or function does not exist (a part not installed yet)
#: is skipped when the scheduler starts. Pollers of later parts add one line here.
JOBS: list[Job] = [
    Job("deadline_sweep", "outbound.escalation:run_sweep", 60, "sweep_seconds"),
    Job("outbox", "bot.outbox:deliver_due", 5, "outbox_seconds"),
    Job("reprocess_raw", "bot.pipeline:reprocess_pending", 60, "reprocess_seconds"),
    Job("alert_retry", "outbound.alerts:deliver_pending", 60),
    Job("stale_drafts", "bot.dialogue:file_stale_drafts", 60),
    Job("attachments", "outbound.attachments:download_pending", 30),
    Job("x_poll", "channels.x_poller:poll_if_due", 30),  # polls at [channels.twitter] poll_interval
    Job("email_watch", "channels.imap_poller:ensure_watching", 30),  # IMAP IDLE thread, or polls
    Job("survey_invitations", "bot.survey:run_scheduled", 300),  # E1: after answers, and quarterly
]


class LeaderLock(Protocol):
    """A lock only one process can hold; it is lost when the holder dies."""

    def try_acquire(self) -> bool:
        """Take the lock if free; never wait."""

    def still_held(self) -> bool:
        """Tell whether the lock is still ours (False after the database connection dropped)."""

    def release(self) -> None:
        """Give the lock up."""


class PostgresLock:
    """A session-level ``pg_try_advisory_lock`` on a connection kept open while leading."""

    def __init__(self, engine: Engine, key: int = LOCK_KEY) -> None:
        self.engine, self.key = engine, key
        self._conn: sa.Connection | None = None

    def try_acquire(self) -> bool:
        """Take the lock on a dedicated connection; keep the connection while it is held."""
        if self._conn is not None:
            return True
        conn = self.engine.connect()
        try:
            got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def still_held(self) -> bool:
        """Check the session that holds the lock is alive."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(sa.text("SELECT 1"))
            self._conn.commit()
            return True
        except sa.exc.DBAPIError:
            with contextlib.suppress(Exception):
                self._conn.invalidate()
            self._conn = None
            return False

    def release(self) -> None:
        """Unlock and close the connection."""
        if self._conn is None:
            return
        with contextlib.suppress(Exception):
            self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._conn.commit()
        with contextlib.suppress(Exception):
            self._conn.close()
        self._conn = None


class FileLock:
    """An exclusive ``flock`` on a file; the kernel drops it when the holder's process dies."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock without waiting; write our pid in the file for operators."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def still_held(self) -> bool:
        """A held flock cannot be taken away while our descriptor is open."""
        return self._fd is not None

    def release(self) -> None:
        """Unlock and close."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def lock_for(engine: Engine) -> LeaderLock:
    """Return the leader lock for a database: advisory lock on PostgreSQL, file lock on SQLite."""
    if engine.dialect.name == "postgresql":
        return PostgresLock(engine)
    database = engine.url.database
    if database and database != ":memory:":
        return FileLock(Path(database).resolve().with_name(Path(database).name + ".scheduler.lock"))
    return FileLock(Path(tempfile.gettempdir()) / "aduan-memory.scheduler.lock")


def resolve(target: str) -> Callable[..., Any] | None:
    """Import ``"module:function"``; None when the module or function does not exist (yet)."""
    module_name, _, func_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    func = getattr(module, func_name, None)
    return func if callable(func) else None


class SchedulerRunner:
    """Lead (run the jobs) while holding the lock, else stand by; call ``step`` or ``run``."""

    def __init__(
        self,
        container: Container,
        *,
        lock: LeaderLock | None = None,
        jobs: list[Job] | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        table = container.settings.section("scheduler")
        self.container = container
        self.lock = lock or lock_for(container.engine)
        self.jobs = list(JOBS if jobs is None else jobs)
        self.poll_seconds = float(poll_seconds or table.get("standby_poll_seconds", 5))
        self.table = table
        self.scheduler: Any = None
        self.started_jobs: list[str] = []

    @property
    def leading(self) -> bool:
        """Tell whether this process currently runs the jobs."""
        return self.scheduler is not None

    def step(self) -> bool:
        """Try to lead if standing by; step down if the lock was lost. Return whether leading."""
        if self.scheduler is None:
            if self.lock.try_acquire():
                log.info("scheduler lock taken by pid %s: leading", os.getpid())
                self._start()
        elif not self.lock.still_held():
            log.warning("scheduler lock lost: standing by")
            self._stop_scheduler()
        return self.leading

    def _start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        tz = self.container.office.calendar.timezone
        sched = BackgroundScheduler(
            timezone=tz, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
        )
        self.started_jobs = []
        for job in self.jobs:
            func = resolve(job.target)
            if func is None:
                log.info("job %s skipped: %s not installed", job.id, job.target)
                continue
            seconds = float(self.table.get(job.setting, job.seconds)) if job.setting else job.seconds
            sched.add_job(
                _guarded,
                "interval",
                seconds=seconds,
                args=[job.id, func, self.container, seconds],
                id=job.id,
                next_run_time=dt.datetime.now(tz),  # run at once: the sweep catches up on start
            )
            self.started_jobs.append(job.id)
        sched.start()
        self.scheduler = sched

    def _stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None

    def stop(self) -> None:
        """Stop the jobs and release the lock (a standby takes over)."""
        self._stop_scheduler()
        self.lock.release()

    def run(self, stop: threading.Event) -> None:
        """Lead or stand by until ``stop`` is set."""
        try:
            self.step()
            while not stop.wait(self.poll_seconds):
                self.step()
        finally:
            self.stop()


def _guarded(
    job_id: str, func: Callable[..., Any], container: Container, interval: float | None = None
) -> None:
    """Run a job; an error is logged and the job runs again next time (it never kills the thread)."""
    import time

    started, status = time.perf_counter(), "ok"
    try:
        func(container)
    except Exception as exc:
        status = f"error: {type(exc).__name__}"
        log.exception("job %s failed", job_id)
    _beat(job_id, container, time.perf_counter() - started, interval, status)


def _beat(job_id: str, container: Container, duration: float, interval: float | None, status: str) -> None:
    """Record the run in ops_heartbeat (bot/heartbeat.py), read by /readyz and /metrics of every process."""
    try:
        from bot import heartbeat

        heartbeat.beat(
            container.engine,
            job_id,
            now=container.now(),
            duration=duration,
            interval=int(interval) if interval else None,
            status=status.split(":")[0],
            detail=status if status != "ok" else None,
            office=container.office.code,
        )
    except Exception as exc:  # the database may be down: the next run beats again
        log.warning("heartbeat of job %s not recorded: %s", job_id, type(exc).__name__)
