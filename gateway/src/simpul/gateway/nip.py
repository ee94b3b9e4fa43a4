"""The NIP (Nomor Induk Pegawai) of a civil servant, checked for its structure (BKN's 18 digits):

    YYYYMMDD  date of birth
    YYYYMM    month of appointment (TMT CPNS)
    S         sex: 1 male, 2 female
    NNN       sequence number among those alike

No I/O: the registry calls it before anything is written.
"""

from __future__ import annotations

import re
from datetime import date

from simpul.shared.problems import Text

_DIGITS = re.compile(r"[0-9]{18}")
# Civil servants appointed under the current NIP scheme were born no earlier than this.
EARLIEST_BIRTH_YEAR = 1900
# The youngest age at which anyone is appointed a civil servant (PP 11/2017: 18 years).
MIN_AGE_AT_APPOINTMENT = 18

NOT_18_DIGITS = Text("harus 18 angka", "must be 18 digits")
BAD_BIRTH_DATE = Text("8 angka pertama harus tanggal lahir yang valid (YYYYMMDD)",
                      "the first 8 digits must be a valid date of birth (YYYYMMDD)")
BAD_APPOINTMENT = Text("angka ke-9 sampai ke-14 harus bulan pengangkatan yang valid (YYYYMM)",
                       "digits 9 to 14 must be a valid month of appointment (YYYYMM)")
APPOINTED_TOO_YOUNG = Text(
    "bulan pengangkatan harus setidaknya 18 tahun setelah tanggal lahir",
    "the month of appointment must be at least 18 years after the date of birth",
)
BAD_SEX_DIGIT = Text("angka ke-15 (jenis kelamin) harus 1 atau 2", "digit 15 (sex) must be 1 or 2")
BAD_SEQUENCE = Text("3 angka terakhir (nomor urut) tidak boleh 000", "the last 3 digits (sequence) must not be 000")


def nip_problem(nip: str, today: date) -> Text | None:
    """Why `nip` is not a well-formed NIP on `today`, or None when it is."""
    if not _DIGITS.fullmatch(nip):
        return NOT_18_DIGITS
    try:
        born = date(int(nip[0:4]), int(nip[4:6]), int(nip[6:8]))
    except ValueError:
        return BAD_BIRTH_DATE
    if born.year < EARLIEST_BIRTH_YEAR or born > today:
        return BAD_BIRTH_DATE
    appointed_year, appointed_month = int(nip[8:12]), int(nip[12:14])
    if not 1 <= appointed_month <= 12 or (appointed_year, appointed_month) > (today.year, today.month):
        return BAD_APPOINTMENT
    if (appointed_year, appointed_month) < (born.year + MIN_AGE_AT_APPOINTMENT, born.month):
        return APPOINTED_TOO_YOUNG
    if nip[14] not in "12":
        return BAD_SEX_DIGIT
    if nip[15:18] == "000":
        return BAD_SEQUENCE
    return None
