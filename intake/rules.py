"""The complaint procedure's rules as pure functions (no I/O, no clock reads: pass ``now``).

Each function cites the rule of ``shared/SPEC.md`` it implements.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from intake.calendar import WorkingCalendar
from intake.office import normalise_text

#: A complaint (*pengaduan*, R1) or a suggestion (*saran / masukan*, R3 and R5b).
KIND_PENGADUAN = "pengaduan"
KIND_SARAN = "saran"
KINDS = (KIND_PENGADUAN, KIND_SARAN)

#: Why a message was filed as *saran* instead of *pengaduan*.
REASON_NO_IDENTITY = "no_identity"  # R5b
REASON_NO_OBJECT = "no_object"  # R5b
REASON_LATE = "late"  # R3
REASONS = (REASON_NO_IDENTITY, REASON_NO_OBJECT, REASON_LATE)

# Words that carry no matter of complaint on their own (R5a "object"): greetings, thanks, fillers.
_FILLER_WORDS = frozenset(
    [
        "halo",
        "hallo",
        "helo",
        "hello",
        "hai",
        "hi",
        "hey",
        "hei",
        "p",
        "ping",
        "tes",
        "test",
        "testing",
        "assalamualaikum",
        "assalamu",
        "alaikum",
        "assalamu'alaikum",
        "wr",
        "wb",
        "warahmatullahi",
        "wabarakatuh",
        "salam",
        "selamat",
        "pagi",
        "siang",
        "sore",
        "malam",
        "permisi",
        "maaf",
        "pak",
        "bu",
        "bapak",
        "ibu",
        "kak",
        "min",
        "admin",
        "mas",
        "mbak",
        "om",
        "tante",
        "gan",
        "sis",
        "terima",
        "kasih",
        "makasih",
        "thanks",
        "thank",
        "you",
        "tq",
        "ok",
        "oke",
        "okay",
        "ya",
        "iya",
        "y",
        "yes",
        "no",
        "tidak",
        "ga",
        "gak",
        "nggak",
        "baik",
        "siap",
        "mohon",
        "izin",
        "ijin",
        "info",
        "bantuan",
        "sehat",
        "semoga",
    ]
)
_WORD = re.compile(r"[a-z0-9']+")
# A bare URN, phone number or e-mail address is a way to reach someone, not an identity (SPEC R5a).
_NOT_A_NAME = re.compile(r"^[\s+()\d.-]+$|@|^(tel|whatsapp|mailto|telegram|twitter|instagram|web):", re.I)


@dataclass(frozen=True)
class Classification:
    """The kind a message is filed as, and the reasons when it is a *saran*."""

    kind: str
    reasons: tuple[str, ...] = ()

    @property
    def is_complaint(self) -> bool:
        """Tell whether this is a *pengaduan* (complaint) rather than a *saran*."""
        return self.kind == KIND_PENGADUAN


def has_identity(name: str | None, *, anonymous: bool = False) -> bool:
    """R5a identity: a name the complainant gave. ANONIM complaints keep a hidden identity.

    A chat display name is only a hint and must be confirmed before it is passed here as ``name``;
    a phone number, URN or address alone is not an identity.
    """
    if not name:
        return False
    cleaned = name.strip()
    if len(cleaned) < 2 or _NOT_A_NAME.search(cleaned):
        return False
    return bool(re.search(r"[^\W\d_]", cleaned))


#: What stands in for an ANONIM reporter's name in texts shown to roles that may not see it (R5a).
NAME_MASK = "[nama disembunyikan]"
#: Parts of a name shorter than this are not masked alone (initials, "Pak", "Bu").
_NAME_PART_MIN = 3
_NAME_TITLES = frozenset({"bapak", "pak", "ibu", "bu", "saudara", "sdr", "sdri", "mas", "mbak"})


def mask_name(text: str, name: str | None) -> str:
    """Return ``text`` with the reporter's ``name`` and each word of it replaced by ``NAME_MASK``.

    SPEC R5a: an ANONIM reporter's identity is hidden from roles that may not see it; a citizen
    often types the name into the message itself ("Nama saya Bambang Sutrisno, ANONIM").
    """
    if not text or not name or not name.strip():
        return text
    parts = [p for p in re.split(r"\W+", name) if len(p) >= _NAME_PART_MIN and p.lower() not in _NAME_TITLES]
    pieces = sorted({name.strip(), *parts}, key=len, reverse=True)  # the full name before its parts
    pattern = r"(?<!\w)(?:" + "|".join(re.escape(p) for p in pieces) + r")(?!\w)"
    masked = re.sub(pattern, NAME_MASK, text, flags=re.IGNORECASE)
    # "[nama disembunyikan] [nama disembunyikan]" from a full name matched word by word reads as one.
    return re.sub(rf"{re.escape(NAME_MASK)}(?:\s+{re.escape(NAME_MASK)})+", NAME_MASK, masked)


def has_object(text: str | None) -> bool:
    """R5a object: the message says what the matter is; greetings, stickers and emoji do not."""
    if not text:
        return False
    # Two content words or one long one: "izin belum keluar", "pungli". A long mail is decided
    # by its first words: reading on could not change the answer.
    meaningful = 0
    for match in _WORD.finditer(normalise_text(text)):
        word = match.group()
        if word in _FILLER_WORDS or word.isdigit():
            continue
        meaningful += 1
        if meaningful >= 2 or len(word) >= 5:
            return True
    return False


def days_since_service(service_date: dt.date, received_on: dt.date) -> int:
    """Calendar days from the day the service was received to the day the complaint was."""
    return (received_on - service_date).days


def is_late(service_date: dt.date | None, received_on: dt.date, window_days: int = 30) -> bool:
    """R3: a complaint filed more than ``window_days`` calendar days after the service is late.

    Day 30 is still in time, day 31 is late; with no service date the complaint is not late.
    """
    if service_date is None:
        return False
    return days_since_service(service_date, received_on) > window_days


def classify(
    *,
    name: str | None,
    text: str | None,
    service_date: dt.date | None,
    received_on: dt.date,
    anonymous: bool = False,
    window_days: int = 30,
) -> Classification:
    """R5a/R5b and R3: a *pengaduan* needs identity and object and must be in time, else *saran*."""
    reasons: list[str] = []
    if not (anonymous or has_identity(name, anonymous=anonymous)):
        reasons.append(REASON_NO_IDENTITY)  # R5b
    if not has_object(text):
        reasons.append(REASON_NO_OBJECT)  # R5b
    if is_late(service_date, received_on, window_days):
        reasons.append(REASON_LATE)  # R3
    return Classification(KIND_SARAN if reasons else KIND_PENGADUAN, tuple(reasons))


def due_date(received_at: dt.datetime, calendar: WorkingCalendar, working_days: int = 14) -> dt.date:
    """R4: the answer is due on the 14th working day after the receipt day (Asia/Jakarta)."""
    return calendar.due_date(received_at, working_days)


def working_days_left(due: dt.date, *, today: dt.date, calendar: WorkingCalendar) -> int:
    """R4 countdown: working days from ``today`` to the due date; negative once overdue."""
    return calendar.working_days_between(today, due)
