"""Opaque cursors for keyset pagination: `?limit=&cursor=` and `{"items", "next_cursor"}`."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel

from simpul.shared.openapi import page_examples
from simpul.shared.problems import Problem, Text

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

BAD_CURSOR = Text("Kursor tidak valid.", "The cursor is not valid.")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        # A page's example is a page of its item's example (Page[Webhook] of Webhook's).
        json_schema = handler(core_schema)
        arguments = cls.__pydantic_generic_metadata__.get("args", ())
        if arguments:
            handler.resolve_ref_schema(json_schema).update(page_examples(arguments[0]))
        return json_schema


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
        raise Problem(400, BAD_CURSOR, slug="invalid-cursor", errors=[{"field": "cursor", "message": "invalid"}]) from exc
    if not isinstance(values, list) or len(values) != length:
        raise Problem(400, BAD_CURSOR, slug="invalid-cursor", errors=[{"field": "cursor", "message": "invalid"}])
    return values


# async: a plain dependency would cost a thread-pool hop on every list request.
async def page_params(
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page (1-200)"),
    cursor: str | None = Query(None, max_length=512, description="next_cursor of the previous page"),
) -> tuple[int, str | None]:
    return limit, cursor
