"""How Purwakarta writes: real-looking citizen messages and what the bot must read from each.

Typos, abbreviations and Sundanese mixed with Indonesian, as villagers type in chat. Each row is
(what is read, the message, the expected value); "today" is Tuesday 10 March 2026 (Jakarta).

- ``date``: the answer to "Kapan Anda menerima layanan?" (``parse_date``), ISO or None.
- ``date_in_text``: a date in running text (``parse_date(strict=True)``), ISO or None.
- ``name``: a name introduced in running text (``introduce``), None when there is none.
- ``answer``: the answer to "Boleh kami tahu nama Anda?" (``name_answer``).
- ``address``: the village/address given with the name, kept apart from it.
- ``yes_no``: a short yes/no to the summary (True, False, None).
- ``status``: whether the message asks about one's own report.
- ``tracking``: the tracking numbers named (office PWK, year 2026; a number alone allowed).
"""

from __future__ import annotations

import datetime as dt

import pytest

from bot.dateparse import parse_date
from bot.dialogue import is_status_question, yes_no
from bot.names import introduce, name_answer
from intake.tracking import read_tracking

TODAY = dt.date(2026, 3, 10)

# fmt: off
ROWS: list[tuple[str, str, object]] = [
    # -- dates: month abbreviations and misspellings ("tgl 5 agst" is 5 August, never 5 March) --
    ("date", "tgl 5 agst", "2025-08-05"),
    ("date", "5 agst", "2025-08-05"),
    ("date", "tgl 17 agt", "2025-08-17"),
    ("date", "3 ags 2025", "2025-08-03"),
    ("date", "5 Agst 2025", "2025-08-05"),
    ("date", "tanggal 5 agustus", "2025-08-05"),
    ("date", "tgl 5 agst kmrn", "2025-08-05"),
    ("date", "12 sep", "2025-09-12"),
    ("date", "12 sept 2025", "2025-09-12"),
    ("date", "1 okt", "2025-10-01"),
    ("date", "20 nop", "2025-11-20"),
    ("date", "20 nov 2025", "2025-11-20"),
    ("date", "2 des", "2025-12-02"),
    ("date", "31 des 2025", "2025-12-31"),
    ("date", "15 jan", "2026-01-15"),
    ("date", "1 januari 2026", "2026-01-01"),
    ("date", "3 peb", "2026-02-03"),
    ("date", "3 feb 2026", "2026-02-03"),
    ("date", "10 pebruari", "2026-02-10"),
    ("date", "10 febuari", "2026-02-10"),
    ("date", "tgl.10 feb", "2026-02-10"),
    ("date", "1 mrt", "2026-03-01"),
    ("date", "7 mrt", "2026-03-07"),
    ("date", "9 apr", "2025-04-09"),
    ("date", "2 mei", "2025-05-02"),
    ("date", "4 jun", "2025-06-04"),
    ("date", "6 jul", "2025-07-06"),
    ("date", "agustus kemarin", "2025-08-31"),
    ("date", "Des 2025", "2025-12-31"),
    # -- dates: numeric, day first --
    ("date", "5/8/2025", "2025-08-05"),
    ("date", "05-08-2025", "2025-08-05"),
    ("date", "17-8-2025", "2025-08-17"),
    ("date", "tgl 2", "2026-03-02"),
    ("date", "tanggal 28", "2026-02-28"),
    # -- dates: relative, informal Indonesian --
    ("date", "2 mingguan", "2026-02-24"),
    ("date", "2 mingguan lalu pak", "2026-02-24"),
    ("date", "kurang lebih 3 mingguan", "2026-02-17"),
    ("date", "sebulan lalu", "2026-02-10"),
    ("date", "sebulanan yg lalu", "2026-02-10"),
    ("date", "minggu kemarin", "2026-03-03"),
    ("date", "bulan kemarin", "2026-02-10"),
    ("date", "seminggu yang lalu", "2026-03-03"),
    ("date", "3 minggu yg lalu", "2026-02-17"),
    ("date", "3 hari yg lalu", "2026-03-07"),
    ("date", "3 hr lalu", "2026-03-07"),
    ("date", "2 hari kemarin", "2026-03-08"),
    ("date", "sudah 2 bulan", "2026-01-10"),
    ("date", "udah sebulan", "2026-02-10"),
    ("date", "kemaren", "2026-03-09"),
    ("date", "kmrn siang", "2026-03-09"),
    ("date", "tadi pagi", "2026-03-10"),
    ("date", "td pagi", "2026-03-10"),
    ("date", "tadi siang", "2026-03-10"),
    ("date", "hari ini", "2026-03-10"),
    ("date", "hari senin", "2026-03-09"),
    ("date", "senen kemarin", "2026-03-09"),
    ("date", "hari rebo", "2026-03-04"),
    ("date", "jumat kemarin", "2026-03-06"),
    # -- dates: Sundanese --
    ("date", "kamari", "2026-03-09"),
    ("date", "kamari sore", "2026-03-09"),
    ("date", "tilu poe katukang", "2026-03-07"),
    ("date", "saminggu katukang", "2026-03-03"),
    ("date", "2 minggu kapungkur", "2026-02-24"),
    ("date", "sasih kapungkur", "2026-02-10"),
    ("date", "geus 3 minggu", "2026-02-17"),
    ("date", "poe ieu", "2026-03-10"),
    ("date", "tadi isuk", "2026-03-10"),
    # -- not a date --
    ("date", "lupa", None),
    ("date", "ga inget pak", None),
    ("date", "abdi Ujang, ti desa Cibogo", None),
    # -- dates inside a story --
    ("date_in_text", "PBG abdi teu acan kaluar ti tgl 5 agst", "2025-08-05"),
    ("date_in_text", "sy urus izin 2 mingguan lalu tp blm ada kabar", "2026-02-24"),
    ("date_in_text", "kamari abdi ka kantor, petugasna teu aya", "2026-03-09"),
    ("date_in_text", "tadi pagi saya antri 3 jam di loket", "2026-03-10"),
    ("date_in_text", "sebulan lalu saya daftar NIB di OSS", "2026-02-10"),
    ("date_in_text", "izin saya belum keluar, saya urus minggu kemarin", "2026-03-03"),
    ("date_in_text", "sy tunggu dr tgl 3 peb", "2026-02-03"),
    ("date_in_text", "petugasnya tidak ramah sama sekali", None),
    # -- names in running text --
    ("name", "nami abdi Iis Sumiati", "Iis Sumiati"),
    ("name", "sy Imas, restoran sy ditutup petugas", "Imas"),
    ("name", "abdi Ujang, ti desa Cibogo", "Ujang"),
    ("name", "nama saya Budi dari Wanayasa", "Budi"),
    ("name", "nama sy Dedi Kurniawan", "Dedi Kurniawan"),
    ("name", "Nama saya: Siti Aminah", "Siti Aminah"),
    ("name", "saya Rina mau lapor", "Rina"),
    ("name", "ini dengan Pak Asep dari desa Sukamaju", "Asep"),
    ("name", "dengan Euis", "Euis"),
    ("name", "ieu Dadang ti Plered", "Dadang"),
    ("name", "punten, abdi teh Cucu ti Wanayasa", "Cucu"),
    ("name", "Assalamualaikum pak, saya Rina", "Rina"),
    ("name", "nami kuring Asep Saepudin", "Asep Saepudin"),
    ("name", "a.n. Siti Aminah", "Siti Aminah"),
    ("name", "atas nama Hj. Euis Komariah", "Euis Komariah"),
    ("name", "nama saya Ahmad Fauzi, warga Kp. Sawah", "Ahmad Fauzi"),
    ("name", "namaku Lina", "Lina"),
    ("name", "Saya Yayan Sopyan dari Kecamatan Darangdan", "Yayan Sopyan"),
    ("name", "nama saya ujang", "Ujang"),
    ("name", "Nama sy Dedi, ti desa Cibogo. PBG abdi teu acan kaluar", "Dedi"),
    ("name", "saya kecewa dengan pelayanan", None),
    ("name", "saya mau lapor izin", None),
    ("name", "saya warga desa Cibogo", None),
    ("name", "sy sdh 3 minggu nunggu", None),
    ("name", "abdi bade ngadukeun", None),
    ("name", "sy imas", None),  # lower-case in running text: could be anything; asked as an answer below
    ("name", "izin PBG saya belum keluar", None),
    ("name", "Ini Jalan Raya Sadang rusak parah pak", None),
    ("name", "Ini PBG saya kapan keluar?", None),
    ("name", "ini bukti bayarnya pak", None),
    # -- answers to "what is your name?" --
    ("answer", "Budi Santoso", "Budi Santoso"),
    ("answer", "budi", "Budi"),
    ("answer", "Pak Dedi", "Dedi"),
    ("answer", "teh Iis", "Iis"),
    ("answer", "Ujang dari Wanayasa", "Ujang"),
    ("answer", "Ujang, ti desa Cibogo", "Ujang"),
    ("answer", "abdi Ujang, ti desa Cibogo", "Ujang"),
    ("answer", "ieu Dadang", "Dadang"),
    ("answer", "sy imas", "Imas"),
    ("answer", "Imas Masitoh", "Imas Masitoh"),
    ("answer", "bu Euis", "Euis"),
    ("answer", "nami abdi Iis Sumiati", "Iis Sumiati"),
    ("answer", "2 mingguan lalu pak", None),
    ("answer", "tidak tahu", None),
    ("answer", "izin saya belum keluar", None),
    # -- addresses kept apart from the name --
    ("address", "abdi Ujang, ti desa Cibogo", "Desa Cibogo"),
    ("address", "nama saya Budi dari Wanayasa", "Wanayasa"),
    ("address", "ini dengan Pak Asep dari desa Sukamaju", "Desa Sukamaju"),
    ("address", "Nama sy Dedi Kurniawan ti Kp. Babakan", "Kp. Babakan"),
    ("address", "punten, abdi teh Cucu ti Wanayasa", "Wanayasa"),
    ("address", "nama saya Ahmad Fauzi, warga Kp. Sawah", "Kp. Sawah"),
    ("address", "Saya Yayan Sopyan dari Kecamatan Darangdan", "Kecamatan Darangdan"),
    ("address", "nami abdi Iis Sumiati", None),
    # -- yes / no --
    ("yes_no", "ya", True),
    ("yes_no", "iya", True),
    ("yes_no", "y", True),
    ("yes_no", "ok", True),
    ("yes_no", "oke pak", True),
    ("yes_no", "muhun", True),
    ("yes_no", "Muhun pak", True),
    ("yes_no", "sumuhun", True),
    ("yes_no", "leres", True),
    ("yes_no", "leres pak", True),
    ("yes_no", "enya", True),
    ("yes_no", "betul", True),
    ("yes_no", "benar", True),
    ("yes_no", "sip", True),
    ("yes_no", "siap", True),
    ("yes_no", "mangga", True),
    ("yes_no", "ya betul", True),
    ("yes_no", "henteu", False),
    ("yes_no", "henteu pak", False),
    ("yes_no", "teu", False),
    ("yes_no", "teu leres", False),
    ("yes_no", "moal", False),
    ("yes_no", "tidak", False),
    ("yes_no", "gak", False),
    ("yes_no", "ga", False),
    ("yes_no", "bukan", False),
    ("yes_no", "salah", False),
    ("yes_no", "sanes", False),
    ("yes_no", "ubah", False),
    ("yes_no", "Budi Santoso", None),
    ("yes_no", "izin saya belum keluar sudah lama sekali", None),
    # -- status questions --
    ("status", "status", True),
    ("status", "cek", True),
    ("status", "STATUS", True),
    ("status", "gmn laporan sy", True),
    ("status", "sudah sampai mana", True),
    ("status", "Pak, laporan saya sudah sampai mana ya?", True),
    ("status", "cek status", True),
    ("status", "kumaha laporan abdi", True),
    ("status", "udah diproses belum?", True),
    ("status", "gimana laporan saya pak", True),
    ("status", "laporan sy gmn ya", True),
    ("status", "tos dugi ka mana?", True),
    ("status", "kapan diproses pak?", True),
    ("status", "ada kabar laporan saya?", True),
    ("status", "status laporan", True),
    ("status", "mau cek laporan", True),
    ("status", "punten, bade cek status", True),
    ("status", "min, pengaduan saya kok belum ada kabar", True),
    ("status", "izin saya belum keluar", False),
    ("status", "jalan rusak di depan pasar", False),
    ("status", "saya mau lapor", False),
    ("status", "petugas tidak cek berkas saya dengan benar", False),
    ("status", "halo", False),
    ("status", "Papan reklame saya diturunkan petugas", False),
    ("status", "tolong cek izin PBG saya sudah 3 minggu belum keluar", False),
    ("status", "cek lokasi jalan rusak di desa kami", False),
    ("status", "mohon dicek berkas saya yang ditolak", False),
    # -- tracking numbers --
    ("tracking", "PWK 2026 000007", ["PWK-2026-000007"]),
    ("tracking", "pwk-2026-7", ["PWK-2026-000007"]),
    ("tracking", "PWK2026000007", ["PWK-2026-000007"]),
    ("tracking", "pwk 2026 7", ["PWK-2026-000007"]),
    ("tracking", "PWK/2026/000012", ["PWK-2026-000012"]),
    ("tracking", "status PWK-2026-000123", ["PWK-2026-000123"]),
    ("tracking", "cek pwk.2026.45 sama PWK-2026-000046", ["PWK-2026-000045", "PWK-2026-000046"]),
    ("tracking", "7", ["PWK-2026-000007", "PWK-2025-000007"]),
    ("tracking", "no 000007 pak", ["PWK-2026-000007", "PWK-2025-000007"]),
    ("tracking", "izin 2026 7", []),
    ("tracking", "saya tunggu 3 minggu", []),
    ("tracking", "ABC-2026-000001", ["ABC-2026-000001"]),
]
# fmt: on


def read(field: str, text: str) -> object:
    """What the bot reads from ``text`` for ``field``."""
    if field == "date":
        day = parse_date(text, TODAY)
        return day.isoformat() if day else None
    if field == "date_in_text":
        day = parse_date(text, TODAY, strict=True)
        return day.isoformat() if day else None
    if field == "name":
        return introduce(text).name
    if field == "answer":
        return name_answer(text)
    if field == "address":
        return introduce(text).address
    if field == "yes_no":
        return yes_no(text)
    if field == "status":
        return is_status_question(text)
    if field == "tracking":
        return read_tracking(text, prefixes=("PWK",), year=2026)
    raise AssertionError(f"unknown field {field}")


def test_the_table_holds_at_least_150_messages() -> None:
    assert len(ROWS) >= 150
    assert len({(f, t) for f, t, _ in ROWS}) == len(ROWS), "a row is repeated"


@pytest.mark.parametrize(("field", "text", "expected"), ROWS, ids=[f"{f}:{t}" for f, t, _ in ROWS])
def test_citizen_message(field: str, text: str, expected: object) -> None:
    assert read(field, text) == expected
