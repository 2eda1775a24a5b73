"""Tracking numbers as citizens type them: "PWK 2026 000007", "pwk-2026-7", "PWK2026000007", "7".

Pure functions (no database, no clock): the caller passes the office's prefix and the current
year. The canonical form is ``PREFIX-YYYY-NNNNNN`` (``intake.ingest.allocate_tracking_number``).
A number given alone ("7", "no 000007") is read only when the message holds nothing else that
could be a number; it yields the current year's and the previous year's candidates, and the
caller keeps the one that exists (ambiguous when both do).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Prefix, year and sequence with any of space, dash, dot, slash or nothing between them.
_FULL = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2,8})\s*[-\s./]?\s*(20\d\d)\s*[-\s./]?\s*(\d{1,6})(?!\d)")
#: Year and sequence without the prefix: "2026-000007", "2026/7".
_YEAR_SEQ = re.compile(r"(?<![\w-])(20\d\d)\s*[-/.]\s*(\d{1,6})(?!\d)")
#: A message that is a number and perhaps a few words around it ("no 7", "nomor 000007 pak").
_ALONE = re.compile(r"(?<![\w-])(\d{1,6})(?![\w-])")
_ALONE_WORDS = frozenset({
    "no", "nomor", "nmr", "nomer", "nomor laporan", "laporan", "status", "cek", "pak", "bu", "ya",
    "saya", "sy", "min", "kak", "tolong", "mohon", "lacak", "nomorna", "nomer laporan",
})  # fmt: skip


def canonical(prefix: str, year: int, seq: int) -> str:
    """Return the tracking number in its stored form."""
    return f"{prefix.upper()}-{year}-{seq:06d}"


def read_tracking(text: str, *, prefixes: Sequence[str], year: int, alone: bool = True) -> list[str]:
    """Return the tracking numbers a message names, canonical, in the order written.

    ``prefixes`` are the prefixes this office answers for (first = its own); ``year`` is the
    current year. A full number with another prefix is still returned when its sequence has all
    six digits (the caller answers "not found"); ``alone=False`` leaves a bare number unread (in a
    chat, "2" answers a question).
    """
    own = prefixes[0].upper() if prefixes else ""
    known = {p.upper() for p in prefixes}
    found: list[str] = []
    taken: list[tuple[int, int]] = []

    def add(number: str, span: tuple[int, int]) -> None:
        taken.append(span)
        if number not in found:
            found.append(number)

    for m in _FULL.finditer(text):
        if int(m[3]) == 0 or (m[1].upper() not in known and len(m[3]) != 6):
            continue
        add(canonical(m[1], int(m[2]), int(m[3])), m.span())
    if own:
        for m in _YEAR_SEQ.finditer(text):
            if any(a <= m.start() < b for a, b in taken) or int(m[2]) == 0:
                continue
            add(canonical(own, int(m[1]), int(m[2])), m.span())
    if found or not own or not alone:
        return found
    return number_alone(text, prefix=own, year=year)


def number_alone(text: str, *, prefix: str, year: int) -> list[str]:
    """Return this year's and last year's candidates for a message that is only a number."""
    numbers = _ALONE.findall(text)
    if len(numbers) != 1 or int(numbers[0]) == 0:
        return []
    rest = " ".join(_ALONE.sub(" ", text).lower().replace(":", " ").replace("#", " ").split())
    rest = rest.strip(" .,!?")
    words = rest.split()
    if any(w not in _ALONE_WORDS for w in words):
        return []
    seq = int(numbers[0])
    return [canonical(prefix, year, seq), canonical(prefix, year - 1, seq)]


def is_number_alone(text: str) -> bool:
    """Tell whether a message names a tracking number by its sequence only ("7", "no 000007")."""
    return bool(number_alone(text, prefix="X", year=2000))
