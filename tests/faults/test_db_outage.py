"""PostgreSQL stops for ~10 seconds during a burst of signed webhooks.

While it is down the webhooks answer 503 (Twilio retries), /readyz says unavailable; nothing is
half-written, and after the restart every message is in exactly once. The database is a private
throwaway cluster (RECIPES.md §8), never the shared one.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from intake import db
from tests.conftest import missing_dependency
from tests.faults.checks import inbound_invariants, wait_processed
from tests.faults.harness import (
    CONVERSATION,
    PgCluster,
    WebProcess,
    blast,
    pg_binary,
    pg_cluster,
    signed_sms,
    sms_form,
)

pytestmark = pytest.mark.slow

BURST = 600
STOP_AT = 150
SENDERS = BURST // len(CONVERSATION)  # each sender's whole conversation is in the burst
OUTAGE_SECONDS = 10.0


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster this test may stop."""
    if not pg_binary("initdb") or not pg_binary("pg_ctl"):
        missing_dependency("PostgreSQL server binaries (initdb, pg_ctl)")
    with pg_cluster() as c:
        yield c


def test_database_down_for_10_seconds_gives_503_then_everything_is_in(
    cluster: PgCluster, tmp_path: Path
) -> None:
    url = cluster.create_database("aduan")
    engine = db.create_engine(url)
    db.upgrade(engine)
    engine.dispose()
    web = WebProcess(url, tmp_path).start()
    run = uuid.uuid4().hex[:8]
    requests = [("/hooks/sms", *signed_sms(sms_form(i, senders=SENDERS, run=run))) for i in range(BURST)]
    outage: dict[str, object] = {}
    started = threading.Event()

    def take_down() -> None:
        try:
            crash_and_restart()
        except Exception as exc:  # reported by the assertion below, not lost in the thread
            outage["error"] = repr(exc)
            raise

    def crash_and_restart() -> None:
        cluster.stop("immediate")  # a crash, not a polite shutdown
        outage["down_at"] = time.monotonic()
        started.set()
        try:
            outage["readyz"] = httpx.get(web.url + "/readyz", timeout=10).status_code
        except httpx.HTTPError as exc:
            outage["readyz"] = type(exc).__name__
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - float(outage["down_at"]))))  # type: ignore[arg-type]
        cluster.start()
        outage["up_at"] = time.monotonic()

    def on_progress(delivered: int) -> None:
        if delivered == STOP_AT and "thread" not in outage:
            thread = threading.Thread(target=take_down, daemon=True)
            outage["thread"] = thread
            thread.start()

    try:
        result = blast(requests, lambda: web.url, concurrency=8, deadline=240, on_progress=on_progress)
        thread = outage.get("thread")
        assert isinstance(thread, threading.Thread)
        thread.join(60)
        assert "up_at" in outage, f"the database server did not start again: {outage.get('error')}"
        ready = httpx.get(web.url + "/readyz", timeout=10)
        wait_processed(url, "sms", BURST)  # the drainer catches up once the database is back
    finally:
        web.stop()
    assert started.is_set() and "up_at" in outage
    assert outage["readyz"] == 503
    assert ready.status_code == 200
    assert result.failed == [], (result.failed[:5], result.causes)
    assert result.delivered == BURST
    # while the database was down the providers were told to come back later, never "bad request"
    assert result.causes["503"] > 0, result.causes
    assert set(result.causes) <= {"503"}, result.causes
    counts = inbound_invariants(url, "sms", BURST)
    assert counts["complaints"] == SENDERS, counts
