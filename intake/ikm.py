"""The community satisfaction index (*Indeks Kepuasan Masyarakat*, IKM) of PermenPANRB 14/2017.

Pure functions, no I/O. E1 of the service standard asks for a satisfaction survey four times a
year; the regulation fixes how it is scored: nine elements (*unsur*) U1–U9, each rated 1–4; per
element the average rating (*nilai rata-rata*, NRR); every element weighs the same (1/9); the sum of
the weighted NRR times 25 is the IKM, between 25 and 100, read against four quality grades
(*mutu pelayanan*) A–D. Arithmetic is exact (fractions) and only the shown figures are rounded
(half up), so a grade boundary is never missed by a float error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction


@dataclass(frozen=True)
class Element:
    """One element (*unsur*) of the survey, with the question and its four answers (1 → 4)."""

    code: str
    name: str
    question: str
    answers: tuple[str, str, str, str]
    #: The question cut short for one SMS or chat bubble.
    short: str = ""


#: The nine elements of PermenPANRB 14/2017, in the order the survey asks them.
ELEMENTS: tuple[Element, ...] = (
    Element(
        "U1",
        "Persyaratan",
        "Bagaimana pendapat Saudara tentang kesesuaian persyaratan pelayanan dengan jenis pelayanannya?",
        ("Tidak sesuai", "Kurang sesuai", "Sesuai", "Sangat sesuai"),
        "Apakah persyaratan pelayanan sesuai dengan jenis pelayanannya?",
    ),
    Element(
        "U2",
        "Sistem, mekanisme, dan prosedur",
        "Bagaimana pemahaman Saudara tentang kemudahan prosedur pelayanan di unit ini?",
        ("Tidak mudah", "Kurang mudah", "Mudah", "Sangat mudah"),
        "Apakah prosedur pelayanan mudah?",
    ),
    Element(
        "U3",
        "Waktu penyelesaian",
        "Bagaimana pendapat Saudara tentang kecepatan waktu dalam memberikan pelayanan?",
        ("Tidak cepat", "Kurang cepat", "Cepat", "Sangat cepat"),
        "Apakah waktu pelayanan cepat?",
    ),
    Element(
        "U4",
        "Biaya/tarif",
        "Bagaimana pendapat Saudara tentang kewajaran biaya/tarif dalam pelayanan?",
        ("Sangat mahal", "Cukup mahal", "Murah", "Gratis"),
        "Bagaimana kewajaran biaya/tarif pelayanan?",
    ),
    Element(
        "U5",
        "Produk spesifikasi jenis pelayanan",
        "Bagaimana pendapat Saudara tentang kesesuaian produk pelayanan antara yang tercantum dalam "
        "standar pelayanan dengan hasil yang diberikan?",
        ("Tidak sesuai", "Kurang sesuai", "Sesuai", "Sangat sesuai"),
        "Apakah hasil pelayanan sesuai dengan standar pelayanan?",
    ),
    Element(
        "U6",
        "Kompetensi pelaksana",
        "Bagaimana pendapat Saudara tentang kompetensi/kemampuan petugas dalam pelayanan?",
        ("Tidak kompeten", "Kurang kompeten", "Kompeten", "Sangat kompeten"),
        "Apakah petugas kompeten?",
    ),
    Element(
        "U7",
        "Perilaku pelaksana",
        "Bagaimana pendapat Saudara tentang perilaku petugas dalam pelayanan terkait kesopanan "
        "dan keramahan?",
        ("Tidak sopan dan ramah", "Kurang sopan dan ramah", "Sopan dan ramah", "Sangat sopan dan ramah"),
        "Apakah petugas sopan dan ramah?",
    ),
    Element(
        "U8",
        "Penanganan pengaduan, saran dan masukan",
        "Bagaimana pendapat Saudara tentang penanganan pengaduan pengguna layanan?",
        ("Tidak ada", "Ada tetapi tidak berfungsi", "Berfungsi kurang maksimal", "Dikelola dengan baik"),
        "Bagaimana penanganan pengaduan pengguna layanan?",
    ),
    Element(
        "U9",
        "Sarana dan prasarana",
        "Bagaimana pendapat Saudara tentang kualitas sarana dan prasarana?",
        ("Buruk", "Cukup", "Baik", "Sangat baik"),
        "Bagaimana kualitas sarana dan prasarana?",
    ),
)
ELEMENT_CODES: tuple[str, ...] = tuple(e.code for e in ELEMENTS)
N_ELEMENTS = len(ELEMENTS)
#: Every element weighs the same: 1/9 (the regulation prints it rounded as 0,111).
WEIGHT = Fraction(1, N_ELEMENTS)
#: The weighted sum of NRR (1–4) times this factor is the IKM (25–100).
CONVERSION = 25


@dataclass(frozen=True)
class Grade:
    """A quality grade (*mutu pelayanan*) with the lowest IKM that reaches it."""

    letter: str
    label: str
    minimum: Decimal


#: The grades of PermenPANRB 14/2017: A 88,31–100; B 76,61–88,30; C 65,00–76,60; D 25,00–64,99.
GRADES: tuple[Grade, ...] = (
    Grade("A", "Sangat Baik", Decimal("88.31")),
    Grade("B", "Baik", Decimal("76.61")),
    Grade("C", "Kurang Baik", Decimal("65.00")),
    Grade("D", "Tidak Baik", Decimal("25.00")),
)


class InvalidRating(ValueError):
    """A set of answers that is not nine ratings from 1 to 4."""


def round_half_up(value: Fraction | Decimal | float | int, places: int) -> Decimal:
    """Round a figure the way the regulation's tables do (half up), to ``places`` decimals."""
    exact = (
        Decimal(value.numerator) / Decimal(value.denominator)
        if isinstance(value, Fraction)
        else Decimal(str(value))
    )
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def grade(ikm: Decimal | float | int) -> Grade:
    """Return the quality grade of an IKM (rounded to two decimals first, as it is published)."""
    value = round_half_up(ikm if isinstance(ikm, Decimal) else Decimal(str(ikm)), 2)
    if not Decimal(25) <= value <= Decimal(100):
        raise ValueError(f"an IKM lies between 25 and 100, not {value}")
    return next(g for g in GRADES if value >= g.minimum)


def validate(scores: Sequence[int]) -> tuple[int, ...]:
    """Return the nine ratings as a tuple; raise InvalidRating unless there are nine, each 1–4."""
    values = tuple(scores)
    if len(values) != N_ELEMENTS:
        raise InvalidRating(f"expected {N_ELEMENTS} ratings (U1–U9), got {len(values)}")
    for code, value in zip(ELEMENT_CODES, values, strict=True):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
            raise InvalidRating(f"{code} must be a whole number from 1 to 4, not {value!r}")
    return values


_DIGITS = {"1": 1, "2": 2, "3": 3, "4": 4, "satu": 1, "dua": 2, "tiga": 3, "empat": 4}


def parse_answer(text: str) -> int | None:
    """Read one chat answer: a digit 1–4 (``"4"``, ``" 3."``, ``"2)"``, ``"empat"``), else None."""
    cleaned = text.strip().lower().rstrip(".)!").strip()
    return _DIGITS.get(cleaned)


@dataclass(frozen=True)
class ElementScore:
    """One element's result: the average rating, its weighted share and its own 25–100 index."""

    element: Element
    nrr: Fraction

    @property
    def nrr_shown(self) -> Decimal:
        """The NRR as published (three decimals)."""
        return round_half_up(self.nrr, 3)

    @property
    def weighted(self) -> Decimal:
        """The NRR times the weight 1/9 (three decimals, *NRR tertimbang*)."""
        return round_half_up(self.nrr * WEIGHT, 3)

    @property
    def index(self) -> Decimal:
        """The element on the IKM scale (NRR × 25, two decimals), for charts and its own grade."""
        return round_half_up(self.nrr * CONVERSION, 2)

    @property
    def grade(self) -> Grade:
        """The quality grade of this element alone."""
        return grade(self.index)


@dataclass(frozen=True)
class IkmResult:
    """The IKM of a set of respondents, with every element's score and the weakest element."""

    respondents: int
    elements: tuple[ElementScore, ...]
    exact: Fraction

    @property
    def ikm(self) -> Decimal:
        """The index, 25–100, two decimals."""
        return round_half_up(self.exact, 2)

    @property
    def grade(self) -> Grade:
        """The quality grade of the index."""
        return grade(self.ikm)

    @property
    def weakest(self) -> ElementScore:
        """The element that pulls the index down most: lowest NRR (the first of a tie)."""
        return min(self.elements, key=lambda e: e.nrr)

    def as_dict(self) -> dict[str, object]:
        """Return the result as plain values (JSON, CSV, the dashboard)."""
        return {
            "respondents": self.respondents,
            "ikm": str(self.ikm),
            "grade": self.grade.letter,
            "grade_label": self.grade.label,
            "weakest": self.weakest.element.code,
            "elements": [
                {
                    "code": e.element.code,
                    "name": e.element.name,
                    "nrr": str(e.nrr_shown),
                    "weighted": str(e.weighted),
                    "index": str(e.index),
                    "grade": e.grade.letter,
                }
                for e in self.elements
            ],
        }


def compute(responses: Iterable[Sequence[int]]) -> IkmResult | None:
    """Compute the IKM of complete responses (nine ratings each); None when there are none."""
    totals = [0] * N_ELEMENTS
    count = 0
    for scores in responses:
        for i, value in enumerate(validate(scores)):
            totals[i] += value
        count += 1
    if count == 0:
        return None
    nrr = [Fraction(total, count) for total in totals]
    exact = sum((n * WEIGHT for n in nrr), Fraction(0)) * CONVERSION
    return IkmResult(
        respondents=count,
        elements=tuple(ElementScore(e, n) for e, n in zip(ELEMENTS, nrr, strict=True)),
        exact=exact,
    )


@dataclass(frozen=True)
class Rating:
    """One respondent's nine ratings with what the index is grouped by (service, day)."""

    scores: tuple[int, ...]
    submitted_on: dt.date
    service: str | None = None


def quarter_of(day: dt.date) -> str:
    """Return the quarter label of a day: ``2026-Q4``."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def group_by(ratings: Iterable[Rating], key: Callable[[Rating], str]) -> dict[str, IkmResult]:
    """Compute the IKM of each group of ratings, groups in sorted order."""
    groups: dict[str, list[tuple[int, ...]]] = {}
    for rating in ratings:
        groups.setdefault(key(rating), []).append(rating.scores)
    out: dict[str, IkmResult] = {}
    for name in sorted(groups):
        result = compute(groups[name])
        assert result is not None
        out[name] = result
    return out


def by_quarter(ratings: Iterable[Rating]) -> dict[str, IkmResult]:
    """E1: the IKM of each quarter (``2026-Q1`` …), the survey being held four times a year."""
    return group_by(ratings, lambda r: quarter_of(r.submitted_on))


#: The group name of ratings not tied to a catalogue service (e.g. a quarterly invitation).
NO_SERVICE = "-"


def by_service(ratings: Iterable[Rating]) -> dict[str, IkmResult]:
    """Return the IKM of each service code (``-`` for ratings without one)."""
    return group_by(ratings, lambda r: r.service or NO_SERVICE)
