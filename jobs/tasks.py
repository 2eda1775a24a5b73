"""The procrastinate App of a running Aduan and every task it runs.

Each container gets its own App (``app_of``), whose tasks close over that container: a task is a
thin call into the code that does the work (``jobs.pipeline.process_stored``, ``outbound.outbox.send_one``,
the periodic jobs of ``PERIODIC_JOBS``). Nothing here polls a table or elects a leader.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import procrastinate
from procrastinate import JobContext, RetryStrategy
from procrastinate import exceptions as queue_errors
from procrastinate.jobs import Job, Status
from procrastinate.manager import JobManager
from sqlalchemy.engine import Engine

from app.container import Container
from app.settings import SchedulerSettings
from bot import dialogue, survey
from channels import imap_poller, x_poller
from jobs import pipeline, queue
from ops import heartbeat
from outbound import alerts, attachments, escalation, outbox

log = logging.getLogger("aduan.jobs")

# ``_lost_jobs`` asks procrastinate for jobs by start time, the form of ``get_stalled_jobs`` it
# deprecates for its next major version (pinned below it in pyproject.toml); say so once, here.
warnings.filterwarnings(
    "ignore", message="The `nb_seconds` parameter is deprecated", category=DeprecationWarning
)

#: ``container.services`` keys: the App, and the event set when this process's worker stops.
APP = "jobs.app"
STOP = "jobs.stop"
#: ``container.services`` keys of the thread pools of sending and of the IMAP watcher.
SEND_THREADS = "jobs.send_threads"
WATCH_THREADS = "jobs.watch_threads"


@dataclass(frozen=True)
class PeriodicJob:
    """A recurring job: ``run`` is called with the Container.

    ``seconds`` (an interval; ``every`` reads it from ``[scheduler]`` when set there) or ``cron`` (a
    crontab line in the office's time zone, e.g. ``"0 8 * * mon-fri"``) says when it fires.
    """

    id: str
    run: Callable[[Container], object]
    seconds: float = 0
    every: Callable[[SchedulerSettings], float] | None = None
    cron: str | None = None


def email_poll(container: Container) -> None:
    """Poll the mailbox when the e-mail channel is on with IDLE switched off (IDLE: ``watch_email``)."""
    table = container.settings.channel(imap_poller.CHANNEL)
    if table.get("enabled") and not table.get("imap_idle", True):
        imap_poller.ensure_watching(container)


#: Every recurring job; a poller of a new channel adds one line here.
PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob("deadline_sweep", escalation.run_sweep, every=lambda s: s.sweep_seconds),
    PeriodicJob("alert_retry", alerts.deliver_pending, 60),
    PeriodicJob("stale_drafts", dialogue.file_stale_drafts, 60),
    PeriodicJob("attachments", attachments.download_pending, 30),
    PeriodicJob("x_poll", x_poller.poll_if_due, 30),  # polls at [channels.twitter] poll_interval
    PeriodicJob("email_poll", email_poll, 30),  # IMAP polling when IDLE is off
    PeriodicJob("survey_invitations", survey.run_scheduled, 300),  # E1: after answers, and quarterly
    # Rows whose send job's worker died mid-send (after the lease), or were put due by hand.
    PeriodicJob("outbox_sweep", outbox.deliver_due, every=lambda s: s.outbox_sweep_seconds),
]


def conninfo(engine: Engine) -> str:
    """Return the libpq URI of the engine's database (procrastinate connects with psycopg itself)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def periodic_task_name(job_id: str) -> str:
    """Return the queue's task name of a periodic job."""
    return f"periodic:{job_id}"


def app_of(container: Container) -> procrastinate.App:
    """Return the container's App (built on first use)."""
    app = container.services.get(APP)
    if app is None:
        app = container.services.setdefault(APP, build_app(container))
    return app  # type: ignore[no-any-return]


async def in_threads(container: Container, pool: str, func: Callable[..., object], *args: object) -> None:
    """Run ``func(*args)`` in the container's thread pool ``pool`` and wait for it.

    procrastinate runs a synchronous task on the event loop's default threads, which every lane of
    the worker shares. A provider that hangs (a DNS lookup that never answers, a 15 s time-out)
    then held all of them, and citizens' messages waited behind replies that could not leave.
    Sending and the IMAP watcher therefore run on threads of their own: as many as a lane has
    slots for sending, one for the watcher.
    """
    executor = container.services.get(pool)
    if executor is None:
        size = container.settings.jobs.concurrency if pool == SEND_THREADS else 1
        executor = container.services.setdefault(
            pool, ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"aduan-{pool.rpartition('.')[2]}")
        )
    await asyncio.get_running_loop().run_in_executor(executor, functools.partial(func, *args))


def stop_event(container: Container) -> threading.Event:
    """Return the event that tells long-running tasks (the IMAP watcher) to end."""
    return container.services.setdefault(STOP, threading.Event())  # type: ignore[no-any-return]


def build_app(container: Container) -> procrastinate.App:
    """Build the App of ``container`` with every task registered."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(container.engine)))
    attempts = container.settings.jobs.inbound_attempts
    inbound_retry = RetryStrategy(
        max_attempts=attempts - 1,
        # Every retry of a stored payload waits this long times the attempt number.
        linear_wait=container.settings.jobs.inbound_retry_seconds,
        retry_exceptions={pipeline.ProcessingFailed, pipeline.DatabaseUnavailable},
    )

    @app.task(name=queue.PROCESS_INBOUND, queue=queue.INBOUND, pass_context=True, retry=inbound_retry)
    def process_inbound(context: JobContext, raw_id: int) -> None:
        assert context.job is not None
        pipeline.process_stored(container, raw_id, last_attempt=context.job.attempts + 1 >= attempts)

    @app.task(name=queue.SEND_OUTBOX, queue=queue.OUTBOUND)
    async def send_outbox(outbox_id: int) -> None:
        # Retries are the row's own (1, 5, 15, 60 minutes), deferred by ``outbound.outbox`` with its state.
        await in_threads(container, SEND_THREADS, outbox.send_one, container, outbox_id)

    @app.task(name=queue.WATCH_EMAIL, queue=queue.WATCH)
    async def watch_email() -> None:
        # Runs until this worker stops; the job's lock keeps it to one worker at a time, and a
        # worker that dies leaves it stalled, retried by another one (``retry_stalled_jobs``).
        await in_threads(container, WATCH_THREADS, imap_poller.run, container, stop_event(container))

    @app.task(name=queue.RETRY_STALLED, queue=queue.PERIODIC, pass_context=True)
    async def retry_stalled_jobs(context: JobContext, timestamp: int) -> None:
        del timestamp
        manager = app.job_manager
        settings = container.settings.jobs
        dead = await manager.get_stalled_jobs(seconds_since_heartbeat=settings.stalled_after_seconds)
        lost = await _lost_jobs(manager, settings.lost_after_seconds)
        seen = {context.job.id} if context.job is not None else set()
        for job, why in [*((j, "its worker died") for j in dead), *((j, "its end was lost") for j in lost)]:
            if job.id not in seen:
                seen.add(job.id)
                await _retry(manager, job)
                log.warning("job #%s (%s) retried: %s", job.id, job.task_name, why)

    @app.task(name=queue.REMOVE_OLD_JOBS, queue=queue.PERIODIC)
    async def remove_old_jobs(timestamp: int) -> None:
        # Finished jobs stay for ``[jobs] keep_finished_hours`` (what ran, for the operator); then
        # they go, so the queue's table holds days of work, not every message ever received.
        # Failed jobs stay: each one is a payload quarantined or a send that gave up.
        del timestamp
        await app.job_manager.delete_old_jobs(nb_hours=container.settings.jobs.keep_finished_hours)

    for job in PERIODIC_JOBS:
        _register_periodic(app, container, job)
    return app


async def _retry(manager: JobManager, job: Job) -> None:
    """Put a stalled job back in its queue."""
    try:
        await manager.retry_job(job)
    except (queue_errors.AlreadyEnqueued, queue_errors.UniqueViolation):
        # A fresh job of the same queueing lock already waits (the watcher's): end this one.
        await manager.finish_job(job, status=Status.FAILED, delete_job=False)


async def _lost_jobs(manager: JobManager, seconds: float) -> list[Job]:
    """Jobs "doing" for more than ``seconds``, whatever their worker's heartbeat; not the watcher's.

    procrastinate recovers the jobs of a worker that died, but not a job whose worker lives on after
    its database connection broke while the job's end was being written: the job stays "doing" and
    its lock holds back every later job of that lock, a sender's messages or every later tick of a
    periodic job (the deadline sweep would stop for good). Every job here but the IMAP watcher (it
    runs as long as its worker) takes seconds and is safe to run again (each claims its rows, or
    skips what is done, before it acts), so one still running long after it started is lost.
    procrastinate's query by start time is the ``nb_seconds`` form of ``get_stalled_jobs``,
    deprecated for its next major version.
    """
    jobs = await manager.get_stalled_jobs(nb_seconds=int(seconds))
    return [job for job in jobs if job.queue != queue.WATCH]


def _register_periodic(app: procrastinate.App, container: Container, job: PeriodicJob) -> None:
    def run(timestamp: int) -> None:
        del timestamp  # one job per tick: the queue deduplicated the firings of every worker
        started, status = time.perf_counter(), "ok"
        try:
            job.run(container)
        except Exception as exc:
            status = f"error: {type(exc).__name__}"
            log.exception("periodic job %s failed", job.id)
        _beat(container, job, time.perf_counter() - started, status)

    app.task(name=periodic_task_name(job.id), queue=queue.PERIODIC)(run)


def interval_of(container: Container, job: PeriodicJob) -> float:
    """Return a periodic job's interval in seconds (its ``[scheduler]`` setting, if any)."""
    return job.every(container.settings.scheduler) if job.every else job.seconds


def _beat(container: Container, job: PeriodicJob, duration: float, status: str) -> None:
    """Record the run in ops_heartbeat, read by /readyz and /metrics of every process."""
    interval = interval_of(container, job) if not job.cron else None
    try:
        heartbeat.beat(
            container.engine,
            job.id,
            now=container.now(),
            duration=duration,
            interval=int(interval) if interval else None,
            status=status.split(":")[0],
            detail=status if status != "ok" else None,
            office=container.office.code,
        )
    except Exception as exc:  # the database may be down: the next run beats again
        log.warning("heartbeat of job %s not recorded: %s", job.id, type(exc).__name__)
