"""/metrics (Prometheus text format) and /readyz read the whole deployment's state from the database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.container import Container
from channels.base import RawRequest
from inbox import ops
from intake import db
from intake.ingest import RawPayload
from jobs import tasks
from jobs.pipeline import receive, store_many_and_defer
from jobs.queue import defer_inbound_many
from ops import heartbeat
from outbound import escalation
from outbound.outbox import enqueue
from tests.conftest import settle

SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+-]+)$")


def _submit(
    container: Container, n: int, *, text: str = "Izin PBG saya belum keluar sudah dua bulan"
) -> None:
    body = json.dumps(
        {"id": f"m{n}", "name": "Siti Aminah", "contact": "+628123450000", "text": text}
    ).encode()
    receipt = receive(container, "web", RawRequest(body=body), verify=False, complete=True)
    assert receipt.status == 200


def _parse(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ ", line), line
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


def _router_app(container: Container, *, open_metrics: bool = True) -> TestClient:
    # These tests read the figures: the operator's opt-out of the token (see the token tests below).
    container.settings.security = dataclasses.replace(
        container.settings.security, metrics_without_token=open_metrics
    )
    app = FastAPI()
    app.state.container = container
    app.include_router(ops.router)
    return TestClient(app)


def test_metrics_count_messages_outbox_quarantine_and_overdue(container: Container, clock) -> None:
    _submit(container, 1)
    _submit(container, 2)
    bad = receive(container, "web", RawRequest(body=b"not json"), verify=False)
    assert bad.status == 400
    with db.write_session(container.engine) as s:
        enqueue(s, channel="sms", to="tel:+628123450000", text="Terima kasih", now=clock.now)
    # R4: 14 working days later plus one more day, the two open complaints are overdue
    clock.advance(days=30)
    heartbeat.beat(container.engine, "sweep", now=clock.now, duration=0.25, interval=60)
    client = _router_app(container)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _parse(response.text)
    assert samples['aduan_messages_in_total{channel="web"}'] == 2
    assert samples["aduan_raw_quarantined"] == 1
    assert samples['aduan_raw_payloads_total{channel="web",status="processed"}'] == 2
    assert samples['aduan_outbox_messages{channel="sms",status="queued"}'] == 1
    assert samples["aduan_outbox_backlog"] == 1
    assert samples['aduan_complaints_overdue{office="pwk"}'] == 2
    assert samples["aduan_sweep_duration_seconds"] == 0.25
    assert samples['aduan_heartbeat_age_seconds{name="sweep"}'] == 0


def test_metrics_carry_no_personal_data(container: Container) -> None:
    _submit(container, 1, text="Petugas meminta uang tambahan untuk berkas saya")
    text = _router_app(container).get("/metrics").text
    for secret in ("Siti", "Aminah", "8123450000", "uang tambahan"):
        assert secret not in text


def test_metrics_token_is_required_when_set(container: Container) -> None:
    container.settings.env = dict(container.settings.env) | {"ADUAN_METRICS_TOKEN": "s3cret-token"}
    client = _router_app(container)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200


def test_metrics_need_a_token_unless_the_operator_opts_out(container: Container) -> None:
    assert container.settings.secret("ADUAN_METRICS_TOKEN") is None
    assert _router_app(container, open_metrics=False).get("/metrics").status_code == 401
    assert _router_app(container, open_metrics=True).get("/metrics").status_code == 200


def test_readiness_reports_a_stale_poller_as_degraded(container: Container, clock) -> None:
    heartbeat.beat(container.engine, "poller:email", now=clock.now, interval=60)
    code, doc = ops.readiness(container)
    assert (code, doc["status"], doc["workers"]["poller:email"]["state"]) == (200, "ok", "ok")
    clock.advance(minutes=10)
    code, doc = ops.readiness(container)
    assert (code, doc["status"], doc["workers"]["poller:email"]["state"]) == (200, "degraded", "stale")


def test_readiness_without_heartbeats_checks_only_the_database(container: Container) -> None:
    assert ops.readiness(container) == (200, {"status": "ok", "database": "ok"})


def test_heartbeat_upserts_one_row_per_name(container: Container, clock) -> None:
    heartbeat.beat(container.engine, "outbox", now=clock.now, duration=0.1)
    heartbeat.beat(
        container.engine,
        "outbox",
        now=clock.now + dt.timedelta(seconds=5),
        status="error",
        detail="TemporaryFailure",
    )
    [row] = heartbeat.read_all(container.engine)
    assert (row.name, row.status, row.detail, row.duration_ms) == (
        "outbox",
        "error",
        "TemporaryFailure",
        None,
    )


def failing_poll(_: Container) -> None:
    """A poller whose server is down."""
    raise RuntimeError("imap down")


def test_periodic_jobs_beat_so_every_web_process_sees_the_sweep(
    container: Container, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        tasks,
        "PERIODIC_JOBS",
        [
            tasks.PeriodicJob("deadline_sweep", escalation.run_sweep, 60),
            tasks.PeriodicJob("email_watch", failing_poll, 30),
        ],
    )
    app = tasks.build_app(container)
    app.tasks["periodic:deadline_sweep"](timestamp=0)  # what a worker runs for one tick
    app.tasks["periodic:email_watch"](timestamp=0)  # fails: logged, beaten as an error, not raised
    samples = _parse(_router_app(container).get("/metrics").text)
    assert samples["aduan_sweep_duration_seconds"] >= 0
    code, doc = ops.readiness(container)
    assert doc["workers"]["deadline_sweep"]["state"] == "ok"
    assert (code, doc["status"], doc["workers"]["email_watch"]["state"]) == (200, "degraded", "error")


def test_metrics_show_the_payloads_waiting_for_their_jobs_and_their_age(container: Container, clock) -> None:
    client = _router_app(container)
    assert _parse(client.get("/metrics").text)["aduan_raw_waiting"] == 0
    body = json.dumps({"id": "w1", "name": "Siti Aminah", "contact": "+628123450000", "text": "x"}).encode()
    # answered and stored with its job, no worker has run yet
    payload = RawPayload("web", RawRequest(body=body), "w1", container.office.code, container.now())
    assert store_many_and_defer(container, [(payload, None)], defer_inbound_many) == [True]
    clock.advance(seconds=90)
    samples = _parse(client.get("/metrics").text)
    assert samples["aduan_raw_waiting"] == 1
    assert samples["aduan_raw_waiting_oldest_seconds"] == 90
    assert samples['aduan_jobs{queue="inbound",status="todo"}'] == 1
    settle(container)
    samples = _parse(client.get("/metrics").text)
    assert (samples["aduan_raw_waiting"], samples["aduan_raw_waiting_oldest_seconds"]) == (0, 0)
