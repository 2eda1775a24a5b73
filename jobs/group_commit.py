"""Group commit of webhook requests: the payloads of concurrent requests share one transaction.

A webhook may answer only once its payload and the job that processes it are committed. Committed
one by one, each request waits for its own transaction and fsync, and a web process acknowledges a
few hundred requests a second. Here requests that arrive while a commit runs wait for the next one,
which stores all of them (``jobs.pipeline.store_many_and_defer``: one INSERT of raw rows, one of
jobs, one commit). Under light load a batch holds one request and costs what a lone commit costs;
under a burst the commits grow instead of the queue of waiting requests.
"""

from __future__ import annotations

import asyncio
import weakref

from starlette.concurrency import run_in_threadpool

from app.container import Container
from intake.ingest import RawPayload
from jobs import queue
from jobs.pipeline import store_many_and_defer

#: Most payloads in one commit; more wait for the next one.
MAX_BATCH = 256
#: Commits running at once: while one waits on the disk, the next batch is being written.
IN_FLIGHT = 2

_Waiting = tuple[RawPayload, str | None, "asyncio.Future[bool]"]


class GroupCommit:
    """Store payloads with their jobs, batching the requests of one event loop into shared commits."""

    def __init__(
        self, container: Container, *, max_batch: int = MAX_BATCH, in_flight: int = IN_FLIGHT
    ) -> None:
        self.container = container
        self.max_batch = max_batch
        self.in_flight = in_flight
        self._waiting: list[_Waiting] = []
        self._running: set[asyncio.Task[None]] = set()

    async def store(self, payload: RawPayload, lock: str | None) -> bool:
        """Store ``payload`` and defer its processing under ``lock``; return whether it was new.

        Returns once the commit that holds it is done; raises ``DatabaseUnavailable`` when that
        commit failed (nothing of the batch was stored: each request answers 503).
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._waiting.append((payload, lock, done))
        if len(self._running) < self.in_flight:
            task = loop.create_task(self._commit_waiting())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return await done

    async def _commit_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            try:
                new = await run_in_threadpool(
                    store_many_and_defer,
                    self.container,
                    [(payload, lock) for payload, lock, _ in batch],
                    queue.defer_inbound_many,
                )
            except Exception as exc:
                for _, _, done in batch:
                    if not done.done():  # a request cancelled meanwhile (the client hung up)
                        done.set_exception(exc)
                continue
            for (_, _, done), is_new in zip(batch, new, strict=True):
                if not done.done():
                    done.set_result(is_new)


#: ``container.services`` key: the container's group commit of each event loop.
SERVICE = "jobs.group_commit"


def of(container: Container) -> GroupCommit:
    """Return the container's group commit of the running event loop (one per loop: the futures of
    its waiting requests belong to that loop)."""
    loop = asyncio.get_running_loop()
    groups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit] = container.services.setdefault(
        SERVICE, weakref.WeakKeyDictionary()
    )
    group = groups.get(loop)
    if group is None:
        group = groups[loop] = GroupCommit(container)
    return group
