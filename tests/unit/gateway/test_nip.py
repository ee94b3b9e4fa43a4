"""The NIP's structure: birth date, month of appointment, sex digit, sequence."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from simpul.gateway.nip import (
    APPOINTED_TOO_YOUNG,
    BAD_APPOINTMENT,
    BAD_BIRTH_DATE,
    BAD_SEQUENCE,
    BAD_SEX_DIGIT,
    NOT_18_DIGITS,
    nip_problem,
)

TODAY = date(2026, 12, 3)


def test_well_formed_nips_pass():
    assert nip_problem("198503142010012002", TODAY) is None
    assert nip_problem("200002292024061001", TODAY) is None  # born on a leap day


def test_each_part_is_named():
    assert nip_problem("19850314201001200", TODAY) is NOT_18_DIGITS
    assert nip_problem("1985031420100120021", TODAY) is NOT_18_DIGITS
    assert nip_problem("19850314201001200a", TODAY) is NOT_18_DIGITS
    assert nip_problem("１９８５03142010012002", TODAY) is NOT_18_DIGITS  # full-width digits are not ASCII digits
    assert nip_problem("198502302010012002", TODAY) is BAD_BIRTH_DATE  # 30 February
    assert nip_problem("199902292020012002", TODAY) is BAD_BIRTH_DATE  # 1999 was not a leap year
    assert nip_problem("188503142010012002", TODAY) is BAD_BIRTH_DATE
    assert nip_problem("202701012045012002", TODAY) is BAD_BIRTH_DATE  # born in the future
    assert nip_problem("198503142010002002", TODAY) is BAD_APPOINTMENT  # month 00
    assert nip_problem("198503142010132002", TODAY) is BAD_APPOINTMENT
    assert nip_problem("198503142027012002", TODAY) is BAD_APPOINTMENT  # appointed in the future
    assert nip_problem("198503142002012002", TODAY) is APPOINTED_TOO_YOUNG  # at 16
    assert nip_problem("198503142010013002", TODAY) is BAD_SEX_DIGIT
    assert nip_problem("198503142010010002", TODAY) is BAD_SEX_DIGIT
    assert nip_problem("198503142010011000", TODAY) is BAD_SEQUENCE


@given(
    # Born by the end of the year 20 years back: appointed 19 or more years later, last year at the latest.
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(TODAY.year - 20, 12, 31)),
    years_later=st.integers(min_value=19, max_value=60),
    month=st.integers(min_value=1, max_value=12),
    sex=st.sampled_from("12"),
    sequence=st.integers(min_value=1, max_value=999),
)
def test_any_nip_built_from_valid_parts_passes(born, years_later, month, sex, sequence):
    appointed = (min(born.year + years_later, TODAY.year - 1), month)
    assert appointed[0] >= born.year + 19
    nip = f"{born:%Y%m%d}{appointed[0]:04d}{appointed[1]:02d}{sex}{sequence:03d}"
    assert nip_problem(nip, TODAY) is None


@given(st.text(max_size=30))
def test_anything_else_is_refused_or_well_formed(text):
    problem = nip_problem(text, TODAY)
    if problem is None:
        assert len(text) == 18 and text.isascii() and text.isdigit()
