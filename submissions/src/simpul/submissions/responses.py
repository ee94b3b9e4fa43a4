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
from simpul.shared.openapi import file_answer
from simpul.shared.problems import request_language
from simpul.submissions.uploads import Incoming

PROBLEM = {"content": {"application/problem+json": {}}}
# The answers of a route that sends a stored file.
# 410: the file was deleted when the personal data retention period ended.
# The route takes `response_class=Response`: the file's own media type, never JSON.
FILE_RESPONSES = {200: file_answer("application/octet-stream", "The file, with the media type it was uploaded as"),
                  404: PROBLEM, 410: PROBLEM}


def roles(*allowed: str):
    """A dependency admitting callers with one of `allowed` roles (401 anonymous, else 403)."""
    check = require_roles(*allowed)

    # An async dependency runs on the event loop; a plain function would cost a thread hop per call.
    async def dependency(request: Request) -> Identity:
        return check(request)

    dependency.simpul_roles = allowed
    return dependency


def statuses(status: list[str] | None) -> list[str]:
    """The states a list is filtered by: `?status=a&status=b` or `?status=a,b`."""
    return [s.strip() for value in status or [] for s in value.split(",") if s.strip()]


def incoming_file(request: Request) -> Incoming:
    """An upload route's body as its use case reads it (a body declared too large is refused
    before it is read)."""
    raw = request.headers.get("content-length")
    return Incoming(
        stream=request.stream(),
        content_type=request.headers.get("content-type"),
        content_length=int(raw) if raw and raw.isdigit() else None,
        language=request_language(request),
    )


def json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Pre-serialised: orjson writes datetimes as RFC 3339 with offset.
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def download(content: AsyncIterator[bytes], stored: dict[str, Any], fallback_name: str) -> Response:
    """A stored file (its row: content_type, size, sha256, filename) as an attachment, never
    sniffed into something else by the browser; `fallback_name` when the client gave no name."""
    filename = quote(stored["filename"] or fallback_name, safe="")
    return StreamingResponse(
        content,
        media_type=stored["content_type"],
        headers={
            "Content-Length": str(stored["size"]),
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
            "ETag": f'"{stored["sha256"]}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
