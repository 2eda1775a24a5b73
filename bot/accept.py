"""Fast, safe acceptance of provider webhooks: group-committed raw payloads, processed behind.

A provider (Twilio, Meta, Telegram) needs one thing from a webhook: an answer once its payload is
safely stored. Everything derived from it (message, contact, dialogue, reply in the outbox) can
follow a few milliseconds later. So a webhook in ``background`` mode (the default):

1. verifies the signature on the event loop (an HMAC, microseconds);
2. hands the payload to this process's ``GroupCommitWriter``: one writer thread stores the
   payloads of all requests waiting at that moment in ONE transaction (group commit, as database
   logs do), idempotently on ``(channel, external_id)``; every waiting request is answered after
   that commit, and a replay of a stored payload is answered the same way and stores nothing new;
3. kicks this process's ``Drainer``, a thread that takes stored payloads oldest first and runs the
   same ``_process_in`` as the inline path, a few per transaction.

Nothing is lost: a payload is answered only once committed, and a stored payload that was never
processed (the process died between the two) is found by the next drain in any process. Nothing is
doubled: rows are re-read inside a lock and the raw row's status changes in the same transaction as
the records derived from it. Messages of one sender are processed in arrival order: on SQLite one
drainer runs at a time (its write lock); on PostgreSQL each payload has a lane by sender
(``lane_of``), one drainer at a time holds a lane (an advisory lock), and the drainers of several
processes process different lanes at once. (One drainer per process: processing is Python work,
so a second thread would only wait for the first one's interpreter lock.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import json
import logging
import queue
import threading
import time
import weakref
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import select

import channels
from app.container import Container
from bot.pipeline import DatabaseUnavailable, Receipt, _after_ingest, _headers, _process_in
from channels.base import InboundMessage, RawRequest
from channels.urns import urn_path
from intake import db
from intake.models import RAW_QUARANTINED, RAW_STORED, RawInbound

log = logging.getLogger("aduan.accept")

#: PostgreSQL advisory lock key of the drainers (727000 migrations, 727001 scheduler leader); the
#: second key is the lane.
DRAIN_LOCK_KEY = 727002
#: Payloads are spread over this many lanes by sender; one drainer at a time processes a lane.
LANES = 16
#: A drain transaction stops taking new payloads after this long, so that on SQLite the webhooks'
#: group commits (which need the same write lock) never wait much longer than one payload.
DRAIN_SLICE_SECONDS = 0.01
#: During a burst the drainer sleeps this many times as long as each slice took: it takes a tenth of
#: the time, so the burst is answered at nearly the rate of acceptance alone. Processing is the same
#: work whenever it runs, so what it does not do during the burst it does right after, flat out.
YIELD_FACTOR = 9.0
#: Payloads per second arriving through this process's writer above which a drain slice counts as
#: "during a burst" (a provider delivering a backlog). Below it acceptance needs little of the
#: process, so processing does not hold back: a steady few hundred messages a second are processed as
#: they come instead of piling up behind a drainer that sleeps while the CPU is idle.
BURST_RATE = 500.0
DRAIN_BATCH = 64
#: Payloads per group commit at most (a burst larger than this takes several commits).
MAX_GROUP = 256

PROCESSING_MODES = ("background", "inline")

#: SQLite has one writer at a time: threads that queue on a lock in this process hand over at once,
#: where threads left to SQLite's busy handler sleep in growing steps and throughput collapses.
_SQLITE_WRITER = threading.Lock()


@contextlib.contextmanager
def writer_turn(engine: Engine) -> Iterator[None]:
    """Hold this process's SQLite writer turn (nothing to hold on PostgreSQL)."""
    if not db.is_sqlite(engine):
        yield
        return
    with _SQLITE_WRITER:
        yield


def processing_mode(container: Container) -> str:
    """Return ``[intake] processing``: ``background`` (answer after the raw commit) or ``inline``."""
    mode = str(container.settings.section("intake").get("processing", "background"))
    return mode if mode in PROCESSING_MODES else "background"


@dataclass(frozen=True)
class Arrival:
    """One payload waiting for the group commit."""

    channel: str
    external_id: str
    raw: RawRequest
    received_at: dt.datetime
    office: str
    lane: int = 0

    def row(self) -> dict[str, Any]:
        """Return the ``raw_inbound`` values of this payload (stored exactly as received)."""
        return {
            "office": self.office,
            "channel": self.channel,
            "external_id": self.external_id[:255],
            "received_at": self.received_at,
            "headers": json.dumps(self.raw.headers, ensure_ascii=False, sort_keys=True),
            "body": self.raw.body,
            "url": self.raw.url,
            "status": RAW_STORED,
            "lane": self.lane,
        }


def lane_of(messages: Sequence[InboundMessage]) -> int:
    """Return the lane of a payload: a hash of its (first) sender's address, the same on every channel.

    ``tel:+62…`` and ``whatsapp:+62…`` of one number share a lane, so a citizen's SMS and WhatsApp
    messages are processed in order too. A payload without a message (a status report) is in lane 0.
    """
    if not messages:
        return 0
    return zlib.crc32(urn_path(messages[0].sender).encode()) % LANES


#: Who waits for a payload's commit: a thread (a concurrent future) or a coroutine (an asyncio
#: future with its loop, woken from the writer thread).
_Waiter: TypeAlias = (
    "concurrent.futures.Future[None] | tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]"
)
_Pending: TypeAlias = tuple[Arrival, _Waiter]

#: Every writer and drainer of this process, so that ``shutdown_all`` can stop them (tests, exit).
_LIVE: weakref.WeakSet[GroupCommitWriter | Drainer] = weakref.WeakSet()


class GroupCommitWriter:
    """One thread that stores the raw payloads of concurrent requests in shared transactions.

    ``submit`` returns a future that completes once the payload is committed (or raises
    ``DatabaseUnavailable``, which a webhook answers with 503 so the provider retries).
    """

    def __init__(self, engine: Engine, *, max_group: int = MAX_GROUP) -> None:
        self.engine = engine
        self.max_group = max_group
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        table = RawInbound.__table__  # type: ignore[attr-defined]
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert = dialect.insert(table).on_conflict_do_nothing(index_elements=["channel", "external_id"])
        self._bound = engine.execution_options(sqlite_begin="IMMEDIATE") if db.is_sqlite(engine) else engine
        #: Commits and payloads so far (``/metrics`` and the benchmark read them).
        self.commits = 0
        self.stored = 0
        _LIVE.add(self)

    def submit(self, arrival: Arrival) -> concurrent.futures.Future[None]:
        """Queue a payload for the next group commit; the future completes after that commit."""
        if self._closed:
            raise RuntimeError("the raw payload writer is closed")
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._ensure_thread()
        self._queue.put((arrival, future))
        return future

    async def store(self, arrival: Arrival) -> None:
        """Await the commit of ``arrival`` from the event loop."""
        if self._closed:
            raise RuntimeError("the raw payload writer is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._ensure_thread()
        self._queue.put((arrival, (loop, future)))
        await future

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the thread."""
        self._closed = True
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="aduan-raw-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            # Everything that arrived while the previous commit ran goes into this one.
            while len(group) < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            self._write(group)
            if stop:
                return

    def _write(self, group: list[_Pending]) -> None:
        try:
            self._commit([arrival.row() for arrival, _ in group])
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
            log.error("database unavailable while storing %d payloads: %s", len(group), type(exc).__name__)
            _settle([waiter for _, waiter in group], DatabaseUnavailable(type(exc).__name__))
            return
        except Exception as exc:
            if len(group) == 1:
                # The type only: the error's text would carry the payload's values into the log.
                log.error("could not store a %s payload (%s)", group[0][0].channel, type(exc).__name__)
                _settle([group[0][1]], DatabaseUnavailable("payload could not be stored"))
                return
            # One bad row must not fail its neighbours: store them one by one to find it.
            for item in group:
                self._write([item])
            return
        self.commits += 1
        self.stored += len(group)
        _settle([waiter for _, waiter in group], None)

    def _commit(self, rows: list[dict[str, Any]]) -> None:
        with writer_turn(self.engine), self._bound.begin() as conn:
            conn.execute(self._insert, rows)


def _settle(waiters: list[_Waiter], error: BaseException | None) -> None:
    """Tell every waiter of a group that its payload is committed (or why not).

    Coroutines of one event loop are woken together by ONE callback: a wake-up per request would
    cost the loop a self-pipe write and a callback each, on the thread that answers the requests.
    """
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for waiter in waiters:
        if isinstance(waiter, concurrent.futures.Future):
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)
        else:
            loop, future = waiter
            by_loop.setdefault(loop, []).append(future)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
            loop.call_soon_threadsafe(_resolve, futures, error)


def _resolve(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue  # the client hung up and its request was cancelled
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class Drainer:
    """A thread that processes stored payloads whenever it is kicked (and every few seconds)."""

    def __init__(self, container: Container, *, idle_poll: float = 5.0) -> None:
        self.container = container
        self.idle_poll = idle_poll
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        #: Payloads processed by this drainer (``/metrics``).
        self.processed = 0
        _LIVE.add(self)

    def kick(self) -> None:
        """Ask for a drain soon (a new payload was committed)."""
        if self._stop.is_set():
            return
        self._wake.set()
        if self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="aduan-drainer", daemon=True)
                    self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop after the current transaction."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.idle_poll)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                writer = self.container.services.get("raw_writer")
                self.processed += drain(self.container, stop=self._stop, yield_to=writer)
            except DatabaseUnavailable:
                time.sleep(1.0)  # the database is down: the next kick or poll tries again
            except Exception as exc:
                # Never let the thread die silently, and log only the type: a database error's text
                # carries the statement's parameters (message text, numbers), kept out of logs.
                log.error("drainer failed (%s); retrying on the next kick", type(exc).__name__)
                time.sleep(1.0)


def drain(
    container: Container,
    *,
    stop: threading.Event | None = None,
    retry_failed: bool = False,
    yield_to: GroupCommitWriter | None = None,
) -> int:
    """Process every stored payload, oldest first; return how many were processed.

    Payloads whose processing failed before (``error`` set) are left for ``reprocess_pending``
    unless ``retry_failed``: then a second failure quarantines them, shown to officers. With
    ``yield_to``, the drain pauses after each slice during which that writer committed payloads.
    """
    total = 0
    while stop is None or not stop.is_set():
        stored = yield_to.stored if yield_to is not None else 0
        started = time.monotonic()
        done, waiting = _drain_slice(container, retry_failed=retry_failed)
        if not done and not waiting:
            return total
        total += done
        if yield_to is not None:
            time.sleep(pause_after(time.monotonic() - started, yield_to.stored - stored))
    return total


def pause_after(slice_seconds: float, arrived: int) -> float:
    """Return how long the drainer rests after a slice during which ``arrived`` payloads were stored.

    In a burst, answering providers comes first (a slow answer is retried and costs more than a
    reply that leaves a little later): processing takes a tenth of the time until the burst is over,
    then runs flat out again. Below ``BURST_RATE`` it does not rest at all.
    """
    if arrived <= BURST_RATE * slice_seconds:
        return 0.0
    return YIELD_FACTOR * slice_seconds


def _drain_slice(container: Container, *, retry_failed: bool) -> tuple[int, bool]:
    """Process stored payloads in one transaction for at most ``DRAIN_SLICE_SECONDS``.

    Return how many were processed, and whether payloads may still wait (a lane that another
    drainer held until this one got it: it may have been emptied meanwhile).
    """
    engine = container.engine
    after: list[tuple[Any, RawRequest, Receipt]] = []
    done = 0
    waited = False
    try:
        with writer_turn(engine), db.write_session(engine) as s:
            query = select(RawInbound).where(RawInbound.status == RAW_STORED)
            if not retry_failed:
                query = query.where(RawInbound.error.is_(None))  # type: ignore[union-attr]
            if engine.dialect.name == "postgresql":
                # One drainer at a time per lane keeps each sender's messages in order; drainers of
                # this and other processes take the other lanes meanwhile.
                lane, waited = _claim_lane(s, retry_failed=retry_failed)
                if lane is None:
                    return 0, False  # nothing waits
                query = query.where(RawInbound.lane == lane)
            rows = s.exec(query.order_by(RawInbound.id).limit(DRAIN_BATCH)).all()  # type: ignore[arg-type]
            deadline = time.monotonic() + DRAIN_SLICE_SECONDS
            for row in rows:
                module = channels.load(row.channel)
                raw = RawRequest(body=row.body, headers=_headers(row.headers), url=row.url)
                failed_before = row.error is not None
                receipt = _process_in(
                    container, s, module, row, raw, complete=False, duplicate=False, now=container.now()
                )
                if receipt.deferred and failed_before:
                    row.status, row.processed_at = RAW_QUARANTINED, container.now()
                    s.add(row)
                after.append((module, raw, receipt))
                done += 1
                if time.monotonic() > deadline:
                    break
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        log.error("database unavailable while processing payloads: %s", type(exc).__name__)
        raise DatabaseUnavailable(type(exc).__name__) from exc
    for module, raw, receipt in after:
        _after_ingest(container, module, raw, receipt)
    return done, waited


def _claim_lane(s: Any, *, retry_failed: bool) -> tuple[int | None, bool]:
    """Lock the lane whose oldest payload waits longest among those no other drainer holds (PostgreSQL).

    When other drainers hold every lane with work, wait for the oldest of them: whoever calls
    ``drain`` expects what waits to be processed when it returns. Return the lane (None when nothing
    waits) and whether it had to wait. The lock is the transaction's: it is released with the
    commit that records the lane's progress.
    """
    waiting = "status = :stored" + ("" if retry_failed else " AND error IS NULL")
    lanes = list(
        s.execute(
            sa.text(f"SELECT lane FROM raw_inbound WHERE {waiting} GROUP BY lane ORDER BY min(id)"),
            {"stored": RAW_STORED},
        ).scalars()
    )
    for lane in lanes:
        taken = s.execute(
            sa.text("SELECT pg_try_advisory_xact_lock(:k, :lane)"), {"k": DRAIN_LOCK_KEY, "lane": lane}
        ).scalar_one()
        if taken:
            return int(lane), False
    if not lanes:
        return None, False
    s.execute(sa.text("SELECT pg_advisory_xact_lock(:k, :lane)"), {"k": DRAIN_LOCK_KEY, "lane": lanes[0]})
    return int(lanes[0]), True


# -- per-process services -------------------------------------------------------------------------


def writer_of(container: Container) -> GroupCommitWriter:
    """Return this container's raw payload writer (created on first use)."""
    writer = container.services.get("raw_writer")
    if writer is None:
        writer = container.services.setdefault("raw_writer", GroupCommitWriter(container.engine))
    return writer  # type: ignore[no-any-return]


def drainer_of(container: Container) -> Drainer:
    """Return this container's drainer (created on first use)."""
    drainer = container.services.get("drainer")
    if drainer is None:
        drainer = container.services.setdefault("drainer", Drainer(container))
    return drainer  # type: ignore[no-any-return]


def shutdown(container: Container) -> None:
    """Stop the writer and the drainer of this container (tests, process exit)."""
    writer = container.services.pop("raw_writer", None)
    if writer is not None:
        writer.close()
    drainer = container.services.pop("drainer", None)
    if drainer is not None:
        drainer.close()


def shutdown_all() -> None:
    """Stop every writer and drainer of this process (a test's teardown)."""
    for service in list(_LIVE):
        service.close()
