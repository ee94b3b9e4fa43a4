"""RFC 9457 problem+json errors, in Indonesian or English, never leaking internals."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simpul.shared.logs import security_event
from simpul.shared.requestid import current_request_id

log = logging.getLogger("simpul.problems")

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:simpul:problem:"

LANGUAGES = ("id", "en")


@dataclass(frozen=True)
class Text:
    """A human-readable message in both languages of the API."""

    id: str
    en: str

    def render(self, language: str, **params: Any) -> str:
        template = self.en if language == "en" else self.id
        return template.format(**params) if params else template


TITLES: dict[int, Text] = {
    400: Text("Permintaan tidak valid", "Bad request"),
    401: Text("Tidak terautentikasi", "Unauthenticated"),
    403: Text("Tidak diizinkan", "Forbidden"),
    404: Text("Tidak ditemukan", "Not found"),
    405: Text("Metode tidak diizinkan", "Method not allowed"),
    406: Text("Format tidak tersedia", "Not acceptable"),
    409: Text("Konflik", "Conflict"),
    410: Text("Tidak tersedia lagi", "Gone"),
    413: Text("Isi terlalu besar", "Content too large"),
    415: Text("Jenis isi tidak didukung", "Unsupported media type"),
    422: Text("Data tidak valid", "Unprocessable content"),
    428: Text("Prasyarat diperlukan", "Precondition required"),
    429: Text("Terlalu banyak permintaan", "Too many requests"),
    431: Text("Kepala permintaan terlalu besar", "Request header fields too large"),
    500: Text("Kesalahan internal", "Internal server error"),
    502: Text("Layanan hulu gagal", "Bad gateway"),
    503: Text("Layanan tidak tersedia", "Service unavailable"),
    504: Text("Layanan hulu tidak menjawab tepat waktu", "Gateway timeout"),
}

DEFAULT_SLUGS: dict[int, str] = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    410: "gone",
    413: "content-too-large",
    415: "unsupported-media-type",
    422: "validation-failed",
    428: "precondition-required",
    429: "rate-limited",
    500: "internal-error",
    502: "bad-gateway",
    503: "service-unavailable",
    504: "gateway-timeout",
}

GENERIC_DETAIL = Text("Terjadi kesalahan pada server.", "Something went wrong on the server.")
UNSTORABLE_TEXT = Text(
    "Permintaan memuat karakter yang tidak dapat disimpan (misalnya NUL, U+0000).",
    "The request holds a character that cannot be stored (such as NUL, U+0000).",
)
# SQLSTATEs of text the database cannot hold (PostgreSQL refuses NUL in text, and in jsonb);
# SQLite stores it, so without this the same request would pass on one backend and fail on the other.
UNSTORABLE_SQLSTATES = frozenset({"22021", "22P05"})


class Problem(Exception):
    """Raise anywhere below a route to answer with problem+json."""

    def __init__(
        self,
        status: int,
        detail: Text | str,
        *,
        slug: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail if isinstance(detail, str) else detail.en)
        self.status = status
        self.detail = detail
        self.slug = slug or DEFAULT_SLUGS.get(status, "error")
        self.errors = errors
        self.headers = headers or {}
        self.params = params or {}
        self.extra = extra


def negotiate_language(accept_language: str | None, default: str = "id") -> str:
    """The first of `id` / `en` the client names in Accept-Language (q-values honoured)."""
    if not accept_language:
        return default
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for parameter in pieces[1:]:
            name, _, value = parameter.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.split("-")[0]
        if primary in LANGUAGES and quality > 0:
            choices.append((-quality, position, primary))
    return min(choices)[2] if choices else default


def request_language(request: Request) -> str:
    default = getattr(request.app.state, "default_language", "id")
    return negotiate_language(request.headers.get("accept-language"), default)


def problem_body(
    status: int,
    detail: str,
    language: str,
    *,
    slug: str | None = None,
    errors: list[dict[str, str]] | None = None,
    instance: str | None = None,
    **extra: Any,
) -> bytes:
    title = TITLES.get(status, Text("Kesalahan", "Error")).render(language)
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + (slug or DEFAULT_SLUGS.get(status, "error")),
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": current_request_id(),
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return orjson.dumps(body)


def problem_response(
    status: int,
    detail: str,
    language: str,
    *,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Response:
    return Response(
        problem_body(status, detail, language, **kwargs),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


VALIDATION_MESSAGES_ID = {
    "missing": "wajib diisi",
    "extra_forbidden": "field tidak dikenal",
    "string_type": "harus berupa teks",
    "int_type": "harus berupa bilangan bulat",
    "int_parsing": "harus berupa bilangan bulat",
    "bool_type": "harus berupa boolean",
    "list_type": "harus berupa daftar",
    "dict_type": "harus berupa objek",
    "model_type": "harus berupa objek",
    "string_too_short": "terlalu pendek",
    "string_too_long": "terlalu panjang",
    "too_short": "terlalu sedikit butir",
    "too_long": "terlalu banyak butir",
    "greater_than_equal": "terlalu kecil",
    "greater_than": "terlalu kecil",
    "less_than_equal": "terlalu besar",
    "less_than": "terlalu besar",
    "string_pattern_mismatch": "formatnya tidak sesuai",
    "literal_error": "nilainya tidak diizinkan",
    "enum": "nilainya tidak diizinkan",
    "value_error": "nilainya tidak valid",
    "control_character": "memuat karakter kendali yang tidak diizinkan (misalnya NUL)",
}


def field_path(location: tuple[Any, ...] | list[Any]) -> str:
    parts = list(location)
    if parts and parts[0] in ("body", "query", "path", "header", "form"):
        parts = parts[1:]
    return ".".join(str(part) for part in parts) or "body"


def validation_errors(errors: list[dict[str, Any]], language: str) -> list[dict[str, str]]:
    result = []
    for error in errors:
        message = error.get("msg", "invalid")
        if language == "id":
            message = VALIDATION_MESSAGES_ID.get(error.get("type", ""), message)
        field = field_path(error.get("loc", ()))
        # Free-form JSON (simpul.shared.text.PlainJson) names where inside the field it failed.
        inner = (error.get("ctx") or {}).get("path")
        if inner:
            field = f"{field}.{inner}" if field != "body" else inner
        result.append({"field": field, "message": message})
    return result


class ErrorBoundaryMiddleware:
    """Turns a crash into a bare 500 problem (the cause goes to the log only)."""

    def __init__(self, app: ASGIApp, default_language: str = "id") -> None:
        self.app = app
        self.default_language = default_language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            # The caller went away mid-body: nobody to answer and nothing broken, so no traceback.
            log.info("client disconnected on %s %s (request %s)", scope["method"], scope["path"], current_request_id())
        except Exception:
            log.exception("unhandled error on %s %s (request %s)", scope["method"], scope["path"], current_request_id())
            if started:
                raise
            language_header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"accept-language"), None)
            language = negotiate_language(language_header, self.default_language)
            await problem_response(500, GENERIC_DETAIL.render(language), language)(scope, receive, send)


# Answers that refuse a caller, by the security event they make.
REFUSALS = {401: "unauthenticated", 403: "forbidden"}


def install_problem_handlers(app: FastAPI) -> None:
    """Every error a FastAPI app can produce becomes problem+json."""

    async def on_problem(request: Request, exc: Problem) -> Response:
        language = request_language(request)
        detail = exc.detail if isinstance(exc.detail, str) else exc.detail.render(language, **exc.params)
        if exc.status in REFUSALS:
            # The rule in English; a refusal's text names roles and states, never a person.
            rule = exc.detail if isinstance(exc.detail, str) else exc.detail.render("en", **exc.params)
            security_event(REFUSALS[exc.status], exc.slug, request.scope, rule=rule)
        return problem_response(
            exc.status,
            detail,
            language,
            slug=exc.slug,
            errors=exc.errors,
            headers=exc.headers,
            **exc.extra,
        )

    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        language = request_language(request)
        raw = exc.errors()
        if any(error.get("type") == "json_invalid" for error in raw):
            return problem_response(
                400,
                Text("Isi permintaan bukan JSON yang sah.", "The request body is not valid JSON.").render(language),
                language,
                slug="malformed-json",
            )
        return problem_response(
            422,
            Text("Data permintaan tidak valid.", "The request data is not valid.").render(language),
            language,
            errors=validation_errors(raw, language),
        )

    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        language = request_language(request)
        if exc.status_code == 404:
            detail = Text("Alamat ini tidak ada.", "There is nothing at this address.").render(language)
        elif exc.status_code == 405:
            detail = Text("Metode ini tidak didukung di alamat ini.", "This method is not supported here.").render(
                language
            )
        else:
            detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, GENERIC_DETAIL).en
        return problem_response(exc.status_code, detail, language, headers=getattr(exc, "headers", None))

    async def on_database(request: Request, exc: DBAPIError) -> Response:
        if getattr(exc.orig, "sqlstate", None) not in UNSTORABLE_SQLSTATES:
            raise exc  # a fault of ours: the error boundary answers 500 and logs it
        language = request_language(request)
        return problem_response(400, UNSTORABLE_TEXT.render(language), language, slug="unstorable-character")

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(DBAPIError, on_database)
    app.add_exception_handler(StarletteHTTPException, on_http)
    # Innermost user middleware: it sees route crashes while the request id is still known.
    app.add_middleware(ErrorBoundaryMiddleware, default_language=getattr(app.state, "default_language", "id"))
