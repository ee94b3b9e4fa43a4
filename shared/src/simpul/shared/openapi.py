"""The OpenAPI conventions every Simpul app's document keeps, in one place: the one `Problem`
schema (RFC 9457 with `errors`) behind every 4xx/5xx answer, the headers every service honours
(Accept-Language; Idempotency-Key on POSTs where the idempotency middleware runs), readable
lowerCamelCase operationIds, and per-operation security.

Routes declare what is theirs (summary, docstring as description, tags, their own error answers
with `problems(...)`, media types, examples on the models); `document_conventions(app)` adds what
the app's middleware and handlers do to every operation, so each service's own /openapi.json is
complete and the gateway only merges."""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel

from simpul.shared.problems import PROBLEM_CONTENT_TYPE

PROBLEM_REF = "#/components/schemas/Problem"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details. `detail` is in the language Accept-Language chose (id or en); "
    "`errors` names each invalid field; `request_id` is the X-Request-ID of the answer.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "urn:simpul:problem:<slug>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    # Some problems carry more members (RFC 9457 §3.2), e.g. RFC 6749's `error` on the token endpoint.
    "additionalProperties": True,
    "examples": [{
        "type": "urn:simpul:problem:validation-failed",
        "title": "Unprocessable content",
        "status": 422,
        "detail": "The request data is not valid.",
        "request_id": "0f9c2a3e6b7d4e21",
        "errors": [{"field": "applicant.email", "message": "value is not a valid email address"}],
    }],
}

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request (JSON, cursor or Idempotency-Key)",
    401: "An access token is required, or it is not valid any more",
    403: "The caller's role or tenant may not do this",
    404: "No such object (or not visible to the caller)",
    406: "None of the media types in Accept can be served",
    409: "The object's state does not allow this, or the Idempotency-Key was used with another body",
    410: "Gone",
    413: "The request body is too large",
    415: "Unsupported media type",
    422: "Invalid input; `errors` names each field",
    428: "A precondition header is required",
    429: "Over the rate limit; see Retry-After",
    500: "Something went wrong on the server (the request id is in the answer)",
    502: "An upstream service gave a broken answer",
    503: "A service this needs is unavailable",
    504: "An upstream service did not answer in time",
}

# `openapi_extra=` of a public route that shows more to a caller with a token (admins see drafts).
OPTIONAL_TOKEN: dict[str, Any] = {"security": [{}, {"bearerAuth": []}]}


def header_parameter(name: str, description: str, example: str, **schema: Any) -> dict[str, Any]:
    """An optional request header, for an operation's `parameters`."""
    return {"name": name, "in": "header", "required": False, "description": description,
            "schema": {"type": "string", **schema, "examples": [example]}}


ACCEPT_LANGUAGE_PARAMETER = header_parameter(
    "Accept-Language", "id (the default) or en: the language of problem details and of pages", "en")
IDEMPOTENCY_KEY_PARAMETER = header_parameter(
    "Idempotency-Key", "Any unique string (a UUID): a retry with the same key and body answers as the first call "
    "did, without a second effect; the same key with another body is 409.",
    "5f0c8a55-3a42-4f69-9a34-2c1d3e9c7b10", maxLength=255)
IF_NONE_MATCH_PARAMETER = header_parameter(
    "If-None-Match", "The ETag of a copy the caller holds: 304 Not Modified while it is current", '"3f2a9c1e"')
LOCATION_HEADER: dict[str, Any] = {
    "Location": {"description": "Where the created object is", "schema": {"type": "string"}},
}
ETAG_HEADER: dict[str, Any] = {
    "ETag": {"description": "The representation's version; send it back in If-None-Match", "schema": {"type": "string"}},
}


def problem(description: str | None = None, status: int | None = None) -> dict[str, Any]:
    """An OpenAPI response entry for a problem+json answer (for a route's `responses=`)."""
    text = description or ERROR_DESCRIPTIONS.get(status or 0, "Error")
    return {"description": text, "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_REF}}}}


def problems(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries: `problems(404, 409)` with the usual words, or
    `problems(s404="No such service")` with a route's own."""
    entries: dict[int | str, dict[str, Any]] = {status: problem(status=status) for status in statuses}
    for key, description in described.items():
        entries[int(key.removeprefix("s"))] = problem(description)
    return entries


def lower_camel(name: str) -> str:
    head, *rest = [part for part in re.split(r"[^0-9A-Za-z]+", name) if part]
    return head[:1].lower() + head[1:] + "".join(part[:1].upper() + part[1:] for part in rest)


def operation_id(route: Any) -> str:
    """FastAPI's `generate_unique_id_function`: the route function's name, lowerCamelCase
    (`create_submission` -> `createSubmission`); an explicit `operation_id=` wins."""
    return lower_camel(route.name)


def document_conventions(app: Any, *, idempotent_posts: bool) -> None:
    """Make `app.openapi()` say what the app's middleware and handlers do on every operation:
    4xx/5xx answers are the `Problem` schema (FastAPI's HTTPValidationError is never what is
    answered), 422 wherever there is input, 401/403 where roles are required, 500 anywhere;
    Accept-Language everywhere; Idempotency-Key on every POST when `idempotent_posts`."""
    plain = app.openapi
    finished: list[dict[str, Any]] = []  # FastAPI keeps the document it made: finished once

    def openapi() -> dict[str, Any]:
        document = plain()
        if finished and finished[0] is document:
            return document
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        _restore_examples(schemas, app.routes)
        for item in document.get("paths", {}).values():
            for method, operation in item.items():
                if isinstance(operation, dict):
                    _conventions(operation, idempotent=idempotent_posts and method == "post")
        for fastapi_own in ("HTTPValidationError", "ValidationError"):
            schemas.pop(fastapi_own, None)
        schemas["Problem"] = PROBLEM_SCHEMA
        finished[:] = [document]
        return document

    app.openapi = openapi


def _restore_examples(schemas: dict[str, Any], routes: list[Any]) -> None:
    """FastAPI writes the document with `exclude_none`, which drops every `null` from the models'
    examples (and with it required nullable fields): put each model's own examples back."""
    for name, model in _models(routes).items():
        if "examples" in schemas.get(name, {}):
            schemas[name]["examples"] = model.model_json_schema().get("examples", schemas[name]["examples"])


def _models(routes: list[Any]) -> dict[str, type[BaseModel]]:
    """Every pydantic model the routes take or answer with, nested ones included, by the name of
    its component schema."""
    # Included routers are flattened the way FastAPI's own document generator does it.
    from fastapi.routing import APIRoute, iter_route_contexts  # noqa: PLC0415 - only when the document is made

    found: dict[str, type[BaseModel]] = {}

    def visit(annotation: Any) -> None:
        for argument in typing.get_args(annotation):
            visit(argument)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            name = re.sub(r"\W", "_", annotation.__name__)
            if name not in found:
                found[name] = annotation
                for field in annotation.model_fields.values():
                    visit(field.annotation)

    for context in iter_route_contexts(routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        for parameter in route.dependant.body_params:
            visit(parameter.field_info.annotation)
        visit(route.response_model)
        for answer in route.responses.values():
            visit(answer.get("model"))
    return found


def _conventions(operation: dict[str, Any], *, idempotent: bool) -> None:
    responses = operation.setdefault("responses", {})
    has_input = bool(operation.get("parameters")) or "requestBody" in operation
    # Roles named: a caller without a token is refused (401), one of another role too (403).
    restricted = any(roles for requirement in operation.get("security", []) for roles in requirement.values())
    implied = [500]
    if has_input:
        implied.append(422)
    if restricted:
        implied += [401, 403]
    for status in implied:
        responses.setdefault(str(status), problem(status=status))
    if "201" in responses:
        # Every create answers where the new object is (and an idempotent replay answers the same).
        responses["201"].setdefault("headers", {}).update(LOCATION_HEADER)
    for status, response in responses.items():
        if status[:1] in ("4", "5") and _answers_problem(response.get("content", {})):
            response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
    parameters = operation.setdefault("parameters", [])
    names = {parameter.get("name", "").lower() for parameter in parameters}
    if "accept-language" not in names:
        parameters.append(ACCEPT_LANGUAGE_PARAMETER)
    if idempotent and "idempotency-key" not in names:
        parameters.append(IDEMPOTENCY_KEY_PARAMETER)


def _answers_problem(content: dict[str, Any]) -> bool:
    """Whether an error answer is the usual problem: none declared (FastAPI's default JSON or its
    HTTPValidationError, which the handlers never send), or a problem+json of its own words. A
    problem extended with members of its own (allOf over Problem), or an error format a standard
    fixes (declared under another media type), stays as declared."""
    schema = content.get(PROBLEM_CONTENT_TYPE, {}).get("schema", {})
    if "allOf" in schema:
        return False
    others = {media_type: media for media_type, media in content.items() if media_type != PROBLEM_CONTENT_TYPE}
    return all(not media.get("schema") or media["schema"].get("$ref", "").endswith("/HTTPValidationError")
               for media in others.values())


def file_answer(media_type: str, description: str) -> dict[str, Any]:
    """A `responses=` entry for bytes that are not JSON (a PDF, a certificate, an upload): with
    `response_class=Response` on the route, generators hand it out as a file, not parsed JSON."""
    return {"description": description, "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}


def text_answer(media_type: str, example: str) -> dict[str, Any]:
    """A `responses=` content entry for text another media type of the same route answers (CSV, HTML)."""
    return {media_type: {"schema": {"type": "string"}, "example": example}}


def upload_body(description: str, **fields: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra=` of a route that reads its multipart/form-data body itself (streamed and
    bounded, so FastAPI does not see it): a `file` part and the text parts `fields`, each a JSON
    schema with `examples`."""
    properties = {**fields, "file": {"type": "string", "format": "binary", "description": description}}
    example = {name: field["examples"][0] for name, field in fields.items()}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": [*fields, "file"], "properties": properties},
        "example": {**example, "file": "(the file's bytes)"},
    }}}}


def json_answer(model: type, description: str, *, html: bool = False) -> dict[str, Any]:
    """A `responses=` entry documenting the JSON a route writes itself (it returns a Response, so
    FastAPI does not know the model); `html`: browsers get a page at the same URL (Accept: text/html)."""
    entry: dict[str, Any] = {"model": model, "description": description}
    if html:
        entry["content"] = {"text/html": {"schema": {"type": "string"}}}
    return entry


NEXT_CURSOR_EXAMPLE = "WyIyMDI2LTAzLTAyVDA4OjE1OjAwKzAwOjAwIiwgMTIzXQ"


def model_examples(model: type) -> list[Any]:
    """The `examples` a model declares in its json_schema_extra (an empty list when none)."""
    extra = model.model_config.get("json_schema_extra") if hasattr(model, "model_config") else None
    return list(extra.get("examples", [])) if isinstance(extra, dict) else []


def page_examples(item: type) -> dict[str, Any]:
    """json_schema_extra of a page of `item`s: its example is a page of the item's example."""
    return {"examples": [{"items": model_examples(item)[:1], "next_cursor": NEXT_CURSOR_EXAMPLE}]}
