"""The community satisfaction index (Indeks Kepuasan Masyarakat, PermenPANRB 14/2017).

Each respondent scores the nine elements of a service 1-4. Per element the mean score; the
index is the weighted sum of the means, each element weighing 1/9; the converted index is the
index x 25, on the 25-100 scale, rounded to two decimals; its band gives the grade.

The arithmetic is exact (fractions): a converted index on a band edge lands in the right band
and never one hundredth off through binary floating point.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import floor

from simpul.shared.problems import Text

# The nine elements in the regulation's order: API field name, and its name in id / en.
ELEMENTS: dict[str, Text] = {
    "requirements": Text("Persyaratan", "Requirements"),
    "procedure": Text("Sistem, mekanisme, dan prosedur", "System, mechanism and procedure"),
    "timeliness": Text("Waktu penyelesaian", "Completion time"),
    "cost": Text("Biaya/tarif", "Cost/tariff"),
    "product": Text("Produk spesifikasi jenis pelayanan", "Service product specification"),
    "competence": Text("Kompetensi pelaksana", "Staff competence"),
    "behaviour": Text("Perilaku pelaksana", "Staff behaviour"),
    "complaint_handling": Text("Penanganan pengaduan, saran dan masukan", "Handling of complaints and suggestions"),
    "facilities": Text("Sarana dan prasarana", "Facilities and infrastructure"),
}
WEIGHT = Fraction(1, len(ELEMENTS))
CONVERSION = 25
MIN_SCORE, MAX_SCORE = 1, 4


@dataclass(frozen=True)
class Grade:
    letter: str
    lowest: Decimal  # the lowest converted index of the band
    quality: Text


# Highest band first; each band runs from its `lowest` up to the next band's lowest - 0.01.
GRADES = (
    Grade("A", Decimal("88.31"), Text("Sangat Baik", "Very good")),
    Grade("B", Decimal("76.61"), Text("Baik", "Good")),
    Grade("C", Decimal("65.00"), Text("Kurang Baik", "Poor")),
    Grade("D", Decimal("25.00"), Text("Tidak Baik", "Very poor")),
)


def round_half_up(value: Fraction, places: int = 2) -> Decimal:
    scale = 10**places
    return Decimal(floor(value * scale + Fraction(1, 2))) / scale


def grade_of(converted: Decimal) -> Grade:
    for grade in GRADES:
        if converted >= grade.lowest:
            return grade
    raise ValueError(f"{converted} is below the IKM scale")


@dataclass(frozen=True)
class IkmResult:
    respondents: int
    means: dict[str, Fraction]  # per element, exact
    index: Fraction  # on the 1-4 scale, exact
    converted: Decimal  # on the 25-100 scale, two decimals
    grade: Grade


def compute(respondents: int, sums: dict[str, int]) -> IkmResult:
    """The IKM of `respondents` responses whose scores add up to `sums` per element."""
    if respondents <= 0:
        raise ValueError("an IKM needs at least one respondent")
    if set(sums) != set(ELEMENTS):
        raise ValueError("every element needs its sum of scores")
    for code, total in sums.items():
        if not MIN_SCORE * respondents <= total <= MAX_SCORE * respondents:
            raise ValueError(f"the sum for {code} is outside what {respondents} responses can give")
    means = {code: Fraction(sums[code], respondents) for code in ELEMENTS}
    index = sum((mean * WEIGHT for mean in means.values()), Fraction(0))
    converted = round_half_up(index * CONVERSION)
    return IkmResult(respondents=respondents, means=means, index=index, converted=converted, grade=grade_of(converted))
