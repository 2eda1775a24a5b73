"""Filing a stale draft while the same citizen writes again: both finish, neither is aborted.

The message path locks the sender's contact (ingest stamps it), then the draft (the dialogue's
upsert). The scheduler's ``file_stale_drafts`` must take the same rows in the same order; with the
opposite order PostgreSQL finds a deadlock and aborts one of the two transactions.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from app.container import Container
from bot import dialogue
from jobs.pipeline import receive
from tests.conftest import Clock
from tests.integration.bot.dialogue_chat import Chat

#: Upper bound on waiting for the other thread to queue behind a lock: a safety net, never asserted.
PATIENCE = 30.0


def _someone_waits_for_a_row_lock(engine: sa.Engine) -> bool:
    """Tell whether a backend of this database waits for a lock another transaction holds."""
    with engine.connect() as conn:
        return bool(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar()
        )


def test_filing_a_stale_draft_while_its_sender_writes_again_makes_no_deadlock(
    container: Container, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    engine = container.engine
    on_postgres = engine.dialect.name == "postgresql"
    chat = Chat(container, clock, "sms", n=905)
    # A first-time citizen (no reporter yet: filing links one to the contact row) who stops answering.
    assert "nama Anda" in chat.send("Izin PBG saya belum keluar sudah tiga minggu")[0]
    clock.advance(hours=25)
    payload = chat.payload("Halo, saya mau menanyakan hal lain")

    filer_holds_first_lock = threading.Event()
    go_on = threading.Event()
    message_done = threading.Event()
    errors: list[BaseException] = []
    filed: list[int] = []
    statuses: list[int] = []
    filer: dict[str, int] = {}

    def pause_after_first_row_lock(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The filer stops right after its first row lock, until the message's transaction queues
        # behind a lock: the interleaving in which opposite lock orders deadlock.
        if threading.get_ident() == filer.get("thread") and "FOR UPDATE" in statement:
            filer["thread"] = 0
            filer_holds_first_lock.set()
            go_on.wait(PATIENCE)

    def file_stale() -> None:
        filer["thread"] = threading.get_ident()
        try:
            filed.append(dialogue.file_stale_drafts(container))
        except BaseException as exc:
            errors.append(exc)
        finally:
            filer_holds_first_lock.set()

    def write_again() -> None:
        try:
            statuses.append(receive(container, "sms", payload, verify=False).status)
        except BaseException as exc:
            errors.append(exc)
        finally:
            message_done.set()

    caplog.set_level(logging.INFO)
    sa.event.listen(engine, "after_cursor_execute", pause_after_first_row_lock)
    try:
        threads = [threading.Thread(target=file_stale), threading.Thread(target=write_again)]
        threads[0].start()
        if on_postgres:
            filer_holds_first_lock.wait(PATIENCE)
        threads[1].start()
        if on_postgres:
            for _ in range(int(PATIENCE / 0.05)):
                if message_done.is_set() or _someone_waits_for_a_row_lock(engine):
                    break
                message_done.wait(0.05)
        go_on.set()
        for t in threads:
            t.join(2 * PATIENCE)
    finally:
        go_on.set()
        sa.event.remove(engine, "after_cursor_execute", pause_after_first_row_lock)

    assert errors == []
    assert statuses == [200]
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged == []
    assert not [r for r in caplog.records if "deadlock" in r.getMessage().lower()]
    # The abandoned report was filed once, by whichever came first, and the citizen told once.
    [complaint] = chat.complaints()
    assert complaint.office == container.office.code
    replies = chat.new_replies()
    assert sum(complaint.tracking_number in r for r in replies) == 1
    assert filed in ([0], [1])
