"""APScheduler's triggers in every worker; each firing defers one job per tick across all workers.

APScheduler 3 is kept for what it is good at: intervals and cron lines in the office's time zone
(``"0 8 * * mon-fri"``: 08:00 on weekdays in Asia/Jakarta). It keeps no job store and runs no job:
a firing only defers the periodic job's task with procrastinate's periodic defer, whose unique
``(task, periodic id, tick)`` row lets exactly one worker's firing through. Interval ticks are
aligned on the epoch, so every worker computes the same tick. Every worker may run the triggers;
none leads. The same loop keeps the IMAP IDLE watcher's job queued (one waits at a time; its lock
lets one run at a time).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time

import procrastinate
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from procrastinate import exceptions as queue_errors

from app.container import Container
from channels import imap_poller
from jobs import queue
from jobs.tasks import PERIODIC_JOBS, PeriodicJob, interval_of, periodic_task_name

log = logging.getLogger("aduan.jobs.triggers")

#: The queue's planner statistics are looked at this often (``jobs.queue.refresh_statistics``).
STATISTICS_SECONDS = 5
#: Finished jobs older than ``[jobs] keep_finished_hours`` are removed once an hour.
REMOVE_OLD_JOBS_SECONDS = 3600
#: The watcher's job is re-queued this often (a no-op while one waits).
WATCH_SECONDS = 30
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def tick_of(seconds: float, now: float) -> int:
    """Return the tick (epoch seconds) a firing at ``now`` belongs to, for an interval of ``seconds``."""
    return int(math.floor(now / seconds) * seconds)


class Triggers:
    """The scheduler of one worker process: start it inside the worker's event loop."""

    def __init__(self, container: Container, app: procrastinate.App) -> None:
        self.container = container
        self.app = app
        tz = container.office.calendar.timezone
        self.scheduler = AsyncIOScheduler(
            timezone=tz, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
        )
        self.started: list[str] = []

    def start(self) -> None:
        """Add every trigger (firing at once, so the sweep catches up on start) and start."""
        now = dt.datetime.now(dt.UTC)
        for job in PERIODIC_JOBS:
            trigger: BaseTrigger
            if job.cron:
                trigger = CronTrigger.from_crontab(job.cron, timezone=self.scheduler.timezone)
                step = 60.0
                first = None
            else:
                step = interval_of(self.container, job)
                trigger = IntervalTrigger(seconds=step, start_date=_EPOCH)
                first = now
            self.scheduler.add_job(self._fire, trigger, args=[job, step], id=job.id, next_run_time=first)
            self.started.append(job.id)
        stalled_check = self.container.settings.jobs.stalled_check_seconds
        self.scheduler.add_job(
            self._fire_task,
            IntervalTrigger(seconds=stalled_check, start_date=_EPOCH),
            # No lock: a check left "doing" by a worker that died would hold the lock, and every later
            # check (the only thing that frees a dead worker's jobs) would wait behind it forever.
            args=[queue.RETRY_STALLED, queue.RETRY_STALLED, stalled_check, False],
            id=queue.RETRY_STALLED,
        )
        self.scheduler.add_job(
            self._fire_task,
            IntervalTrigger(seconds=REMOVE_OLD_JOBS_SECONDS, start_date=_EPOCH),
            args=[queue.REMOVE_OLD_JOBS, queue.REMOVE_OLD_JOBS, REMOVE_OLD_JOBS_SECONDS],
            id=queue.REMOVE_OLD_JOBS,
        )
        self.scheduler.add_job(
            self._watch, IntervalTrigger(seconds=WATCH_SECONDS), id=queue.WATCH_EMAIL, next_run_time=now
        )
        self.scheduler.add_job(self._statistics, IntervalTrigger(seconds=STATISTICS_SECONDS), id="statistics")
        self.scheduler.start()

    def shutdown(self) -> None:
        """Stop firing."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def _fire(self, job: PeriodicJob, step: float) -> None:
        await self._fire_task(job.id, periodic_task_name(job.id), step)

    async def _fire_task(self, periodic_id: str, task_name: str, step: float, locked: bool = True) -> None:
        tick = tick_of(step, time.time())
        # Ahead of waiting payloads: the deadline sweep runs on time during a burst too. The lock
        # keeps one run of a job at a time (a slow sweep is not overtaken by the next tick's).
        deferrer = self.app.configure_task(
            task_name,
            queue=queue.PERIODIC,
            lock=task_name if locked else None,
            priority=queue.PERIODIC_PRIORITY,
        )
        try:
            await self.app.job_manager.defer_periodic_job(
                deferrer.make_new_job(timestamp=tick), periodic_id=periodic_id, defer_timestamp=tick
            )
        except Exception as exc:  # the database may be down: the next tick tries again
            log.warning("periodic job %s not deferred: %s", periodic_id, type(exc).__name__)

    async def _statistics(self) -> None:
        # Not a job: behind a burst's backlog it would run only once the backlog is gone.
        try:
            await asyncio.to_thread(queue.refresh_statistics, self.container.engine)
        except Exception as exc:  # the database may be down: the next firing tries again
            log.warning("queue statistics not refreshed: %s", type(exc).__name__)

    async def _watch(self) -> None:
        table = self.container.settings.channel(imap_poller.CHANNEL)
        if not (table.get("enabled") and table.get("imap_idle", True)):
            return
        deferrer = self.app.configure_task(
            queue.WATCH_EMAIL, queue=queue.WATCH, lock=queue.WATCH_EMAIL, queueing_lock=queue.WATCH_EMAIL
        )
        try:
            await deferrer.defer_async()
        except queue_errors.AlreadyEnqueued:
            pass  # one already waits for the lock
        except Exception as exc:
            log.warning("IMAP watcher not queued: %s", type(exc).__name__)
