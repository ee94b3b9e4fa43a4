"""The IKM arithmetic of PermenPANRB 14/2017 on fixed data sets, every value worked out by hand."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from simpul.submissions.feedback.ikm import ELEMENTS, compute, grade_of

# Four respondents, the nine elements in the regulation's order:
#   requirements procedure timeliness cost product competence behaviour complaint_handling facilities
RESPONSES = [
    (4, 4, 3, 4, 3, 3, 4, 3, 3),
    (3, 3, 3, 4, 3, 3, 3, 3, 3),
    (4, 3, 2, 4, 3, 4, 4, 3, 2),
    (3, 3, 3, 4, 4, 3, 4, 2, 3),
]


def sums_of(responses) -> dict[str, int]:
    return {code: sum(r[i] for r in responses) for i, code in enumerate(ELEMENTS)}


def spread(respondents: int, total: int) -> dict[str, int]:
    """Element sums that add up to `total`, as even as they can be."""
    base, extra = divmod(total, len(ELEMENTS))
    return {code: base + (1 if i < extra else 0) for i, code in enumerate(ELEMENTS)}


def test_a_worked_survey():
    result = compute(4, sums_of(RESPONSES))
    # Element sums 14 13 11 16 13 13 15 11 11, over 4 respondents:
    assert [result.means[c] for c in ELEMENTS] == [
        Fraction(7, 2), Fraction(13, 4), Fraction(11, 4), Fraction(4), Fraction(13, 4),
        Fraction(13, 4), Fraction(15, 4), Fraction(11, 4), Fraction(11, 4),
    ]
    # IKM = (3.5 + 3.25 + 2.75 + 4 + 3.25 + 3.25 + 3.75 + 2.75 + 2.75) / 9 = 29.25 / 9 = 3.25
    assert result.index == Fraction(13, 4)
    # x 25 = 81.25: band B (76.61-88.30), "Baik"
    assert result.converted == Decimal("81.25")
    assert result.grade.letter == "B" and result.grade.quality.id == "Baik"


@pytest.mark.parametrize(
    ("score", "converted", "letter", "quality"),
    [
        (4, "100.00", "A", "Sangat Baik"),  # 4 x 25
        (3, "75.00", "C", "Kurang Baik"),  # 3 x 25
        (2, "50.00", "D", "Tidak Baik"),  # 2 x 25
        (1, "25.00", "D", "Tidak Baik"),  # 1 x 25, the bottom of the scale
    ],
)
def test_everyone_giving_the_same_score(score, converted, letter, quality):
    result = compute(3, dict.fromkeys(ELEMENTS, 3 * score))
    assert result.converted == Decimal(converted)
    assert (result.grade.letter, result.grade.quality.id) == (letter, quality)


@pytest.mark.parametrize(
    ("respondents", "total", "converted", "letter"),
    [
        # converted = 25 x total / (9 x respondents), rounded half up to two decimals
        (24, 763, "88.31", "A"),  # 19075 / 216 = 88.3101...  lowest A
        (19, 604, "88.30", "B"),  # 15100 / 171 = 88.3040...  highest B
        (19, 524, "76.61", "B"),  # 13100 / 171 = 76.6081...  lowest B
        (26, 717, "76.60", "C"),  # 17925 / 234 = 76.6025...  highest C
        (5, 117, "65.00", "C"),  # 2925 / 45 = 65 exactly    lowest C
        (38, 889, "64.99", "D"),  # 22225 / 342 = 64.9853...  highest D
    ],
)
def test_band_edges(respondents, total, converted, letter):
    result = compute(respondents, spread(respondents, total))
    assert result.converted == Decimal(converted)
    assert result.grade.letter == letter


def test_rounding_is_half_up_on_the_exact_value():
    # 2 respondents, total 71: 25 x 71 / 18 = 98.6111... -> 98.61; total 65: 90.2777... -> 90.28
    assert compute(2, spread(2, 71)).converted == Decimal("98.61")
    assert compute(2, spread(2, 65)).converted == Decimal("90.28")
    # 8 respondents, total 279: 25 x 279 / 72 = 96.875 exactly -> 96.88 (half up, not to even)
    assert compute(8, spread(8, 279)).converted == Decimal("96.88")


def test_grades_cover_the_scale_without_gaps():
    value = Decimal("25.00")
    letters = []
    while value <= Decimal("100.00"):
        letters.append(grade_of(value).letter)
        value += Decimal("0.01")
    assert letters.count("D") == 4000  # 25.00 .. 64.99
    assert letters.count("C") == 1161  # 65.00 .. 76.60
    assert letters.count("B") == 1170  # 76.61 .. 88.30
    assert letters.count("A") == 1170  # 88.31 .. 100.00
    with pytest.raises(ValueError):
        grade_of(Decimal("24.99"))


def test_impossible_input_is_refused():
    with pytest.raises(ValueError):
        compute(0, dict.fromkeys(ELEMENTS, 0))
    with pytest.raises(ValueError):
        compute(2, dict.fromkeys(ELEMENTS, 9))  # more than 2 x 4
    with pytest.raises(ValueError):
        compute(2, {"requirements": 4})
