"""When a closed submission's personal data is due for erasure, and what replaces it. No I/O."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from simpul.submissions.statemachine import TERMINAL, Status

# The states after which nothing more happens to a submission: its retention period runs from there.
CLOSED_STATES = tuple(sorted(status.value for status in TERMINAL))
# A reserved top-level domain (RFC 2606): a pseudonymous address is never delivered anywhere.
PSEUDONYM_DOMAIN = "erased.invalid"


def is_closed(status: str) -> bool:
    return Status(status) in TERMINAL


def retention_days(standard: dict[str, Any], default_days: int) -> int:
    """The standard's own period (frozen with the submission) or the service-wide default."""
    days = standard.get("personal_data_retention_days")
    return default_days if days is None else int(days)


def erase_after(closed_at: datetime, standard: dict[str, Any], default_days: int) -> datetime:
    return closed_at + timedelta(days=retention_days(standard, default_days))


def new_pseudonym() -> str:
    """Random, so nothing about the person can be recomputed from it."""
    return f"erased-{secrets.token_hex(8)}"


def pseudonymous_email(pseudonym: str) -> str:
    return f"{pseudonym}@{PSEUDONYM_DOMAIN}"


def pseudonymised_applicant(applicant: dict[str, Any] | None, pseudonym: str) -> dict[str, Any]:
    """Name and email become the pseudonym, phone and agency are dropped; the language the
    notices were written in is no personal data and keeps old views rendering."""
    return {
        "name": pseudonym,
        "email": pseudonymous_email(pseudonym),
        "phone": None,
        "agency": None,
        "language": (applicant or {}).get("language", "id"),
    }
