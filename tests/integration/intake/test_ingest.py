"""ingest(): raw first, one record per provider message, tracking numbers without gaps or repeats."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlmodel import func, select

from app.container import Container
from channels.base import InboundMessage, RawRequest
from intake import db
from intake.ingest import RawPayload, allocate_tracking_number, file_complaint, ingest
from intake.models import Complaint, Event, Message, RawInbound, Rejection, Reporter
from jobs.pipeline import receive, store_many_and_defer
from jobs.queue import defer_inbound_many
from tests.conftest import read_fixture, settle


def count(container: Container, model: type) -> int:
    with db.session(container.engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def test_r5a_complete_web_submission_becomes_a_pengaduan_with_r4_due_date(container: Container) -> None:
    receipt = receive(
        container, "web", RawRequest(body=read_fixture("web", "submission__complete.json")), verify=False
    )
    assert receipt.status == 200
    [result] = receipt.results
    summary = result.as_json()
    assert summary == {
        "tracking_number": "PWK-2026-000001",
        "kind": "pengaduan",
        "reasons": [],
        "due_date": "2026-04-07",
        "channel": "web",
        "duplicate": False,
    }
    with db.session(container.engine) as s:
        complaint = s.exec(select(Complaint)).one()
        assert complaint.service_code == "01622"
        assert complaint.suggested_problem_type == "biaya"  # "bayaran", "tarif": a suggestion only
        assert complaint.problem_type is None
        assert complaint.received_at == container.now()
        reporter = s.get(Reporter, complaint.reporter_id)
        assert reporter is not None and reporter.name == "Siti Aminah"
        [event] = s.exec(select(Event)).all()
        assert (event.action, event.new_value, event.actor) == ("created", "pengaduan", "channel:web")


def test_r5b_web_submission_without_name_becomes_saran(container: Container) -> None:
    receipt = receive(
        container, "web", RawRequest(body=read_fixture("web", "submission__no_name.json")), verify=False
    )
    assert receipt.results[0].as_json()["kind"] == "saran"
    assert receipt.results[0].as_json()["reasons"] == ["no_identity"]


def test_r3_late_web_submission_becomes_saran_late(container: Container) -> None:
    receipt = receive(
        container, "web", RawRequest(body=read_fixture("web", "submission__late.json")), verify=False
    )
    summary = receipt.results[0].as_json()
    assert (summary["kind"], summary["reasons"]) == ("saran", ["late"])
    with db.session(container.engine) as s:
        assert s.exec(select(Complaint)).one().service_code == "slf"  # matched by name


def test_replayed_payload_makes_one_record(container: Container) -> None:
    body = read_fixture("web", "submission__complete.json")
    first = receive(container, "web", RawRequest(body=body), verify=False)
    again = [receive(container, "web", RawRequest(body=body), verify=False) for _ in range(2)]
    assert not first.duplicate and all(r.duplicate for r in again)
    assert count(container, RawInbound) == 1
    assert count(container, Message) == 1
    assert count(container, Complaint) == 1


def test_malformed_payload_is_kept_raw_and_quarantined(container: Container) -> None:
    body = read_fixture("web", "submission__truncated.json")
    receipt = receive(container, "web", RawRequest(body=body), verify=False)
    assert receipt.status == 400
    assert "not a JSON document" in (receipt.reason or "")
    with db.session(container.engine) as s:
        raw = s.exec(select(RawInbound)).one()
        assert raw.body == body
        assert raw.status == "quarantined"
    assert count(container, Complaint) == 0


def test_oversized_body_is_refused_and_only_a_capped_trace_kept(container: Container) -> None:
    body = b"{" + b" " * 2_000_000 + b"}"
    receipt = receive(container, "web", RawRequest(body=body), verify=False)
    assert receipt.status == 413
    with db.session(container.engine) as s:
        rejection = s.exec(select(Rejection)).one()
        assert rejection.body_size == len(body)
        assert len(rejection.body_excerpt) <= 4096
    assert count(container, RawInbound) == 0


def test_raw_stored_with_its_job_is_processed_once_by_a_worker(container: Container) -> None:
    body = read_fixture("web", "submission__complete.json")
    raw = RawRequest(body=body)
    # the webhook's transaction: the raw row and its job commit together (a crash after it loses nothing)
    payload = RawPayload("web", raw, "w-1", container.office.code, container.now())
    assert store_many_and_defer(container, [(payload, None)], defer_inbound_many) == [True]
    assert store_many_and_defer(container, [(payload, None)], defer_inbound_many) == [False]
    assert count(container, Complaint) == 0
    assert settle(container) == 1  # the replay deferred nothing
    assert count(container, Complaint) == 1
    assert settle(container) == 0


def test_tracking_numbers_restart_each_year(container: Container) -> None:
    office = container.office
    with db.write_session(container.engine) as s:
        for when in (
            dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.UTC),  # 23:00 in Jakarta: still 2026
            dt.datetime(2026, 12, 31, 17, 30, tzinfo=dt.UTC),
        ):  # 00:30 on 1 January 2027
            file_complaint(
                session=s,
                office=office,
                channel="walkin",
                contact_urn=None,
                text="Loket tutup",
                received_at=when,
                now=when,
                reporter_name="Budi",
            )
    with db.session(container.engine) as s:
        numbers = sorted(c.tracking_number for c in s.exec(select(Complaint)).all())
    assert numbers == ["PWK-2026-000001", "PWK-2027-000001"]


def test_tracking_numbers_unique_and_gapless_under_8_concurrent_writers(container: Container) -> None:
    per_thread, threads = 15, 8
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def writer(i: int) -> None:
        try:
            barrier.wait()
            for j in range(per_thread):
                with db.write_session(container.engine) as s:
                    when = container.now()
                    file_complaint(
                        session=s,
                        office=container.office,
                        channel="web",
                        contact_urn=f"tel:+628120000{i:02d}{j:02d}",
                        text="Izin belum keluar",
                        received_at=when,
                        now=when,
                        reporter_name=f"Warga {i}",
                    )
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    with db.session(container.engine) as s:
        seqs = sorted(s.exec(select(Complaint.seq)).all())
    assert seqs == list(range(1, per_thread * threads + 1))


def test_a_rolled_back_complaint_gives_its_number_back(container: Container) -> None:
    with pytest.raises(RuntimeError), db.write_session(container.engine) as s:
        allocate_tracking_number(s, prefix="PWK", year=2026)
        raise RuntimeError("crash before commit")
    with db.write_session(container.engine) as s:
        assert allocate_tracking_number(s, prefix="PWK", year=2026) == ("PWK-2026-000001", 1)


def test_earlier_name_of_the_same_contact_is_reused(container: Container) -> None:
    from intake.ingest import known_name

    receive(container, "web", RawRequest(body=read_fixture("web", "submission__complete.json")), verify=False)
    with db.session(container.engine) as s:
        assert known_name(s, "tel:+6281234567890") == "Siti Aminah"
        assert known_name(s, "tel:+6289999999999") is None


def test_one_provider_message_ingested_twice_files_one_record(container: Container) -> None:
    """Message-level dedupe on ``(channel, external_id)``: the same provider message arriving in a
    second payload (another raw row) is stored once and answers with the record of the first."""
    message = InboundMessage(
        channel="web",
        external_id="web:form-42",
        sender="mailto:siti.aminah@example.test",
        text="Izin usaha saya belum terbit sejak Januari.",
        reporter_name="Siti Aminah",
        complete=True,
    )
    with db.write_session(container.engine) as s:
        first = ingest(session=s, message=message, now=container.now(), office=container.office, raw_id=None)
    with db.write_session(container.engine) as s:
        again = ingest(session=s, message=message, now=container.now(), office=container.office, raw_id=None)
    assert not first.duplicate and again.duplicate
    assert first.complaint is not None and again.complaint is not None
    assert again.complaint.tracking_number == first.complaint.tracking_number
    assert again.message.id == first.message.id
    assert (count(container, Message), count(container, Complaint), count(container, Event)) == (1, 1, 1)
