"""What the routes of the submissions service answer with, who they let in, and what they read
from the request itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import Request
from starlette.responses import Response, StreamingResponse

from simpul.shared.identity import Identity, require_roles


def roles(*allowed: str):
    """A dependency admitting callers with one of `allowed` roles (401 anonymous, else 403)."""
    check = require_roles(*allowed)

    # An async dependency runs on the event loop; a plain function would cost a thread hop per call.
    async def dependency(request: Request) -> Identity:
        return check(request)

    return dependency


def content_length(request: Request) -> int | None:
    """The declared body size, when it is one plain number (an upload too large is refused
    before it is read)."""
    raw = request.headers.get("content-length")
    return int(raw) if raw and raw.isdigit() else None


def json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Pre-serialised: orjson writes datetimes as RFC 3339 with offset.
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def download(content: AsyncIterator[bytes], *, media_type: str, size: int, sha256: str, filename: str) -> Response:
    """A stored file as an attachment, never sniffed into something else by the browser."""
    return StreamingResponse(
        content,
        media_type=media_type,
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
            "ETag": f'"{sha256}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
