"""kill -9 of the web process in the middle of a burst of 2,000 signed SMS webhooks.

The load generator retries what did not get a 2xx, as Twilio does. Afterwards there must be
exactly 2,000 inbound messages, no duplicates and no half-written complaint (SPEC: every inbound
message is kept and never lost; a provider's redelivery creates one record).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from intake import db
from tests.conftest import PG_URL, missing_dependency
from tests.faults.checks import inbound_invariants, wait_processed
from tests.faults.harness import CONVERSATION, WebProcess, blast, signed_sms, sms_form

pytestmark = pytest.mark.slow

BURST = 2000
KILL_AT = (500, 1200)  # delivered answers after which the web process is killed


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database of its own (the web processes share it with the test)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'kill9.db'}"
        name = None
    else:
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        name = f"aduan_k9_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        except sa.exc.OperationalError as exc:
            missing_dependency(f"PostgreSQL at {PG_URL}: {type(exc).__name__}")
        url = sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    engine = db.create_engine(url)
    db.upgrade(engine)
    engine.dispose()
    yield url
    if name is not None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
        # Answered means committed; the restarted process drains what the killed one left unprocessed.
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
