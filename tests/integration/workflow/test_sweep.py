"""R4 deadline sweep: the 14-working-day walk with ``aduan sweep --now``, exactly-once alerts, catch-up."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from app.container import Container
from cli.main import main
from intake import db, workflow
from intake.ingest import file_complaint
from intake.workflow_models import DeadlineAlert
from outbound import alerts, escalation
from outbound.alerts import AlertMessage, Recipients
from outbound.outbox import OutboxMessage, enqueue
from tests.conftest import ROOT, TEST_ENV
from tests.integration.workflow.helpers import JAKARTA, RECEIVED, file, make_staff, reload


class RecordingSender:
    """An in-memory alert medium: remembers every alert it was asked to deliver."""

    name = "telegram"

    def __init__(self) -> None:
        self.sent: list[tuple[AlertMessage, Recipients]] = []
        self._lock = threading.Lock()

    def send(self, message: AlertMessage, recipients: Recipients) -> None:
        with self._lock:
            self.sent.append((message, recipients))


def at(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=JAKARTA)


@pytest.fixture
def cli_env(engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """config.toml pointing at the test database (no auto-migration: the fixture made the tables)."""
    text = (
        (ROOT / "config.toml")
        .read_text(encoding="utf-8")
        .replace("auto_migrate = true", "auto_migrate = false")
    )
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ADUAN_CONFIG", str(path))
    monkeypatch.setenv("ADUAN_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    assert exit_info.value.code in (0, None), err
    return json.loads(out)


def test_r4_walk_fourteen_working_days_across_nyepi_and_idul_fitri(
    container: Container, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Received Tue 10 March 2026, due Tue 7 April: which alert fires on which date, once."""
    staff = make_staff(container)
    watched = file(container, assignee=staff["petugas"])
    file(container, name=None)  # a saran: never watched
    fired: dict[str, list[tuple[str, int, str, int, bool]]] = {}
    day = dt.date(2026, 3, 10)
    while day <= dt.date(2026, 4, 13):
        report = cli(capsys, "sweep", "--now", at(day).isoformat())
        if report["alerts"]:
            fired[day.isoformat()] = [
                (a["checkpoint"], a["occurrence"], a["notify"], a["days_left"], a["late"])
                for a in report["alerts"]
            ]
        # a second sweep the same day finds nothing more: each checkpoint fires once
        assert cli(capsys, "sweep", "--now", at(day, 15).isoformat())["alerts"] == []
        day += dt.timedelta(days=1)
    assert fired == {
        "2026-03-26": [("reminder", 0, "assignee", 7, False)],
        "2026-03-31": [
            ("progress_notice", 0, "citizen", 4, False),
            ("section_head", 0, "section_head", 4, False),
        ],
        "2026-04-02": [("head", 0, "head", 2, False)],
        "2026-04-07": [("overdue", 0, "head", 0, False)],
        "2026-04-08": [("overdue", 1, "head", -1, False)],
        "2026-04-09": [("overdue", 2, "head", -2, False)],
        "2026-04-10": [("overdue", 3, "head", -3, False)],
        # Sat 11 and Sun 12 April: no overdue alert on a day the office is closed
        "2026-04-13": [("overdue", 4, "head", -4, False)],
    }
    shown = cli(capsys, "show", watched.tracking_number, "--json")
    assert [c["date"] for c in shown["checkpoints"]] == [
        "2026-03-26",
        "2026-03-31",
        "2026-03-31",
        "2026-04-02",
        "2026-04-07",
    ]
    assert [(a["checkpoint"], a["occurrence"]) for a in shown["alerts"]][:4] == [
        ("reminder", 0),
        ("progress_notice", 0),
        ("section_head", 0),
        ("head", 0),
    ]
    assert all(a["status"] == "sent" for a in shown["alerts"])
    with db.session(container.engine) as s:
        notices = s.exec(select(OutboxMessage).where(OutboxMessage.purpose == "progress")).all()
    assert [(n.channel, n.to_urn, n.complaint_id) for n in notices] == [
        ("sms", "tel:+6281234567001", watched.id)
    ]
    assert "7 April 2026" in notices[0].text


def test_r4_answered_complaint_gets_no_more_alerts(container: Container) -> None:
    staff = make_staff(container)
    c = file(container, assignee=staff["petugas"])
    escalation.sweep(container, now=at(dt.date(2026, 3, 26)))
    with db.write_session(container.engine) as s:
        c = reload(s, c)
        workflow.set_review(
            s, c, actor=staff["petugas"], now=at(dt.date(2026, 3, 27)), handling_plan="klarifikasi"
        )
        workflow.answer(
            s, c, actor=staff["petugas"], now=at(dt.date(2026, 3, 27)), text="Sudah terbit.", enqueue=enqueue
        )
    for day in (dt.date(2026, 3, 31), dt.date(2026, 4, 7), dt.date(2026, 4, 8)):
        assert escalation.sweep(container, now=at(day)).alerts == []


def test_r4_catch_up_after_downtime_sends_what_was_missed_marked_late(container: Container) -> None:
    staff = make_staff(container)
    sender = RecordingSender()
    container.services["alert_senders"] = [sender]
    file(container, assignee=staff["petugas"])
    report = escalation.sweep(container, now=at(dt.date(2026, 4, 9)))  # nobody swept since 10 March
    assert [(a["checkpoint"], a["occurrence"], a["late"]) for a in report.alerts] == [
        ("reminder", 0, True),
        # no progress notice: it would promise the citizen an answer by 7 April, which has passed
        ("section_head", 0, True),
        ("head", 0, True),
        ("overdue", 2, False),  # today's overdue checkpoint (08:00) is on time at 09:00
    ]
    assert sorted(("terlambat dikirim" in m.text, m.subject.split(": ", 1)[1]) for m, _ in sender.sent) == [
        (False, "LEWAT BATAS WAKTU 2 hari kerja"),
        (True, "LEWAT BATAS WAKTU 2 hari kerja"),
        (True, "LEWAT BATAS WAKTU 2 hari kerja"),
        (True, "LEWAT BATAS WAKTU 2 hari kerja"),
    ]
    with db.session(container.engine) as s:
        assert s.exec(select(OutboxMessage).where(OutboxMessage.purpose == "progress")).all() == []
    assert escalation.sweep(container, now=at(dt.date(2026, 4, 9), 10)).alerts == []
    nxt = escalation.sweep(container, now=at(dt.date(2026, 4, 10)))
    assert [(a["checkpoint"], a["occurrence"], a["late"]) for a in nxt.alerts] == [("overdue", 3, False)]


def test_r4_two_concurrent_sweepers_alert_exactly_once(container: Container) -> None:
    """Two sweeps at the same moment (threads) over 40 due complaints: every alert once, sent once."""
    staff = make_staff(container)
    sender = RecordingSender()
    container.services["alert_senders"] = [sender]
    for i in range(40):
        file(
            container,
            urn=f"tel:+62812345670{i:02d}",
            assignee=staff["petugas"],
            received_at=RECEIVED + dt.timedelta(minutes=i),
        )
    barrier = threading.Barrier(2)
    reports: list[escalation.SweepReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            reports.append(escalation.sweep(container, now=at(dt.date(2026, 4, 2)), batch=7))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(len(r.alerts) for r in reports) == 40 * 4
    with db.session(container.engine) as s:
        rows = s.exec(select(DeadlineAlert)).all()
        notices = s.exec(select(OutboxMessage).where(OutboxMessage.purpose == "progress")).all()
    assert len(rows) == 160 and len({(r.complaint_id, r.checkpoint, r.occurrence) for r in rows}) == 160
    assert len(notices) == 40
    sent_ids = [m.alert_id for m, _ in sender.sent]
    assert len(sent_ids) == 120 and len(set(sent_ids)) == 120


def test_r4_alert_rows_are_unique_per_complaint_and_checkpoint(container: Container) -> None:
    """The unique row itself refuses a second insert (the guarantee beneath the sweep)."""
    c = file(container)
    row = {
        "complaint_id": c.id,
        "checkpoint": "reminder",
        "occurrence": 0,
        "notify": "assignee",
        "recipient_id": None,
        "scheduled_at": RECEIVED,
        "created_at": RECEIVED,
        "late": False,
        "days_left": 7,
        "text": "x",
        "status": "pending",
        "attempts": 0,
        "channels_sent": "",
    }
    with db.write_session(container.engine) as s:
        assert len(escalation._insert_alerts(s, [row])) == 1
    with db.write_session(container.engine) as s:
        assert escalation._insert_alerts(s, [row, {**row, "occurrence": 1}]) != []
        assert len(escalation._insert_alerts(s, [row])) == 0


def test_r4_new_complaint_carries_its_first_checkpoint(container: Container) -> None:
    c = file(container)
    assert c.next_checkpoint_at == dt.datetime(2026, 3, 26, 1, 0, tzinfo=dt.UTC)
    with db.session(container.engine) as s:
        due = s.execute(escalation.due_query(at(dt.date(2026, 3, 26)), limit=10)).all()
    assert [r.id for r in due] == [c.id]


def test_r4_a_letter_entered_late_sends_no_stale_notices(container: Container) -> None:
    """A letter received on 10 March but typed in on 2 April: nothing that fell due before is sent."""
    make_staff(container)
    entered = at(dt.date(2026, 4, 2), 11)
    with db.write_session(container.engine) as s:
        file_complaint(
            session=s,
            office=container.office,
            channel="letter",
            contact_urn="tel:+6281234567001",
            text="Surat pengaduan: izin PBG belum keluar",
            received_at=at(dt.date(2026, 3, 10), 10),
            now=entered,
            reporter_name="Budi Santoso",
        )
    assert escalation.sweep(container, now=entered + dt.timedelta(minutes=5)).alerts == []
    # The due day (7 April) itself: "due today", not overdue; no progress notice promises a past date.
    report = escalation.sweep(container, now=at(dt.date(2026, 4, 7)))
    assert [(a["checkpoint"], a["occurrence"], a["late"]) for a in report.alerts] == [("overdue", 0, False)]
    with db.session(container.engine) as s:
        alert = s.exec(select(DeadlineAlert)).one()
        assert s.exec(select(OutboxMessage).where(OutboxMessage.purpose == "progress")).all() == []
    assert "JATUH TEMPO HARI INI" in alert.text and "LEWAT" not in alert.text
    assert "/inbox/c/" in alert.text
    nxt = escalation.sweep(container, now=at(dt.date(2026, 4, 8)))
    assert [(a["checkpoint"], a["occurrence"]) for a in nxt.alerts] == [("overdue", 1)]


def test_r4_alert_text_never_says_negative_days_left() -> None:
    text = alerts.alert_text(
        checkpoint="head",
        notify="head",
        tracking="PWK-2026-000001",
        days_left=-28,
        due_date=dt.date(2026, 2, 2),
        late=True,
        link="https://aduan.example/inbox/c/PWK-2026-000001",
    )
    assert "sisa -" not in text and "LEWAT BATAS WAKTU 28 hari kerja" in text
