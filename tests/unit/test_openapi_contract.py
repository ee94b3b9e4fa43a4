"""The aggregated OpenAPI document, built in-process from every service's app as the gateway
merges it: valid OpenAPI 3.1, and clean under the contract's lint (tests/support/openapi_lint.py:
operationIds, summaries, descriptions, tags, security, examples, Problem error answers, unique
schema names, no remote $ref). Every example a document carries validates against its schema."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from openapi_spec_validator import validate

from tests.support.openapi_document import aggregated_document, service_documents
from tests.support.openapi_lint import lint


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> dict:
    return aggregated_document(tmp_path_factory.mktemp("openapi"))


def test_the_aggregated_document_is_valid_openapi(document):
    validate(document)


def test_the_aggregated_document_passes_the_contract_lint(document):
    assert lint(document) == []


def test_each_service_document_is_complete_on_its_own(tmp_path):
    """The conventions are applied where the routes are: a service's own /openapi.json already has
    its Problem schema, readable operationIds and no FastAPI validation schemas."""
    for name, own in service_documents(tmp_path).items():
        schemas = own["components"]["schemas"]
        assert "Problem" in schemas and "HTTPValidationError" not in schemas, name
        for item in own["paths"].values():
            for operation in item.values():
                assert operation["operationId"][0].islower() and "_" not in operation["operationId"], name
                assert "security" in operation, (name, operation["operationId"])


def test_every_schema_example_is_valid_against_its_schema(document):
    schemas = document["components"]["schemas"]
    # Resolved against the whole document, so nested $refs to other components work.
    registry_document = {"components": {"schemas": schemas}}
    for name, schema in schemas.items():
        for example in schema.get("examples", []):
            resolver_schema = {**copy.deepcopy(schema), "components": registry_document["components"]}
            errors = [error.message for error in jsonschema.Draft202012Validator(resolver_schema).iter_errors(example)]
            assert errors == [], (name, errors)


@pytest.mark.parametrize(
    "finding, broken",
    [
        ("missing operationId", lambda operation: operation.pop("operationId")),
        ("missing description", lambda operation: operation.pop("description")),
        ("missing summary", lambda operation: operation.pop("summary")),
        (
            "has no example",
            lambda operation: operation["requestBody"]["content"]["application/json"].update(schema={"type": "object"}),
        ),
        (
            "no error response",
            lambda operation: [
                operation["responses"].pop(status) for status in list(operation["responses"]) if status[0] in "45"
            ],
        ),
        (
            "is not application/problem+json with the Problem schema",
            lambda operation: operation["responses"]["422"].update(
                content={"application/json": {"schema": {"type": "object"}}}
            ),
        ),
    ],
)
def test_the_lint_names_the_operation_and_what_it_lacks(document, finding, broken):
    spoiled = copy.deepcopy(document)
    broken(spoiled["paths"]["/v1/submissions"]["post"])
    findings = lint(spoiled)
    assert any(line.startswith("POST /v1/submissions") and finding in line for line in findings), findings


def test_the_lint_refuses_remote_refs_and_clashing_schema_names(document):
    spoiled = copy.deepcopy(document)
    spoiled["components"]["schemas"]["Submission"]["properties"]["fee"] = {"$ref": "https://example.org/fee.json"}
    spoiled["components"]["schemas"]["submissions_Document"] = {"title": "Document", "type": "object"}
    findings = lint(spoiled)
    assert "remote $ref 'https://example.org/fee.json': the document must be one self-contained file" in findings
    assert any("both titled 'Document'" in line for line in findings), findings


def test_an_error_format_a_standard_fixes_is_kept_and_the_lint_names_it():
    """An Open311-style route declares its own error body under application/json: the conventions
    leave it, and the lint says the operation's error answer is not the Problem schema."""
    from fastapi import FastAPI

    from simpul.shared.identity import declare_roles
    from simpul.shared.openapi import document_conventions, operation_id

    app = FastAPI(generate_unique_id_function=operation_id)
    declare_roles(app)
    document_conventions(app, idempotent_posts=False)
    standard_errors = {"type": "array", "items": {"type": "object", "properties": {"code": {"type": "integer"}}}}

    @app.get("/open311/v2/services.json", summary="Services", tags=["open311"],
             responses={400: {"description": "GeoReport errors", "content": {"application/json": {"schema": standard_errors}}}})
    async def list_georeport_services(jurisdiction_id: str | None = None) -> dict:
        """The GeoReport v2 service list."""
        return {}

    document = app.openapi()
    operation = document["paths"]["/open311/v2/services.json"]["get"]
    assert operation["responses"]["400"]["content"] == {"application/json": {"schema": standard_errors}}
    assert operation["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"] == (
        "#/components/schemas/Problem"
    )
    assert operation["operationId"] == "listGeoreportServices" and operation["security"] == []
    document["tags"] = [{"name": "open311"}]
    assert lint(document) == [
        "GET /open311/v2/services.json (listGeoreportServices): response 200 application/json has no example "
        "(json_schema_extra examples on the response model)",
        "GET /open311/v2/services.json (listGeoreportServices): error response 400 is not "
        "application/problem+json with the Problem schema (an error format a standard fixes: name it in "
        "x-error-standard)",
    ]
    operation["x-error-standard"] = "Open311 GeoReport v2"
    assert not any("error response" in finding for finding in lint(document))
