"""Billing codes: 15 digits as SIMPONI's kode billing, 14 random and a Luhn check digit.

Random (not a sequence), so a code tells nothing about the next; the check digit catches a
mistyped digit and most swapped neighbours before the database is asked.
"""

from __future__ import annotations

import secrets

CODE_LENGTH = 15


def luhn_digit(payload: str) -> str:
    """The Luhn check digit for the digits of `payload`."""
    total = 0
    # From the right, every second digit (starting with the rightmost of the payload) is doubled.
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def new_bill_code() -> str:
    # The first digit is never 0, so a code read as a number keeps its 15 digits.
    payload = str(1 + secrets.randbelow(9)) + "".join(str(secrets.randbelow(10)) for _ in range(CODE_LENGTH - 2))
    return payload + luhn_digit(payload)


def normalise_bill_code(raw: str) -> str | None:
    """The code without the spaces and dashes people write it with, or None when it is not a
    well-formed billing code (length, digits, check digit)."""
    code = raw.replace(" ", "").replace("-", "")
    if len(code) != CODE_LENGTH or not code.isascii() or not code.isdigit():
        return None
    return code if luhn_digit(code[:-1]) == code[-1] else None
