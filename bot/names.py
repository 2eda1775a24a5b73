"""Names and villages as citizens of Purwakarta introduce themselves, in Indonesian and Sundanese.

"nama saya Budi", "nama sy Budi", "nami abdi Iis Sumiati", "abdi Ujang, ti desa Cibogo",
"sy Imas, restoran sy…", "ini dengan Pak Dedi dari Wanayasa". Pure functions. The name is what
R5a counts as identity; a village or street after it is an address, returned apart and never
part of the name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from intake import rules
from intake.office import normalise_text

#: An introduction that names the writer wherever it stands in the message.
_STRONG_INTRO = re.compile(
    r"(?:\bnama\s+(?:lengkap\s+)?(?:saya|aku|sy|ku|sya|sayah|abdi|kuring)\b|\bnamaku\b|\bnama\s*:|"
    r"\bnami\s+(?:abdi|kuring|sim\s+kuring)\b|\bwasta\s+abdi\b|\bsaya\s+bernama\b|\bbernama\b|"
    r"\batas\s+nama\b|\ba\.?n\.|\bmy\s+name\s+is\b|\bmy\s+name's\b|\bname\s*:)"
    r"\s*(?:adalah\s+|ialah\s+|is\s+|teh\s+|nya\s+|:\s*)?",
    re.IGNORECASE,
)
#: A short introduction that names the writer only at the start of a message ("sy Imas, …").
_WEAK_INTRO = re.compile(
    r"^(?:(?:assalamu'?alaikum(?:\s+wr\.?\s*wb\.?)?|punten|permisi|sampurasun|halo|hallo|hai|"
    r"selamat\s+(?:pagi|siang|sore|malam)|wilujeng\s+(?:enjing|siang|sonten|wengi)|pak|bu|min|kak|"
    r"bapak|ibu|akang|teteh|mas|mbak)[\s,.!]+)*"
    r"(?:(?:saya|sy|sya|aku|abdi|kuring|sim\s+kuring|ieu|ini|dengan|dgn|dg)\s+)+"
    r"(?:teh\s+|nya\s+|adalah\s+|yaitu\s+|nyaeta\s+)?",
    re.IGNORECASE,
)
#: An address after the name: "ti desa Cibogo", "dari Wanayasa", "warga Kp. Sawah", "alamat …".
_ADDRESS = re.compile(
    r"(?:^|[\s,])(?:ti|dari|dr|asal|asli|warga|alamat|almt|tinggal\s+di|tinggal|domisili|di)\s+"
    r"((?:(?:desa|ds|kampung|kp|dusun|dsn|kelurahan|kel|kecamatan|kec|rt|rw|jl|jalan|blok|perum)\.?\s*)?"
    r"[A-Z0-9][\w'.-]*(?:\s+(?:[A-Z0-9][\w'.-]*|rt\.?|rw\.?|\d+))*"
    r"|(?:desa|ds|kampung|kp|dusun|dsn|kelurahan|kel|kecamatan|kec)\.?\s+[a-z][\w'.-]*(?:\s+[a-z][\w'.-]*)?)",
)
_NAME_END = re.compile(r"[.,;:!?\n()\[\]\"/]")
# fmt: off
HONORIFICS = frozenset({
    "pak", "bu", "bapak", "ibu", "sdr", "sdri", "saudara", "saudari", "mas", "mbak", "kak", "teh",
    "aa", "akang", "kang", "teteh", "ceu", "mang", "bi", "abah", "ema", "neng", "mr", "mrs",
    "ms", "miss", "h", "hj", "haji", "hajah", "ust", "ustadz", "bpk", "bp", "ir", "drs", "dra", "kh",
})
#: Words that end a name given in running text, and words a name never consists of.
NAME_STOP = frozenset({
    "dari", "mau", "ingin", "hendak", "dan", "yang", "tinggal", "warga", "alamat", "umur", "usia",
    "no", "nomor", "hp", "wa", "akan", "from", "and", "i", "want", "would", "living", "ktp", "nik",
    "mengadu", "melapor", "lapor", "mengeluh", "pengen", "pengin", "izin", "ijin", "saya", "belum",
    "sudah", "tidak", "keluar", "bayar", "biaya", "lama", "kenapa", "apa", "bagaimana", "gimana",
    "kapan", "di", "ke", "ini", "itu", "ada", "bisa", "tolong", "mohon", "status", "batal", "permit",
    "not", "yet", "my", "is", "the", "ok", "ya", "iya", "kami", "aku", "sy", "urus", "mengurus",
    "pengajuan", "usaha", "kantor", "dinas", "petugas", "pelayanan", "layanan", "sejak", "minggu",
    "tanggal", "kemarin", "lalu", "tadi", "was", "have", "has", "been", "am", "are", "to", "of", "for",
    "with", "it", "this", "that", "foto", "gambar", "photo", "picture", "video", "lampiran",
    # informal Indonesian and Sundanese
    "ti", "ka", "nu", "rek", "bade", "hoyong", "ngadu", "ngadukeun", "ngalaporkeun", "desa", "ds",
    "kp", "kampung", "dusun", "kec", "kecamatan", "kel", "kelurahan", "rt", "rw", "asal", "asli", "dr",
    "domisili", "restoran", "toko", "warung", "pemilik", "punya", "yg", "mo", "mw", "udah",
    "udh", "sdh", "blm", "gak", "ga", "nggak", "tdk", "teu", "henteu", "acan", "can", "tacan", "atos",
    "parantos", "geus", "abdi", "kuring", "ieu", "eta", "tea", "dengan", "dgn", "juga", "jg", "kok",
    "mah", "teh", "tos", "sareng", "jeung", "pa", "bu", "mengajukan", "ngajukeun", "nanya",
    "tanya", "menanyakan", "cek", "sampai", "mana", "laporan", "pengaduan", "aduan", "masalah",
    "kecewa", "keberatan", "komplain", "minta", "meminta", "perihal", "soal", "tentang", "terkait",
    "terima", "kasih", "nuhun", "hatur", "selamat", "pagi", "siang", "sore", "malam", "bapak", "ibu",
    "hari", "bulan", "tahun", "agustus", "sebagai", "selaku", "atas", "nama", "mengenai", "baru",
    # things a message starting "Ini …" is about, never a name
    "jalan", "jl", "jembatan", "gedung", "rumah", "pasar", "sekolah", "masjid", "lampu", "saluran",
    "got", "sampah", "air", "listrik", "berkas", "surat", "formulir", "aplikasi", "sistem", "website",
    "loket", "antrian", "antrean", "pungli", "uang", "keluhan", "pbg", "slf", "nib", "oss", "sip",
    "reklame", "mpp", "bukti", "kwitansi", "kode",
})
# fmt: on
_NAME_WORD = re.compile(r"[^\W\d_][^\W\d_'’.-]*")


@dataclass(frozen=True)
class Introduction:
    """What an introduction says: the writer's name and, apart from it, where they live."""

    name: str | None
    address: str | None = None


def clean_name(raw: str) -> str | None:
    """Return a name from the words a citizen typed, or None when they are not a name."""
    words: list[str] = []
    for word in raw.strip().split():
        low = normalise_text(word).strip(".")
        if not words and low in HONORIFICS:
            continue
        if low in NAME_STOP or not _NAME_WORD.fullmatch(word):
            break
        words.append(word)
        if len(words) == 5:
            break
    name = " ".join(words).strip(" .-'")
    if name and (name.islower() or name.isupper()):
        name = name.title()
    return name if rules.has_identity(name) else None


def read_address(text: str) -> str | None:
    """Return the village or address a citizen gave with their name ("ti desa Cibogo" → "Desa Cibogo")."""
    match = _ADDRESS.search(text)
    if not match:
        return None
    place = match[1].strip(" .,")
    words = place.split()
    while words and normalise_text(words[-1]) in NAME_STOP:
        words.pop()
    if not words:
        return None
    return " ".join(w if w[:1].isupper() or w[:1].isdigit() else w.capitalize() for w in words)


#: Titles written with a dot ("Hj. Euis"): the dot does not end the name.
_DOTTED_TITLE = re.compile(r"\b(hj|h|ir|drs|dra|ust|sdr|sdri|bpk|bp|ibu|bu|pak|kh)\.\s*", re.IGNORECASE)


def _after(text: str, end: int) -> str:
    return _NAME_END.split(_DOTTED_TITLE.sub(r"\1 ", text[end:]), maxsplit=1)[0]


def introduce(text: str, *, answering: bool = False) -> Introduction:
    """Read an introduction in running text; ``answering`` when the message answers "what is your name?".

    A strong introduction ("nama saya", "nami abdi") counts anywhere. A weak one ("sy", "abdi",
    "ini", "dengan") counts at the start of a message, and in running text only before a
    capitalised word, so "saya kecewa dengan pelayanan" names nobody.
    """
    name = None
    for match in _STRONG_INTRO.finditer(text):
        name = clean_name(_after(text, match.end()))
        if name:
            break
    if name is None:
        weak = _WEAK_INTRO.match(text.strip())
        if weak:
            rest = _after(text.strip(), weak.end())
            first = rest.strip().split()[:1]
            capital = bool(first) and first[0][:1].isupper()
            if capital or answering:
                name = clean_name(rest)
    address = read_address(text) if name else None
    return Introduction(name, address)


def extract_name(text: str) -> str | None:
    """Find a name the citizen introduced ("nama saya Budi", "nami abdi Iis") in running text."""
    return introduce(text).name


def name_answer(text: str) -> str | None:
    """Read the answer to "what is your name?": an introduced name, or a message that is only a name."""
    introduced = introduce(text, answering=True).name
    if introduced:
        return introduced
    plain = text.strip().strip(".!?")
    # "Ujang, ti desa Cibogo" / "Ujang dari Wanayasa": the name is what comes before the address.
    address = _ADDRESS.search(plain)
    if address:
        plain = plain[: address.start()].strip(" ,.")
    words = plain.split()
    if not 1 <= len(words) <= 6 or _NAME_END.search(plain):
        return None
    lowered = [normalise_text(w) for w in words]
    leading = 0
    while leading < len(lowered) and lowered[leading].strip(".") in HONORIFICS:
        leading += 1
    rest = lowered[leading:]
    if not rest or len(rest) > 5 or any(w in NAME_STOP or w in rules._FILLER_WORDS for w in rest):
        return None
    name = clean_name(plain)
    return name if name and len(name.split()) == len(rest) else None


def without_introduction(text: str) -> str:
    """Return what a message says besides introducing its writer (greeting, name and village removed).

    "punten, abdi Ujang ti desa Cibogo" says nothing more; "Nama saya Budi. Izin saya belum
    keluar" still says what the matter is.
    """
    intro = introduce(text)
    if not intro.name:
        return text
    rest = _STRONG_INTRO.sub(" ", text)
    weak = _WEAK_INTRO.match(rest.strip())
    if weak:
        rest = rest.strip()[weak.end() :]
    address = _ADDRESS.search(rest)
    if address:
        rest = rest[: address.start()] + " " + rest[address.end() :]
    for word in intro.name.split():
        rest = re.sub(rf"\b{re.escape(word)}\b", " ", rest, flags=re.IGNORECASE)
    words = [w for w in rest.split() if normalise_text(w).strip(".,!?") not in HONORIFICS]
    return " ".join(words).strip(" ,.;:!?")
