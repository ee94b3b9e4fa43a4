"""The gateway's part of the Open311 GeoReport v2 facade (`/open311/v2/`, answered by the
submissions service; docs/open-standards.md).

- `api_key`: GeoReport v2 clients send their key as a parameter (a form field of the POST, a
  query parameter of the GETs), not in a header. Here the key is an access token from
  `POST /v1/oauth/token` (never the client's secret), so it is short-lived, revocable and checked
  like any bearer token. `with_api_key_as_bearer` moves it into `Authorization` and takes it out
  of the query and the body before anything else sees the request: the service never receives
  it, and the access log, which never writes query strings, never could.
- Errors: GeoReport v2 answers errors as `[{"code", "description"}]` with the HTTP status.
  `Open311Errors` renders every problem+json answer on these paths that way, whoever gave it
  (the gateway's refusals, the proxy's failures, the service's problems), so the facade has one
  error format.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.types import Message, Receive, Scope, Send

from simpul.shared.bodylimit import bounded_body, replaying
from simpul.shared.problems import PROBLEM_CONTENT_TYPE

API_KEY = "api_key"
FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = b"application/json"


class BodyTooLarge(Exception):
    """The form body passed the bound the gateway reads small bodies to."""


async def with_api_key_as_bearer(scope: Scope, receive: Receive, body_limit: int) -> tuple[Scope, Receive]:
    """The request with its `api_key` (query, or urlencoded form body) moved into an
    `Authorization: Bearer` header; unchanged without one. `scope` is changed in place (the
    middleware outside reads the same one). BodyTooLarge past `body_limit`."""
    key: str | None = None
    query = _parameters(scope.get("query_string", b""))
    if any(name == API_KEY for name, _ in query):
        key = next(value for name, value in query if name == API_KEY)
        scope["query_string"] = _encoded([(n, v) for n, v in query if n != API_KEY])
    if scope["method"] == "POST" and _content_type(scope) == FORM_TYPE:
        bounded = await bounded_body(receive, body_limit)
        if bounded is None:
            raise BodyTooLarge
        body = (await bounded()).get("body", b"")
        fields = _parameters(body)
        if any(name == API_KEY for name, _ in fields):
            key = next(value for name, value in fields if name == API_KEY)
            body = _encoded([(n, v) for n, v in fields if n != API_KEY])
        scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"content-length"] + [
            (b"content-length", str(len(body)).encode())]
        receive = replaying(body, receive)
    if key is not None:
        headers = [(n, v) for n, v in scope["headers"] if n != b"authorization"]
        scope["headers"] = [*headers, (b"authorization", b"Bearer " + key.strip().encode("latin-1"))]
    return scope, receive


def _parameters(encoded: bytes) -> list[tuple[str, str]]:
    # Latin-1 both ways maps each byte to one character and back: the other parameters reach the
    # service byte for byte as the client encoded them (UTF-8 or not).
    return parse_qsl(encoded.decode("latin-1"), keep_blank_values=True, encoding="latin-1")


def _encoded(parameters: list[tuple[str, str]]) -> bytes:
    return urlencode(parameters, encoding="latin-1").encode("ascii")


def _content_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.decode("latin-1").partition(";")[0].strip().lower()
    return ""


def georeport_errors(status: int, problem: bytes) -> bytes:
    """A problem document as GeoReport v2's error list: one entry per invalid field, else one."""
    try:
        document = orjson.loads(problem)
    except orjson.JSONDecodeError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    fields = document.get("errors") or []
    if fields:
        entries = [{"code": status, "description": f"{error.get('field')}: {error.get('message')}"} for error in fields]
    else:
        entries = [{"code": status, "description": document.get("detail") or document.get("title") or str(status)}]
    return orjson.dumps(entries)


class Open311Errors:
    """`send` for a request under /open311/v2/: a problem+json answer is held and sent as
    GeoReport v2's error list with the same status and headers; any other answer passes as is."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if any(name.lower() == b"content-type" and value.startswith(PROBLEM_CONTENT_TYPE.encode())
                   for name, value in message.get("headers", [])):
                self.start = message
                return
        elif message["type"] == "http.response.body" and self.start is not None:
            self.chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            start, self.start = self.start, None
            body = georeport_errors(start["status"], b"".join(self.chunks))
            headers = [(name, value) for name, value in start.get("headers", [])
                       if name.lower() not in (b"content-type", b"content-length")]
            headers += [(b"content-type", JSON_TYPE), (b"content-length", str(len(body)).encode())]
            await self.send({**start, "headers": headers})
            await self.send({"type": "http.response.body", "body": body})
            return
        await self.send(message)
