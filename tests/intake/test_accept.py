"""Webhooks in background mode: answered once the raw payload is committed, processed right after.

Signed Twilio SMS webhooks (the shapes of tests/faults/harness.py, signed with the twilio package)
through the FastAPI app; the group-commit writer and the drainer of ``bot/accept.py`` on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bot import accept
from bot import config as config_mod
from bot.bootstrap import Container, build
from bot.pipeline import DatabaseUnavailable, reprocess_pending
from channels.base import RawRequest
from inbox.app import create_app
from intake import db
from intake.ingest import IngestResult
from intake.models import Complaint, Message, RawInbound, Reporter
from tests.conftest import TEST_ENV, Clock, settle
from tests.faults.harness import CONVERSATION, PUBLIC_BASE, signed_sms, sms_form


@pytest.fixture
def config_data(config_data: dict[str, Any]) -> dict[str, Any]:
    """The demo office as Twilio sees it (the public URL its signatures cover)."""
    config_data["office"]["public_base_url"] = PUBLIC_BASE
    config_data.setdefault("intake", {})["processing"] = "background"
    return config_data


def post(client: TestClient, form: dict[str, str]) -> int:
    body, headers = signed_sms(form)
    return client.post("/hooks/sms", content=body, headers=headers).status_code


def count(container: Container, model: Any, *where: Any) -> int:
    with db.session(container.engine) as s:
        return len(s.exec(select(model).where(*where)).all())


def arrival(container: Container, n: int, run: str = "t") -> accept.Arrival:
    body, headers = signed_sms(sms_form(n, run=run))
    raw = RawRequest(body=body, headers=headers, url=PUBLIC_BASE + "/hooks/sms")
    sid = sms_form(n, run=run)["MessageSid"]
    return accept.Arrival("sms", sid, raw, container.now(), container.office.code)


def drain_as_two_processes(container: Container, settings: Any, clock: Clock) -> list[int]:
    """Drain with ``container`` and a second one on its own engine (another process) at the same time."""
    url = container.engine.url.render_as_string(hide_password=False)
    other = build(settings, engine=db.create_engine(url), clock=clock, migrate=False)
    done: list[int] = []
    errors: list[BaseException] = []

    def run(c: Container) -> None:
        try:
            done.append(accept.drain(c))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in (container, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    other.engine.dispose()
    assert errors == []
    return done


def test_answered_webhook_is_stored_and_then_becomes_a_message(container: Container) -> None:
    client = TestClient(create_app(container))
    assert post(client, sms_form(1)) == 200
    # the answer means "committed": the raw payload is there whatever happens next
    assert count(container, RawInbound) == 1
    settle(container)
    with db.session(container.engine) as s:
        [row] = s.exec(select(RawInbound)).all()
        [message] = s.exec(select(Message)).all()
        assert row.status == "processed" and message.raw_id == row.id
        assert message.text == CONVERSATION[0].format(n=1)


def test_replays_of_one_provider_message_make_one_record(container: Container) -> None:
    client = TestClient(create_app(container))
    form = sms_form(7)
    assert [post(client, form) for _ in range(3)] == [200, 200, 200]
    settle(container)
    assert post(client, form) == 200  # a replay after processing changes nothing either
    settle(container)
    assert count(container, RawInbound) == 1
    assert count(container, Message) == 1


def test_a_citizens_messages_are_processed_in_the_order_they_arrived(container: Container) -> None:
    """Four messages of one sender make one complaint through the dialogue, in their order."""
    client = TestClient(create_app(container))
    for step in range(len(CONVERSATION)):
        assert post(client, sms_form(3 + step * 500)) == 200  # same sender, the conversation's steps
    settle(container)
    with db.session(container.engine) as s:
        [complaint] = s.exec(select(Complaint)).all()
        assert complaint.text.startswith(CONVERSATION[0].format(n=3))
        reporter = s.get(Reporter, complaint.reporter_id)
        assert reporter is not None and reporter.name == "Budi Santoso"
        assert complaint.service_date == dt.date(2026, 3, 1)


def test_concurrent_payloads_share_commits(container: Container) -> None:
    """Payloads that arrive while a commit runs are stored together in the next one."""
    writer = accept.GroupCommitWriter(container.engine)
    first_commit_started, release = threading.Event(), threading.Event()
    real_commit = writer._commit

    def slow_first(rows: list[dict[str, Any]]) -> None:
        if not first_commit_started.is_set():
            first_commit_started.set()
            release.wait(10)
        real_commit(rows)

    writer._commit = slow_first  # type: ignore[method-assign]
    futures = [writer.submit(arrival(container, 0))]
    assert first_commit_started.wait(10)
    futures += [writer.submit(arrival(container, n)) for n in range(1, 40)]
    futures.append(writer.submit(arrival(container, 5)))  # a replay inside the same group
    release.set()
    for future in futures:
        future.result(10)
    writer.close()
    assert (writer.commits, writer.stored) == (2, 41)
    assert count(container, RawInbound) == 40


def test_database_unreachable_fails_every_waiting_payload_with_unavailable(
    settings: config_mod.Settings, clock: Clock, tmp_path: Any
) -> None:
    broken = db.create_engine(f"sqlite:///{tmp_path}/missing-folder/aduan.db")
    container = build(settings, engine=broken, clock=clock, migrate=False)
    writer = accept.GroupCommitWriter(broken)
    futures = [writer.submit(arrival(container, n)) for n in range(3)]
    for future in futures:
        with pytest.raises(DatabaseUnavailable):
            future.result(10)
    client = TestClient(create_app(container))
    body, headers = signed_sms(sms_form(1))
    answer = client.post("/hooks/sms", content=body, headers=headers)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "10"
    writer.close()


def test_payloads_stored_before_a_crash_are_processed_when_the_service_starts(
    container: Container,
) -> None:
    writer = accept.GroupCommitWriter(container.engine)
    for n in range(5):
        writer.submit(arrival(container, n)).result(10)
    writer.close()
    assert count(container, Message) == 0  # the process died before processing them
    with TestClient(create_app(container)):  # a new process: its startup drains what it finds
        deadline = time.monotonic() + 30
        while count(container, RawInbound, RawInbound.status == "stored") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert count(container, Message) == 5
    assert count(container, RawInbound, RawInbound.status == "processed") == 5


def test_two_drainers_process_each_payload_once(container: Container, settings: Any, clock: Clock) -> None:
    """Two processes (two containers, two engines) drain the same table at the same time."""
    writer = accept.GroupCommitWriter(container.engine)
    for n in range(120):
        writer.submit(arrival(container, n)).result(10)
    writer.close()
    assert sum(drain_as_two_processes(container, settings, clock)) == 120
    assert count(container, Message) == 120
    with db.session(container.engine) as s:
        ids = [m.external_id for m in s.exec(select(Message)).all()]
    assert len(set(ids)) == 120


def test_conversations_stay_in_order_while_two_drainers_take_lanes_side_by_side(
    container: Container, settings: Any, clock: Clock
) -> None:
    """Twelve citizens' four-step conversations, interleaved, drained by two processes at once.

    Each conversation only makes its complaint (with the name from step 2 and the date from step 3)
    when its steps are processed in order; on PostgreSQL the two drainers work different lanes.
    """
    client = TestClient(create_app(container))
    senders = 12
    for n in range(senders * len(CONVERSATION)):  # step 0 of everyone, then step 1 of everyone, …
        assert post(client, sms_form(n, senders=senders, run="lanes")) == 200
    drain_as_two_processes(container, settings, clock)
    with db.session(container.engine) as s:
        rows = s.exec(select(RawInbound)).all()
        assert {r.status for r in rows} == {"processed"}
        assert len({r.lane for r in rows}) > 1  # the senders are spread over lanes
        complaints = s.exec(select(Complaint)).all()
        assert len(complaints) == senders
        for complaint in complaints:
            reporter = s.get(Reporter, complaint.reporter_id)
            assert reporter is not None and reporter.name == "Budi Santoso"
            assert complaint.service_date == dt.date(2026, 3, 1)


def test_a_numbers_sms_and_whatsapp_share_a_lane() -> None:
    from channels.base import InboundMessage

    def message(sender: str) -> InboundMessage:
        return InboundMessage(channel="sms", external_id="x", sender=sender, text="")

    sms, whatsapp = message("tel:+6281277000001"), message("whatsapp:+6281277000001")
    assert accept.lane_of([sms]) == accept.lane_of([whatsapp])
    assert len({accept.lane_of([message(f"tel:+62812770000{i:02d}")]) for i in range(40)}) > 4
    assert accept.lane_of([]) == 0  # a status report carries no sender


def test_processing_rests_during_a_burst_and_keeps_up_with_steady_traffic() -> None:
    # 5,000 webhooks a second (a provider's backlog): a tenth of the time goes to processing
    assert accept.pause_after(0.010, 50) == pytest.approx(0.090)
    # 300 a second, an office's busiest hour many times over: no rest, nothing piles up
    assert accept.pause_after(0.010, 3) == 0.0
    assert accept.pause_after(0.010, 0) == 0.0


def test_a_payload_that_fails_twice_is_quarantined_not_retried_forever(container: Container) -> None:
    def broken(c: Container, s: Session, result: IngestResult, now: dt.datetime) -> bool:
        raise RuntimeError("a bug in a hook")

    container.message_hooks.insert(0, broken)
    client = TestClient(create_app(container))
    assert post(client, sms_form(1)) == 200
    settle(container)
    with db.session(container.engine) as s:
        [row] = s.exec(select(RawInbound)).all()
        # officers read this reason: plain words, no exception text (issue 17, item 6); the log has the type
        assert row.status == "stored" and (row.error or "").startswith("processing failed because of a fault")
        assert "RuntimeError" not in (row.error or "") and "a bug in a hook" not in (row.error or "")
    assert count(container, Message) == 0  # the savepoint rolled the half-done work back
    assert settle(container) == 0  # the drainer leaves it to the scheduled retry
    reprocess_pending(container)
    with db.session(container.engine) as s:
        [row] = s.exec(select(RawInbound)).all()
        assert row.status == "quarantined"
    container.message_hooks.remove(broken)


def test_inline_mode_processes_inside_the_request(
    config_data: dict[str, Any], engine: Any, clock: Clock
) -> None:
    config_data["intake"]["processing"] = "inline"
    settings = config_mod.from_dict(config_data, env=dict(TEST_ENV))
    container = build(settings, engine=engine, clock=clock, migrate=False)
    client = TestClient(create_app(container))
    assert post(client, sms_form(2)) == 200
    assert count(container, Message) == 1  # no drain needed
    assert "drainer" not in container.services


def test_forged_and_malformed_webhooks_are_refused_at_once(container: Container) -> None:
    client = TestClient(create_app(container))
    body, headers = signed_sms(sms_form(1), token="stolen-token")
    assert client.post("/hooks/sms", content=body, headers=headers).status_code == 403
    form = sms_form(2)
    del form["From"]  # no sender: not a message Twilio would send
    body, headers = signed_sms(form)
    answer = client.post("/hooks/sms", content=body, headers=headers)
    assert answer.status_code == 400 and "From" in answer.json()["error"]
    with db.session(container.engine) as s:
        [row] = s.exec(select(RawInbound)).all()
        assert row.status == "quarantined" and row.body == body  # kept as received, with the reason
