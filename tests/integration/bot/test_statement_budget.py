"""The inbound path's statement budget: one chat message or one complete filing is a few statements.

A guard against regressions that no behaviour test sees: an ORM autoflush splitting one draft
update into five, an INSERT followed by a SELECT of the same row, a query per hook. It counts the
SQL statements one SMS payload costs through ``jobs.pipeline.receive`` (store raw, ingest, survey
and dialogue hooks, outbox).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from app.container import Container
from jobs.pipeline import receive
from tests.conftest import Clock
from tests.integration.bot.dialogue_chat import Chat

#: Statements one chat message may cost (a first message took 23, an answer 15, before the
#: inbound path used one cached RETURNING statement per row).
CHAT_BUDGET = 12
#: Statements a complete submission filed at once may cost (19 before).
FILING_BUDGET = 14


@contextlib.contextmanager
def counted(engine: sa.Engine) -> Iterator[list[str]]:
    """Collect the SQL statements sent while the block runs (BEGIN left out)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):
            seen.append(" ".join(statement.split()[:3]))

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def _send(chat: Chat, text: str) -> tuple[list[str], list[str]]:
    """Send one chat message; return the bot's replies and the statements its payload cost."""
    chat.clock.advance(seconds=30)
    payload = chat.payload(text)
    with counted(chat.container.engine) as seen:
        assert receive(chat.container, chat.channel, payload, verify=False).status == 200
    return chat.new_replies(), seen


def test_a_first_chat_message_stays_within_the_statement_budget(container: Container, clock: Clock) -> None:
    chat = Chat(container, clock, "sms", n=801)
    replies, seen = _send(chat, "Izin PBG saya sudah tiga minggu belum selesai, mohon dibantu.")
    assert "nama Anda" in replies[0]  # greeted, and asked the first open question
    assert len(seen) <= CHAT_BUDGET, seen


def test_an_answer_in_a_conversation_stays_within_the_statement_budget(
    container: Container, clock: Clock
) -> None:
    chat = Chat(container, clock, "sms", n=802)
    chat.send("Izin PBG saya belum keluar sudah tiga minggu")
    replies, seen = _send(chat, "Budi Santoso")
    assert "Kapan Anda menerima layanan" in replies[0]
    assert len(seen) <= CHAT_BUDGET, seen


def test_a_complete_submission_stays_within_the_statement_budget(container: Container, clock: Clock) -> None:
    chat = Chat(container, clock, "sms", n=803)
    payload = chat.payload("Nama saya Siti Aminah. Izin PBG saya sudah tiga minggu belum selesai.")
    with counted(container.engine) as seen:
        receipt = receive(container, "sms", payload, verify=False, complete=True)
    [result] = receipt.results
    assert result.complaint is not None and result.complaint.tracking_number.startswith("PWK-")
    assert len(seen) <= FILING_BUDGET, seen
