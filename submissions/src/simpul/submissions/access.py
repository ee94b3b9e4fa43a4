"""What every part of the service shares about reaching its rows: who sees which, the ids and
tracking codes it hands out, the file names it keeps, and the texts of answers given everywhere."""

from __future__ import annotations

import re
import secrets
import time
import unicodedata
import uuid
from typing import Any

from sqlalchemy import Table, false

from simpul.shared.identity import Identity
from simpul.shared.problems import Text

# 30 symbols without 0/O, 1/I/L and U (read as V): 12 of them carry 58.9 bits of randomness.
TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
TRACKING_LENGTH = 12

NOT_FOUND = Text("Permohonan tidak ditemukan.", "There is no such submission.")
NO_TENANT = Text("Klien ini tidak terikat pada wilayah mana pun.", "This client is not bound to any region.")
BAD_FILTER = Text("Filter tidak valid.", "Invalid filter.")
UNKNOWN_STATUS = Text("status tidak dikenal", "is not a known status")


def tenant_scope(identity: Identity, table: Table):
    """The rows of `table` (submissions, complaints: both carry `tenant` and `unit`) that
    `identity` may see: its region's (applicant), its unit's (officer), all (admin: None)."""
    if identity.role == "admin":
        return None
    if identity.tenant is None:
        return false()
    if identity.role == "applicant":
        return table.c.tenant == identity.tenant
    if identity.role == "officer":
        return table.c.unit == identity.tenant
    return false()


def visible_to(identity: Identity, row: dict[str, Any]) -> bool:
    """Whether `identity` may see the submission `row`: the rule of `VISIBLE_TO` and `tenant_scope`."""
    if identity.role == "admin":
        return True
    if identity.tenant is None:
        return False
    if identity.role == "applicant":
        return row["tenant"] == identity.tenant
    if identity.role == "officer":
        return row["unit"] == identity.tenant
    return False


def new_id() -> str:
    """A UUIDv7: 48 bits of Unix milliseconds, then randomness, so ids sort by creation time."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))


def new_tracking_code() -> str:
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_LENGTH))


def normalise_tracking_code(raw: str) -> str | None:
    """People type codes with spaces, dashes or in lower case; anything else is not a code."""
    code = re.sub(r"[\s\-]", "", raw).upper()
    if len(code) != TRACKING_LENGTH or any(c not in TRACKING_ALPHABET for c in code):
        return None
    return code


def safe_filename(name: str | None) -> str | None:
    """The client's file name without any path, control characters or excess length."""
    if not name:
        return None
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C")
    return name.strip()[:255] or None
