"""The e-mail channel (R2g): parsing real mail, loop guards, threading, SMTP sender, ``aduan ingest``."""

# ruff: noqa: F811  (pytest fixtures imported from conftest_mail are used as test parameters)

from __future__ import annotations

import datetime as dt
import json
import smtplib
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from app.container import Container
from channels import email as mail
from channels.base import (
    InboundMessage,
    OutboundMessage,
    PermanentFailure,
    RawRequest,
    TemporaryFailure,
    UnsupportedPayload,
)
from intake import db
from intake.ingest import IngestResult
from intake.models import Complaint, Event, Message, RawInbound
from jobs.pipeline import receive
from outbound import outbox
from outbound.email_threading import find_thread, prepare_email
from tests.conftest import FIXTURES, ROOT, TEST_ENV, read_fixture
from tests.integration.channels.conftest_mail import smtp_sink  # noqa: F401

OFFICE = "pengaduan@dpmptsp.purwakartakab.go.id"


@pytest.fixture(autouse=True)
def _email_enabled(config_data: dict[str, Any]) -> None:
    """Switch the e-mail channel on with the office address the fixtures write to."""
    config_data["channels"]["email"].update(enabled=True, address=OFFICE, smtp_security="none")


def parse(name: str) -> InboundMessage:
    [msg] = mail.parse(RawRequest(body=read_fixture("email", name)))
    return msg


# -- parsing: one test per fixture -----------------------------------------------------------------


def test_r5a_new__plain_utf8_gives_display_name_address_and_matter() -> None:
    msg = parse("new__plain_utf8.eml")
    assert msg.channel == "email"
    assert msg.external_id == "<CAF8x1pZ7Qd2-budi-0001@mail.example.test>"
    assert msg.sender == "mailto:budi.santoso@example.test"
    assert msg.sender_name == "Budi Santoso"  # a hint only: the dialogue confirms it (R5a)
    assert msg.reporter_name is None
    assert msg.sent_at == dt.datetime(2026, 3, 10, 9, 12, 40, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    assert msg.text.startswith("Izin PBG belum keluar\n\n")  # the subject states the matter
    assert "Persetujuan Bangunan Gedung" in msg.text
    assert "noise" not in msg.extra and msg.reply_to is None


def test_r5a_new__no_display_name_leaves_the_name_to_the_dialogue() -> None:
    msg = parse("new__no_display_name.eml")
    assert msg.sender == "mailto:warga.purwakarta@example.test"
    assert msg.sender_name is None
    assert "Mal Pelayanan Publik" in msg.text


def test_new__latin1_qp_reads_declared_charset_and_encoded_words() -> None:
    msg = parse("new__latin1_qp.eml")
    assert msg.sender_name == "André Wijaya"
    assert msg.extra["subject"] == "Pungutan di luar tarif – izin reklame"  # 0x96 read as windows-1252
    assert "Café saya di Jl. Kéramat" in msg.text


def test_new__cp1252_undeclared_8bit_guesses_windows_1252_in_body_and_subject() -> None:
    msg = parse("new__cp1252_undeclared_8bit.eml")
    assert msg.extra["subject"] == "Berkas SIP “hilang” di loket"
    assert "saya “hilang” di loket – petugas" in msg.text
    assert "50€" in msg.text


def test_new__utf8_bad_bytes_never_crash_and_keep_the_readable_text() -> None:
    msg = parse("new__utf8_bad_bytes.eml")
    assert "Saat mengunggah dokumen NIB di OSS" in msg.text
    assert "Mohon bantuan." in msg.text


def test_new__base64_encoded_word_decodes_body_and_headers() -> None:
    msg = parse("new__base64_encoded_word.eml")
    assert msg.sender_name == "Siti Nurhaliza"
    assert msg.extra["subject"] == "Petugas tidak ramah – SLF"
    assert "tidak ramah dan kasar" in msg.text


def test_new__html_only_becomes_plain_text_with_links() -> None:
    msg = parse("new__html_only.eml")
    assert "<p>" not in msg.text and "&quot;" not in msg.text
    assert 'tertulis "Warung Sate Maranggi"' in msg.text
    assert "https://oss.example.test/p/123" in msg.text


def test_new__inline_image_related_keeps_plain_text_and_the_inline_image() -> None:
    msg = parse("new__inline_image_related.eml")
    assert "Toilet di ruang tunggu" in msg.text and "<div>" not in msg.text
    [image] = msg.attachments
    assert (image.filename, image.content_type) == ("toilet.png", "image/png")
    assert image.data is not None and image.data.startswith(b"\x89PNG")


def test_new__attachments_sniffed_sanitised_and_typed_by_content() -> None:
    msg = parse("new__attachments_sniffed.eml")
    names = [(a.filename, a.content_type) for a in msg.attachments]
    assert names == [
        ("surat penolakan.pdf", "application/pdf"),  # declared octet-stream, sniffed PDF
        ("foto.jpg", "application/x-msdownload"),  # path stripped; "image/jpeg" was a lie
        ("bukti pembayaran–maret.pdf", "application/pdf"),  # RFC 2231 name
    ]
    assert all(a.size and a.data for a in msg.attachments)


def test_new__nested_multipart_finds_text_and_parts_at_any_depth() -> None:
    msg = parse("new__nested_multipart.eml")
    assert "jangka waktu penyelesaian 14 hari kerja" in msg.text  # QP soft break joined
    assert [a.content_type for a in msg.attachments] == ["image/gif", "text/plain"]
    assert msg.attachments[1].filename == "catatan.txt"


def test_new__forward_attached_includes_the_forwarded_mail() -> None:
    msg = parse("new__forward_attached.eml")
    assert msg.extra["forwarded"] is True
    assert "Pesan terusan" in msg.text
    assert "ditolak karena berkas STR tidak lengkap" in msg.text


def test_new__forward_inline_gmail_is_not_cut_as_quoted_history() -> None:
    msg = parse("new__forward_inline_gmail.eml")
    assert "Mohon dicek" in msg.text
    assert "Silakan bayar Rp 2.500.000" in msg.text


def test_new__no_message_id_is_keyed_by_the_body_hash() -> None:
    raw = RawRequest(body=read_fixture("email", "new__no_message_id.eml"))
    [msg] = mail.parse(raw)
    assert msg.external_id == raw.body_hash() == mail.external_id(raw)


def test_reply__gmail_indonesian_quote_strips_pada_menulis_and_signature() -> None:
    msg = parse("reply__gmail_indonesian_quote.eml")
    assert msg.text == "Baik, nomor permohonan saya 640/PBG/III/2026."
    assert msg.reply_to == "<aduan.7.1773100000.12345@dpmptsp.purwakartakab.go.id>"
    assert msg.thread_id == "<CAF8x1pZ7Qd2-budi-0001@mail.example.test>"
    assert msg.extra["tracking_number"] == "PWK-2026-000123"
    assert msg.extra["references"][-1] == msg.reply_to


def test_reply__outlook_indonesian_header_strips_dari_dikirim_block() -> None:
    msg = parse("reply__outlook_indonesian_header.eml")
    assert msg.text == "Nama saya Dewi Lestari, layanan yang saya maksud adalah izin restoran."
    assert msg.extra["tracking_number"] == "PWK-2026-000124"


def test_reply__subject_tracking_only_carries_the_tracking_number() -> None:
    msg = parse("reply__subject_tracking_only.eml")
    assert msg.extra["tracking_number"] == "PWK-2026-000123"
    assert msg.reply_to is None and "references" not in msg.extra


def test_noise__auto_submitted_vacation_is_flagged() -> None:
    assert parse("noise__auto_submitted_vacation.eml").extra["noise"] == "auto_submitted"


def test_noise__precedence_bulk_is_flagged() -> None:
    assert parse("noise__precedence_bulk.eml").extra["noise"] == "precedence"


def test_noise__bounce_dsn_failed_names_our_message_id() -> None:
    msg = parse("noise__bounce_dsn_failed.eml")
    assert msg.extra["noise"] == "bounce"
    assert msg.extra["bounce"]["action"] == "failed"
    assert msg.extra["bounce"]["status"] == "5.1.1"
    assert msg.extra["bounce"]["message_ids"] == ["<aduan.9.1773111111.4242@dpmptsp.purwakartakab.go.id>"]


def test_noise__bounce_dsn_delayed_is_not_a_failure() -> None:
    msg = parse("noise__bounce_dsn_delayed.eml")
    assert msg.extra["noise"] == "bounce"
    assert msg.extra["bounce"]["action"] == "delayed"


def test_noise__own_echo_is_flagged() -> None:
    assert parse("noise__own_echo.eml").extra["noise"] == "own_echo"


def test_broken__malformed_headers_still_parse() -> None:
    msg = parse("broken__malformed_headers.eml")
    assert msg.sender == "mailto:joko@example.test"
    assert msg.sent_at is None  # "Tue, 31 Feb 2026 99:99:99" is no date
    assert "Parkir di kantor DPMPTSP" in msg.text


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("broken__no_sender.eml", "no sender"),
        ("broken__not_a_mail.eml", "sender"),
        ("broken__empty.eml", "empty"),
    ],
)
def test_broken_mail_raises_unsupported_payload_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(UnsupportedPayload, match=reason):
        mail.parse(RawRequest(body=read_fixture("email", name)))


def test_indonesian_quote_headers_are_known_to_the_reply_parser() -> None:
    text = "Setuju.\n\nPada tanggal Sel, 10 Mar 2026 pukul 09.15, Budi <budi@example.test> menulis:\n> lama"
    assert mail.strip_quoted(text) == "Setuju."
    assert mail.strip_quoted("Oke\n\n-----Pesan Asli-----\nDari: x\nKepada: y\n\nlama") == "Oke"
    assert mail.strip_quoted("Baik.\n\nDikirim dari iPhone saya") == "Baik."


def test_hyphen_lists_in_a_reply_are_not_taken_for_a_signature() -> None:
    assert mail.strip_quoted("Kekurangan:\n- KTP\n- NPWP") == "Kekurangan:\n- KTP\n- NPWP"


def test_safe_filename_removes_paths_controls_and_empty_names() -> None:
    assert mail.safe_filename("../../etc/passwd", 1, "text/plain") == "passwd"
    assert mail.safe_filename("a\x00b<c>.pdf", 1, "application/pdf") == "ab_c_.pdf"
    assert mail.safe_filename("", 3, "image/jpeg") == "lampiran-3.jpg"
    assert len(mail.safe_filename("x" * 300 + ".pdf", 1, "application/pdf")) <= 100


# -- Hypothesis: any message parses or is refused, never a crash -----------------------------------

_header_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=40)
_bytes_line = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b" "))


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """Messages from well-formed to broken: random headers, charsets, encodings, nesting, bytes."""
    if draw(st.booleans()):
        m = EmailMessage()
        name = draw(_header_text).replace("\n", " ").replace("\r", " ")
        address = draw(st.from_regex(r"[a-z0-9.]{1,10}@[a-z]{1,8}\.test", fullmatch=True))
        for key, value in (("From", f'"{name}" <{address}>'), ("Subject", draw(_header_text))):
            try:
                m[key] = value.replace("\n", " ").replace("\r", " ")
            except (ValueError, TypeError, IndexError):
                del m[key]
        for key in draw(
            st.lists(
                st.sampled_from(["In-Reply-To", "References", "Auto-Submitted", "Precedence"]),
                max_size=3,
                unique=True,
            )
        ):
            m[key] = draw(st.sampled_from(["<a@b.test>", "auto-replied", "bulk", "no", "<", ""]))
        charset = draw(st.sampled_from(["utf-8", "iso-8859-1", "windows-1252", "us-ascii"]))
        body = draw(st.text(max_size=200))
        try:
            m.set_content(body, charset=charset, cte=draw(st.sampled_from(["base64", "quoted-printable"])))
        except (UnicodeError, ValueError, LookupError):
            m.set_content(body)
        if draw(st.booleans()):
            m.add_alternative(f"<p>{body}</p>", subtype="html")
        if draw(st.booleans()):
            m.add_attachment(
                draw(st.binary(max_size=100)),
                maintype="application",
                subtype="octet-stream",
                filename=draw(_header_text) or "x",
            )
        for number, part in enumerate(m.walk()):
            if part.is_multipart():  # fixed boundaries: hypothesis must control every random choice
                part.set_boundary(f"=={number}-{draw(st.text('abcdef0123', min_size=6, max_size=6))}")
        data = m.as_bytes()
        if draw(st.booleans()):  # corrupt some bytes of an otherwise valid message
            pos = draw(st.integers(0, max(0, len(data) - 1)))
            data = data[:pos] + draw(st.binary(max_size=20)) + data[pos:]
        return data
    lines = draw(st.lists(_bytes_line, max_size=8))
    head = [b"From: " + draw(_bytes_line)] if draw(st.booleans()) else []
    ctype = draw(
        st.sampled_from(
            [
                b"",
                b"Content-Type: multipart/mixed; boundary=X\n",
                b'Content-Type: text/plain; charset="x-bogus"\n',
                b"Content-Type: message/rfc822\n",
                b"Content-Transfer-Encoding: base64\n",
            ]
        )
    )
    return b"\n".join(head + lines) + b"\n" + ctype + b"\n" + draw(st.binary(max_size=300))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_generated_messages_parse_or_raise_unsupported_payload(data: bytes) -> None:
    try:
        result = mail.parse(RawRequest(body=data))
    except UnsupportedPayload:
        return
    [msg] = result
    assert msg.sender.startswith("mailto:") and "@" in msg.sender
    assert isinstance(msg.text, str) and len(msg.text) <= mail.MAX_TEXT_CHARS


# -- sending by SMTP (aiosmtpd) --------------------------------------------------------------------


def sender_for(sink: Any, **kw: Any) -> mail.SmtpSender:
    return mail.SmtpSender(
        host=sink.host, port=sink.port, security="none", address=OFFICE, from_name="Pengaduan DPMPTSP", **kw
    )


def test_r8_smtp_answer_has_threading_headers_tracking_number_and_two_parts(smtp_sink: Any) -> None:
    out = OutboundMessage(
        channel="email",
        to="mailto:budi.santoso@example.test",
        text="Izin Anda sudah terbit.\n\nSalam",
        id=12,
        subject="Izin PBG belum keluar",
        reply_to="<budi-2@mail.example.test>",
        extra={
            "tracking_number": "PWK-2026-000123",
            "purpose": "answer",
            "references": ["<budi-1@mail.example.test>"],
        },
    )
    message_id = sender_for(smtp_sink, user="bot", password="smtp-secret").send(out)
    [got] = smtp_sink.messages
    msg = got["msg"]
    assert got["auth"] and got["rcpt_tos"] == ["budi.santoso@example.test"]
    assert msg["Message-ID"] == message_id and message_id.endswith("@dpmptsp.purwakartakab.go.id>")
    assert msg["Subject"] == "Re: Izin PBG belum keluar [PWK-2026-000123]"
    assert msg["In-Reply-To"] == "<budi-2@mail.example.test>"
    assert msg["References"] == "<budi-1@mail.example.test> <budi-2@mail.example.test>"
    assert msg["Auto-Submitted"] is None  # an officer's answer is not automatic
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert "<p>Izin Anda sudah terbit.</p>" in msg.get_body(("html",)).get_content()


def test_rfc3834_acknowledgement_is_marked_auto_replied(smtp_sink: Any) -> None:
    out = OutboundMessage(
        channel="email",
        to="mailto:warga@example.test",
        text="Diterima.",
        id=3,
        extra={"purpose": "ack", "tracking_number": "PWK-2026-000001"},
    )
    sender_for(smtp_sink).send(out)
    msg = smtp_sink.messages[0]["msg"]
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Subject"] == "Pengaduan Anda [PWK-2026-000001]"
    # Our own mail coming back in (a forward, a loop) is recognised and never answered.
    [echo] = mail.parse(RawRequest(body=smtp_sink.messages[0]["raw"]))
    assert echo.extra["noise"] in ("own_echo", "auto_submitted")


def test_smtp_4xx_is_temporary_and_5xx_permanent(smtp_sink: Any) -> None:
    out = OutboundMessage(channel="email", to="mailto:warga@example.test", text="x", id=4)
    smtp_sink.reply = "451 4.3.0 Try again later"
    with pytest.raises(TemporaryFailure):
        sender_for(smtp_sink).send(out)
    smtp_sink.reply = "554 5.7.1 Rejected"
    with pytest.raises(PermanentFailure):
        sender_for(smtp_sink).send(out)
    with pytest.raises(PermanentFailure):  # a wrong password is a 535
        sender_for(smtp_sink, user="bot", password="wrong").send(out)


def test_smtp_unreachable_is_temporary() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sender = mail.SmtpSender(host="127.0.0.1", port=port, security="none", address=OFFICE, timeout=2)
    with pytest.raises(TemporaryFailure):
        sender.send(OutboundMessage(channel="email", to="mailto:a@example.test", text="x"))


def test_make_sender_reads_config_and_password_from_env(container: Container) -> None:
    sender = container.senders["email"]
    assert isinstance(sender, mail.SmtpSender)
    assert (sender.security, sender.address) == ("none", OFFICE)
    assert mail.SmtpSender is type(mail.make_sender(container.channel_config("email")))
    with pytest.raises(ValueError, match="starttls"):
        mail.SmtpSender(host="h", port=1, security="tls", address=OFFICE)
    assert smtplib.SMTP_SSL is not None


# -- the record: dedupe, loop guards, bounces, threading --------------------------------------


def ingest_fixture(container: Container, name: str, *, complete: bool = False) -> Any:
    return receive(
        container, "email", RawRequest(body=read_fixture("email", name)), verify=False, complete=complete
    )


def file_first(container: Container, name: str) -> Complaint:
    receipt = ingest_fixture(container, name, complete=True)
    assert receipt.status == 200
    complaint = receipt.results[0].complaint
    assert complaint is not None
    return complaint


def test_imap_reread_of_the_same_mail_is_one_record(container: Container) -> None:
    first = ingest_fixture(container, "new__plain_utf8.eml")
    again = ingest_fixture(container, "new__plain_utf8.eml")
    assert again.duplicate and again.raw_id == first.raw_id
    with db.session(container.engine) as s:
        assert len(s.exec(select(Message)).all()) == 1
        assert len(s.exec(select(RawInbound)).all()) == 1


def test_broken_mail_is_kept_raw_and_quarantined_with_its_reason(container: Container) -> None:
    receipt = ingest_fixture(container, "broken__no_sender.eml")
    assert receipt.status == 400
    with db.session(container.engine) as s:
        row = s.get(RawInbound, receipt.raw_id)
        assert row is not None and row.status == "quarantined" and "sender" in (row.error or "")
        assert bytes(row.body) == read_fixture("email", "broken__no_sender.eml")


def test_r2g_reply_by_in_reply_to_joins_the_complaint_of_our_outbound(container: Container) -> None:
    complaint = file_first(container, "new__plain_utf8.eml")
    with db.write_session(container.engine) as s:
        row = outbox.enqueue(
            s,
            channel="email",
            to="mailto:budi.santoso@example.test",
            text="Diterima",
            now=container.now(),
            complaint_id=complaint.id,
            purpose="ack",
        )
        row.provider_id = "<aduan.7.1773100000.12345@dpmptsp.purwakartakab.go.id>"
        s.add(row)
    receipt = ingest_fixture(container, "reply__gmail_indonesian_quote.eml")
    with db.session(container.engine) as s:
        stored = s.get(Message, receipt.results[0].message.id)
        assert stored is not None and stored.complaint_id == complaint.id
        assert stored.text == "Baik, nomor permohonan saya 640/PBG/III/2026."
        assert len(s.exec(select(Complaint)).all()) == 1
        notes = [e.note for e in s.exec(select(Event).where(Event.action == "message")).all()]
        assert any("in-reply-to" in (n or "") for n in notes)


def test_r2g_reply_by_subject_joins_only_the_same_senders_complaint(container: Container) -> None:
    complaint = file_first(container, "new__plain_utf8.eml")
    body = read_fixture("email", "reply__subject_tracking_only.eml").replace(
        b"PWK-2026-000123", complaint.tracking_number.encode()
    )
    receive(container, "email", RawRequest(body=body), verify=False)
    stranger = body.replace(b"budi.santoso@example.test", b"orang.lain@example.test").replace(
        b"budi-tambahan-0015", b"stranger-0099"
    )
    receive(container, "email", RawRequest(body=stranger), verify=False)
    with db.session(container.engine) as s:
        by_sender = {m.sender_urn: m.complaint_id for m in s.exec(select(Message)).all()}
    assert by_sender["mailto:budi.santoso@example.test"] == complaint.id
    assert by_sender["mailto:orang.lain@example.test"] is None  # a guessed number does not attach


def test_rfc3834_auto_reply_is_stored_but_reaches_no_later_hook(container: Container) -> None:
    seen: list[int | None] = []

    def remember(c: Container, s: Session, result: IngestResult, now: dt.datetime) -> bool:
        seen.append(result.message.id)
        return False

    container.message_hooks.append(remember)
    for name in ("noise__auto_submitted_vacation.eml", "noise__precedence_bulk.eml", "noise__own_echo.eml"):
        assert ingest_fixture(container, name).status == 200
    assert ingest_fixture(container, "new__no_display_name.eml").status == 200
    with db.session(container.engine) as s:
        assert len(s.exec(select(Message)).all()) == 4
        answered = {row.to_urn for row in s.exec(select(outbox.OutboxMessage)).all()}
    assert answered <= {"mailto:warga.purwakarta@example.test"}  # the dialogue may ask the citizen only
    assert len(seen) <= 1  # only the citizen's mail went on past the e-mail hook


def test_mail_from_our_own_address_is_never_answered(container: Container) -> None:
    body = read_fixture("email", "new__no_display_name.eml").replace(
        b"warga.purwakarta@example.test", OFFICE.encode()
    )
    seen: list[int] = []

    def remember(c: Container, s: Session, result: IngestResult, now: dt.datetime) -> bool:
        seen.append(1)
        return False

    container.message_hooks.append(remember)
    receive(container, "email", RawRequest(body=body), verify=False)
    assert seen == []


def test_bounce_marks_the_outbound_failed_and_notes_it_on_the_complaint(container: Container) -> None:
    complaint = file_first(container, "new__plain_utf8.eml")
    with db.write_session(container.engine) as s:
        row = outbox.enqueue(
            s,
            channel="email",
            to="mailto:tidak.ada@example.test",
            text="Jawaban",
            now=container.now(),
            complaint_id=complaint.id,
            purpose="answer",
        )
        row.provider_id, row.status = "<aduan.9.1773111111.4242@dpmptsp.purwakartakab.go.id>", outbox.SENT
        s.add(row)
        row_id = row.id
    delayed = ingest_fixture(container, "noise__bounce_dsn_delayed.eml", complete=True)
    assert delayed.results[0].complaint is None  # aduan ingest never files machine mail
    ingest_fixture(container, "noise__bounce_dsn_failed.eml")
    with db.session(container.engine) as s:
        fresh = s.get(outbox.OutboxMessage, row_id)
        assert fresh is not None and fresh.status == outbox.FAILED and "5.1.1" in (fresh.last_error or "")
        actions = [e.action for e in s.exec(select(Event).where(Event.complaint_id == complaint.id)).all()]
        assert "delivery_failed" in actions
        assert len(s.exec(select(Complaint)).all()) == 1


def test_outbox_preparer_threads_our_answer_under_the_citizens_mail(
    container: Container, smtp_sink: Any
) -> None:
    complaint = file_first(container, "new__plain_utf8.eml")
    container.senders["email"] = sender_for(smtp_sink)
    with db.write_session(container.engine) as s:
        outbox.enqueue(
            s,
            channel="email",
            to="mailto:budi.santoso@example.test",
            text="Terima kasih.",
            now=container.now(),
            complaint_id=complaint.id,
            purpose="ack",
        )
    assert outbox.deliver_due(container) == 1
    msg = smtp_sink.messages[0]["msg"]
    assert msg["In-Reply-To"] == "<CAF8x1pZ7Qd2-budi-0001@mail.example.test>"
    assert msg["Subject"] == f"Re: Izin PBG belum keluar [{complaint.tracking_number}]"
    assert msg["Auto-Submitted"] == "auto-replied"
    with db.session(container.engine) as s:
        sent = s.exec(select(outbox.OutboxMessage)).one()
        assert sent.status == outbox.SENT and sent.provider_id == msg["Message-ID"]
    # the citizen's answer to it comes back threaded
    reply = EmailMessage()
    reply["From"], reply["To"] = "Budi Santoso <budi.santoso@example.test>", OFFICE
    reply["Subject"], reply["Message-ID"] = "Re: " + str(msg["Subject"]), "<budi-reply-77@mail.example.test>"
    reply["In-Reply-To"] = msg["Message-ID"]
    reply.set_content(
        "Terima kasih kembali.\n\nPada Sel, 10 Mar 2026 pukul 10.05 Pengaduan menulis:\n> Terima kasih."
    )
    receive(container, "email", RawRequest(body=reply.as_bytes()), verify=False)
    with db.session(container.engine) as s:
        threaded = s.exec(
            select(Message).where(Message.external_id == "<budi-reply-77@mail.example.test>")
        ).one()
        assert threaded.complaint_id == complaint.id and threaded.text == "Terima kasih kembali."


def test_find_thread_follows_a_merged_complaint(container: Container) -> None:
    first = file_first(container, "new__plain_utf8.eml")
    second = file_first(container, "new__no_display_name.eml")
    with db.write_session(container.engine) as s:
        merged = s.get(Complaint, first.id)
        assert merged is not None
        merged.status, merged.merged_into_id = "merged", second.id
        s.add(merged)
    with db.session(container.engine) as s:
        inbound = InboundMessage(
            channel="email",
            external_id="<x@y>",
            sender="mailto:budi.santoso@example.test",
            extra={"tracking_number": first.tracking_number},
        )
        found = find_thread(s, inbound)
    assert found is not None and found[0].id == second.id


def test_prepare_email_without_complaint_replies_to_the_latest_mail(container: Container) -> None:
    ingest_fixture(container, "new__no_display_name.eml")
    with db.write_session(container.engine) as s:
        row = outbox.enqueue(
            s,
            channel="email",
            to="mailto:warga.purwakarta@example.test",
            text="Nama Anda?",
            now=container.now(),
            purpose="reply",
        )
    prepare_email(container, row)
    extra = json.loads(row.extra)
    assert extra["in_reply_to"] == "<20260311010500.77@webmail.example.test>"
    assert extra["purpose"] == "reply" and "tracking_number" not in extra


# -- aduan ingest --channel email FILE.eml, on every fixture -----------------------------------------


EMAIL_FIXTURES = sorted(p.name for p in (FIXTURES / "email").glob("*.eml"))


@pytest.fixture
def cli_config(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('url = ""', f'url = "{db_url}"')
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ADUAN_CONFIG", str(path))
    monkeypatch.delenv("ADUAN_DATABASE_URL", raising=False)
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    return path


@pytest.mark.parametrize("name", EMAIL_FIXTURES)
def test_aduan_ingest_channel_email_handles_every_fixture(name: str, cli_config: Path, capsys: Any) -> None:
    from cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["ingest", "--channel", "email", str(FIXTURES / "email" / name)])
    out, err = capsys.readouterr()
    code = int(exit_info.value.code or 0)
    if name.startswith("broken__") and name != "broken__malformed_headers.eml":
        assert code == 1 and err.startswith("quarantined:")
        return
    if name.startswith("noise__"):
        # stored, never filed, never answered: and the command says why (issue 17, item 8)
        assert code == 1 and out == "" and err.startswith("ignored: "), (code, err)
        assert "citizen message" not in err and len(err.strip().splitlines()) == 1
        return
    assert code == 0, err
    result = json.loads(out)
    assert result["tracking_number"].startswith("PWK-") and result["channel"] == "email"


def test_every_email_fixture_is_parsed_by_a_test() -> None:
    assert EMAIL_FIXTURES and all(n.endswith(".eml") for n in EMAIL_FIXTURES)
    assert message_from_bytes(read_fixture("email", EMAIL_FIXTURES[0]), policy=policy.default) is not None


def test_outlook_original_message_separator_is_a_reply_not_a_forward() -> None:
    body = (
        b"From: A <a@example.test>\r\nTo: x@example.test\r\nSubject: RE: Izin\r\nIn-Reply-To: <q@x.test>\r\n"
        b"Message-ID: <r1@x.test>\r\n\r\nSudah saya kirim.\r\n\r\n-----Original Message-----\r\n"
        b"From: Pengaduan\r\nSent: Monday\r\nTo: A\r\nSubject: Izin\r\n\r\nMohon kirim berkas.\r\n"
    )
    [msg] = mail.parse(RawRequest(body=body))
    assert msg.text == "Sudah saya kirim." and "forwarded" not in msg.extra


def test_mail_attachments_go_to_the_attachment_store(container: Container) -> None:
    receipt = ingest_fixture(container, "new__attachments_sniffed.eml")
    with db.session(container.engine) as s:
        stored = s.get(Message, receipt.results[0].message.id)
        assert stored is not None
        items = json.loads(stored.attachments)
    kept = {i["filename"]: i.get("path") for i in items}
    assert kept["foto.jpg"] is None  # an executable claiming to be a photo is left in the raw mail only
    path = kept["surat penolakan.pdf"]
    assert path is not None and path.endswith(".pdf")
    assert (container.storage_dir() / path).read_bytes().startswith(b"%PDF-")


def test_aduan_ingest_stores_the_mails_attachments_like_the_poller(
    db_url: str, cli_config: Path, tmp_path: Path, capsys: Any
) -> None:
    from cli.main import main

    store = tmp_path / "store"
    text = cli_config.read_text(encoding="utf-8")
    cli_config.write_text(
        text.replace('attachments_dir = "var/attachments"', f'attachments_dir = "{store}"'), encoding="utf-8"
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["ingest", "--channel", "email", str(FIXTURES / "email" / "new__attachments_sniffed.eml")])
    out, err = capsys.readouterr()
    assert int(exit_info.value.code or 0) == 0, err
    assert json.loads(out)["tracking_number"].startswith("PWK-")
    engine = db.create_engine(db_url)
    with db.session(engine) as s:
        [stored] = s.exec(select(Message)).all()
        kept = {i["filename"]: i.get("path") for i in json.loads(stored.attachments)}
    engine.dispose()
    assert kept["foto.jpg"] is None  # an executable claiming to be a photo stays in the raw mail only
    path = kept["surat penolakan.pdf"]
    assert path is not None and (store / path).read_bytes().startswith(b"%PDF-")


def test_complete_ingest_of_machine_mail_stores_no_attachment(container: Container) -> None:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "Sistem <sistem@perizinan.example.test>", OFFICE, "Laporan harian"
    m["Message-ID"], m["Auto-Submitted"] = "<harian-1@perizinan.example.test>", "auto-generated"
    m.set_content("Terlampir laporan harian.")
    m.add_attachment(b"%PDF-1.4\n%%EOF\n", maintype="application", subtype="pdf", filename="laporan.pdf")
    receipt = receive(container, "email", RawRequest(body=m.as_bytes()), verify=False, complete=True)
    assert receipt.status == 200 and receipt.results[0].complaint is None  # never filed
    assert not (container.storage_dir() / "media").exists()  # and its files are not kept


def test_parse_is_remembered_but_each_caller_gets_its_own_extra() -> None:
    raw = RawRequest(body=read_fixture("email", "reply__gmail_indonesian_quote.eml"))
    [first] = mail.parse(raw)
    first.extra["references"].append("<changed@example.test>")
    first.extra["subject"] = "changed"
    [again] = mail.parse(RawRequest(body=bytes(raw.body)))  # equal bytes, another object
    assert again.extra["subject"] != "changed" and "<changed@example.test>" not in again.extra["references"]
    assert again.text == first.text and mail.external_id(raw) == again.external_id


# -- issue 17: real-world mail the corpus showed (each shape as small as it comes) -------------------


def _mail(head: str, body: bytes) -> InboundMessage:
    [msg] = mail.parse(RawRequest(body=head.replace("\n", "\r\n").encode() + b"\r\n" + body))
    return msg


def test_a_comma_inside_an_encoded_display_name_does_not_split_the_address() -> None:
    # zammad_mail014/065, mail-parser test_18: "Müller, Bernd" refused as "no sender address".
    msg = _mail("From: =?utf-8?B?TcO8bGxlciwgQmVybmQ=?= <Bernd.Mueller@example.test>\nSubject: x\n", b"Izin")
    assert (msg.sender, msg.sender_name) == ("mailto:bernd.mueller@example.test", "Müller, Bernd")
    msg = _mail("From: =?iso-8859-1?Q?B=FCrling,=20Andreas?= <smith@example.test>\nSubject: x\n", b"Izin")
    assert (msg.sender, msg.sender_name) == ("mailto:smith@example.test", "Bürling, Andreas")


def test_an_unbracketed_address_beside_a_name_and_a_broken_header_block_are_recovered() -> None:
    # zammad_mail087 ("From: Test test@example.com") and mail054 (a wrapped value not indented).
    assert _mail("From: Budi budi@example.test\nSubject: x\n", b"Izin").sender == "mailto:budi@example.test"
    head = "X-Tracker: H4sIAAAAAAAAA\nIg5drOCwmrV\nFrom: Siti <siti@example.test>\nSubject: Izin reklame\n"
    msg = _mail(head, b"Izin reklame saya belum keluar.")
    assert msg.sender == "mailto:siti@example.test" and "Izin reklame saya" in msg.text


def test_one_stray_byte_in_utf8_text_replaces_that_byte_only() -> None:
    # Every "—" used to become "â€”" because the whole body was re-read as windows-1252.
    body = "Pelayanan — lambat".encode() + b" \x97 sekali"
    msg = _mail("From: a@example.test\nSubject: x\nContent-Type: text/plain; charset=utf-8\n", body)
    assert "Pelayanan — lambat — sekali" in msg.text and "â€" not in msg.text


def test_gbk_labelled_gb2312_and_cp50221_labelled_iso_2022_jp_are_read_whole() -> None:
    gbk = "我把镜头拉近些，你们看看这个是什么".encode("gbk")
    msg = _mail("From: a@example.test\nSubject: x\nContent-Type: text/plain; charset=gb2312\n", gbk)
    assert "我把镜头拉近些" in msg.text
    assert mail.decode_text(b"\x1b$B-!\x1b(B", "iso-2022-jp") == "①"


def test_uuencoded_parts_broken_multiparts_and_unnamed_images_are_decoded_and_named() -> None:
    head = (
        "From: a@example.test\nSubject: x\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="declared-but-unused"\n'
    )
    parts = (
        b"--actual-boundary\r\nContent-Type: text/plain\r\n\r\nIsi pengaduan.\r\n"
        b"--actual-boundary\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"/9j/4AAQSkZJRgABAQ==\r\n"
        b'--actual-boundary\r\nContent-Type: text/plain; name="catatan.txt"\r\n'
        b"Content-Transfer-Encoding: x-uuencode\r\n\r\n,2&5L;&\\@6F%M;6%D\r\n`\r\n"
        b"--actual-boundary--\r\n"
    )
    msg = _mail(head, parts)
    assert "Isi pengaduan." in msg.text
    assert [(a.filename, a.content_type) for a in msg.attachments] == [
        ("lampiran-1.jpg", "image/jpeg"),
        ("catatan.txt", "text/plain"),
    ]
    assert msg.attachments[1].data == b"Hello Zammad"


def test_r3834_precedence_bulk_alone_is_a_persons_mail_with_a_list_header_it_is_bulk() -> None:
    # zammad_trigger_mail2: a person's mail program set Precedence: bulk.
    person = _mail("From: a@example.test\nSubject: x\nPrecedence: bulk\n", b"Izin saya belum keluar.")
    assert "noise" not in person.extra
    bulk = _mail("From: a@example.test\nSubject: x\nPrecedence: bulk\nFeedback-ID: 1:2:mc\n", b"Promo")
    assert bulk.extra["noise"] == "precedence" and "bulk mail" in bulk.extra["noise_reason"]
