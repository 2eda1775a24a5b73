"""``aduan worker`` end to end: two at once, the sweep catches up on start once, SIGTERM stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from app import settings as config_mod
from app.bootstrap import build
from intake import db
from intake.workflow_models import DeadlineAlert
from jobs import queue as queues
from jobs import worker as jobs_worker
from tests.conftest import ROOT, TEST_ENV
from tests.integration.workflow.helpers import file, make_staff


def test_two_workers_sweep_on_start_and_send_each_alert_once(db_url: str, tmp_path: Path) -> None:
    """Service down since March: on start the sweep sends the missed alerts, marked late, once.

    Two ``aduan worker`` processes run the same triggers at the same time (no leader): each tick of
    the sweep runs in one of them only, so no alert is made twice; when one stops, the other goes on.
    """
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('url = ""', f'url = "{db_url}"')
    cfg = tmp_path / "config.toml"
    cfg.write_text(text, encoding="utf-8")
    env = {**os.environ, **TEST_ENV, "ADUAN_CONFIG": str(cfg), "PYTHONPATH": str(ROOT)}
    env.pop("ADUAN_DATABASE_URL", None)
    container = build(config_mod.load(cfg, env=env))
    staff = make_staff(container)
    file(container, assignee=staff["petugas"])  # received 10 March 2026; the real clock is long past it
    container.engine.dispose()
    aduan = [sys.executable, "-c", "from cli.main import main; main()", "worker"]
    first = subprocess.Popen(aduan, env=env, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(aduan, env=env, stderr=subprocess.PIPE, text=True)
    engine = db.create_engine(db_url)
    try:
        end = time.monotonic() + 90
        # Both processes are running workers (one row per lane each) before either is judged: on a
        # busy machine one may still be starting, SIGTERM's handler not yet installed, when the
        # other has already swept.
        lanes = 2 * len(jobs_worker.lanes(queues.QUEUES))
        running = 0
        while time.monotonic() < end and running < lanes:
            time.sleep(0.2)
            with engine.connect() as conn:
                running = conn.execute(sa.text("SELECT count(*) FROM procrastinate_workers")).scalar_one()
        assert running == lanes, running
        rows: list[DeadlineAlert] = []
        while time.monotonic() < end and len(rows) < 4:
            time.sleep(0.2)
            with db.session(engine) as s:
                rows = list(s.exec(select(DeadlineAlert)).all())
        assert sorted(r.checkpoint for r in rows) == sorted(
            # no progress notice: the date it would promise has long passed
            ["reminder", "section_head", "head", "overdue"]
        )
        assert all(r.late for r in rows if r.checkpoint != "overdue")
        with engine.connect() as conn:
            sweeps = conn.execute(
                sa.text(
                    "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'periodic:deadline_sweep' "
                    "GROUP BY args->>'timestamp'"
                )
            ).scalars()
            assert set(sweeps) == {1}  # both workers fired every tick; one job per tick ran
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
        assert second.poll() is None  # the other worker goes on, nobody had to take over
        with db.session(engine) as s:
            assert len(s.exec(select(DeadlineAlert)).all()) == len(rows)  # nothing sent twice
    finally:
        engine.dispose()
        for proc in (first, second):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    if second.returncode not in (0, -signal.SIGKILL):
        pytest.fail(second.stderr.read() if second.stderr else "second worker failed")
