"""Invariants the fault tests assert after a burst: nothing lost, nothing twice, nothing half-written."""

from __future__ import annotations

import sqlalchemy as sa

from intake import db


def wait_processed(url: str, channel: str, expected: int, timeout: float = 600.0) -> int:
    """Wait until ``expected`` payloads of ``channel`` are stored and none awaits processing.

    Webhooks answer once the raw payload and its job are committed; a worker derives the records
    right after. Returns the seconds it took; fails with the counts after ``timeout``.
    """
    import time

    engine = db.create_engine(url)
    started = time.monotonic()
    try:
        while True:
            with engine.connect() as conn:
                stored, waiting = conn.execute(
                    sa.text(
                        "SELECT count(*), count(*) FILTER (WHERE status = 'stored') "
                        "FROM raw_inbound WHERE channel = :ch"
                    ),
                    {"ch": channel},
                ).one()
            if stored >= expected and waiting == 0:
                return int(time.monotonic() - started)
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{waiting} of {stored} payloads unprocessed after {timeout:.0f} s")
            time.sleep(0.2)
    finally:
        engine.dispose()


def wait_some_processed(url: str, channel: str, at_least: int, timeout: float = 120.0) -> bool:
    """Wait until at least ``at_least`` payloads of ``channel`` are processed; tell whether they were."""
    import time

    engine = db.create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                done = conn.execute(
                    sa.text("SELECT count(*) FROM raw_inbound WHERE channel = :ch AND status = 'processed'"),
                    {"ch": channel},
                ).scalar_one()
            if done >= at_least:
                return True
            time.sleep(0.05)
        return False
    finally:
        engine.dispose()


def inbound_invariants(url: str, channel: str, expected: int) -> dict[str, int]:
    """Assert the record after ``expected`` distinct webhooks on ``channel``; return the counts."""
    engine = db.create_engine(url)
    try:
        with engine.connect() as conn:

            def one(sql: str) -> int:
                return int(conn.execute(sa.text(sql), {"ch": channel}).scalar_one())

            counts = {
                "raw": one("SELECT count(*) FROM raw_inbound WHERE channel = :ch"),
                "raw_distinct": one(
                    "SELECT count(DISTINCT external_id) FROM raw_inbound WHERE channel = :ch"
                ),
                "raw_unprocessed": one(
                    "SELECT count(*) FROM raw_inbound WHERE channel = :ch AND status <> 'processed'"
                ),
                "messages": one("SELECT count(*) FROM message WHERE channel = :ch"),
                "messages_distinct": one(
                    "SELECT count(DISTINCT external_id) FROM message WHERE channel = :ch"
                ),
                "messages_without_raw": one(
                    "SELECT count(*) FROM message m LEFT JOIN raw_inbound r ON r.id = m.raw_id "
                    "WHERE m.channel = :ch AND r.id IS NULL"
                ),
                "complaints": one("SELECT count(*) FROM complaint WHERE channel = :ch"),
                # a complaint without its 'created' event or without any message was written by half
                "complaints_without_event": one(
                    "SELECT count(*) FROM complaint c WHERE c.channel = :ch AND NOT EXISTS "
                    "(SELECT 1 FROM event e WHERE e.complaint_id = c.id AND e.action = 'created')"
                ),
                "complaints_without_message": one(
                    "SELECT count(*) FROM complaint c WHERE c.channel = :ch AND NOT EXISTS "
                    "(SELECT 1 FROM message m WHERE m.complaint_id = c.id)"
                ),
                "tracking_distinct": one(
                    "SELECT count(DISTINCT tracking_number) FROM complaint WHERE channel = :ch"
                ),
            }
            # tracking numbers of the year have no gaps: max(seq) == count per prefix and year
            gaps = (
                conn.execute(
                    sa.text(
                        "SELECT max(seq) - count(*) FROM complaint "
                        "GROUP BY substr(tracking_number, 1, 8), year"
                    )
                )
                .scalars()
                .all()
            )
            counts["tracking_gaps"] = int(sum(gaps))
    finally:
        engine.dispose()
    assert counts["raw"] == counts["raw_distinct"] == expected, counts
    assert counts["messages"] == counts["messages_distinct"] == expected, counts
    assert counts["raw_unprocessed"] == 0, counts
    assert counts["messages_without_raw"] == 0, counts
    assert counts["complaints_without_event"] == counts["complaints_without_message"] == 0, counts
    assert counts["tracking_distinct"] == counts["complaints"], counts
    assert counts["tracking_gaps"] == 0, counts
    return counts
