"""Answers the gateway gives in plain ASGI, outside FastAPI: the front's refusals (401, 404, 413,
429) and the proxy's failures (502, 503, 504, 413) are the same problem+json as every service's."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Receive, Scope, Send

from simpul.shared.problems import Text, negotiate_language, problem_response


def request_header(scope: Scope, wanted: bytes) -> str | None:
    """The first value of a request header (`wanted` in lower case)."""
    for name, value in scope["headers"]:
        if name == wanted:
            return value.decode("latin-1")
    return None


async def send_problem(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    text: Text,
    default_language: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    params: dict | None = None,
    slug: str | None = None,
) -> int:
    """Sends a problem document in the language the client asks for, with `headers` added;
    returns `status`, for the caller's metrics."""
    language = negotiate_language(request_header(scope, b"accept-language"), default_language)
    response = problem_response(status, text.render(language, **(params or {})), language, slug=slug)
    response.raw_headers.extend(headers)
    await response(scope, receive, send)
    return status
