"""The dialogue's state lives in the database: restarts lose nothing, concurrent messages make one draft."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlmodel import select

from app.bootstrap import build
from app.container import Container
from bot import dialogue
from bot.dialogue import DialogueDraft
from channels.base import InboundMessage
from intake import db
from intake.ingest import IngestResult, ingest
from intake.models import Message
from jobs.pipeline import receive
from tests.conftest import Clock
from tests.integration.bot.dialogue_chat import Chat


def _second_process(container: Container, clock: Clock) -> Container:
    """A new Container with its own engine on the same database, as another process would have."""
    url = container.engine.url.render_as_string(hide_password=False)
    return build(container.settings, engine=db.create_engine(url), clock=clock, migrate=False)


def _drafts(engine: sa.Engine, sender: str) -> list[DialogueDraft]:
    with db.session(engine) as s:
        return list(s.exec(select(DialogueDraft).where(DialogueDraft.sender_urn == sender)).all())


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_restart_in_the_middle_of_a_conversation_loses_nothing(
    container: Container, clock: Clock, channel: str
) -> None:
    before = Chat(container, clock, channel)
    assert "nama Anda" in before.send("Izin PBG saya belum keluar")[0]
    restarted = _second_process(container, clock)
    after = Chat(restarted, clock, channel)
    after.seen = before.seen
    assert "Kapan Anda menerima layanan" in after.send("Budi Santoso")[0]
    summary = after.send("kemarin")[0]
    assert "Izin PBG saya belum keluar" in summary and "Nama: Budi Santoso" in summary
    after.send("YA")
    [complaint] = after.complaints()
    assert complaint.kind == "pengaduan" and complaint.service_code == "pbg"
    assert len(after.messages_of(complaint)) == 4
    restarted.engine.dispose()


def test_two_processes_handling_two_messages_of_the_same_sender_make_one_draft(
    container: Container, clock: Clock
) -> None:
    """The hook itself under a real race: both transactions are open before either touches the draft."""
    sender = "whatsapp:+6281200000555"
    texts = ["sudah 3 minggu belum ada kabar", "berkas saya lengkap semua"]
    stored: list[Message] = []
    with db.write_session(container.engine) as s:
        # The sender is mid-conversation: the draft row exists, so only the row lock keeps both updates.
        first = InboundMessage(
            channel="whatsapp", external_id="race-0", sender=sender, text="pak izin saya belum keluar"
        )
        result = ingest(session=s, message=first, now=clock(), office=container.office)
        dialogue.on_message(container, s, result, clock())
        for i, text in enumerate(texts, start=1):
            msg = InboundMessage(channel="whatsapp", external_id=f"race-{i}", sender=sender, text=text)
            stored.append(ingest(session=s, message=msg, now=clock(), office=container.office).message)
    processes = [_second_process(container, clock) for _ in texts]
    barrier = threading.Barrier(len(texts), timeout=20)
    errors: list[BaseException] = []

    def handle(process: Container, message: Message) -> None:
        try:
            with db.write_session(process.engine) as s:
                row = s.get(Message, message.id)
                assert row is not None
                barrier.wait()  # both transactions are open now
                dialogue.on_message(process, s, IngestResult(row, None, duplicate=False), clock())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=handle, args=(p, m)) for p, m in zip(processes, stored, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    [draft] = _drafts(container.engine, sender)
    ids = [int(i) for i in draft.message_ids.strip("[]").split(",")]
    assert len(ids) == 3 and {m.id for m in stored} <= set(ids)
    assert texts[0] in draft.text and texts[1] in draft.text and "pak izin" in draft.text
    assert draft.state == dialogue.ASK_SERVICE
    for p in processes:
        p.engine.dispose()


def test_two_webhook_deliveries_at_once_through_the_pipeline_make_one_draft(
    container: Container, clock: Clock
) -> None:
    chat = Chat(container, clock, "sms", n=556)
    payloads = [chat.payload("pak izin saya belum keluar"), chat.payload("sudah 3 minggu belum ada kabar")]
    processes = [_second_process(container, clock) for _ in payloads]
    barrier = threading.Barrier(len(payloads), timeout=20)
    statuses: list[int] = []

    def deliver(process: Container, index: int) -> None:
        barrier.wait()
        statuses.append(receive(process, "sms", payloads[index], verify=False).status)

    threads = [threading.Thread(target=deliver, args=(p, i)) for i, p in enumerate(processes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [200, 200]
    [draft] = _drafts(container.engine, chat.sender)
    assert draft.message_ids.count(",") == 1  # both messages joined the one draft
    assert "Layanan apa" in chat.replies()[0]
    for p in processes:
        p.engine.dispose()
