"""A bound on request bodies that routes parse whole (JSON, forms): 413 before they cost memory.

Without it a 99 MB JSON body is read, decoded and validated in memory (three at once took a
process from 155 MB to 1 GB). Routes that stream files (uploads) are named by the app and keep
their own, larger bounds; internal routes are called only by the other services.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simpul.shared.problems import Text, negotiate_language, problem_response

TOO_LARGE = Text("Isi permintaan melebihi {limit} byte.", "The request body is larger than {limit} bytes.")
INTERNAL_PREFIX = "/internal/"


class BodyLimitMiddleware:
    """A body declared (Content-Length) over `limit` is refused at once, unread; a chunked one is
    read up to `limit` and refused as soon as it passes it, or else replayed to the route."""

    def __init__(self, app: ASGIApp, *, limit: int, streaming_paths: Iterable[str] = (),
                 default_language: str = "id") -> None:
        self.app = app
        self.limit = limit
        self.streaming = [compile_path(path)[0] for path in streaming_paths]
        self.default_language = default_language

    def bounded(self, path: str) -> bool:
        return not path.startswith(INTERNAL_PREFIX) and not any(regex.match(path) for regex in self.streaming)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.bounded(scope["path"]):
            await self.app(scope, receive, send)
            return
        declared = chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.limit:
                    await self._refuse(scope, receive, send)
                    return
                declared = True
            elif name == b"transfer-encoding":
                chunked = True
        if declared or not chunked:
            # The server holds the body to its declared length: nothing more can arrive.
            await self.app(scope, receive, send)
            return
        bounded = await bounded_body(receive, self.limit)
        if bounded is None:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, bounded, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        language_header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"accept-language"), None)
        language = negotiate_language(language_header, self.default_language)
        response = problem_response(413, TOO_LARGE.render(language, limit=self.limit), language)
        await response(scope, receive, send)


async def bounded_body(receive: Receive, limit: int) -> Receive | None:
    """A chunked body read whole, replayed to the app through the Receive returned; None as soon
    as it passes `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return replaying(b"".join(chunks), receive)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A Receive that hands out `body` whole, then whatever the connection says next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
