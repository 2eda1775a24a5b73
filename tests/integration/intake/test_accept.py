"""Webhooks in background mode: answered once the payload and its job are committed, then processed.

Signed Twilio SMS webhooks (the shapes of tests/faults/harness.py, signed with the twilio package)
through the FastAPI app; the job queue (procrastinate) on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app import settings as config_mod
from app.bootstrap import build
from app.container import Container
from channels.base import RawRequest
from inbox.app import create_app
from intake import db
from intake.ingest import IngestResult, RawPayload
from intake.models import Complaint, Message, RawInbound, Reporter
from jobs import worker as jobs_worker
from jobs.pipeline import store_many_and_defer
from jobs.queue import defer_inbound_many, sender_lock
from jobs.worker import run_until_idle
from tests.conftest import TEST_ENV, Clock, settle
from tests.fakeapi import FakeAPI, Reply
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


def store(container: Container, n: int, run: str = "t", **form: Any) -> None:
    """Store one signed SMS payload and defer its job, as the webhook does (no HTTP)."""
    fields = sms_form(n, run=run, **form)
    body, headers = signed_sms(fields)
    raw = RawRequest(body=body, headers=headers, url=PUBLIC_BASE + "/hooks/sms")
    lock = sender_lock("+" + fields["From"].lstrip("+"), TEST_ENV["ADUAN_SESSION_SECRET"])
    payload = RawPayload("sms", raw, fields["MessageSid"], container.office.code, container.now())
    assert store_many_and_defer(container, [(payload, lock)], defer_inbound_many) == [True]


def work_as_two_processes(container: Container, settings: Any, clock: Clock) -> list[int]:
    """Run two workers, ``container``'s and one on its own engine (another process), at the same time."""
    url = container.engine.url.render_as_string(hide_password=False)
    other = build(settings, engine=db.create_engine(url), clock=clock, migrate=False)
    done: list[int] = []
    errors: list[BaseException] = []

    def run(c: Container) -> None:
        try:
            done.append(run_until_idle(c))
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


def test_the_raw_payload_and_its_job_commit_together(container: Container) -> None:
    """A payload is answered only once it and its job are committed; if the job cannot be added,
    nothing is stored and the provider gets an error (it retries)."""

    def failing_defer(session: Session, jobs: Sequence[tuple[int, str | None]]) -> None:
        raise RuntimeError("the job could not be added")

    body, headers = signed_sms(sms_form(1))
    raw = RawRequest(body=body, headers=headers, url=PUBLIC_BASE + "/hooks/sms")
    with pytest.raises(RuntimeError):
        payload = RawPayload("sms", raw, "SM-x", container.office.code, container.now())
        store_many_and_defer(container, [(payload, "sender:x")], failing_defer)
    assert count(container, RawInbound) == 0
    with container.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM procrastinate_jobs")).scalar_one() == 0


async def test_webhooks_arriving_together_share_a_commit_and_each_is_stored_once(
    container: Container,
) -> None:
    """Concurrent requests are committed together (fewer transactions than requests), every one is
    answered only after its commit, and replays among them store and defer nothing."""

    commits: list[int] = []
    sa.event.listen(container.engine, "commit", lambda conn: commits.append(1))
    forms = [sms_form(n, run="g") for n in range(30)]
    bodies = [signed_sms(f) for f in forms] + [signed_sms(f) for f in forms[:10]]  # 10 replays
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_BASE) as client:
        answers = await asyncio.gather(
            *(client.post("/hooks/sms", content=body, headers=headers) for body, headers in bodies)
        )
    assert [a.status_code for a in answers] == [200] * 40
    assert count(container, RawInbound) == 30
    with container.engine.connect() as conn:
        jobs = conn.execute(sa.text("SELECT count(*), count(DISTINCT lock) FROM procrastinate_jobs")).one()
    assert tuple(jobs) == (30, 30)  # one job per new payload, each under its sender's lock
    assert 0 < len(commits) < 30
    assert settle(container) == 30
    assert count(container, Message) == 30


def test_a_batch_stores_a_payload_given_twice_once(container: Container) -> None:
    body, headers = signed_sms(sms_form(1))
    raw = RawRequest(body=body, headers=headers, url=PUBLIC_BASE + "/hooks/sms")
    first = RawPayload("sms", raw, "SM-1", container.office.code, container.now())
    other = RawPayload("sms", raw, "SM-2", container.office.code, container.now())
    assert store_many_and_defer(container, [(first, "sender:a")], defer_inbound_many) == [True]
    batch = [(first, "sender:a"), (other, "sender:a"), (other, "sender:a")]
    assert store_many_and_defer(container, batch, defer_inbound_many) == [False, True, False]
    assert count(container, RawInbound) == 2
    assert settle(container) == 2


def test_database_unreachable_answers_unavailable(settings: config_mod.Settings, clock: Clock) -> None:
    broken = db.create_engine("postgresql+psycopg://postgres@127.0.0.1:9/aduan", pool_pre_ping=False)
    container = build(settings, engine=broken, clock=clock, migrate=False)
    client = TestClient(create_app(container))
    body, headers = signed_sms(sms_form(1))
    answer = client.post("/hooks/sms", content=body, headers=headers)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "10"


def test_payloads_stored_before_a_crash_are_processed_by_the_next_worker(
    container: Container, settings: config_mod.Settings
) -> None:
    for n in range(5):
        store(container, n)
    assert count(container, Message) == 0  # the process died before processing them
    settings.jobs = dataclasses.replace(settings.jobs, worker_in_web=True)
    with TestClient(create_app(container)):  # a new `aduan serve`: its worker takes the jobs it finds
        deadline = time.monotonic() + 60
        while count(container, RawInbound, RawInbound.status == "stored") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert count(container, Message) == 5
    assert count(container, RawInbound, RawInbound.status == "processed") == 5


def test_two_workers_process_each_payload_once(container: Container, settings: Any, clock: Clock) -> None:
    """Two processes (two containers, two engines) take jobs from the same queue at the same time."""
    for n in range(120):
        store(container, n)
    work_as_two_processes(container, settings, clock)
    with container.engine.connect() as conn:
        starts = conn.execute(
            sa.text(
                "SELECT count(e.id) FROM procrastinate_jobs j JOIN procrastinate_events e "
                "ON e.job_id = j.id AND e.type = 'started' "
                "WHERE j.task_name = 'process_inbound' GROUP BY j.id"
            )
        ).scalars()
        assert sorted(starts) == [1] * 120  # every job ran, none twice
    assert count(container, Message) == 120
    with db.session(container.engine) as s:
        ids = [m.external_id for m in s.exec(select(Message)).all()]
    assert len(set(ids)) == 120


def test_conversations_stay_in_order_while_two_workers_run_side_by_side(
    container: Container, settings: Any, clock: Clock
) -> None:
    """Twelve citizens' four-step conversations, interleaved, processed by two processes at once.

    Each conversation only makes its complaint (with the name from step 2 and the date from step 3)
    when its steps are processed in order: the job's lock is the sender.
    """
    client = TestClient(create_app(container))
    senders = 12
    for n in range(senders * len(CONVERSATION)):  # step 0 of everyone, then step 1 of everyone, …
        assert post(client, sms_form(n, senders=senders, run="lanes")) == 200
    work_as_two_processes(container, settings, clock)
    with db.session(container.engine) as s:
        rows = s.exec(select(RawInbound)).all()
        assert {r.status for r in rows} == {"processed"}
        complaints = s.exec(select(Complaint)).all()
        assert len(complaints) == senders
        for complaint in complaints:
            reporter = s.get(Reporter, complaint.reporter_id)
            assert reporter is not None and reporter.name == "Budi Santoso"
            assert complaint.service_date == dt.date(2026, 3, 1)


def test_a_senders_jobs_share_one_lock_and_other_senders_have_their_own(container: Container) -> None:
    client = TestClient(create_app(container))
    for n in (1, 501, 2):  # sender 1 twice (two steps of one conversation), sender 2 once
        assert post(client, sms_form(n, senders=500)) == 200
    with container.engine.connect() as conn:
        locks = conn.execute(sa.text("SELECT lock FROM procrastinate_jobs ORDER BY id")).scalars().all()
    assert locks[0] == locks[1] != locks[2]
    assert all(lock and lock.startswith("sender:") and "62812" not in lock for lock in locks)  # no number


def test_a_payload_that_keeps_failing_is_quarantined_not_retried_forever(container: Container) -> None:
    calls: list[int] = []

    def broken(c: Container, s: Session, result: IngestResult, now: dt.datetime) -> bool:
        calls.append(1)
        raise RuntimeError("a bug in a hook")

    container.message_hooks.insert(0, broken)
    client = TestClient(create_app(container))
    assert post(client, sms_form(1)) == 200
    settle(container)  # the job fails, is retried (no wait in tests), and gives up after its attempts
    with db.session(container.engine) as s:
        [row] = s.exec(select(RawInbound)).all()
        # officers read this reason: plain words, no exception text (issue 17, item 6)
        assert row.status == "quarantined" and row.error
        assert "RuntimeError" not in row.error and "a bug in a hook" not in row.error
        assert row.body  # kept as received, shown to officers
    assert len(calls) == 3  # [jobs] inbound_attempts of the tests' settings
    assert count(container, Message) == 0  # each savepoint rolled the half-done work back
    assert settle(container) == 0
    container.message_hooks.remove(broken)


def test_inline_mode_processes_inside_the_request(
    config_data: dict[str, Any], engine: Any, clock: Clock
) -> None:
    config_data["intake"]["processing"] = "inline"
    settings = config_mod.from_dict(config_data, env=dict(TEST_ENV))
    container = build(settings, engine=engine, clock=clock, migrate=False)
    client = TestClient(create_app(container))
    assert post(client, sms_form(2)) == 200
    assert count(container, Message) == 1  # no worker needed


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


def test_replies_a_provider_never_answers_do_not_hold_up_citizens_messages(
    config_data: dict[str, Any], engine: sa.Engine, clock: Clock
) -> None:
    """The sending lane has enough slots to fill the event loop's default threads. While every
    send hangs at the provider, the processing lane still takes new citizens' messages in."""
    slots = min(32, (os.cpu_count() or 1) + 4) + 1  # more than asyncio's default thread pool holds
    hang = Reply(201, {"sid": "SMx"}, delay=20)
    with FakeAPI({("POST", "/2010-04-01/Accounts/"): lambda req: hang}) as api:
        config_data["channels"]["sms"]["api_base_url"] = api.url
        config_data["jobs"]["concurrency"] = slots
        container = build(
            config_mod.from_dict(config_data, env=dict(TEST_ENV)), engine=engine, clock=clock, migrate=False
        )
        stop = threading.Event()

        async def work() -> None:
            task = asyncio.create_task(jobs_worker.run(container, triggers=False))
            while not stop.is_set():
                await asyncio.sleep(0.1)
            task.cancel()

        def wait_for(what: Any, deadline: float) -> None:
            end = time.monotonic() + deadline
            while not what() and time.monotonic() < end:
                time.sleep(0.1)

        thread = threading.Thread(target=asyncio.run, args=(work(),), daemon=True)
        thread.start()
        try:
            for n in range(slots):  # each a citizen of their own, each answered by the bot
                store(container, n, run="first")
            # every reply is now stuck at the provider, each holding a thread
            wait_for(lambda: len(api.requests_to("POST", "/2010-04-01/")) >= slots, 15)
            assert len(api.requests_to("POST", "/2010-04-01/")) >= slots
            for n in range(slots):
                store(container, n, run="second")
            wait_for(lambda: count(container, Message) >= 2 * slots, 10)
            processed = count(container, Message)
        finally:
            stop.set()
            thread.join(30)
    assert processed == 2 * slots
