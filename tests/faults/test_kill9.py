"""kill -9 of the web process in the middle of a burst of 2,000 signed SMS webhooks, and of a worker.

The load generator retries what did not get a 2xx, as Twilio does. Afterwards there must be
exactly 2,000 inbound messages, no duplicates and no half-written complaint (SPEC: every inbound
message is kept and never lost; a provider's redelivery creates one record).
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from tests.faults.checks import inbound_invariants, wait_processed, wait_some_processed
from tests.faults.harness import CONVERSATION, WebProcess, WorkerProcess, blast, signed_sms, sms_form

pytestmark = pytest.mark.slow

BURST = 2000
KILL_AT = (500, 1200)  # delivered answers after which the web process is killed


@pytest.fixture
def fresh_url(db_url: str) -> str:
    """An empty, migrated database of its own (the processes share it with the test)."""
    return db_url


def test_kill9_in_a_burst_of_2000_webhooks_loses_nothing_and_duplicates_nothing(
    fresh_url: str, tmp_path: Path
) -> None:
    web = WebProcess(fresh_url, tmp_path).start()
    run = uuid.uuid4().hex[:8]
    requests = [("/hooks/sms", *signed_sms(sms_form(i, run=run))) for i in range(BURST)]
    kills = list(KILL_AT)
    killed: list[int] = []
    lock = threading.Lock()

    def on_progress(delivered: int) -> None:
        with lock:
            if kills and delivered >= kills[0]:
                kills.pop(0)
                killed.append(delivered)
                threading.Thread(target=_kill_and_restart, args=(web,), daemon=True).start()

    try:
        result = blast(requests, lambda: web.url, concurrency=16, deadline=240, on_progress=on_progress)
        # Answered means committed with its job; the restarted process's worker runs what the killed
        # one left (jobs it was running are retried once its heartbeat is stale).
        wait_processed(fresh_url, "sms", BURST)
    finally:
        web.stop()
    assert len(killed) == len(KILL_AT), "the burst ended before every kill"
    assert result.failed == [], (result.failed[:5], result.causes)
    assert result.delivered == BURST
    # the kills were felt: some requests failed and were retried
    assert result.attempts > BURST, result.causes
    counts = inbound_invariants(fresh_url, "sms", BURST)
    # every sender's four messages made exactly one complaint through the dialogue
    assert counts["complaints"] == BURST // len(CONVERSATION), counts


def _kill_and_restart(web: WebProcess) -> None:
    web.kill9()
    web.start()  # same port: providers keep calling the same address


def test_kill9_of_a_worker_mid_processing_processes_every_message_once(
    fresh_url: str, tmp_path: Path
) -> None:
    """The web process only stores (``--no-worker``); a separate worker is killed while processing."""
    web = WebProcess(fresh_url, tmp_path, env={"ADUAN_WEB_WORKER": "0"}).start()
    worker = WorkerProcess(fresh_url, tmp_path).start()
    run = uuid.uuid4().hex[:8]
    burst = 600
    requests = [("/hooks/sms", *signed_sms(sms_form(i, senders=burst // 4, run=run))) for i in range(burst)]
    try:
        result = blast(requests, lambda: web.url, concurrency=16, deadline=240)
        assert wait_some_processed(fresh_url, "sms", 100)
        worker.kill9()
        worker.start()  # a new worker: it runs the queue, and the dead one's jobs once they are stalled
        wait_processed(fresh_url, "sms", burst)
    finally:
        worker.stop()
        web.stop()
    assert result.failed == [], (result.failed[:5], result.causes)
    counts = inbound_invariants(fresh_url, "sms", burst)
    assert counts["complaints"] == burst // len(CONVERSATION), counts
