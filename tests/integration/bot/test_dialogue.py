"""The intake conversation, path by path, through real SMS, WhatsApp and Telegram payloads.

Every test runs once per channel (the same dialogue code must serve them all), on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlmodel import select

from app import settings as config_mod
from app.bootstrap import INSTALLERS
from app.container import Container
from bot import dialogue
from bot.dialogue import DialogueDraft, file_stale_drafts
from intake import db
from intake.models import Complaint, Event, Message
from tests.conftest import Clock
from tests.integration.bot.dialogue_chat import Chat


@pytest.fixture(params=["sms", "whatsapp", "telegram"])
def chat(request: pytest.FixtureRequest, container: Container, clock: Clock) -> Chat:
    """A citizen on each chat channel in turn."""
    return Chat(container, clock, request.param)


@pytest.fixture
def sms(container: Container, clock: Clock) -> Chat:
    """A citizen on SMS, for paths whose channel independence the tests above already show."""
    return Chat(container, clock, "sms", n=2)


@pytest.fixture
def wa(container: Container, clock: Clock) -> Chat:
    """A citizen on WhatsApp."""
    return Chat(container, clock, "whatsapp", n=3)


@pytest.fixture
def tg(container: Container, clock: Clock) -> Chat:
    """A citizen on Telegram."""
    return Chat(container, clock, "telegram", n=4)


def draft_of(chat: Chat) -> DialogueDraft:
    with db.session(chat.container.engine) as s:
        row = s.exec(select(DialogueDraft).where(DialogueDraft.sender_urn == chat.sender)).one()
    return row


def test_dialogue_is_installed_as_the_last_message_hook(container: Container) -> None:
    assert INSTALLERS[-1] is dialogue.install
    assert container.message_hooks[-1] is dialogue.on_message


def test_r5a_happy_path_asks_each_question_once_and_confirms_with_due_date_in_words(chat: Chat) -> None:
    first = chat.send("Halo")
    assert len(first) == 1
    assert "terima kasih telah menghubungi" in first[0] and "ceritakan apa yang terjadi" in first[0]
    asked_service = chat.send("Izin saya belum keluar padahal berkasnya sudah lengkap")
    assert "Layanan apa" in asked_service[0]
    assert "2. Persetujuan Bangunan Gedung (PBG)" in asked_service[0]
    assert "nama Anda" in chat.send("2")[0]
    assert "Kapan Anda menerima layanan" in chat.send("Budi Santoso")[0]
    summary = chat.send("kemarin")[0]
    assert "Nama: Budi Santoso" in summary and "Senin, 9 Maret 2026" in summary and "YA" in summary
    assert chat.complaints() == []
    confirmation = chat.send("YA")[0]
    [complaint] = chat.complaints()
    assert complaint.kind == "pengaduan" and complaint.reason_list == []
    assert complaint.service_code == "pbg"
    assert complaint.service_date == dt.date(2026, 3, 9)
    # R4 example of the SPEC: received Tuesday 10 March 2026, due Tuesday 7 April 2026.
    assert complaint.due_date == dt.date(2026, 4, 7)
    assert complaint.tracking_number in confirmation
    assert "paling lambat Selasa, 7 April 2026" in confirmation
    assert f"STATUS {complaint.tracking_number}" in confirmation
    assert len(chat.messages_of(complaint)) == 6  # every message of the conversation is attached
    assert draft_of(chat).state == dialogue.IDLE


def test_r5a_everything_in_one_message_goes_straight_to_the_summary(chat: Chat) -> None:
    [reply] = chat.send(
        "Selamat pagi, nama saya Budi Santoso. Izin PBG saya belum keluar padahal sudah bayar, "
        "saya mengurus tanggal 2 Maret 2026."
    )
    assert "Mohon periksa laporan Anda" in reply
    assert "Nama: Budi Santoso" in reply
    assert "Layanan: Persetujuan Bangunan Gedung (PBG)" in reply
    assert "Tanggal layanan: Senin, 2 Maret 2026" in reply
    assert "Layanan apa" not in reply and "nama Anda?" not in reply and "Kapan" not in reply
    chat.send("ya")
    [complaint] = chat.complaints()
    assert (complaint.kind, complaint.service_code, complaint.service_date) == (
        "pengaduan",
        "pbg",
        dt.date(2026, 3, 2),
    )
    assert complaint.suggested_problem_type == "waktu"  # R5c: from "belum keluar", never the decision
    assert complaint.problem_type is None


def test_r5b_no_name_ever_given_is_filed_as_saran_no_identity_after_the_timeout(chat: Chat) -> None:
    assert "nama Anda" in chat.send("Izin PBG saya belum keluar sudah lama sekali")[0]
    chat.clock.advance(hours=23)
    assert file_stale_drafts(chat.container) == 0  # not yet: 24 hours since the last message
    chat.clock.advance(hours=2)
    assert file_stale_drafts(chat.container) == 1
    [complaint] = chat.complaints()
    assert complaint.kind == "saran" and complaint.reason_list == ["no_identity"]
    [told] = chat.new_replies()
    assert "saran/masukan" in told and "nama pelapor tidak disampaikan" in told
    assert complaint.tracking_number in told
    assert file_stale_drafts(chat.container) == 0  # filed once


def test_r5a_greeting_only_then_timeout_files_nothing(chat: Chat) -> None:
    chat.send("Assalamualaikum")
    chat.send("halo pak", after=40)
    chat.clock.advance(hours=25)
    assert file_stale_drafts(chat.container) == 0
    assert chat.complaints() == []
    assert draft_of(chat).state == dialogue.IDLE
    assert chat.new_replies() == []


def test_r3_late_service_date_is_explained_kindly_and_filed_as_saran_late(chat: Chat) -> None:
    chat.send("Nama saya Siti Rahma. Sertifikat SLF saya salah ketik nama jalan.")
    summary = chat.send("2 bulan yang lalu")[0]
    assert "Tanggal layanan: Sabtu, 10 Januari 2026" in summary
    assert "lebih dari 30 hari" in summary and "saran/masukan" in summary
    reply = chat.send("YA")[0]
    [complaint] = chat.complaints()
    assert complaint.kind == "saran" and complaint.reason_list == ["late"]
    assert "saran/masukan" in reply and "lebih dari 30 hari" in reply


def test_status_query_by_tracking_number_answers_without_personal_data(
    container: Container, clock: Clock, chat: Chat
) -> None:
    other = Chat(container, clock, "sms", n=77)
    other.send("Nama saya Budi Santoso. Izin PBG saya belum keluar, saya urus kemarin.")
    other.send("ya")
    [complaint] = other.complaints()
    reply = chat.send(f"STATUS {complaint.tracking_number}")[0]
    assert f"Status {complaint.tracking_number} (pengaduan): sudah diterima" in reply
    assert "Selasa, 7 April 2026" in reply
    assert "Budi" not in reply and "PBG" not in reply and "+62" not in reply
    bare = chat.send(complaint.tracking_number.lower())[0]
    assert complaint.tracking_number in bare and "sudah diterima" in bare
    assert "tidak kami temukan" in chat.send("status PWK-2026-999999")[0]
    assert draft_of(chat).state == dialogue.IDLE  # a status query starts no report
    assert chat.complaints() == []


def test_status_query_in_the_middle_of_a_report_resumes_the_question(tg: Chat) -> None:
    tg.send("Izin PBG saya belum keluar")
    reply = tg.send("cek PWK-2026-000042")[0]
    assert "tidak kami temukan" in reply and "melanjutkan laporan" in reply and "nama Anda" in reply
    assert draft_of(tg).state == dialogue.ASK_NAME


def test_batal_cancels_the_draft_and_nothing_is_filed(chat: Chat) -> None:
    chat.send("Izin PBG saya belum keluar")
    assert "dibatalkan" in chat.send("BATAL")[0]
    assert draft_of(chat).state == dialogue.IDLE
    chat.clock.advance(hours=30)
    assert file_stale_drafts(chat.container) == 0
    assert chat.complaints() == []
    assert "Tidak ada laporan" in chat.send("batal")[0]


def test_r5a_anonim_files_a_complaint_with_the_identity_hidden(chat: Chat) -> None:
    assert "ANONIM" in chat.send("Petugas loket PBG meminta uang tambahan di luar tarif resmi")[0]
    reply = chat.send("ANONIM")[0]
    assert "dirahasiakan" in reply and "Kapan Anda menerima layanan" in reply
    summary = chat.send("tidak tahu")[0]
    assert "Nama: (dirahasiakan — ANONIM)" in summary and "Tanggal layanan: (tidak diketahui)" in summary
    chat.send("ya")
    [complaint] = chat.complaints()
    assert complaint.kind == "pengaduan" and complaint.anonymous and complaint.reason_list == []
    assert complaint.service_date is None  # SPEC R3: never given → not late


def test_reply_to_a_closed_complaint_within_the_window_reopens_it(chat: Chat) -> None:
    chat.send("Nama saya Budi Santoso. Izin PBG saya belum keluar, saya urus kemarin.")
    chat.send("ya")
    [complaint] = chat.complaints()
    with db.write_session(chat.container.engine) as s:
        row = s.get(Complaint, complaint.id)
        assert row is not None
        row.status, row.closed_at = "closed", chat.clock.advance(days=10)
        s.add(row)
    chat.clock.advance(days=3)
    reply = chat.send("Jawabannya belum menyelesaikan masalah, izin saya tetap belum keluar")[0]
    assert "buka kembali" in reply and complaint.tracking_number in reply
    [reopened] = chat.complaints()
    assert reopened.status == "under_review"
    with db.session(chat.container.engine) as s:
        events = s.exec(select(Event).where(Event.complaint_id == complaint.id)).all()
        last = s.exec(select(Message).order_by(Message.id.desc())).first()  # type: ignore[union-attr]
    assert any(e.new_value == "under_review" and e.old_value == "closed" for e in events)
    assert last is not None and last.complaint_id == complaint.id
    assert draft_of(chat).state == dialogue.IDLE


def test_reply_after_the_reopen_window_starts_a_new_report(wa: Chat) -> None:
    wa.send("Nama saya Budi Santoso. Izin PBG saya belum keluar, saya urus kemarin.")
    wa.send("ya")
    [complaint] = wa.complaints()
    with db.write_session(wa.container.engine) as s:
        row = s.get(Complaint, complaint.id)
        assert row is not None
        row.status, row.closed_at = "closed", wa.clock.advance(days=10)
        s.add(row)
    wa.clock.advance(days=15)
    reply = wa.send("Izin reklame saya juga belum keluar")[0]
    assert "buka kembali" not in reply
    assert "Kapan Anda menerima layanan" in reply  # a new report; the name is known already
    assert [c.status for c in wa.complaints()] == ["closed"]


def test_r5a_name_known_from_an_earlier_complaint_is_not_asked_again(sms: Chat) -> None:
    sms.send("Nama saya Budi Santoso. Izin PBG saya belum keluar, saya urus kemarin.")
    sms.send("ya")
    reply = sms.send("Papan reklame saya diturunkan petugas tanpa pemberitahuan", after=3600)[0]
    assert "nama Anda" not in reply and "Kapan Anda menerima layanan" in reply
    summary = sms.send("kemarin")[0]
    assert "Nama: Budi Santoso" in summary


def test_messages_within_the_join_window_join_the_draft_silently(chat: Chat) -> None:
    assert "Layanan apa" in chat.send("pak izin saya belum keluar")[0]
    assert chat.send("sudah 3 minggu saya tunggu tidak ada kabar", after=20) == []  # still typing
    assert "nama Anda" in chat.send("2", after=60)[0]
    chat.send("Budi Santoso")
    chat.send("3 minggu lalu")
    chat.send("ya")
    [complaint] = chat.complaints()
    assert complaint.text == "pak izin saya belum keluar\nsudah 3 minggu saya tunggu tidak ada kabar"
    assert complaint.suggested_problem_type == "waktu"


def test_more_story_after_the_join_window_is_acknowledged_and_the_question_repeated(tg: Chat) -> None:
    tg.send("pak izin saya belum keluar")
    reply = tg.send("petugasnya juga bilang harus bayar lagi ke orang dalam", after=600)[0]
    assert "sudah kami tambahkan" in reply and "Layanan apa" in reply


def test_unknown_service_twice_is_left_to_the_officer(sms: Chat) -> None:
    sms.send("pak izin saya belum keluar")
    assert "tidak ada di daftar" in sms.send("xyz", after=300)[0]
    reply = sms.send("abc", after=300)[0]
    assert "petugas kami yang akan menentukan" in reply and "nama Anda" in reply


def test_ubah_changes_one_part_and_shows_the_summary_again(wa: Chat) -> None:
    wa.send("Nama saya Budi Santoso. Izin PBG saya belum keluar, saya urus kemarin.")
    assert "Apa yang ingin diubah" in wa.send("UBAH")[0]
    assert "Kapan Anda menerima layanan" in wa.send("4")[0]
    summary = wa.send("tanggal 5")[0]
    assert "Tanggal layanan: Kamis, 5 Maret 2026" in summary
    wa.send("ya")
    assert wa.complaints()[0].service_date == dt.date(2026, 3, 5)


def test_a_service_date_in_the_future_is_asked_again(tg: Chat) -> None:
    tg.send("Nama saya Budi Santoso. Izin PBG saya belum keluar.")
    assert "belum lewat" in tg.send("3/11/2026")[0]
    assert draft_of(tg).state == dialogue.ASK_DATE


def test_bantuan_lists_the_commands_and_repeats_the_question(sms: Chat) -> None:
    sms.send("Izin PBG saya belum keluar")
    reply = sms.send("BANTUAN")[0]
    assert "STATUS <nomor>" in reply and "BATAL" in reply and "ANONIM" in reply and "nama Anda" in reply


def test_english_writer_gets_english_replies(chat: Chat) -> None:
    reply = chat.send("Hello, my PBG building permit has not been issued yet and it has been weeks")[0]
    assert "Thank you for contacting" in reply or "Hello, thank you" in reply
    assert "May we have your name" in reply  # the service was recognised, so it is not asked
    assert "When did you receive" in chat.send("My name is John Smith")[0]
    summary = chat.send("2 weeks ago")[0]
    assert "Reply YES" in summary
    confirmation = chat.send("yes")[0]
    assert "We will answer by Tuesday, 7 April 2026 at the latest" in confirmation


def test_thanks_after_the_confirmation_gets_a_short_answer_and_no_new_report(wa: Chat) -> None:
    wa.send("Nama saya Budi Santoso. Izin PBG saya belum keluar, saya urus kemarin.")
    wa.send("ya")
    assert "Sama-sama" in wa.send("terima kasih pak")[0]
    assert draft_of(wa).state == dialogue.IDLE


def test_flood_guard_keeps_messages_but_stops_answering(wa: Chat) -> None:
    limit = wa.container.settings.dialogue.rate_limit_messages
    for i in range(limit + 10):
        wa.send(f"tes {i}", after=1)
    replies = wa.replies()
    assert sum("banyak sekali" in r for r in replies) == 1
    assert len(replies) <= limit + 1
    with db.session(wa.container.engine) as s:
        stored = s.exec(select(Message).where(Message.sender_urn == wa.sender)).all()
    assert len(stored) == limit + 10  # nothing is lost


def test_draft_timed_out_while_the_scheduler_was_down_is_filed_on_the_next_message(sms: Chat) -> None:
    sms.send("Izin PBG saya belum keluar sudah lama sekali")
    sms.send("halo?", after=3 * 86400)
    [complaint] = sms.complaints()
    assert complaint.kind == "saran" and complaint.reason_list == ["no_identity"]
    assert draft_of(sms).state == dialogue.ASK_WHAT  # the new message began a new report


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("join_window_seconds", "2 minutes", "dialogue.join_window_seconds must be a positive number"),
        ("draft_timeout_hours", 0, "dialogue.draft_timeout_hours must be a positive number"),
        ("rate_limit_messages", True, "dialogue.rate_limit_messages must be a positive number"),
        ("join_window", 120, "[dialogue] unknown key 'join_window'"),
    ],
)
def test_dialogue_settings_reject_wrong_values_naming_the_key(
    config_data: dict[str, Any], key: str, value: object, message: str
) -> None:
    config_data["dialogue"][key] = value
    with pytest.raises(config_mod.ConfigError) as info:
        config_mod.from_dict(config_data, env={})
    assert message in str(info.value)


def test_dialogue_settings_come_from_the_dialogue_table(config_data: dict[str, Any]) -> None:
    config_data["dialogue"]["draft_timeout_hours"] = 2
    conf = config_mod.from_dict(config_data, env={}).dialogue
    assert conf.draft_timeout == dt.timedelta(hours=2) and conf.join_window == dt.timedelta(seconds=120)


def test_a_second_ya_right_after_the_confirmation_files_nothing_more(tg: Chat) -> None:
    tg.send("Nama saya Budi Santoso. Izin PBG saya belum keluar, saya urus kemarin.")
    tg.send("ya")
    assert tg.send("ya", after=5) == []
    assert len(tg.complaints()) == 1 and draft_of(tg).state == dialogue.IDLE
