"""Job names and queues, and deferring a job in the caller's database transaction.

A job deferred with ``defer_in`` is inserted on the SQLAlchemy session's own connection: it commits
with the rows it is about (a stored webhook payload, an outbox message) or not at all. procrastinate
supports this through its ``connection`` option (psycopg connections); this module needs nothing of
Aduan, so the outbox and the pipeline can use it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

import procrastinate
import sqlalchemy as sa
from procrastinate import exceptions as queue_errors
from procrastinate.jobs import Job
from sqlmodel import Session

#: Queues: a worker may serve some of them only (``aduan worker --queue``).
INBOUND = "inbound"
OUTBOUND = "outbound"
PERIODIC = "periodic"
#: Long-running watchers (the IMAP IDLE connection): one job at a time holds it.
WATCH = "watch"
QUEUES = (INBOUND, OUTBOUND, PERIODIC, WATCH)

#: Task names (stable: they are stored in the queue's rows).
PROCESS_INBOUND = "process_inbound"
SEND_OUTBOX = "send_outbox"
WATCH_EMAIL = "watch_email"
RETRY_STALLED = "retry_stalled_jobs"
REMOVE_OLD_JOBS = "remove_old_jobs"

#: Defers only, on connections it is given; never opened (no pool of its own).
_DEFERRER = procrastinate.App(connector=procrastinate.SyncPsycopgConnector())


def psycopg_connection(session: Session) -> Any:
    """Return the psycopg connection under the session's transaction, for procrastinate's
    ``connection=`` option: a job deferred on it commits or rolls back with the session's rows.

    The pooled connection's DBAPI attribute is SQLAlchemy's documented way to the driver's
    connection; this is the one place Aduan uses it (tests/unit/test_private_api.py allows it here).
    """
    return session.connection().connection.dbapi_connection


def defer_in(
    session: Session,
    task: str,
    *,
    queue: str,
    lock: str | None = None,
    queueing_lock: str | None = None,
    schedule_in: dt.timedelta | None = None,
    priority: int = 0,
    **kwargs: Any,
) -> int:
    """Defer ``task`` on the session's transaction (it commits or rolls back with it); return the job id."""
    dbapi = psycopg_connection(session)
    options: dict[str, Any] = {
        "queue": queue,
        "lock": lock,
        "queueing_lock": queueing_lock,
        "connection": dbapi,
    }
    if schedule_in is not None and schedule_in > dt.timedelta(0):
        options["schedule_in"] = {"seconds": schedule_in.total_seconds()}
    try:
        return _DEFERRER.configure_task(task, **options).defer(**kwargs)
    except queue_errors.ConnectorException as exc:
        # The database went away mid-transaction: the caller's usual "database unavailable" path.
        raise sa.exc.OperationalError("defer a job", None, exc.__cause__ or exc) from exc


#: Changed rows of the queue's table after which its planner statistics are refreshed.
ANALYZE_AFTER_CHANGES = 1000

_CHANGES = sa.text("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'procrastinate_jobs'")


def refresh_statistics(engine: sa.Engine, *, after_changes: int = ANALYZE_AFTER_CHANGES) -> bool:
    """ANALYZE the queue's table once ``after_changes`` rows changed since the last time; return
    whether it did.

    Every fetch of a job checks its lock against the waiting jobs. With statistics from before a
    burst the planner sorts every waiting job on each fetch (15 ms at 5,700 waiting: a worker
    then does 30 jobs/s), with fresh ones it walks the priority index (0.2 ms). Autovacuum does
    this too, but at most once a minute, and not at all where it is switched off.
    """
    with engine.connect() as conn:
        changes = conn.execute(_CHANGES).scalar()
        if changes is None or changes < after_changes:
            return False
        conn.execute(sa.text("ANALYZE procrastinate_jobs"))
        conn.commit()
    return True


def sender_lock(sender: str, secret: str) -> str:
    """Return the job lock of a sender: a keyed hash, so no phone number or address is in the queue's
    rows or the library's log lines (UU 27/2022), the same for every process of the deployment."""
    digest = hmac.new(secret.encode(), sender.encode(), hashlib.sha256).hexdigest()
    return f"sender:{digest[:24]}"


def defer_inbound_many(session: Session, payloads: Sequence[tuple[int, str | None]]) -> None:
    """Defer the processing of several stored payloads ``(raw id, sender lock)`` in one statement,
    on the session's transaction (a group commit of webhook requests)."""
    if not payloads:
        return
    jobs = [
        Job(
            queue=INBOUND,
            task_name=PROCESS_INBOUND,
            lock=lock,
            queueing_lock=None,
            task_kwargs={"raw_id": raw_id},
        )
        for raw_id, lock in payloads
    ]
    try:
        _DEFERRER.job_manager.batch_defer_jobs(jobs, connection=psycopg_connection(session))
    except queue_errors.ConnectorException as exc:
        raise sa.exc.OperationalError("defer jobs", None, exc.__cause__ or exc) from exc


#: A periodic job's tick goes before payloads still waiting (its lane is the inbound one).
PERIODIC_PRIORITY = 5
#: A reply already made goes before payloads still waiting: in a burst, each citizen's answer leaves
#: as soon as it is written, not after everyone's messages are processed.
SEND_PRIORITY = 10


def defer_send(session: Session, outbox_id: int, *, after: dt.timedelta | None = None) -> None:
    """Defer the sending of an outbox row (now, or ``after`` a retry delay)."""
    defer_in(
        session, SEND_OUTBOX, queue=OUTBOUND, schedule_in=after, priority=SEND_PRIORITY, outbox_id=outbox_id
    )
