"""What every part of the service shares about reaching its rows: who sees which (the one rule
of `simpul.shared.visibility`, and 404 for the rest), how lists are filtered and paged, the ids
and tracking codes it hands out, the file names it keeps, and the texts of answers given
everywhere."""

from __future__ import annotations

import re
import secrets
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, or_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.shared.identity import Identity
from simpul.shared.pagination import decode_cursor, encode_cursor
from simpul.shared.problems import Problem, Text
from simpul.shared.storage import BlobStore
from simpul.shared.visibility import Visibility
from simpul.submissions.calendar import WorkingCalendar
from simpul.submissions.catalog import CatalogClient
from simpul.submissions.store import LOCKED_VISIBLE, VISIBLE, Executor

if TYPE_CHECKING:  # reads.py uses this module's queries
    from simpul.submissions.reads import ReadLog

# 30 symbols without 0/O, 1/I/L and U (read as V): 12 of them carry 58.9 bits of randomness.
TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
TRACKING_LENGTH = 12

NOT_FOUND = Text("Permohonan tidak ditemukan.", "There is no such submission.")
SUBMISSION_NOT_FOUND = "submission-not-found"
NO_TENANT = Text("Klien ini tidak terikat pada wilayah mana pun.", "This client is not bound to any region.")
# A stored file deleted when the personal data retention period ended (410).
CONTENT_ERASED = Text(
    "Berkas ini telah dihapus setelah masa retensi data pribadi berakhir.",
    "This file was deleted when the personal data retention period ended.",
)
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


@dataclass(kw_only=True, eq=False)
class UseCases:
    """What the use cases of the service and its sub-domains work with, each built once by
    create_app: sessions that write and sessions that only read, the catalogue, the blob store,
    the working calendar and the clock."""

    sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]
    catalog: CatalogClient
    store: BlobStore
    calendar: WorkingCalendar
    clock: Callable[[], datetime]
    # Who read whose personal data (reads.py); only officers' and admins' reads are written.
    reads: ReadLog


def check_statuses(statuses: list[str], known: Iterable[str]) -> None:
    """422 unless each state a list is filtered by is one of `known`."""
    known = set(known)
    if any(s not in known for s in statuses):
        raise Problem(422, BAD_FILTER, errors=[{"field": "status", "message": UNKNOWN_STATUS.en}])


def by_overdue(query: Select, overdue_from: ColumnElement, overdue: bool | None, now: datetime) -> Select:
    """Only the rows past their deadline (`overdue`), only those on time (False), or all (None)."""
    if overdue is True:
        return query.where(overdue_from < now)
    if overdue is False:
        return query.where(or_(overdue_from.is_(None), overdue_from >= now))
    return query


def newest_first(query: Select, id_column: ColumnElement, limit: int, cursor: str | None) -> Select:
    """A page of `query` by UUIDv7 id, newest first, after the page `cursor` ends (`next_page`)."""
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        query = query.where(id_column < str(after))
    return query.order_by(id_column.desc()).limit(limit + 1)


def oldest_first(query: Select, id_column: ColumnElement, limit: int, cursor: str | None) -> Select:
    """A page of `query` by its ascending integer id (histories), after the page `cursor` ends."""
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        if not isinstance(after, int):
            raise Problem(400, BAD_FILTER, slug="invalid-cursor")
        query = query.where(id_column > after)
    return query.order_by(id_column).limit(limit + 1)


def next_page(rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """The page among `rows` (up to `limit + 1`, as read) and the cursor of the next, if any."""
    page = rows[:limit]
    return page, encode_cursor([page[-1]["id"]]) if len(rows) > limit else None


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
