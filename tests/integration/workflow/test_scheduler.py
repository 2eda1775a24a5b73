"""One scheduler across processes: the leader lock (PostgreSQL advisory lock, SQLite flock), failover."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import sqlalchemy as sa

from app.container import Container
from bot import scheduler
from bot.scheduler import Job, SchedulerRunner, lock_for
from tests.conftest import ROOT

CALLS: list[str] = []


def record_tick(container: Container) -> None:
    """A job that only records it ran (``tests.integration.workflow.test_scheduler:record_tick``)."""
    CALLS.append("tick")


def _wait_until(predicate, seconds: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll for an event that happens in another process; give up after a generous bound."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_only_one_lock_holder_and_the_standby_takes_over_on_release(container: Container) -> None:
    jobs = [Job("tick", "tests.integration.workflow.test_scheduler:record_tick", 3600)]
    leader = SchedulerRunner(container, lock=lock_for(container.engine), jobs=jobs)
    standby = SchedulerRunner(container, lock=lock_for(container.engine), jobs=jobs)
    try:
        assert leader.step() is True
        assert standby.step() is False
        assert standby.step() is False  # polling again changes nothing while the leader lives
        assert leader.started_jobs == ["tick"]
        leader.stop()  # the leader shuts down (deploy, restart): its lock goes with it
        assert standby.step() is True
        assert standby.started_jobs == ["tick"]
        assert leader.step() is False  # the old leader comes back as a standby
    finally:
        leader.stop()
        standby.stop()


def test_standby_takes_over_when_the_leader_process_dies(container: Container, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A leader killed with SIGKILL (no cleanup): the kernel / server drops its lock; the standby leads."""
    url = container.engine.url.render_as_string(hide_password=False)
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from intake import db
        from bot.scheduler import lock_for
        lock = lock_for(db.create_engine({url!r}))
        print("held" if lock.try_acquire() else "busy", flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    standby = lock_for(container.engine)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        assert standby.try_acquire() is False
        proc.kill()
        proc.wait()
        assert _wait_until(standby.try_acquire)
    finally:
        proc.kill()
        standby.release()


def test_leader_runs_the_standard_jobs_that_exist(container: Container) -> None:
    runner = SchedulerRunner(container, lock=lock_for(container.engine))
    try:
        assert runner.step() is True
        assert {"deadline_sweep", "outbox", "reprocess_raw"} <= set(runner.started_jobs)
        # optional jobs of parts not installed are skipped, never an error
        assert scheduler.resolve("bot.no_such_module:poll") is None
    finally:
        runner.stop()


def test_postgres_leader_steps_down_when_its_connection_dies(container: Container) -> None:
    if container.engine.dialect.name != "postgresql":
        lock = lock_for(container.engine)
        assert isinstance(lock, scheduler.FileLock) and lock.path.name.endswith(".scheduler.lock")
        return
    jobs = [Job("tick", "tests.integration.workflow.test_scheduler:record_tick", 3600)]
    runner = SchedulerRunner(container, jobs=jobs)
    other = lock_for(container.engine)
    try:
        assert runner.step() is True
        lock = runner.lock
        assert isinstance(lock, scheduler.PostgresLock) and lock._conn is not None
        pid = lock._conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        lock._conn.commit()
        with container.engine.connect() as admin:
            admin.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            admin.commit()
        assert runner.step() is False  # lost the session: it stops its jobs
        assert _wait_until(other.try_acquire)
    finally:
        runner.stop()
        other.release()
