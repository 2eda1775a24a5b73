"""The Indonesian working-day calendar behind the R4 answer deadline.

Working days are the office's configured weekdays minus national public holidays and *cuti
bersama* (collective leave decreed by the SKB 3 Menteri; the ``holidays`` package files it under
the ``government`` category), minus the office's extra closed dates, plus its extra working dates.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

JAKARTA = ZoneInfo("Asia/Jakarta")

#: Indonesian day and month names (our own tables: output never depends on the server's locale).
HARI = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
BULAN = (
    "Januari", "Februari", "Maret", "April", "Mei", "Juni",
    "Juli", "Agustus", "September", "Oktober", "November", "Desember",
)  # fmt: skip

#: Where a non-working day comes from; shown by ``aduan calendar holidays``.
SOURCE_NATIONAL = "national"
SOURCE_CUTI_BERSAMA = "cuti_bersama"
SOURCE_OFFICE = "office"
SOURCE_WEEKEND = "weekend"


@dataclass(frozen=True)
class NonWorkingDay:
    """One day the office is closed, with its name and where the closure comes from."""

    date: dt.date
    name: str
    source: str


#: The national closures of the years most records fall in, as the ``holidays`` package of the
#: version it names gives them (``python -m intake.calendar`` writes it; a test checks it).
TABLE = Path(__file__).with_name("holidays_id.json")
TABLE_YEARS = range(2015, 2041)


@functools.cache
def _table() -> dict[str, list[list[str]]]:
    """Return the shipped closures by year, or nothing when another ``holidays`` is installed.

    Importing ``holidays`` and computing a year costs about half a second, which every
    ``aduan calendar due`` paid (CLI start-up, issue 17). A newer package (a new cuti bersama
    decree) is read instead of the table until the table is written again.
    """
    # Deliberate lazy import: importlib.metadata costs more than the table (CLI start-up, issue 17).
    import importlib.metadata

    try:
        doc = json.loads(TABLE.read_text(encoding="utf-8"))
        installed = importlib.metadata.version("holidays")
    except (OSError, ValueError, importlib.metadata.PackageNotFoundError):
        return {}
    return dict(doc["years"]) if doc.get("holidays_version") == installed else {}


def computed_closures(year: int) -> list[NonWorkingDay]:
    """Return the national holidays and cuti bersama of ``year`` from the ``holidays`` package."""
    # Deliberate lazy import: the package costs a quarter second to import (CLI start-up, issue 17).
    import holidays

    days: dict[dt.date, NonWorkingDay] = {}
    public = holidays.country_holidays("ID", years=year, categories=("public",), language="id")
    government = holidays.country_holidays("ID", years=year, categories=("government",), language="id")
    for day, name in sorted(public.items()):
        days[day] = NonWorkingDay(day, name, SOURCE_NATIONAL)
    for day, name in sorted(government.items()):
        if day not in days:
            days[day] = NonWorkingDay(day, name, SOURCE_CUTI_BERSAMA)
    return sorted(days.values(), key=lambda d: d.date)


def national_closures(year: int) -> list[NonWorkingDay]:
    """Return the national closures of ``year``: from the shipped table when it holds the year."""
    shipped = _table().get(str(year))
    if shipped is None:
        return computed_closures(year)
    return [NonWorkingDay(dt.date.fromisoformat(day), name, source) for day, name, source in shipped]


def write_table() -> None:
    """Write ``holidays_id.json`` from the installed ``holidays`` package (after upgrading it)."""
    import importlib.metadata  # deliberate lazy import (see _table)

    years = {
        str(y): [[d.date.isoformat(), d.name, d.source] for d in computed_closures(y)] for y in TABLE_YEARS
    }
    version = json.dumps(importlib.metadata.version("holidays"))
    # One closure a line, so that a new decree shows as a small diff.
    blocks = [
        f"  {json.dumps(year)}: [\n"
        + ",\n".join(f"    {json.dumps(row, ensure_ascii=False)}" for row in rows)
        + "\n  ]"
        for year, rows in years.items()
    ]
    text = f'{{"holidays_version": {version}, "years": {{\n' + ",\n".join(blocks) + "\n}}\n"
    TABLE.write_text(text, encoding="utf-8")
    _table.cache_clear()


@dataclass
class WorkingCalendar:
    """Working days of one office: weekdays, national holidays, cuti bersama and local changes.

    ``weekdays`` uses ISO numbering (Monday = 1). Year tables are built lazily and cached, so the
    due date of any receipt moment costs one dictionary lookup after the first call for its day.
    """

    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    extra_closed: Mapping[dt.date, str] = field(default_factory=dict)
    extra_working: frozenset[dt.date] = frozenset()
    timezone: ZoneInfo = JAKARTA
    _years: dict[int, list[NonWorkingDay]] = field(default_factory=dict, init=False, repr=False)
    _closed: dict[dt.date, NonWorkingDay] = field(default_factory=dict, init=False, repr=False)
    _ordinals: list[int] = field(default_factory=list, init=False, repr=False)
    _span: tuple[int, int] = field(default=(0, -1), init=False, repr=False)
    _due_cache: dict[tuple[dt.date, int], dt.date] = field(default_factory=dict, init=False, repr=False)
    _fixed_offset: dt.timedelta | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        # WIB has had no daylight saving since 1964: a fixed offset turns a UTC moment into a local
        # date with one addition instead of a zone lookup (the hot path of every due date).
        probes = [dt.datetime(y, m, 1, tzinfo=dt.UTC) for y in range(1990, 2061, 5) for m in (1, 7)]
        offsets = {p.astimezone(self.timezone).utcoffset() for p in probes}
        self._fixed_offset = offsets.pop() if len(offsets) == 1 else None

    # -- holiday tables -------------------------------------------------------------------------

    def _load_year(self, year: int) -> None:
        if year in self._years:
            return
        days = {d.date: d for d in national_closures(year)}
        for day, name in self.extra_closed.items():
            if day.year == year:
                days[day] = NonWorkingDay(day, name, SOURCE_OFFICE)
        listed = [d for d in sorted(days.values(), key=lambda n: n.date) if d.date not in self.extra_working]
        self._years[year] = listed
        for item in listed:
            self._closed[item.date] = item

    def holidays_in(self, year: int) -> list[NonWorkingDay]:
        """Return the closures of ``year`` that fall on configured weekdays (weekends are implied)."""
        self._load_year(year)
        return [d for d in self._years[year] if d.date.isoweekday() in self.weekdays]

    def is_working_day(self, day: dt.date) -> bool:
        """Tell whether the office is open on ``day``."""
        if day in self.extra_working:
            return True
        if day.isoweekday() not in self.weekdays:
            return False
        self._load_year(day.year)
        return day not in self._closed

    def closure(self, day: dt.date) -> NonWorkingDay | None:
        """Return why ``day`` is not a working day, or None when it is one."""
        if self.is_working_day(day):
            return None
        self._load_year(day.year)
        return self._closed.get(day) or NonWorkingDay(day, "Akhir pekan", SOURCE_WEEKEND)

    # -- working-day arithmetic ----------------------------------------------------------------

    def _ensure_span(self, first: dt.date, last: dt.date) -> None:
        """Keep a sorted list of working-day ordinals covering [first, last] (whole years)."""
        lo, hi = self._span
        want_lo = dt.date(first.year, 1, 1).toordinal()
        want_hi = dt.date(last.year, 12, 31).toordinal()
        if lo <= want_lo and want_hi <= hi:
            return
        new_lo, new_hi = (want_lo, want_hi) if hi < lo else (min(lo, want_lo), max(hi, want_hi))
        self._ordinals = [o for o in range(new_lo, new_hi + 1) if self.is_working_day(dt.date.fromordinal(o))]
        self._span = (new_lo, new_hi)

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """Return the ``n``-th working day strictly after ``start`` (``n`` >= 1)."""
        if n < 1:
            raise ValueError("n must be at least 1")
        key = (start, n)
        cached = self._due_cache.get(key)
        if cached is not None:
            return cached
        # n working days never span more than n weeks plus a long holiday run: a year of margin.
        self._ensure_span(start, start + dt.timedelta(days=7 * n // len(self.weekdays or {1}) + 366))
        idx = bisect.bisect_right(self._ordinals, start.toordinal()) + n - 1
        result = dt.date.fromordinal(self._ordinals[idx])
        self._due_cache[key] = result
        return result

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Count working days in (start, end]: after ``start``, up to and including ``end``.

        Negative when ``end`` is before ``start`` (days overdue, counted the same way).
        """
        if end < start:
            return -self.working_days_between(end, start)
        self._ensure_span(start, end)
        return bisect.bisect_right(self._ordinals, end.toordinal()) - bisect.bisect_right(
            self._ordinals, start.toordinal()
        )

    def local_date(self, moment: dt.datetime) -> dt.date:
        """Return the calendar day of ``moment`` in the office's timezone (naive = already local)."""
        if moment.tzinfo is None:
            return moment.date()
        if self._fixed_offset is not None:
            return (moment - moment.utcoffset() + self._fixed_offset).date()  # type: ignore[operator]
        return moment.astimezone(self.timezone).date()

    def due_date(self, received_at: dt.datetime | dt.date, working_days: int = 14) -> dt.date:
        """R4: the answer is due by the end of the ``working_days``-th working day after receipt.

        The receipt moment is taken in the office's timezone; the receipt day itself is not counted,
        so a receipt on a closed day counts from the next working day.
        """
        day = self.local_date(received_at) if isinstance(received_at, dt.datetime) else received_at
        cached = self._due_cache.get((day, working_days))
        return cached if cached is not None else self.add_working_days(day, working_days)


def parse_dates(items: Iterable[object]) -> dict[dt.date, str]:
    """Read ``[{date = 2026-12-31, name = "…"}]`` or bare ISO dates from config into a mapping."""
    out: dict[dt.date, str] = {}
    for item in items:
        if isinstance(item, Mapping):
            raw, name = item.get("date"), str(item.get("name") or "Hari libur kantor")
        else:
            raw, name = item, "Hari libur kantor"
        if isinstance(raw, dt.datetime):
            raw = raw.date()
        day = raw if isinstance(raw, dt.date) else dt.date.fromisoformat(str(raw))
        out[day] = name
    return out


if __name__ == "__main__":
    write_table()
