"""Every reply the intake conversation sends, in Indonesian (first) and English, in one place.

Officers adjust wording here and try it with ``aduan simulate``. Day and month names are our own
tables, so the output never depends on the server's locale.
"""

from __future__ import annotations

import datetime as dt

from intake.calendar import BULAN, HARI

LANGUAGES = ("id", "en")

DAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def date_words(day: dt.date, lang: str = "id") -> str:
    """Return ``Selasa, 7 April 2026`` (or ``Tuesday, 7 April 2026``)."""
    if lang == "en":
        return f"{DAYS_EN[day.weekday()]}, {day.day} {MONTHS_EN[day.month - 1]} {day.year}"
    return f"{HARI[day.weekday()]}, {day.day} {BULAN[day.month - 1]} {day.year}"


#: Complaint statuses in plain words for the citizen (STATUS command).
STATUS_WORDS: dict[str, dict[str, str]] = {
    "received": {"id": "sudah diterima dan menunggu penelaahan", "en": "received, waiting to be reviewed"},
    "under_review": {"id": "sedang ditelaah petugas", "en": "being reviewed by an officer"},
    "in_follow_up": {"id": "sedang ditindaklanjuti", "en": "being followed up"},
    "answered": {"id": "sudah dijawab", "en": "answered"},
    "reported": {"id": "sudah dijawab", "en": "answered"},
    "closed": {"id": "selesai", "en": "closed"},
    "acknowledged": {"id": "diterima sebagai saran/masukan", "en": "received as a suggestion"},
    "forwarded": {
        "id": "diteruskan sebagai bahan evaluasi layanan",
        "en": "forwarded to the evaluation of the service",
    },
    "merged": {
        "id": "digabung dengan laporan lain yang sama",
        "en": "merged with another report on the same matter",
    },
}

#: Why a report became a *saran* (R3, R5b), as a clause after "karena" / "because".
REASON_WORDS: dict[str, dict[str, str]] = {
    "no_identity": {"id": "nama pelapor tidak disampaikan", "en": "no name was given"},
    "no_object": {"id": "pokok masalahnya belum dijelaskan", "en": "the matter was not described"},
    "late": {
        "id": "layanan diterima lebih dari {window} hari sebelum laporan disampaikan",
        "en": "the service was received more than {window} days before the report",
    },
}

KIND_WORDS = {
    "pengaduan": {"id": "pengaduan", "en": "complaint"},
    "saran": {"id": "saran/masukan", "en": "suggestion"},
}

TEXTS: dict[str, dict[str, str]] = {
    "greet": {
        "id": "Halo, terima kasih telah menghubungi layanan pengaduan {office}.",
        "en": "Hello, thank you for contacting the complaint service of {office}.",
    },
    "open_complaint_hint": {
        "id": "Laporan Anda {tracking} masih kami proses; kirim STATUS {tracking} untuk melihat statusnya.",
        "en": "Your report {tracking} is still being handled; send STATUS {tracking} to see its status.",
    },
    "ask_what": {
        "id": "Silakan ceritakan apa yang terjadi: layanan apa, apa masalahnya, dan kapan. "
        "Ketik BANTUAN untuk petunjuk.",
        "en": "Please tell us what happened: which service, what went wrong, and when. Type HELP for help.",
    },
    "ask_what_again": {
        "id": "Mohon ceritakan masalah yang ingin Anda sampaikan dengan beberapa kata.",
        "en": "Please describe the problem you want to report in a few words.",
    },
    "attachment_received": {"id": "Lampiran sudah kami terima.", "en": "We have received your attachment."},
    "ask_service": {
        "id": "Layanan apa yang Anda maksud? Balas dengan nomornya:\n{options}\n0. Lainnya / tidak tahu",
        "en": "Which service is it about? Reply with its number:\n{options}\n0. Other / not sure",
    },
    "service_unknown": {
        "id": "Maaf, layanan itu tidak ada di daftar kami. "
        "Balas dengan nomor 1–{count}, atau 0 jika tidak tahu.",
        "en": "Sorry, we could not find that service. Reply with a number 1–{count}, or 0 if not sure.",
    },
    "service_left_open": {
        "id": "Baik, petugas kami yang akan menentukan layanannya.",
        "en": "All right, our officer will determine the service.",
    },
    "ask_name": {
        "id": "Boleh kami tahu nama Anda? Nama diperlukan agar laporan dapat dicatat sebagai pengaduan. "
        "Jika ingin identitas dirahasiakan, balas ANONIM.",
        "en": "May we have your name? A name is needed to record the report as a complaint. "
        "To keep your identity confidential, reply ANONYMOUS.",
    },
    "ask_name_hint": {
        "id": "Boleh kami tahu nama Anda? Jika nama Anda {hint}, balas YA; jika bukan, tulis nama Anda. "
        "Nama diperlukan agar laporan dapat dicatat sebagai pengaduan. "
        "Jika ingin identitas dirahasiakan, balas ANONIM.",
        "en": "May we have your name? If your name is {hint}, reply YES; if not, write your name. "
        "A name is needed to record the report as a complaint. "
        "To keep your identity confidential, reply ANONYMOUS.",
    },
    "name_not_understood": {
        "id": "Mohon tulis nama Anda saja, misalnya: Budi Santoso. Atau balas ANONIM.",
        "en": "Please write just your name, for example: Budi Santoso. Or reply ANONYMOUS.",
    },
    "name_refused": {
        "id": "Tidak apa-apa. Balas ANONIM agar nama Anda hanya diketahui petugas yang berwenang. "
        "Tanpa nama, laporan dicatat sebagai saran/masukan.",
        "en": "That's fine. Reply ANONYMOUS so that only authorised officers see your name. "
        "Without a name, the report is recorded as a suggestion.",
    },
    "ask_date": {
        "id": "Kapan Anda menerima layanan tersebut? Contoh: kemarin, 2 minggu lalu, 3 Maret, atau 3/3/2026. "
        "Balas TIDAK TAHU jika lupa.",
        "en": "When did you receive the service? For example: yesterday, 2 weeks ago, 3 March, or 3/3/2026. "
        "Reply DON'T KNOW if you can't remember.",
    },
    "date_not_understood": {
        "id": "Maaf, tanggalnya belum kami pahami. Contoh: kemarin, 2 minggu lalu, 3 Maret, atau 3/3/2026.",
        "en": "Sorry, we could not read that date. "
        "For example: yesterday, 2 weeks ago, 3 March, or 3/3/2026.",
    },
    "date_in_future": {
        "id": "Tanggal {date} belum lewat. Kapan layanan itu Anda terima?",
        "en": "{date} has not come yet. When did you receive the service?",
    },
    "summary": {
        "id": "Mohon periksa laporan Anda:\n"
        "Uraian: {text}\nLayanan: {service}\nNama: {name}\nTanggal layanan: {date}{late}\n\n"
        "Balas YA untuk mengirim, UBAH untuk mengubah, atau BATAL untuk membatalkan.",
        "en": "Please check your report:\n"
        "Description: {text}\nService: {service}\nName: {name}\nService date: {date}{late}\n\n"
        "Reply YES to send, CHANGE to edit, or CANCEL to cancel.",
    },
    "summary_late": {
        "id": "\n\nCatatan: layanan diterima lebih dari {window} hari yang lalu. Sesuai standar pelayanan, "
        "laporan ini akan kami catat sebagai saran/masukan. Petugas tetap membacanya dan dapat "
        "menindaklanjutinya sebagai pengaduan bila diperlukan.",
        "en": "\n\nNote: the service was received more than {window} days ago. "
        "Under the service standard this "
        "report will be recorded as a suggestion. An officer still reads it and may take it up as a "
        "complaint if needed.",
    },
    "not_chosen": {"id": "(belum dipilih)", "en": "(not chosen)"},
    "not_known": {"id": "(tidak diketahui)", "en": "(unknown)"},
    "anonymous_name": {"id": "(dirahasiakan — ANONIM)", "en": "(confidential — ANONYMOUS)"},
    "added_to_report": {
        "id": "Keterangan Anda sudah kami tambahkan.",
        "en": "We have added this to your report.",
    },
    "edit_menu": {
        "id": "Apa yang ingin diubah? Balas nomornya:\n1. Uraian\n2. Layanan\n3. Nama\n4. Tanggal layanan",
        "en": "What would you like to change? Reply with its number:\n1. Description\n2. Service\n3. Name\n"
        "4. Service date",
    },
    "edit_what": {
        "id": "Silakan tulis ulang uraian masalah Anda.",
        "en": "Please write the description of the problem again.",
    },
    "filed_pengaduan": {
        "id": "Terima kasih{name}. Pengaduan Anda sudah kami terima dengan nomor {tracking}. "
        "Jawaban akan kami sampaikan paling lambat {due}.\n"
        "Untuk menanyakan status, kirim: STATUS {tracking}",
        "en": "Thank you{name}. Your complaint has been received with number {tracking}. "
        "We will answer by {due} at the latest.\n"
        "To ask for its status, send: STATUS {tracking}",
    },
    "filed_saran": {
        "id": "Terima kasih{name}. Laporan Anda kami catat sebagai saran/masukan dengan nomor {tracking}, "
        "karena {reasons}. Masukan Anda tetap dibaca petugas dan menjadi bahan perbaikan layanan.\n"
        "Untuk menanyakan status, kirim: STATUS {tracking}",
        "en": "Thank you{name}. Your report has been recorded as a suggestion with number {tracking}, "
        "because {reasons}. An officer still reads it and it helps us improve the service.\n"
        "To ask for its status, send: STATUS {tracking}",
    },
    "timeout_prefix": {
        "id": "Laporan Anda belum selesai dalam {hours} jam, jadi kami catat dengan keterangan yang ada.",
        "en": "Your report was not finished within {hours} hours, so we have recorded it as it is.",
    },
    "how_to_add_name": {
        "id": "Jika ingin menyampaikan pengaduan resmi, kirim pesan baru "
        "dan sebutkan nama Anda (atau ANONIM).",
        "en": "To make a formal complaint, send a new message and give your name (or ANONYMOUS).",
    },
    "cancelled": {
        "id": "Laporan dibatalkan; tidak ada yang kami catat. Kirim pesan kapan saja untuk memulai lagi.",
        "en": "Report cancelled; nothing has been recorded. Send a message any time to start again.",
    },
    "nothing_to_cancel": {
        "id": "Tidak ada laporan yang sedang dibuat.",
        "en": "There is no report in progress.",
    },
    "anonymous_ok": {
        "id": "Baik, identitas Anda akan dirahasiakan: hanya petugas yang berwenang yang dapat melihatnya.",
        "en": "All right, your identity will be kept confidential: only authorised officers can see it.",
    },
    "help": {
        "id": "Layanan pengaduan {office}. Ceritakan masalah Anda dan jawab beberapa pertanyaan kami.\n"
        "Perintah:\nSTATUS <nomor> — status laporan, mis. STATUS {prefix}-2026-000123\n"
        "BATAL — batalkan laporan yang sedang dibuat\nANONIM — rahasiakan identitas Anda\n"
        "BARU — mulai laporan baru\nBANTUAN — petunjuk ini",
        "en": "Complaint service of {office}. Tell us your problem and answer a few questions.\n"
        "Commands:\nSTATUS <number> — status of a report, e.g. STATUS {prefix}-2026-000123\n"
        "CANCEL — cancel the report in progress\nANONYMOUS — keep your identity confidential\n"
        "NEW — start a new report\nHELP — these instructions",
    },
    "status": {
        "id": "Status {tracking} ({kind}): {status}. Diterima {received}.",
        "en": "Status of {tracking} ({kind}): {status}. Received {received}.",
    },
    "status_due": {"id": " Batas jawaban: {due}.", "en": " Answer due by {due}."},
    "status_unknown": {
        "id": "Nomor {tracking} tidak kami temukan. Mohon periksa kembali nomornya.",
        "en": "We could not find number {tracking}. Please check the number.",
    },
    "resume": {"id": "Untuk melanjutkan laporan Anda:", "en": "To continue your report:"},
    "reopened": {
        "id": "Terima kasih atas tanggapan Anda. Laporan {tracking} kami buka kembali dan akan ditelaah lagi "
        "oleh petugas. Untuk menanyakan status, kirim: STATUS {tracking}",
        "en": "Thank you for your reply. Report {tracking} has been reopened and will be reviewed again by "
        "an officer. To ask for its status, send: STATUS {tracking}",
    },
    "forwarded": {
        "id": "Pesan Anda kami teruskan ke petugas yang menangani {tracking}. Balasan petugas akan kami "
        "kirim ke sini. Untuk laporan baru tentang hal lain, kirim BARU.",
        "en": "Your message has been passed on to the officer handling {tracking}. Their reply will come "
        "here. To report something else, send NEW.",
    },
    "which_complaint": {
        "id": "Anda memiliki beberapa laporan yang masih kami proses. Pesan ini tentang laporan yang mana? "
        "Balas dengan nomornya:\n{options}\nAtau balas BARU jika ini laporan baru.",
        "en": "You have several reports we are still handling. Which one is this message about? "
        "Reply with its number:\n{options}\nOr reply NEW if this is a new report.",
    },
    "which_complaint_again": {
        "id": "Mohon balas dengan nomor 1–{count} untuk laporan yang dimaksud:\n{options}\n"
        "Atau balas BARU jika ini laporan baru.",
        "en": "Please reply with a number 1–{count} for the report you mean:\n{options}\n"
        "Or reply NEW if this is a new report.",
    },
    "received_on": {"id": "diterima", "en": "received"},
    "officer_follow_up": {
        "id": "Pesan baru dari warga pada {tracking}. Silakan buka kotak masuk Aduan.",
        "en": "New message from the citizen on {tracking}. Please open the Aduan inbox.",
    },
    "status_none": {
        "id": "Kami belum menemukan laporan dari nomor ini. Jika Anda punya nomor laporan, kirim misalnya: "
        "STATUS {prefix}-{year}-000123. Untuk membuat laporan, ceritakan masalah Anda.",
        "en": "We have not found a report from this number. If you have a report number, send e.g. "
        "STATUS {prefix}-{year}-000123. To make a report, tell us your problem.",
    },
    "location_received": {
        "id": "Lokasi yang Anda kirim sudah kami terima dan kami simpan bersama laporan.",
        "en": "We have received the location you sent and kept it with the report.",
    },
    "media_ask_summary": {
        "id": "{what} Anda sudah kami terima dan dapat didengar/dilihat petugas. Mohon tuliskan juga "
        "ringkasan singkat masalahnya (beberapa kalimat), agar laporan dapat dicatat dan dicari.",
        "en": "We have received your {what}; an officer can play it. Please also write a short summary "
        "of the problem (a few sentences) so the report can be recorded and searched.",
    },
    "media_received_follow_up": {
        "id": "{what} Anda sudah kami terima.",
        "en": "We have received your {what}.",
    },
    "media_voice": {"id": "Pesan suara", "en": "voice note"},
    "media_audio": {"id": "Rekaman suara", "en": "audio recording"},
    "media_video": {"id": "Video", "en": "video"},
    "media_contact": {"id": "Kartu kontak", "en": "contact card"},
    "address_line": {"id": "Alamat pelapor: {address}", "en": "Reporter's address: {address}"},
    "thanks_reply": {
        "id": "Sama-sama. Kirim pesan kapan saja jika ada yang ingin disampaikan.",
        "en": "You're welcome. Send us a message any time.",
    },
    "flood": {
        "id": "Pesan Anda banyak sekali dalam waktu singkat. Pesan tetap kami simpan; mohon tunggu "
        "beberapa menit sebelum mengirim lagi.",
        "en": "You have sent many messages in a short time. They are kept; please wait a few minutes "
        "before sending more.",
    },
}


def t(key: str, lang: str = "id", **values: object) -> str:
    """Return the text ``key`` in ``lang`` (Indonesian when there is no such translation)."""
    entry = TEXTS[key]
    return entry.get(lang, entry["id"]).format(**values)


def status_words(status: str, lang: str = "id") -> str:
    """Return a complaint status in plain words for the citizen."""
    entry = STATUS_WORDS.get(status)
    return entry.get(lang, entry["id"]) if entry else status


def reason_words(reasons: list[str], lang: str = "id", *, window: int = 30) -> str:
    """Return why a report became a saran, as one clause ("nama … dan …")."""
    parts = [
        REASON_WORDS[r][lang if lang in LANGUAGES else "id"].format(window=window)
        for r in reasons
        if r in REASON_WORDS
    ]
    joiner = " and " if lang == "en" else " dan "
    return joiner.join(parts)


def kind_words(kind: str, lang: str = "id") -> str:
    """Return the kind of a record (pengaduan / saran) in the citizen's language."""
    entry = KIND_WORDS.get(kind)
    return entry.get(lang, entry["id"]) if entry else kind
