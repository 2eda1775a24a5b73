"""After filing: follow-ups reach the open complaint, status questions get status, nobody waits.

Through real SMS, WhatsApp and Telegram payloads (``tests/integration/bot/dialogue_chat.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from sqlmodel import select

from app.container import Container
from bot import dialogue
from bot.dialogue import DialogueDraft, file_stale_drafts
from intake import db
from intake.models import Complaint, Message, User
from outbound import alerts
from outbound.alerts import AlertMessage, Recipients
from tests.conftest import Clock
from tests.integration.bot.dialogue_chat import Chat

FILE_PBG = "Nama saya Budi Santoso. Izin PBG saya belum keluar, saya urus kemarin."
FILE_REKLAME = "Papan reklame saya diturunkan petugas tanpa pemberitahuan, kemarin."


@pytest.fixture(params=["sms", "whatsapp", "telegram"])
def chat(request: pytest.FixtureRequest, container: Container, clock: Clock) -> Chat:
    """A citizen on each chat channel in turn."""
    return Chat(container, clock, request.param, n=21)


@pytest.fixture
def wa(container: Container, clock: Clock) -> Chat:
    """A citizen on WhatsApp."""
    return Chat(container, clock, "whatsapp", n=22)


def filed(chat: Chat, text: str = FILE_PBG) -> Complaint:
    """File one complaint in a conversation and return it."""
    before = len(chat.complaints())
    chat.send(text)
    reply = chat.send("ya")[-1]
    assert "Pengaduan Anda sudah kami terima" in reply, reply
    complaints = chat.complaints()
    assert len(complaints) == before + 1
    return complaints[-1]


def state_of(chat: Chat) -> str:
    with db.session(chat.container.engine) as s:
        draft = s.exec(select(DialogueDraft).where(DialogueDraft.sender_urn == chat.sender)).one()
    return draft.state


def last_message(chat: Chat) -> Message:
    with db.session(chat.container.engine) as s:
        row = s.exec(
            select(Message).where(Message.sender_urn == chat.sender).order_by(Message.id.desc())  # type: ignore[union-attr]
        ).first()
    assert row is not None
    return row


def test_answer_to_an_officers_question_lands_on_the_complaint_and_no_second_one_after_25_hours(
    chat: Chat,
) -> None:
    complaint = filed(chat)
    chat.clock.advance(hours=3)
    [reply] = chat.send("no permohonannya 2026-RST-00412 pak")
    assert f"Pesan Anda kami teruskan ke petugas yang menangani {complaint.tracking_number}" in reply
    assert "Layanan apa" not in reply
    assert last_message(chat).complaint_id == complaint.id
    assert state_of(chat) == dialogue.IDLE
    chat.clock.advance(hours=25)
    assert file_stale_drafts(chat.container) == 0
    assert [c.id for c in chat.complaints()] == [complaint.id]
    assert not any("belum selesai dalam" in r for r in chat.new_replies())


def test_a_follow_up_burst_is_acknowledged_once_and_every_message_joins_the_complaint(wa: Chat) -> None:
    complaint = filed(wa)
    first = wa.send("pak tolong dicek lagi, sampai sekarang belum ada yang menghubungi saya", after=7200)
    assert len(first) == 1 and complaint.tracking_number in first[0]
    assert wa.send("saya sudah bolak balik ke kantor 3 kali", after=40) == []  # still typing
    assert wa.send("mohon bantuannya", after=40) == []
    with db.session(wa.container.engine) as s:
        attached = s.exec(select(Message).where(Message.complaint_id == complaint.id)).all()
    texts = [m.text for m in attached]
    assert "mohon bantuannya" in texts and "saya sudah bolak balik ke kantor 3 kali" in texts
    later = wa.send("pak ada kabar terbaru?", after=3600)
    assert later and complaint.tracking_number in later[0]


@pytest.mark.parametrize(
    "question",
    ["status", "cek", "gmn laporan sy", "sudah sampai mana", "Pak, laporan saya sudah sampai mana ya?",
     "cek status", "kumaha laporan abdi", "udah diproses belum?", "STATUS", "Cek no 1"],
)  # fmt: skip
def test_status_questions_in_any_wording_are_answered_and_never_become_a_draft(
    wa: Chat, question: str
) -> None:
    complaint = filed(wa)
    [reply] = wa.send(question, after=3600)
    assert f"Status {complaint.tracking_number}" in reply, reply
    assert "sedang" in reply or "diterima" in reply
    assert state_of(wa) == dialogue.IDLE
    wa.clock.advance(hours=25)
    assert file_stale_drafts(wa.container) == 0
    assert len(wa.complaints()) == 1


def test_status_question_without_any_report_asks_for_the_number_and_starts_nothing(wa: Chat) -> None:
    [reply] = wa.send("gmn laporan sy pak")
    assert "belum menemukan laporan" in reply and "STATUS PWK-" in reply
    assert state_of(wa) == dialogue.IDLE


def test_two_open_complaints_give_a_numbered_choice_and_the_answer_routes_the_message(wa: Chat) -> None:
    first = filed(wa, FILE_PBG)
    second = filed(wa, FILE_REKLAME)
    assert first.service_code != second.service_code
    [question] = wa.send("pak tolong dibantu, petugasnya belum menghubungi saya", after=3600)
    assert "laporan yang mana" in question
    assert f"1. {first.tracking_number}" in question and f"2. {second.tracking_number}" in question
    kept = last_message(wa)
    assert kept.complaint_id is None
    [reply] = wa.send("2", after=60)
    assert f"menangani {second.tracking_number}" in reply
    with db.session(wa.container.engine) as s:
        row = s.get(Message, kept.id)
        assert row is not None and row.complaint_id == second.id
    assert last_message(wa).complaint_id == second.id
    assert state_of(wa) == dialogue.IDLE
    wa.clock.advance(hours=25)
    assert file_stale_drafts(wa.container) == 0
    assert len(wa.complaints()) == 2


def test_a_choice_never_answered_goes_to_the_newest_complaint_and_files_nothing(wa: Chat) -> None:
    filed(wa, FILE_PBG)
    second = filed(wa, FILE_REKLAME)
    wa.send("pak mohon ditindaklanjuti segera", after=3600)
    kept = last_message(wa)
    wa.clock.advance(hours=25)
    assert file_stale_drafts(wa.container) == 0
    assert len(wa.complaints()) == 2
    with db.session(wa.container.engine) as s:
        row = s.get(Message, kept.id)
        assert row is not None and row.complaint_id == second.id


def test_baru_opens_a_new_intake_beside_the_open_complaint(wa: Chat) -> None:
    complaint = filed(wa)
    [reply] = wa.send("BARU", after=3600)
    assert "ceritakan apa yang terjadi" in reply
    assert state_of(wa) == dialogue.ASK_WHAT
    wa.send("Jalan di depan kantor kecamatan rusak parah, sudah dilaporkan tapi tidak diperbaiki")
    assert last_message(wa).complaint_id is None
    assert [c.id for c in wa.complaints()] == [complaint.id]


def test_a_message_about_another_service_starts_a_new_report(wa: Chat) -> None:
    filed(wa, FILE_PBG)
    [reply] = wa.send("Papan reklame saya juga diturunkan petugas tanpa pemberitahuan", after=3600)
    assert "teruskan ke petugas" not in reply and "Kapan Anda menerima layanan" in reply


def test_laporan_baru_in_words_opens_a_new_intake(wa: Chat) -> None:
    filed(wa)
    [reply] = wa.send("pak saya mau buat laporan baru soal pungli di kelurahan", after=3600)
    assert "teruskan ke petugas" not in reply
    assert state_of(wa) != dialogue.IDLE


def test_the_assigned_officer_with_a_linked_telegram_is_told_without_the_message_text(
    container: Container, clock: Clock
) -> None:
    chat = Chat(container, clock, "sms", n=23)
    complaint = filed(chat)
    with db.write_session(container.engine) as s:
        officer = User(username="siti", full_name="Siti", role="officer", telegram_chat_id="777001")
        s.add(officer)
        s.flush()
        row = s.get(Complaint, complaint.id)
        assert row is not None
        row.assignee_id = officer.id
        s.add(row)
    chat.send("pak berkas tambahan sudah saya antar ke loket 3 tadi pagi", after=3600)
    chat.send("mohon dicek", after=30)  # the same burst: one notice
    sent: list[tuple[AlertMessage, Recipients]] = []
    container.services["alert_senders"] = [RecordingSender(sent)]
    assert alerts.deliver_pending(container) == 1
    [(message, recipients)] = sent
    assert recipients.telegram == ("777001",)
    assert complaint.tracking_number in message.text
    assert "loket" not in message.text  # UU 27/2022: the citizen's words stay in the inbox


@dataclass
class RecordingSender:
    """An alert sender that keeps what it was asked to send (the Telegram alert bot's place)."""

    sent: list[tuple[AlertMessage, Recipients]]
    name: str = "telegram"

    def send(self, message: AlertMessage, recipients: Recipients) -> None:
        self.sent.append((message, recipients))


def test_thanks_after_an_answer_gets_a_short_reply_and_lands_on_the_complaint(wa: Chat) -> None:
    complaint = filed(wa)
    [reply] = wa.send("terima kasih pak", after=7200)
    assert "Sama-sama" in reply
    assert last_message(wa).complaint_id == complaint.id
    assert state_of(wa) == dialogue.IDLE


def test_a_reply_to_a_closed_complaint_still_reopens_it(wa: Chat) -> None:
    complaint = filed(wa)
    with db.write_session(wa.container.engine) as s:
        row = s.get(Complaint, complaint.id)
        assert row is not None
        row.status, row.closed_at = "closed", wa.clock.advance(days=2)
        s.add(row)
    [reply] = wa.send("Jawabannya belum menyelesaikan masalah, izin saya tetap belum keluar", after=3600)
    assert "buka kembali" in reply


# -- never silent ---------------------------------------------------------------------------------


def test_name_with_village_and_sundanese_date_answered_quickly_are_answered(chat: Chat) -> None:
    assert "nama Anda" in chat.send("pak izin PBG saya belum keluar juga")[0]
    reply = chat.send("abdi Ujang, ti desa Cibogo", after=40)
    assert reply and "Kapan Anda menerima layanan" in reply[0]
    reply = chat.send("2 mingguan lalu pak", after=40)
    assert reply and "Mohon periksa laporan Anda" in reply[0]
    assert "Nama: Ujang" in reply[0] and "Desa Cibogo" in reply[0]
    assert "Tanggal layanan: Selasa, 24 Februari 2026" in reply[0]


@pytest.mark.parametrize(
    ("script", "kind"),
    [
        # (seconds after the previous message, text, may it be silent)
        ([(0, "halo", False), (20, "pak", True), (30, "izin usaha saya ditolak tanpa alasan", False),
         (30, "abdi Ujang", False), (30, "kamari", False), (30, "muhun", False)], "pengaduan"),
        # "tgl 5 agst" is 5 August 2025: more than 30 days before 10 March 2026 (R3 late)
        ([(0, "pak saya mau lapor", False), (600, "PBG belum keluar", False), (30, "xyz", False),
         (30, "nami abdi Iis Sumiati ti Wanayasa", False), (30, "tgl 5 agst", False),
         (30, "leres", False)], "saran"),
        ([(0, "izin saya belum keluar", False),
         (20, "sudah 3 minggu saya tunggu tidak ada kabar sama sekali", True),
         (30, "1", False), (30, "sy Imas", False), (30, "sebulan lalu", False), (30, "ok", False)],
         "pengaduan"),
    ],
)  # fmt: skip
def test_never_silent_every_message_is_answered_or_joins_one_just_answered(
    wa: Chat, script: list[tuple[int, str, bool]], kind: str
) -> None:
    answered_at: float | None = None
    elapsed = 0.0
    for after, text, may_be_silent in script:
        elapsed += after
        replies = wa.send(text, after=after or 1)
        if replies:
            answered_at = elapsed
            continue
        assert may_be_silent, f"no answer to {text!r}"
        # Silence only inside the join window of a message that was answered.
        assert answered_at is not None and elapsed - answered_at <= 120
    [complaint] = wa.complaints()
    assert complaint.kind == kind


def test_a_voice_note_without_text_is_received_and_a_short_summary_asked(wa: Chat) -> None:
    replies = wa.send_payload("message__voice_note_no_text.form")
    assert replies and "Pesan suara Anda sudah kami terima" in replies[0]
    assert "ringkasan singkat" in replies[0]
    messages = [json.loads(m.attachments) for m in wa.all_messages()]
    assert messages[-1][0]["content_type"] == "audio/ogg"


def test_a_shared_location_is_acknowledged(wa: Chat) -> None:
    wa.send("Jalan rusak di depan pasar, sudah 2 bulan tidak diperbaiki")
    replies = wa.send_payload("message__location.form")
    assert replies and "Lokasi yang Anda kirim sudah kami terima" in replies[0]


def test_a_first_message_asking_to_check_a_permit_is_a_report_not_a_status_question(wa: Chat) -> None:
    [reply] = wa.send("tolong cek izin PBG saya, sudah 3 minggu belum keluar")
    assert "belum menemukan laporan" not in reply and "nama Anda" in reply
    assert state_of(wa) == dialogue.ASK_NAME
