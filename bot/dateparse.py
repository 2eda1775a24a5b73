"""Dates as citizens write them, in Indonesian and English: "kemarin", "2 minggu lalu", "3/11/2026".

Pure functions: the caller passes ``today`` (the office's local date, Asia/Jakarta for R3), nothing
reads the clock. Numeric dates are day-first as in Indonesia (``3/11/2026`` is 3 November); a
month-first reading is used only when the day-first one is impossible (``11/23/2026``). A date
without a year is the most recent one that is not in the future.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from intake.office import normalise_text

MONTHS: dict[str, int] = {
    "januari": 1, "jan": 1, "january": 1, "janu": 1, "januri": 1, "janwari": 1,
    "februari": 2, "pebruari": 2, "feb": 2, "peb": 2, "february": 2, "febuari": 2, "pebuari": 2,
    "febr": 2, "pebr": 2, "februai": 2,
    "maret": 3, "mar": 3, "march": 3, "mrt": 3, "mart": 3, "marer": 3,
    "april": 4, "apr": 4, "aprl": 4, "afril": 4,
    "mei": 5, "may": 5, "mey": 5,
    "juni": 6, "jun": 6, "june": 6, "juny": 6,
    "juli": 7, "jul": 7, "july": 7,
    "agustus": 8, "agu": 8, "agt": 8, "ags": 8, "agst": 8, "agus": 8, "agts": 8, "agsts": 8,
    "agutus": 8, "agustu": 8, "agusus": 8, "agusuts": 8, "augustus": 8, "aug": 8, "august": 8,
    "september": 9, "sep": 9, "sept": 9, "sepetember": 9, "septembr": 9, "septemer": 9, "spt": 9,
    "oktober": 10, "okt": 10, "oct": 10, "october": 10, "oktbr": 10, "oktob": 10, "oktobr": 10,
    "november": 11, "nopember": 11, "nov": 11, "nop": 11, "novemb": 11, "nopemb": 11, "novmber": 11,
    "desember": 12, "des": 12, "dec": 12, "december": 12, "desemb": 12, "desmber": 12, "dsember": 12,
}  # fmt: skip

NUMBER_WORDS: dict[str, int] = {
    "satu": 1, "dua": 2, "tiga": 3, "empat": 4, "lima": 5, "enam": 6, "tujuh": 7, "delapan": 8,
    "sembilan": 9, "sepuluh": 10, "sebelas": 11, "dua belas": 12,
    # Sundanese
    "hiji": 1, "tilu": 3, "opat": 4, "genep": 6, "dalapan": 8, "salapan": 9, "sapuluh": 10,
    "one": 1, "a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "a couple of": 2, "a few": 3, "beberapa": 3,
}  # fmt: skip

UNITS: dict[str, str] = {
    "hari": "day", "hr": "day", "day": "day", "days": "day", "harian": "day", "poe": "day",
    "minggu": "week", "mgg": "week", "mg": "week", "mgu": "week", "pekan": "week", "week": "week",
    "weeks": "week", "mingguan": "week", "minggon": "week", "pekanan": "week",
    "bulan": "month", "bln": "month", "bl": "month", "month": "month", "months": "month",
    "bulanan": "month", "sasih": "month",
    "tahun": "year", "thn": "year", "th": "year", "year": "year", "years": "year", "taun": "year",
    "tahunan": "year",
}  # fmt: skip

#: ISO weekday of each name; "minggu" (Sunday) only after "hari", since alone it means "week".
WEEKDAYS: dict[str, int] = {
    "senin": 1, "selasa": 2, "rabu": 3, "kamis": 4, "jumat": 5, "jum'at": 5, "sabtu": 6, "ahad": 7,
    "senen": 1, "salasa": 2, "slasa": 2, "rebo": 3, "kemis": 4, "jumaah": 5, "jumahat": 5, "jum at": 5,
    "saptu": 6,
    "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6, "sunday": 7,
}  # fmt: skip

_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))
_NUM_RE = "|".join(sorted((re.escape(k) for k in NUMBER_WORDS), key=len, reverse=True))
_UNIT_RE = "|".join(sorted(UNITS, key=len, reverse=True))
_WEEKDAY_RE = "|".join(sorted((re.escape(k) for k in WEEKDAYS), key=len, reverse=True))
_AGO = (
    r"(?:yang\s+|yg\s+)?(?:lalu|lampau|kebelakang|ke\s+belakang|sebelumnya|ago|before|kemarin|kemaren|"
    r"kmrn|kamari|katukang|kapungkur|kalangkung|tukang)"
)

_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_NUMERIC = re.compile(r"(?<![\d.,])(\d{1,2})\s*([/.\-])\s*(\d{1,2})(?:\s*[/.\-]\s*(\d{4}|\d{2}))?(?![\d])")
_DAY_MONTH = re.compile(
    rf"(?<![\d])(\d{{1,2}})(?:st|nd|rd|th)?\s*(?:of\s+)?[- ]?\b({_MONTH_RE})\b\.?"
    rf"(?:[\s,-]*(\d{{4}}|'\d{{2}}))?"
)
_MONTH_DAY = re.compile(rf"\b({_MONTH_RE})\b\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s*(\d{{4}}))?")
_RELATIVE = re.compile(rf"(?<![\w])(\d{{1,3}}|{_NUM_RE})\s*({_UNIT_RE})\b\s*{_AGO}")
_SE_RELATIVE = re.compile(rf"\b(?:se|sa)(hari|minggu|pekan|bulan|tahun|taun)(?:an)?\s*{_AGO}")
#: A month named with "kemarin"/"lalu" and no day: "agustus kemarin", "agst lalu".
_MONTH_AGO = re.compile(
    rf"\b({_MONTH_RE})\b\.?\s+(?:yang\s+|yg\s+)?(?:kemarin|kemaren|kmrn|lalu|kamari|kapungkur|katukang)\b"
)
#: A month named without a day: "bulan agustus", "agst kemarin" (answers to "kapan?" only).
_MONTH_ONLY = re.compile(rf"\b({_MONTH_RE})\b\.?(?:\s*(\d{{4}}))?")
_SINCE = re.compile(
    rf"\b(?:sudah|udah|sdh|dh|sejak|selama|for|about|sekitar|kurang\s+lebih|kira-kira|kira2|kurleb|"
    rf"geus|atos|tos|parantos)\s+(\d{{1,3}}|{_NUM_RE}|se|sa)\s*({_UNIT_RE})\b"
)
_BARE_AMOUNT = re.compile(
    rf"^(?:kurang\s+lebih\s+|sekitar\s+|kira-kira\s+|kira2\s+|kurleb\s+)?(\d{{1,3}}|{_NUM_RE}|se|sa)\s*"
    rf"({_UNIT_RE})(?:an)?(?:\s+(?:pak|bu|ibu|bapak|kak|min|mas|teh|kang|a|aa|an|yg|nu))*$"
)
_LAST_UNIT = re.compile(
    r"\b(?:(minggu|pekan|bulan|tahun|sasih|taun)\s+(?:yang\s+|yg\s+)?"
    r"(?:lalu|kemarin|kemaren|kmrn|kamari|kapungkur|katukang)|last\s+(week|month|year))\b"
)
_WEEKDAY = re.compile(
    rf"\b(?:(?:hari|on|last)\s+)?({_WEEKDAY_RE}|(?<=hari\s)minggu)\b\s*(lalu|kemarin|kemaren)?"
)
_TANGGAL = re.compile(r"\b(?:tanggal|tangal|tgl|tg|tnggl|the|ping)\.?\s*(\d{1,2})(?:st|nd|rd|th)?\b")
_DAY_BEFORE_YESTERDAY = re.compile(
    r"\b(?:kemarin\s+lusa|lusa\s+kemarin|kemarinnya\s+lagi|day\s+before\s+yesterday)\b"
)
_YESTERDAY = re.compile(
    r"\b(?:kemarin|kemaren|kmrn|kmarin|kmaren|kmren|kemarn|yesterday|semalam|kamari|kamarin|kamarina)\b"
)
_TODAY = re.compile(
    r"\b(?:hari\s+ini|tadi(?:\s+(?:pagi|siang|sore|malam|isuk|beurang))?|barusan|pagi\s+ini|siang\s+ini|"
    r"sore\s+ini|td\s+pagi|poe\s+ieu|dinten\s+ieu|tadi\s+enjing|enjing\s+ieu|"
    r"today|this\s+(?:morning|afternoon|evening)|tonight|just\s+now)\b"
)
_FUTURE = re.compile(r"\b(?:besok|lusa|tomorrow|next\s+(?:week|month))\b")


def sub_months(day: dt.date, months: int) -> dt.date:
    """Return the same day ``months`` months earlier, clamped to the month's last day."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def _amount(word: str) -> int:
    if word in ("se", "sa"):
        return 1
    return int(word) if word.isdigit() else NUMBER_WORDS[word]


def _back(today: dt.date, n: int, unit: str) -> dt.date:
    if unit == "day":
        return today - dt.timedelta(days=n)
    if unit == "week":
        return today - dt.timedelta(weeks=n)
    if unit == "month":
        return sub_months(today, n)
    return sub_months(today, 12 * n)


def _make(year: int | None, month: int, day: int, today: dt.date) -> dt.date | None:
    """Build a date; without a year take the latest one that is not after ``today``."""
    try:
        if year is not None:
            if year < 100:
                year += 2000
            return dt.date(year, month, day)
        candidate = dt.date(today.year, month, day)
        return candidate if candidate <= today else dt.date(today.year - 1, month, day)
    except ValueError:
        return None


def _year(text: str | None) -> int | None:
    """A year as written after a date: "2026" or "'26"."""
    return int(text.lstrip("'")) if text else None


def _numeric(match: re.Match[str], today: dt.date, *, strict: bool) -> dt.date | None:
    first, sep, second, year_text = int(match[1]), match[2], int(match[3]), match[4]
    if year_text is None and (strict and sep != "/"):
        return None  # "10.30" in running text is a time, not 10 March
    year = int(year_text) if year_text else None
    if first > 12 or second <= 12:
        return _make(year, second, first, today)  # day-first, the Indonesian order
    return _make(year, first, second, today)  # 11/23/2026: only month-first is possible


def _weekday(match: re.Match[str], today: dt.date) -> dt.date:
    name = match[1]
    target = 7 if name == "minggu" else WEEKDAYS[name]
    back = (today.isoweekday() - target) % 7
    if back == 0 and match[2]:
        back = 7  # "senin lalu" said on a Monday means a week ago
    return today - dt.timedelta(days=back)


def parse_date(text: str | None, today: dt.date, *, strict: bool = False) -> dt.date | None:
    """Return the date a citizen means, or None when the text holds no date.

    ``strict`` is for running text (a complaint's description): only unmistakable date phrases
    count. Without it (an answer to "kapan?") amounts such as "sudah 3 minggu" and a bare day
    number also count. The result may lie in the future; the caller decides what that means.
    """
    if not text:
        return None
    norm = normalise_text(text)
    found: list[tuple[int, dt.date]] = []

    def add(pos: int, value: dt.date | None) -> None:
        if value is not None:
            found.append((pos, value))

    for m in _ISO.finditer(norm):
        add(m.start(), _make(int(m[1]), int(m[2]), int(m[3]), today))
    if not found:
        for m in _NUMERIC.finditer(norm):
            add(m.start(), _numeric(m, today, strict=strict))
    for m in _DAY_MONTH.finditer(norm):
        add(m.start(), _make(_year(m[3]), MONTHS[m[2]], int(m[1]), today))
    for m in _MONTH_DAY.finditer(norm):
        add(m.start(), _make(int(m[3]) if m[3] else None, MONTHS[m[1]], int(m[2]), today))
    if found:
        return min(found)[1]
    for m in _MONTH_AGO.finditer(norm):
        add(m.start(), _month_only(MONTHS[m[1]], None, today))
    if found:
        return min(found)[1]
    for m in _RELATIVE.finditer(norm):
        add(m.start(), _back(today, _amount(m[1]), UNITS[m[2]]))
    for m in _SE_RELATIVE.finditer(norm):
        add(m.start(), _back(today, 1, UNITS[m[1]]))
    for m in _DAY_BEFORE_YESTERDAY.finditer(norm):
        add(m.start(), today - dt.timedelta(days=2))
    if found:
        return min(found)[1]
    for m in _LAST_UNIT.finditer(norm):
        add(m.start(), _back(today, 1, UNITS[m[1] or m[2]]))
    for m in _YESTERDAY.finditer(norm):
        add(m.start(), today - dt.timedelta(days=1))
    for m in _TODAY.finditer(norm):
        add(m.start(), today)
    for m in _WEEKDAY.finditer(norm):
        add(m.start(), _weekday(m, today))
    if not strict:
        for m in _SINCE.finditer(norm):
            add(m.start(), _back(today, _amount(m[1]), UNITS[m[2]]))
        bare = _BARE_AMOUNT.match(norm.strip(" .!?"))
        if bare:
            add(0, _back(today, _amount(bare[1]), UNITS[bare[2]]))
    for m in _TANGGAL.finditer(norm):
        if not strict or m[0].startswith(("tanggal", "tgl")):
            add(m.start(), _day_of_month(int(m[1]), today))
    if not strict and not found:
        only_day = re.fullmatch(r"\s*(\d{1,2})\s*", norm)
        if only_day:
            add(0, _day_of_month(int(only_day[1]), today))
    if not strict and not found:
        for m in _MONTH_ONLY.finditer(norm):
            add(m.start(), _month_only(MONTHS[m[1]], int(m[2]) if m[2] else None, today))
    if found:
        return min(found)[1]
    return None


def _month_only(month: int, year: int | None, today: dt.date) -> dt.date:
    """A month named without a day: its last day (today in the current month).

    The latest day of the month gives the citizen the benefit of the doubt under R3's window.
    """
    if year is None:
        year = today.year if month <= today.month else today.year - 1
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return min(last, today) if (year, month) == (today.year, today.month) else last


def _day_of_month(day: int, today: dt.date) -> dt.date | None:
    """Return day ``day`` of this month, or of last month when that is still to come."""
    for back in (0, 1):
        month = sub_months(today.replace(day=1), back)
        try:
            candidate = month.replace(day=day)
        except ValueError:
            continue
        if candidate <= today:
            return candidate
    return None


def mentions_future(text: str | None) -> bool:
    """Tell whether the text speaks of a day still to come ("besok", "tomorrow")."""
    return bool(text and _FUTURE.search(normalise_text(text)))
