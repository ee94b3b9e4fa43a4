"""The contract's own lint: what a client generator and an API manager (SPLP's WSO2) need of the
aggregated OpenAPI document, beyond what the OpenAPI schema checks. Each finding names the
operation (method, path, operationId) or the schema and what is missing, so whoever adds a route
can fix it from the message alone (the pieces are in simpul.shared.openapi)."""

from __future__ import annotations

import re
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
OPERATION_ID = re.compile(r"^[a-z][a-zA-Z0-9]*$")
PROBLEM_REF = "#/components/schemas/Problem"
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema and schema["$ref"].startswith("#/"):
        target: Any = document
        for part in schema["$ref"][2:].split("/"):
            target = target.get(part, {})
        schema = target
    return schema


def _has_example(document: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or media.get("examples"):
        return True
    schema = media.get("schema", {})
    # An optional body (`Model | None`) is anyOf the model and null: the model's example serves.
    candidates = [schema, *schema.get("anyOf", ()), *schema.get("oneOf", ())]
    return any(
        "example" in found or found.get("examples")
        for found in (_resolve(document, candidate) for candidate in candidates)
    )


def _refers_to_problem(media: dict[str, Any]) -> bool:
    schema = media.get("schema", {})
    return schema.get("$ref") == PROBLEM_REF or any(part.get("$ref") == PROBLEM_REF for part in schema.get("allOf", ()))


def _main_response(responses: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    successes = sorted(status for status in responses if status.startswith("2"))
    return (successes[0], responses[successes[0]]) if successes else None


def operation_findings(document: dict[str, Any], path: str, method: str, operation: dict[str, Any]) -> list[str]:
    label = f"{method.upper()} {path} ({operation.get('operationId', 'no operationId')})"
    findings = []
    operation_id = operation.get("operationId")
    if not operation_id:
        findings.append(f"{label}: missing operationId (operation_id= in the route decorator)")
    elif not OPERATION_ID.match(operation_id):
        findings.append(f"{label}: operationId is not lowerCamelCase")
    for part in ("summary", "description"):
        if not str(operation.get(part, "")).strip():
            findings.append(f"{label}: missing {part} (summary= / the route function's docstring)")
    if not operation.get("tags"):
        findings.append(f"{label}: missing tags")
    known_tags = {tag["name"] for tag in document.get("tags", [])}
    findings += [
        f"{label}: tag {tag!r} is not in the document's top-level tags (gateway openapi.TAGS)"
        for tag in operation.get("tags", [])
        if tag not in known_tags
    ]
    if "security" not in operation:
        findings.append(f"{label}: security not declared (roles via require_roles, or [{{}}] for anonymous)")
    body = operation.get("requestBody")
    if body is not None:
        for media_type, media in body.get("content", {}).items():
            if not _has_example(document, media):
                findings.append(
                    f"{label}: request body {media_type} has no example "
                    "(json_schema_extra examples on the model, or openapi_extra)"
                )
    responses = operation.get("responses", {})
    main = _main_response(responses)
    if main is None:
        findings.append(f"{label}: no 2xx response")
    else:
        status, response = main
        for media_type, media in response.get("content", {}).items():
            if _is_json(media_type) and not _has_example(document, media):
                findings.append(
                    f"{label}: response {status} {media_type} has no example "
                    "(json_schema_extra examples on the response model)"
                )
            if not media.get("schema"):
                findings.append(f"{label}: response {status} {media_type} has no schema")
    if "201" in responses and "Location" not in responses["201"].get("headers", {}):
        findings.append(f"{label}: response 201 does not declare its Location header")
    errors = {status: response for status, response in responses.items() if status[:1] in ("4", "5")}
    if not errors:
        findings.append(f"{label}: no error response (simpul.shared.openapi.problems, document_conventions)")
    # An operation whose error body a standard fixes (Open311's `[{code, description}]`) names the
    # standard in `x-error-standard` (openapi_extra); its own errors then need a schema, not Problem.
    standard = operation.get("x-error-standard")
    for status, response in errors.items():
        content = response.get("content", {})
        if standard and content and all(media.get("schema") for media in content.values()):
            continue
        if set(content) != {"application/problem+json"} or not _refers_to_problem(content["application/problem+json"]):
            findings.append(f"{label}: error response {status} is not application/problem+json with the Problem schema"
                            + ("" if standard else " (an error format a standard fixes: name it in x-error-standard)"))
    return findings


def lint(document: dict[str, Any]) -> list[str]:
    """Every finding; none for a document generators and API managers can use as it is."""
    findings = []
    operation_ids: dict[str, str] = {}
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            findings += operation_findings(document, path, method, operation)
            operation_id = operation.get("operationId")
            if operation_id in operation_ids:
                findings.append(
                    f"{method.upper()} {path}: operationId {operation_id!r} is also {operation_ids[operation_id]}'s"
                )
            elif operation_id:
                operation_ids[operation_id] = f"{method.upper()} {path}"
    schemas = document.get("components", {}).get("schemas", {})
    titles: dict[str, str] = {}
    for name, schema in schemas.items():
        if name in FASTAPI_VALIDATION_SCHEMAS:
            findings.append(f"schema {name}: FastAPI's validation error, never answered (the Problem schema is)")
        title = schema.get("title", name)
        if title in titles:
            findings.append(f"schemas {titles[title]} and {name}: both titled {title!r} (rename one model)")
        titles[title] = name
        if re.sub(r"\W", "_", title) != name:
            findings.append(f"schema {name}: titled {title!r}, a name clash renamed it (rename one model)")
    findings += [
        f"remote $ref {ref!r}: the document must be one self-contained file"
        for ref in _refs(document)
        if not ref.startswith("#/")
    ]
    return findings


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [ref for item in value.values() for ref in _refs(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _refs(item)]
    return []
