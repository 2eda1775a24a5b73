"""Retention (UU 27/2022): `aduan purge --before DATE` removes personal data of finished records."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from app.container import Container
from app.settings import RetentionSettings
from channels.base import RawRequest
from cli.main import main
from intake import db
from intake.models import Complaint, Contact, Event, Message, RawInbound, Rejection, Reporter
from jobs.pipeline import receive
from ops import purge as purge_mod
from outbound.outbox import OutboxMessage, enqueue
from tests.conftest import JAKARTA, ROOT, TEST_ENV

PEOPLE = [
    ("Siti Aminah", "+6281234500001", "Petugas loket PBG meminta uang tambahan kepada saya"),
    ("Budi Santoso", "budi.santoso@example.test", "Izin restoran saya belum keluar sudah dua bulan"),
    ("Dewi Lestari", "+6281234500003", "Syarat dokumen SLF tidak jelas di website"),
]
BEFORE = dt.datetime(2026, 6, 1, tzinfo=JAKARTA)


def _file(container: Container, n: int) -> Complaint:
    name, contact, text = PEOPLE[n]
    body = json.dumps(
        {"id": f"p{n}", "name": name, "contact": contact, "text": text, "service": "pbg"}
    ).encode()
    receipt = receive(
        container, "web", RawRequest(body=body, headers={"x-test": "1"}), verify=False, complete=True
    )
    assert receipt.status == 200 and receipt.results[0].complaint is not None
    return receipt.results[0].complaint


@pytest.fixture
def records(container: Container, clock) -> list[Complaint]:
    """Three complaints of March 2026: the first two closed with an answer, the third still open."""
    made = [_file(container, n) for n in range(3)]
    with db.write_session(container.engine) as s:
        for c in made[:2]:
            row = s.get(Complaint, c.id)
            assert row is not None
            row.status, row.answer_text, row.core_problem = "closed", "Jawaban untuk Siti Aminah", "pungli"
            row.closed_at = clock.now
            s.add(row)
            enqueue(
                s,
                channel="web",
                to=str(row.contact_urn),
                text="Yth. Siti Aminah, jawaban…",
                now=clock.now,
                complaint_id=row.id,
                purpose="answer",
            )
    receive(container, "web", RawRequest(body=b'{"name": "Rina +6281234500009"'), verify=False)  # quarantined
    return made


def _everything(container: Container) -> str:
    """Every text and bytes value in the tables a purge touches, as one string."""
    parts: list[str] = []
    with db.session(container.engine) as s:
        for model in (Complaint, Message, RawInbound, Contact, Reporter, Event, OutboxMessage, Rejection):
            for row in s.exec(select(model)).all():
                for value in row.model_dump().values():
                    parts.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    return "\n".join(parts)


def test_purge_removes_personal_data_of_closed_records_and_keeps_statistics(
    container: Container, records: list[Complaint], clock
) -> None:
    report = purge_mod.purge(
        container.engine, before=BEFORE, now=clock.now, storage_dir=container.storage_dir()
    )
    assert (report.complaints, report.messages, report.outbox) == (2, 2, 2)
    assert report.raw_payloads == 3  # two filed payloads and the quarantined one
    assert report.contacts == 2 and report.reporters == 2
    with db.session(container.engine) as s:
        closed = [s.get(Complaint, c.id) for c in records[:2]]
        still_open = s.get(Complaint, records[2].id)
        for before, after in zip(records[:2], closed, strict=True):
            assert after is not None
            assert (after.text, after.answer_text, after.core_problem) == (purge_mod.MARK,) * 3
            assert after.contact_urn is None and after.reporter_id is None
            # statistics stay
            assert (
                after.tracking_number,
                after.kind,
                after.channel,
                after.service_code,
                after.status,
                after.received_at,
                after.due_date,
            ) == (
                before.tracking_number,
                before.kind,
                before.channel,
                before.service_code,
                "closed",
                before.received_at,
                before.due_date,
            )
            events = s.exec(select(Event).where(Event.complaint_id == after.id)).all()
            assert [e.action for e in events][-1] == "purged"
        assert still_open is not None and still_open.text == PEOPLE[2][2]
    dump = _everything(container)
    for name, contact, text in PEOPLE[:2]:
        assert name not in dump and contact not in dump and text not in dump
    assert "Rina" not in dump and "6281234500009" not in dump
    for part in PEOPLE[2]:  # the open record keeps everything
        assert part in dump


def test_purge_twice_changes_nothing_the_second_time(
    container: Container, records: list[Complaint], clock
) -> None:
    purge_mod.purge(container.engine, before=BEFORE, now=clock.now)
    first = _everything(container)
    again = purge_mod.purge(container.engine, before=BEFORE, now=clock.now)
    assert again.complaints == 0 and again.messages == 0 and again.raw_payloads == 0
    assert _everything(container).count(purge_mod.MARK) == first.count(purge_mod.MARK)


def test_purge_dry_run_counts_and_changes_nothing(
    container: Container, records: list[Complaint], clock
) -> None:
    before = _everything(container)
    report = purge_mod.purge(container.engine, before=BEFORE, now=clock.now, dry_run=True)
    assert report.complaints == 2
    assert _everything(container) == before


def test_purge_before_the_records_touches_nothing(
    container: Container, records: list[Complaint], clock
) -> None:
    before = _everything(container)
    report = purge_mod.purge(container.engine, before=dt.datetime(2026, 3, 1, tzinfo=JAKARTA), now=clock.now)
    assert report.complaints == 0
    assert _everything(container) == before


def test_purge_keeps_a_contact_that_an_open_record_still_uses(container: Container, clock) -> None:
    first = _file(container, 0)
    body = json.dumps(
        {"id": "again", "name": PEOPLE[0][0], "contact": PEOPLE[0][1], "text": "Masih belum ada jawaban"}
    )
    receive(container, "web", RawRequest(body=body.encode()), verify=False, complete=True)
    with db.write_session(container.engine) as s:
        s.execute(sa.update(Complaint).where(Complaint.id == first.id).values(status="closed"))  # type: ignore[arg-type]
    purge_mod.purge(container.engine, before=BEFORE, now=clock.now)
    with db.session(container.engine) as s:
        assert s.exec(select(Contact).where(Contact.urn == "tel:" + PEOPLE[0][1])).first() is not None


def test_purge_deletes_attachment_files_inside_the_store_only(
    container: Container, clock, tmp_path: Path
) -> None:
    store = container.storage_dir()
    (store / "a1.jpg").write_bytes(b"photo")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    made = _file(container, 1)
    with db.write_session(container.engine) as s:
        msg = s.exec(select(Message).where(Message.complaint_id == made.id)).one()
        msg.attachments = json.dumps([{"path": "a1.jpg"}, {"path": "../outside.txt"}, {"path": str(outside)}])
        s.add(msg)
        s.execute(sa.update(Complaint).where(Complaint.id == made.id).values(status="closed"))  # type: ignore[arg-type]
    report = purge_mod.purge(container.engine, before=BEFORE, now=clock.now, storage_dir=store)
    assert report.attachment_files == 1
    assert not (store / "a1.jpg").exists() and outside.exists()


def test_retention_section_gives_the_default_cutoff() -> None:
    retention = purge_mod.retention_of(RetentionSettings(closed_record_days=365, statuses=("closed",)))
    assert retention.cutoff(dt.date(2027, 6, 1)) == dt.date(2026, 6, 1)
    assert retention.statuses == ("closed",)


# -- the command ---------------------------------------------------------------------------------


@pytest.fixture
def cli_config(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of config.toml on a fresh PostgreSQL database."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('url = ""', f'url = "{db_url}"')
    text = text.replace('attachments_dir = "var/attachments"', f'attachments_dir = "{tmp_path / "att"}"')
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ADUAN_CONFIG", str(path))
    monkeypatch.delenv("ADUAN_DATABASE_URL", raising=False)
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_cli_purge_dry_run_then_purge(db_url: str, cli_config: Path, capsys, tmp_path: Path) -> None:
    sub = tmp_path / "s.json"
    sub.write_text(json.dumps({"name": PEOPLE[0][0], "contact": PEOPLE[0][1], "text": PEOPLE[0][2]}))
    assert _run(capsys, "ingest", str(sub), "--channel", "web", "--received-at", "2026-03-10T09:00")[0] == 0
    engine = db.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE complaint SET status = 'closed'"))
    code, out, _ = _run(capsys, "purge", "--before", "2026-06-01", "--dry-run")
    assert code == 0 and "would purge" in out and "complaints        1" in out
    code, out, _ = _run(capsys, "purge", "--before", "2026-06-01")
    assert code == 0 and "complaints        1" in out
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT text FROM complaint")).scalar_one() == purge_mod.MARK
    engine.dispose()


def test_cli_purge_refuses_a_future_date_and_a_bad_date(cli_config: Path, capsys) -> None:
    code, _, err = _run(capsys, "purge", "--before", "2999-01-01")
    assert code == 2 and "future" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, "purge", "--before", "kemarin")
    assert code == 2 and "ISO-8601" in err


def test_purge_unlinks_the_access_log_and_keeps_who_looked(container: Container, clock) -> None:
    from inbox.models import AccessLog
    from intake.models import User

    made = _file(container, 0)
    with db.write_session(container.engine) as s:
        officer = User(username="petugas1", role="officer")
        s.add(officer)
        s.flush()
        assert officer.id is not None
        s.add(
            AccessLog(
                user_id=officer.id,
                complaint_id=made.id,
                reporter_id=made.reporter_id,
                what="reporter",
                via="web",
                at=clock.now,
            )
        )
        s.execute(sa.update(Complaint).where(Complaint.id == made.id).values(status="closed"))  # type: ignore[arg-type]
    report = purge_mod.purge(container.engine, before=BEFORE, now=clock.now)
    assert report.reporters == 1
    with db.session(container.engine) as s:
        [entry] = s.exec(select(AccessLog)).all()
        assert (entry.complaint_id, entry.reporter_id, entry.what) == (made.id, None, "reporter")


def test_e1_purge_clears_survey_contacts_and_comments_of_purged_records(
    container: Container, records: list[Complaint], clock
) -> None:
    from bot.survey import COMPLETED, INVITED, REASON_QUARTERLY, SurveyInvitation, SurveyResponse

    def invitation(s: Any, n: int, urn: str, *, complaint_id: int | None, state: str) -> SurveyInvitation:
        row = SurveyInvitation(
            nonce=f"nonce-{n}",
            complaint_id=complaint_id,
            contact_urn=urn,
            channel="sms",
            reason=REASON_QUARTERLY if complaint_id is None else "answered",
            period="2026-Q1",
            state=state,
            invited_at=clock.now,
            expires_at=clock.now + dt.timedelta(days=14),
        )
        s.add(row)
        s.flush()
        if state == COMPLETED:
            s.add(
                SurveyResponse(
                    invitation_id=row.id,
                    complaint_id=complaint_id,
                    channel="sms",
                    comment=f"Terima kasih, saya {PEOPLE[n][0]}",
                    period="2026-Q1",
                    submitted_at=clock.now,
                    u1=3,
                    u2=3,
                    u3=3,
                    u4=3,
                    u5=3,
                    u6=3,
                    u7=3,
                    u8=3,
                    u9=3,
                )
            )
        return row

    with db.write_session(container.engine) as s:
        closed = invitation(s, 0, "tel:+6281234500001", complaint_id=records[0].id, state=COMPLETED)
        quarterly = invitation(s, 1, "mailto:budi.santoso@example.test", complaint_id=None, state=COMPLETED)
        still_open = invitation(s, 2, "tel:+6281234500003", complaint_id=records[2].id, state=INVITED)
        ids = (closed.id, quarterly.id, still_open.id)
    report = purge_mod.purge(container.engine, before=BEFORE, now=clock.now)
    assert report.surveys == 2
    with db.session(container.engine) as s:
        urns = {row.id: row.contact_urn for row in s.exec(select(SurveyInvitation)).all()}
        comments = sorted(str(row.comment) for row in s.exec(select(SurveyResponse)).all())
        ratings = {row.scores for row in s.exec(select(SurveyResponse)).all()}
    assert [urns[i] for i in ids] == [f"purged:{ids[0]}", f"purged:{ids[1]}", "tel:+6281234500003"]
    assert comments == [purge_mod.MARK] * 2 and ratings == {(3,) * 9}  # the ratings are statistics
    assert purge_mod.purge(container.engine, before=BEFORE, now=clock.now).surveys == 0
