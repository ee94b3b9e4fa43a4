"""Numbers, money, dates and times as Indonesians write them on paper: the issued documents and
the receipts print through these, so both read the same ("Rp 1.500.000", "3 Desember 2026 pukul
14.05 WIB", the year 2026 without a separator)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

# Western Indonesia Time, where the ministries sit: the one time zone documents state (no DST).
WIB = timezone(timedelta(hours=7), "WIB")
MONTHS_ID = (
    "Januari", "Februari", "Maret", "April", "Mei", "Juni",
    "Juli", "Agustus", "September", "Oktober", "November", "Desember",
)


def integer(value: int) -> str:
    """Thousands grouped by dots: 1.500.000."""
    return f"{value:,}".replace(",", ".")


def decimal(value: float) -> str:
    """Decimal comma, thousands by dots, at most two decimals: 1.234,5."""
    whole, _, fraction = f"{value:,.2f}".rstrip("0").rstrip(".").partition(".")
    whole = whole.replace(",", ".")
    return f"{whole},{fraction}" if fraction else whole


def rupiah(amount: int | float) -> str:
    return f"Rp {integer(round(amount))}"


def long_date(value: date) -> str:
    """3 Desember 2026."""
    return f"{value.day} {MONTHS_ID[value.month - 1]} {value.year}"


def long_datetime(value: datetime) -> str:
    """3 Desember 2026 pukul 14.05 WIB (an aware moment, shown in WIB)."""
    local = value.astimezone(WIB)
    return f"{long_date(local.date())} pukul {local:%H.%M} WIB"
