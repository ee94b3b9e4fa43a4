"""Keyset pagination over the integer `position` columns, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select

from simpul.shared.pagination import BAD_CURSOR, decode_cursor, encode_cursor
from simpul.shared.problems import Problem


def position_before(cursor: str) -> int:
    (position,) = decode_cursor(cursor, 1)
    if not isinstance(position, int) or isinstance(position, bool):
        raise Problem(400, BAD_CURSOR, slug="invalid-cursor", errors=[{"field": "cursor", "message": "invalid"}])
    return position


def newest_first(query: Select, position: ColumnElement[int], limit: int, cursor: str | None) -> Select:
    """A page of `query`, newest first, after the page `cursor` ends; one row more than `limit`
    is read, so `next_cursor` knows whether another page follows."""
    if cursor:
        query = query.where(position < position_before(cursor))
    return query.order_by(position.desc()).limit(limit + 1)


def next_cursor(rows: Sequence[Any], limit: int) -> str | None:
    """Rows were fetched with limit + 1: one more means another page."""
    return encode_cursor([rows[limit - 1].position]) if len(rows) > limit else None
