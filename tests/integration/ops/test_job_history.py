"""The job queue's upkeep: finished jobs are kept a week, then removed (failed ones stay); the planner's
statistics of the queue follow a burst; jobs of dead workers, or whose outcome was lost, run again."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import sqlalchemy as sa

from app import settings as config_mod
from app.bootstrap import build
from app.container import Container
from channels.base import RawRequest
from intake import db
from intake.ingest import RawPayload
from jobs import queue
from jobs import worker as jobs_worker
from jobs.pipeline import store_many_and_defer
from jobs.queue import defer_inbound_many
from jobs.tasks import periodic_task_name
from jobs.worker import run_until_idle
from tests.conftest import TEST_ENV, Clock, settle


def _store(container: Container, key: str, contact: str = "+628123450000") -> None:
    body = json.dumps({"id": key, "name": "Siti Aminah", "contact": contact, "text": "x"}).encode()
    payload = RawPayload("web", RawRequest(body=body), key, container.office.code, container.now())
    assert store_many_and_defer(container, [(payload, None)], defer_inbound_many) == [True]


def _jobs(container: Container) -> list[tuple[str, str]]:
    with container.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT args->>'raw_id', status::text FROM procrastinate_jobs "
                "WHERE task_name = :t ORDER BY id"
            ),
            {"t": queue.PROCESS_INBOUND},
        )
        return [(str(a), str(s)) for a, s in rows]


def test_succeeded_jobs_older_than_the_setting_are_removed_and_the_rest_kept(container: Container) -> None:
    _store(container, "old")
    _store(container, "new")
    assert settle(container) == 2
    (old_raw, _), (new_raw, _) = _jobs(container)
    with container.engine.begin() as conn:
        # the first job finished eight days ago, past the week ``[jobs] keep_finished_hours`` keeps
        conn.execute(
            sa.text(
                "UPDATE procrastinate_events SET at = at - interval '8 days' "
                "WHERE job_id = (SELECT id FROM procrastinate_jobs WHERE args->>'raw_id' = :r)"
            ),
            {"r": old_raw},
        )
        # and one that failed long ago (a quarantined payload's job) is kept for the operator
        conn.execute(
            sa.text("UPDATE procrastinate_jobs SET status = 'failed' WHERE args->>'raw_id' = :r"),
            {"r": new_raw},
        )
        conn.execute(
            sa.text(
                "UPDATE procrastinate_events SET at = at - interval '30 days' "
                "WHERE job_id = (SELECT id FROM procrastinate_jobs WHERE args->>'raw_id' = :r)"
            ),
            {"r": new_raw},
        )
    with db.write_session(container.engine) as s:  # what the hourly trigger defers
        queue.defer_in(s, queue.REMOVE_OLD_JOBS, queue=queue.PERIODIC, timestamp=0)
    run_until_idle(container, queues=[queue.PERIODIC])
    assert _jobs(container) == [(new_raw, "failed")]


def test_a_burst_of_jobs_gets_the_queue_table_analyzed_once(container: Container) -> None:
    """After a burst the planner must know the queue holds thousands of waiting jobs (else every
    fetch sorts them all); a quiet queue is not analyzed again and again."""
    with container.engine.begin() as conn:
        conn.execute(sa.text("ANALYZE procrastinate_jobs"))
    assert not queue.refresh_statistics(container.engine)
    with db.write_session(container.engine) as s:
        defer_inbound_many(s, [(n, f"sender:{n}") for n in range(1, 1201)])
        s.execute(sa.text("SELECT pg_stat_force_next_flush()"))  # counters now, not within a second
    assert queue.refresh_statistics(container.engine)
    with container.engine.connect() as conn:
        reltuples = conn.execute(
            sa.text("SELECT reltuples FROM pg_class WHERE relname = 'procrastinate_jobs'")
        ).scalar_one()
    assert reltuples >= 1200  # what the planner now estimates
    assert not queue.refresh_statistics(container.engine)


def test_a_stalled_check_left_running_by_a_dead_worker_does_not_block_the_next_checks(
    config_data: dict[str, Any], engine: sa.Engine, clock: Clock
) -> None:
    """A worker died while it ran the check for dead workers' jobs: the next worker's checks still
    run, and retry that one too (seen as a hang after a database outage)."""
    config_data["jobs"]["stalled_check_seconds"] = 1
    container = build(
        config_mod.from_dict(config_data, env=dict(TEST_ENV)), engine=engine, clock=clock, migrate=False
    )
    with container.engine.begin() as conn:
        dead = conn.execute(
            sa.text(
                "INSERT INTO procrastinate_workers (last_heartbeat) "
                "VALUES (now() - interval '1 hour') RETURNING id"
            )
        ).scalar_one()
    with db.write_session(container.engine) as s:
        stalled = queue.defer_in(
            s, queue.RETRY_STALLED, queue=queue.PERIODIC, lock=queue.RETRY_STALLED, timestamp=0
        )
    with container.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w WHERE id = :j"),
            {"w": dead, "j": stalled},
        )
    stop = threading.Event()

    async def work() -> None:
        task = asyncio.create_task(jobs_worker.run(container, queues=[queue.PERIODIC]))
        while not stop.is_set():
            await asyncio.sleep(0.1)
        task.cancel()

    def status() -> str:
        with container.engine.connect() as conn:
            return str(
                conn.execute(
                    sa.text("SELECT status::text FROM procrastinate_jobs WHERE id = :j"), {"j": stalled}
                ).scalar_one()
            )

    thread = threading.Thread(target=asyncio.run, args=(work(),), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while status() == "doing" and time.monotonic() < deadline:
            time.sleep(0.2)
        final = status()
    finally:
        stop.set()
        thread.join(30)
    assert final != "doing"


def test_jobs_whose_end_was_lost_under_a_live_worker_run_again(container: Container) -> None:
    """Seen in the database-outage test: the worker lived on, but its connection broke while it
    recorded a job's end, so the job stayed "doing" and its lock held back every later job of that
    lock for good: a citizen's later messages, or every later tick of the deadline sweep. The
    periodic check retries such a job once it has run far longer than any job takes ([jobs]
    lost_after_seconds); one that just started, and the IMAP watcher (it runs as long as its
    worker), are left alone."""
    _store(container, "lost", contact="+628123450001")
    _store(container, "running", contact="+628123450002")
    sweep = periodic_task_name("deadline_sweep")
    with db.write_session(container.engine) as s:
        lost_sweep = queue.defer_in(s, sweep, queue=queue.PERIODIC, lock=sweep, timestamp=1)
        watcher = queue.defer_in(
            s, queue.WATCH_EMAIL, queue=queue.WATCH, lock=queue.WATCH_EMAIL, queueing_lock=queue.WATCH_EMAIL
        )
    with container.engine.begin() as conn:
        alive = conn.execute(
            sa.text("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now()) RETURNING id")
        ).scalar_one()
        conn.execute(sa.text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w"), {"w": alive})
        # Three jobs started ten minutes ago (procrastinate logged each start as the status changed).
        conn.execute(
            sa.text(
                "UPDATE procrastinate_events SET at = at - interval '10 minutes' WHERE type = 'started' "
                "AND job_id IN (SELECT j.id FROM procrastinate_jobs j LEFT JOIN raw_inbound r "
                "ON r.id = (j.args->>'raw_id')::int WHERE r.external_id = 'lost' OR j.id IN (:p, :w))"
            ),
            {"p": lost_sweep, "w": watcher},
        )
    with db.write_session(container.engine) as s:  # the sweep's next tick waits behind the lost one
        next_sweep = queue.defer_in(s, sweep, queue=queue.PERIODIC, lock=sweep, timestamp=2)
        queue.defer_in(s, queue.RETRY_STALLED, queue=queue.PERIODIC, lock=queue.RETRY_STALLED, timestamp=0)
    (lost_raw, _), (running_raw, _) = _jobs(container)
    run_until_idle(container, queues=[queue.PERIODIC])
    assert _jobs(container) == [(lost_raw, "todo"), (running_raw, "doing")]
    assert _status(container, lost_sweep) == _status(container, next_sweep) == "succeeded"
    assert _status(container, watcher) == "doing"
    assert settle(container) == 1
    with container.engine.connect() as conn:
        statuses: dict[str, str] = dict(
            conn.execute(sa.text("SELECT external_id, status FROM raw_inbound")).tuples().all()
        )
    assert statuses == {"lost": "processed", "running": "stored"}


def _status(container: Container, job_id: int) -> str:
    with container.engine.connect() as conn:
        return str(
            conn.execute(
                sa.text("SELECT status::text FROM procrastinate_jobs WHERE id = :j"), {"j": job_id}
            ).scalar_one()
        )
