"""What every part of the service shares about reaching its rows: who sees which (the one rule
of `simpul.shared.visibility`, and 404 for the rest), the ids and tracking codes it hands out,
the file names it keeps, and the texts of answers given everywhere."""

from __future__ import annotations

import re
import secrets
import time
import unicodedata
import uuid
from typing import Any

from sqlalchemy import Select

from simpul.shared.identity import Identity
from simpul.shared.problems import Problem, Text
from simpul.shared.visibility import Visibility
from simpul.submissions.store import LOCKED_VISIBLE, VISIBLE, Executor

# 30 symbols without 0/O, 1/I/L and U (read as V): 12 of them carry 58.9 bits of randomness.
TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
TRACKING_LENGTH = 12

NOT_FOUND = Text("Permohonan tidak ditemukan.", "There is no such submission.")
SUBMISSION_NOT_FOUND = "submission-not-found"
NO_TENANT = Text("Klien ini tidak terikat pada wilayah mana pun.", "This client is not bound to any region.")
BAD_FILTER = Text("Filter tidak valid.", "Invalid filter.")
UNKNOWN_STATUS = Text("status tidak dikenal", "is not a known status")


async def first_or_404(
    session: Executor, query: Select, text: Text, slug: str, parameters: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The first row `query` finds, or 404: a row outside the caller's tenant or unit looks
    exactly like one that does not exist."""
    row = (await session.execute(query, parameters)).mappings().first()
    if row is None:
        raise Problem(404, text, slug=slug)
    return dict(row)


async def visible_submission(
    session: Executor, identity: Identity, submission_id: str, *, lock: bool = False
) -> dict[str, Any]:
    """The submission as `identity` may see it (`Visibility`), or 404; with `lock`, read with
    the row's write lock for the rest of the transaction."""
    visibility = Visibility.of(identity)
    if visibility.nothing:
        raise Problem(404, NOT_FOUND, slug=SUBMISSION_NOT_FOUND)
    query = (LOCKED_VISIBLE if lock else VISIBLE)[visibility.key]
    parameters = {"submission_id": submission_id, "scope_value": visibility.value}
    return await first_or_404(session, query, NOT_FOUND, SUBMISSION_NOT_FOUND, parameters)


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
