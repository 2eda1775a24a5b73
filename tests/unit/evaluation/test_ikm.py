"""E1: the IKM of PermenPANRB 14/2017 against hand-computed examples and its grade boundaries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest

from intake import ikm


def test_e1_ikm_of_three_respondents_computed_by_hand() -> None:
    # Element sums: U1 11, U2 10, U3 7, U4 12, U5 10, U6 11, U7 12, U8 9, U9 10 (total 92).
    # IKM = 25 × Σ(NRR_i × 1/9) = 25 × 92 / (3 × 9) = 85.185… → 85.19, grade B (76.61–88.30).
    result = ikm.compute(
        [
            [4, 4, 3, 4, 3, 4, 4, 3, 4],
            [3, 3, 2, 4, 3, 3, 4, 3, 3],
            [4, 3, 2, 4, 4, 4, 4, 3, 3],
        ]
    )
    assert result is not None
    assert result.respondents == 3
    assert result.exact == Fraction(25 * 92, 27)
    assert result.ikm == Decimal("85.19")
    assert (result.grade.letter, result.grade.label) == ("B", "Baik")
    nrr = {e.element.code: e.nrr_shown for e in result.elements}
    assert nrr == {
        "U1": Decimal("3.667"),
        "U2": Decimal("3.333"),
        "U3": Decimal("2.333"),
        "U4": Decimal("4.000"),
        "U5": Decimal("3.333"),
        "U6": Decimal("3.667"),
        "U7": Decimal("4.000"),
        "U8": Decimal("3.000"),
        "U9": Decimal("3.333"),
    }
    # NRR tertimbang = NRR × 1/9: U1 3.667/9 = 0.407
    assert result.elements[0].weighted == Decimal("0.407")
    # U3 (processing time) pulls the index down most: NRR 2.333 → 58.33 on the IKM scale, grade D
    assert result.weakest.element.code == "U3"
    assert result.weakest.index == Decimal("58.33")
    assert result.weakest.grade.letter == "D"


def test_e1_ikm_exactly_on_the_c_boundary_and_just_below() -> None:
    # Five respondents, 45 ratings summing to 117: mean 2.6 → IKM exactly 65.00, the lowest C.
    ratings = [[3] * 9, [3] * 9, [3] * 9, [2] * 9, [3, 3, 2, 2, 2, 1, 1, 1, 3]]
    assert sum(map(sum, ratings)) == 117
    at_boundary = ikm.compute(ratings)
    assert at_boundary is not None
    assert at_boundary.ikm == Decimal("65.00")
    assert at_boundary.grade.letter == "C"
    # One point less (116/45 × 25 = 64.44) falls to D.
    ratings[4] = [3, 3, 2, 2, 2, 1, 1, 1, 2]
    below = ikm.compute(ratings)
    assert below is not None
    assert below.ikm == Decimal("64.44")
    assert below.grade.letter == "D"


@pytest.mark.parametrize(
    ("value", "letter"),
    [
        ("100", "A"),
        ("88.31", "A"),
        ("88.30", "B"),
        ("88.305", "A"),
        ("88.304", "B"),
        ("76.61", "B"),
        ("76.60", "C"),
        ("65.00", "C"),
        ("64.99", "D"),
        ("25", "D"),
    ],
)
def test_e1_grade_boundaries_of_the_regulation(value: str, letter: str) -> None:
    assert ikm.grade(Decimal(value)).letter == letter


def test_e1_ikm_extremes_and_empty() -> None:
    best = ikm.compute([[4] * 9] * 4)
    worst = ikm.compute([[1] * 9])
    assert best is not None and worst is not None
    assert (best.ikm, best.grade.letter) == (Decimal("100.00"), "A")
    assert (worst.ikm, worst.grade.letter) == (Decimal("25.00"), "D")
    assert ikm.compute([]) is None
    with pytest.raises(ValueError):
        ikm.grade(Decimal("24.99"))


@pytest.mark.parametrize("bad", [[4] * 8, [4] * 10, [4] * 8 + [5], [4] * 8 + [0], [4] * 8 + [True]])
def test_e1_ratings_must_be_nine_whole_numbers_from_one_to_four(bad: list[int]) -> None:
    with pytest.raises(ikm.InvalidRating):
        ikm.compute([bad])


def test_e1_ikm_per_quarter_and_per_service() -> None:
    ratings = [
        ikm.Rating((4,) * 9, dt.date(2026, 3, 31), "pbg"),
        ikm.Rating((2,) * 9, dt.date(2026, 4, 1), "pbg"),
        ikm.Rating((3,) * 9, dt.date(2026, 4, 2), None),
    ]
    quarters = ikm.by_quarter(ratings)
    assert list(quarters) == ["2026-Q1", "2026-Q2"]
    assert quarters["2026-Q1"].ikm == Decimal("100.00")
    assert (quarters["2026-Q2"].respondents, quarters["2026-Q2"].ikm) == (2, Decimal("62.50"))
    services = ikm.by_service(ratings)
    assert list(services) == ["-", "pbg"]
    assert services["pbg"].ikm == Decimal("75.00")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4", 4),
        (" 3. ", 3),
        ("2)", 2),
        ("Empat", 4),
        ("5", None),
        ("0", None),
        ("bagus", None),
        ("", None),
        ("34", None),
    ],
)
def test_e1_chat_answer_is_one_digit_from_one_to_four(text: str, value: int | None) -> None:
    assert ikm.parse_answer(text) == value
