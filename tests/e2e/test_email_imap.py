"""The IMAP poller against a real Dovecot and answers through a real SMTP server (aiosmtpd), R2g/R8.

No mail is lost and none is doubled, whatever breaks: the connection mid-fetch, the link after the
store and before the \\Seen flag, the server's UID numbering (UIDVALIDITY).
"""

# ruff: noqa: F811  (pytest fixtures imported from conftest_mail are used as test parameters)

from __future__ import annotations

import datetime as dt
import threading
import time
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy.exc
from sqlmodel import Session, select

from app.container import Container
from channels import email as mail
from channels.imap_poller import RECOVERABLE, ImapSettings, poll_once, run
from intake import db
from intake.email_store import MailboxState
from intake.ingest import IngestResult, file_complaint
from intake.models import Complaint, Message, RawInbound
from jobs.pipeline import DatabaseUnavailable
from outbound import outbox
from tests.conftest import read_fixture
from tests.integration.channels.conftest_mail import (  # noqa: F401
    USER,
    CutProxy,
    Mailbox,
    dovecot,
    imap_proxy,
    mailbox,
    smtp_sink,
)

OFFICE = "pengaduan@dpmptsp.purwakartakab.go.id"


@pytest.fixture(autouse=True)
def _email_channel(config_data: dict[str, Any], mailbox: Mailbox) -> None:
    """Point the e-mail channel at this test's Dovecot folder."""
    config_data["channels"]["email"].update(
        enabled=True,
        address=OFFICE,
        imap_host=mailbox.host,
        imap_port=mailbox.port,
        imap_ssl=False,
        imap_user=USER,
        imap_folder=mailbox.folder,
        processed_folder="",
        poll_interval=60,
        smtp_security="none",
    )


def file_every_mail(container: Container, session: Session, result: IngestResult, now: dt.datetime) -> bool:
    """Stand-in for the dialogue: file each new citizen mail as a complaint at once."""
    stored = result.message
    if stored.channel != "email" or stored.complaint_id is not None:
        return False
    file_complaint(
        session=session,
        office=container.office,
        channel="email",
        contact_urn=stored.sender_urn,
        text=stored.text,
        received_at=now,
        now=now,
        reporter_name="Warga Purwakarta",
        messages=[stored],
    )
    return True


@pytest.fixture
def wired(container: Container, smtp_sink: Any) -> Container:
    """The container with the stand-in dialogue and the SMTP sender pointed at aiosmtpd."""
    container.message_hooks[:] = [h for h in container.message_hooks if h.__module__ != "bot.dialogue"]
    container.message_hooks.append(file_every_mail)
    container.senders["email"] = mail.SmtpSender(
        host=smtp_sink.host,
        port=smtp_sink.port,
        security="none",
        address=OFFICE,
        from_name="Pengaduan DPMPTSP",
    )
    return container


def citizen_mail(n: int, *, subject: str | None = None, **headers: str) -> bytes:
    m = EmailMessage()
    m["From"] = f"Warga {n} <warga{n}@example.test>"
    m["To"] = OFFICE
    m["Subject"] = subject or f"Izin usaha nomor {n} belum selesai"
    m["Message-ID"] = f"<warga-{n}-{time.monotonic_ns()}@example.test>"
    m["Date"] = "Tue, 10 Mar 2026 09:00:00 +0700"
    for key, value in headers.items():
        m[key.replace("_", "-")] = value
    m.set_content(f"Pengajuan izin usaha saya nomor {n} belum selesai sejak bulan lalu. Mohon dibantu.")
    return m.as_bytes()


def counts(container: Container) -> tuple[int, int, int]:
    with db.session(container.engine) as s:
        return (
            len(s.exec(select(RawInbound)).all()),
            len(s.exec(select(Message)).all()),
            len(s.exec(select(Complaint)).all()),
        )


def via(proxy: CutProxy, container: Container) -> ImapSettings:
    settings = ImapSettings.of(container)
    return ImapSettings(**{**settings.__dict__, "port": proxy.port})


def wait_for(predicate: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_r2g_new_mail_during_idle_becomes_a_complaint(wired: Container, mailbox: Mailbox) -> None:
    stop = threading.Event()
    worker = threading.Thread(target=run, args=(wired, stop), daemon=True)
    worker.start()
    try:
        assert wait_for(lambda: _state(wired) is not None)  # first pass done: now it idles
        mailbox.append(citizen_mail(1))
        # poll_interval is 60 s: IDLE brings it within a second or two (or, had it come in just
        # before IDLE began, the re-check after idle_recheck, 10 s).
        assert wait_for(lambda: counts(wired)[2] == 1)
    finally:
        stop.set()
        worker.join(15)
    assert not worker.is_alive()
    assert counts(wired) == (1, 1, 1)
    assert all(b"\\Seen" in flags for flags in mailbox.flags().values())


def test_watcher_reconnects_after_the_server_drops_the_connection(
    wired: Container, mailbox: Mailbox, imap_proxy: CutProxy
) -> None:
    stop = threading.Event()
    worker = threading.Thread(target=run, args=(wired, stop, via(imap_proxy, wired)), daemon=True)
    worker.start()
    try:
        assert wait_for(lambda: _state(wired) is not None)
        imap_proxy.cut_now()  # mid-IDLE
        mailbox.append(citizen_mail(7))
        assert wait_for(lambda: counts(wired)[2] == 1)  # reconnected (backoff 1 s) and fetched it
    finally:
        stop.set()
        worker.join(15)
    assert imap_proxy.cuts == 1 and counts(wired) == (1, 1, 1)


def _state(container: Container) -> MailboxState | None:
    with db.session(container.engine) as s:
        row = s.exec(select(MailboxState)).first()
        return row if row is not None and row.uidvalidity else None


def test_connection_cut_mid_fetch_loses_nothing_and_doubles_nothing(
    wired: Container, mailbox: Mailbox, imap_proxy: CutProxy
) -> None:
    for n in range(3):
        mailbox.append(citizen_mail(n))
    imap_proxy.arm_server(b"BODY[] {", after=120)  # the link drops inside the first literal
    with pytest.raises(RECOVERABLE):
        poll_once(wired, via(imap_proxy, wired))
    assert imap_proxy.cuts == 1
    assert all(b"\\Seen" not in flags for flags in mailbox.flags().values())  # nothing marked unstored
    result = poll_once(wired, via(imap_proxy, wired))
    assert (result.fetched, result.stored) == (3, 3)
    assert counts(wired) == (3, 3, 3)
    assert all(b"\\Seen" in flags for flags in mailbox.flags().values())


def test_connection_cut_after_store_before_seen_flag_doubles_nothing(
    wired: Container, mailbox: Mailbox, imap_proxy: CutProxy
) -> None:
    for n in range(3):
        mailbox.append(citizen_mail(n))
    imap_proxy.arm_client(b"STORE")  # stored and committed, then the link drops before \Seen
    with pytest.raises(RECOVERABLE):
        poll_once(wired, via(imap_proxy, wired))
    assert counts(wired) == (3, 3, 3)
    assert all(b"\\Seen" not in flags for flags in mailbox.flags().values())
    result = poll_once(wired)  # the same mails come again and are recognised by Message-ID
    assert (result.fetched, result.stored, result.duplicates) == (3, 0, 3)
    assert counts(wired) == (3, 3, 3)
    assert all(b"\\Seen" in flags for flags in mailbox.flags().values())


def test_database_lost_mid_batch_stores_nothing_of_it_and_marks_nothing(
    wired: Container, mailbox: Mailbox
) -> None:
    for n in range(3):
        mailbox.append(citizen_mail(n))
    seen: list[int] = []

    def database_gone_at_the_second(
        container: Container, session: Session, result: IngestResult, now: dt.datetime
    ) -> bool:
        seen.append(1)
        if len(seen) == 2:
            raise sqlalchemy.exc.OperationalError("INSERT", {}, ConnectionError("server closed"))
        return False

    wired.message_hooks.insert(0, database_gone_at_the_second)
    with pytest.raises(DatabaseUnavailable):
        poll_once(wired)
    # The fetch is one transaction: the first mail went with it, and the server still has all three new.
    assert counts(wired) == (0, 0, 0)
    assert all(b"\\Seen" not in flags for flags in mailbox.flags().values())
    wired.message_hooks.remove(database_gone_at_the_second)
    result = poll_once(wired)
    assert (result.fetched, result.stored, result.duplicates) == (3, 3, 0)
    assert counts(wired) == (3, 3, 3)
    assert all(b"\\Seen" in flags for flags in mailbox.flags().values())


def test_uidvalidity_change_rescans_deduplicated_by_message_id(wired: Container, mailbox: Mailbox) -> None:
    first, second = citizen_mail(1), citizen_mail(2)
    mailbox.append(first)
    mailbox.append(second)
    assert poll_once(wired).stored == 2
    before = _state(wired)
    with mailbox.client() as c:  # the server renumbers: the folder is rebuilt with new UIDs
        c.delete_folder(mailbox.folder)
        c.create_folder(mailbox.folder)
        for eml in (first, second, citizen_mail(3)):
            c.append(mailbox.folder, eml)
    result = poll_once(wired)
    after = _state(wired)
    assert before is not None and after is not None and after.uidvalidity != before.uidvalidity
    assert result.rescanned and (result.stored, result.duplicates) == (1, 2)
    assert after.rescans == 1
    assert counts(wired) == (3, 3, 3)


def test_processed_folder_receives_handled_mail(
    wired: Container, mailbox: Mailbox, config_data: dict[str, Any]
) -> None:
    mailbox.append(citizen_mail(1))
    settings = ImapSettings.of(wired)
    done = ImapSettings(**{**settings.__dict__, "processed_folder": mailbox.folder + "-done"})
    assert poll_once(wired, done).stored == 1
    assert mailbox.count() == 0 and mailbox.count(mailbox.folder + "-done") == 1
    assert poll_once(wired, done).fetched == 0


def test_mail_over_the_size_cap_stays_unread_in_the_mailbox(wired: Container, mailbox: Mailbox) -> None:
    wired.settings.channels["email"]["max_body_bytes"] = 2000
    big = citizen_mail(1) + (b"x" * 70 + b"\n") * 80
    mailbox.append(big)
    mailbox.append(citizen_mail(2))
    result = poll_once(wired)
    assert (result.too_large, result.stored) == (1, 1)
    flags = sorted(mailbox.flags().items())
    assert b"\\Seen" not in flags[0][1] and b"\\Seen" in flags[1][1]


def test_r8_reply_threads_by_in_reply_to_and_by_subject(
    wired: Container, mailbox: Mailbox, smtp_sink: Any
) -> None:
    mailbox.append(citizen_mail(1))
    poll_once(wired)
    with db.write_session(wired.engine) as s:
        complaint = s.exec(select(Complaint)).one()
        outbox.enqueue(
            s,
            channel="email",
            to="mailto:warga1@example.test",
            now=wired.now(),
            purpose="ack",
            complaint_id=complaint.id,
            text=f"Pengaduan Anda tercatat: {complaint.tracking_number}",
        )
    assert outbox.deliver_due(wired) == 1
    ack = smtp_sink.messages[0]["msg"]
    assert ack["Auto-Submitted"] == "auto-replied" and complaint.tracking_number in str(ack["Subject"])
    mailbox.append(
        citizen_mail(
            11,
            subject="Re: " + str(ack["Subject"]),
            In_Reply_To=str(ack["Message-ID"]),
        ).replace(b"warga11@", b"warga1@")
    )
    mailbox.append(
        citizen_mail(12, subject=f"Tambahan [{complaint.tracking_number}]").replace(b"warga12@", b"warga1@")
    )
    poll_once(wired)
    with db.session(wired.engine) as s:
        on_complaint = s.exec(select(Message).where(Message.complaint_id == complaint.id)).all()
        assert len(on_complaint) == 3
        assert len(s.exec(select(Complaint)).all()) == 1


def test_rfc3834_auto_reply_over_imap_is_stored_and_not_answered(wired: Container, mailbox: Mailbox) -> None:
    mailbox.append(read_fixture("email", "noise__auto_submitted_vacation.eml"))
    mailbox.append(citizen_mail(5, Auto_Submitted="auto-generated"))
    assert poll_once(wired).stored == 2
    assert counts(wired) == (2, 2, 0)
    with db.session(wired.engine) as s:
        assert s.exec(select(outbox.OutboxMessage)).all() == []


def test_bounce_over_imap_marks_the_outbound_failed(
    wired: Container, mailbox: Mailbox, smtp_sink: Any
) -> None:
    mailbox.append(citizen_mail(1))
    poll_once(wired)
    with db.write_session(wired.engine) as s:
        complaint = s.exec(select(Complaint)).one()
        row = outbox.enqueue(
            s,
            channel="email",
            to="mailto:warga1@example.test",
            now=wired.now(),
            purpose="answer",
            complaint_id=complaint.id,
            text="Jawaban atas pengaduan Anda.",
        )
        row_id = row.id
    outbox.deliver_due(wired)
    sent_id = str(smtp_sink.messages[0]["msg"]["Message-ID"])
    dsn = read_fixture("email", "noise__bounce_dsn_failed.eml").replace(
        b"<aduan.9.1773111111.4242@dpmptsp.purwakartakab.go.id>", sent_id.encode()
    )
    mailbox.append(dsn)
    poll_once(wired)
    with db.session(wired.engine) as s:
        fresh = s.get(outbox.OutboxMessage, row_id)
        assert fresh is not None and fresh.status == outbox.FAILED
    assert counts(wired)[2] == 1


def test_scheduler_job_keeps_one_idle_watcher_alive(wired: Container, mailbox: Mailbox) -> None:
    from channels.imap_poller import WATCHER, ensure_watching, stop_watching

    ensure_watching(wired)
    first = wired.services[WATCHER].thread
    ensure_watching(wired)  # the next run of the job finds it alive and starts nothing
    assert wired.services[WATCHER].thread is first and first.is_alive()
    mailbox.append(citizen_mail(9))
    assert wait_for(lambda: counts(wired)[2] == 1)
    stop_watching(wired)
    assert not first.is_alive()


def test_mail_arriving_while_the_watcher_checks_before_idle_is_fetched_at_once(
    wired: Container, mailbox: Mailbox
) -> None:
    # Mail that Dovecot stores while it runs the watcher's UID SEARCH is not in the search's result,
    # but is announced (EXISTS) with its response, and then never again, not in IDLE either: it
    # waited for the next IDLE renewal (poll_interval, 60 s). Here it comes in right after the
    # search, and a NOOP fetches the announcement, as the search's own response would have brought it.
    from channels.imap_poller import _pending, connect, sync

    settings = ImapSettings.of(wired)
    client = connect(settings)
    try:
        assert sync(wired, client, settings).fetched == 0  # the first pass: the folder is empty
        search = client.search

        def search_during_which_mail_comes(*args: Any, **kwargs: Any) -> Any:
            found = search(*args, **kwargs)
            mailbox.append(citizen_mail(5))
            client._imap._simple_command("NOOP")  # the announcement, not the search's result
            return found

        client.search = search_during_which_mail_comes  # type: ignore[method-assign]
        assert _pending(wired, client, settings)  # so the watcher syncs again instead of idling
        client.search = search  # type: ignore[method-assign]
        assert sync(wired, client, settings).stored == 1
    finally:
        client.logout()
    assert counts(wired) == (1, 1, 1)


def test_scheduler_job_polls_when_idle_is_off(wired: Container, mailbox: Mailbox) -> None:
    from channels.imap_poller import ensure_watching

    wired.settings.channels["email"]["imap_idle"] = False
    mailbox.append(citizen_mail(4))
    ensure_watching(wired)
    ensure_watching(wired)  # within poll_interval: no second poll
    assert counts(wired) == (1, 1, 1)
