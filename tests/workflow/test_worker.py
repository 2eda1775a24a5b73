"""``aduan worker`` end to end: it takes the lead, catches up on start, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import select

from bot import config as config_mod
from bot.bootstrap import build
from intake import db
from intake.workflow_models import DeadlineAlert
from tests.conftest import ROOT, TEST_ENV
from tests.workflow.helpers import file, make_staff


def test_worker_sweeps_on_start_and_a_second_worker_stands_by(tmp_path: Path) -> None:
    """Service down since March: on start the leader sends the missed alerts, marked late, once."""
    db_file = tmp_path / "aduan.db"
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('url = "sqlite:///aduan.db"', f'url = "sqlite:///{db_file}"')
    cfg = tmp_path / "config.toml"
    cfg.write_text(text, encoding="utf-8")
    env = {**os.environ, **TEST_ENV, "ADUAN_CONFIG": str(cfg), "PYTHONPATH": str(ROOT)}
    env.pop("ADUAN_DATABASE_URL", None)
    container = build(config_mod.load(cfg, env=env))  # migrates the fresh file
    staff = make_staff(container)
    file(container, assignee=staff["petugas"])  # received 10 March 2026; the real clock is long past it
    container.engine.dispose()
    aduan = [sys.executable, "-c", "from bot.cli import main; main()", "worker"]
    first = subprocess.Popen(aduan, env=env, stderr=subprocess.PIPE, text=True)
    second = None
    try:
        engine = db.create_engine(f"sqlite:///{db_file}")
        end = time.monotonic() + 60
        rows: list[DeadlineAlert] = []
        while time.monotonic() < end and len(rows) < 4:
            time.sleep(0.2)
            with db.session(engine) as s:
                rows = list(s.exec(select(DeadlineAlert)).all())
        assert {r.checkpoint for r in rows} == {
            "reminder",  # no progress notice: its promised date has long passed
            "section_head",
            "head",
            "overdue",
        }
        assert all(r.late for r in rows if r.checkpoint != "overdue")
        lock_file = db_file.with_name("aduan.db.scheduler.lock")
        assert lock_file.read_text().strip() == str(first.pid)
        second = subprocess.Popen(aduan, env=env, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert second.poll() is None  # alive, standing by
        assert lock_file.read_text().strip() == str(first.pid)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
        end = time.monotonic() + 30
        while time.monotonic() < end and lock_file.read_text().strip() != str(second.pid):
            time.sleep(0.2)
        assert lock_file.read_text().strip() == str(second.pid)  # the standby took over
        with db.session(engine) as s:
            assert len(s.exec(select(DeadlineAlert)).all()) == len(rows)  # nothing sent twice
        engine.dispose()
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    if second is not None and second.returncode not in (0, -signal.SIGKILL):
        pytest.fail(second.stderr.read() if second.stderr else "second worker failed")
