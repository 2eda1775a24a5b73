"""Running workers: inside ``aduan serve`` (the web app's event loop), ``aduan worker``, and tests.

A worker takes jobs of its queues as they are deferred (LISTEN/NOTIFY wakes it; a poll every few
seconds is procrastinate's fallback) and runs APScheduler's triggers (``jobs.triggers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Sequence

import procrastinate
import sqlalchemy as sa

from app.container import Container
from jobs import queue
from jobs.tasks import app_of, conninfo, stop_event
from jobs.triggers import Triggers

log = logging.getLogger("aduan.jobs.worker")

#: Queues ``settle`` runs in tests: what webhooks deferred (tests send the outbox with ``deliver_due``).
IDLE_QUEUES = (queue.INBOUND,)

_FINISHED = sa.text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('succeeded', 'failed')")
_FINISHED_AND_DUE = sa.text(
    "SELECT count(*) FILTER (WHERE status IN ('succeeded', 'failed')),"
    " count(*) FILTER (WHERE status = 'todo' AND queue_name = ANY(:queues)"
    " AND (scheduled_at IS NULL OR scheduled_at <= now())) > 0"
    " FROM procrastinate_jobs"
)


async def run(
    container: Container,
    *,
    queues: Sequence[str] = queue.QUEUES,
    concurrency: int | None = None,
    triggers: bool = True,
) -> None:
    """Run a worker (and the triggers) until cancelled; start it again when the database goes away."""
    table = container.settings.jobs
    app = app_of(container)
    stop = stop_event(container)
    # A line per job and per trigger firing is noise in the service's log (counts are in /metrics).
    for name in ("procrastinate", "apscheduler"):
        logging.getLogger(name).setLevel(table.library_log_level.upper())
    backoff = 1.0
    while True:
        stop.clear()
        fire: Triggers | None = None
        try:
            async with app.open_async():
                if triggers:
                    fire = Triggers(container, app)
                    fire.start()
                backoff = 1.0
                await asyncio.gather(
                    *(
                        app.run_worker_async(
                            name=name,
                            queues=list(lane),
                            concurrency=concurrency or table.concurrency,
                            install_signal_handlers=False,
                            shutdown_graceful_timeout=table.shutdown_seconds,
                            update_heartbeat_interval=table.heartbeat_seconds,
                            stalled_worker_timeout=table.stalled_after_seconds,
                        )
                        for name, lane in lanes(queues)
                    )
                )
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The database is down (or restarting): the queue's jobs wait there; try again shortly.
            log.error("worker stopped (%s); starting again in %.0f s", type(exc).__name__, backoff)
        finally:
            stop.set()  # the IMAP watcher returns; its job ends and another worker's takes over
            if fire is not None:
                fire.shutdown()
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 30.0)


def lanes(queues: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Split the queues between two workers of this process: sending apart from the rest.

    A provider that answers slowly (a 15 s time-out) then holds only the sending worker's slots,
    never the processing of citizens' messages; each lane has ``[jobs] concurrency`` slots.
    """
    rest = [q for q in queues if q != queue.OUTBOUND]
    split = [("worker", rest), ("sender", [queue.OUTBOUND] if queue.OUTBOUND in queues else [])]
    return [(name, lane) for name, lane in split if lane]


def in_web(container: Container) -> bool:
    """Tell whether the web process runs a worker too (not with ``aduan serve --no-worker``)."""
    own = container.settings.env.get("ADUAN_WEB_WORKER")
    if own is not None:
        return own not in ("0", "false", "no")
    return container.settings.jobs.worker_in_web


@contextlib.asynccontextmanager
async def running(container: Container) -> AsyncIterator[None]:
    """Run a worker in the current event loop for the duration of the block (``aduan serve``)."""
    task = asyncio.create_task(run(container), name="aduan-worker")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def run_until_idle(container: Container, *, queues: Sequence[str] = IDLE_QUEUES) -> int:
    """Run the due jobs of ``queues`` until none is left; return how many finished (tests, CLI)."""
    with container.engine.connect() as conn:
        before, due = conn.execute(_FINISHED_AND_DUE, {"queues": list(queues)}).one()
    if not due:
        return 0  # nothing to run: no worker to start (tests settle after every request they make)

    async def drain() -> None:
        app = app_of(container)
        # One job at a time needs one connection. The App's own pool opens four on each call, and
        # tests settle the queue after every webhook they post: a connection costs a server process
        # (96 ms per call on a 2-core test machine, 652 calls in the corpus test alone).
        one = procrastinate.PsycopgConnector(conninfo=conninfo(container.engine), min_size=1, max_size=1)
        with app.replace_connector(one):
            async with app.open_async():
                await app.run_worker_async(
                    queues=list(queues),
                    wait=False,
                    concurrency=1,
                    install_signal_handlers=False,
                    listen_notify=False,
                )

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(drain())
    else:  # called from a coroutine (an async test): run the worker's loop on a thread of its own
        thread = threading.Thread(target=asyncio.run, args=(drain(),), name="aduan-settle")
        thread.start()
        thread.join()
    with container.engine.connect() as conn:
        return int(conn.execute(_FINISHED).scalar_one()) - int(before)
