"""The Open311 operations' documented answers are GeoReport v2's: every example the submissions
service's document gives them (answers and errors) validates against the spec's JSON schemas in
tests/fixtures/open311, and so does every model's own example; and what georeport.py writes fits
the models."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from simpul.shared.openapi import model_examples
from simpul.submissions.open311 import georeport, schemas
from tests.support.openapi_document import service_documents
from tests.unit.submissions.test_open311_georeport import FORM

FIXTURES = Path(__file__).parents[2] / "fixtures" / "open311"
# Each operation's success answer: the fixture schema of the whole answer, or of each item of it.
ANSWERS = {
    ("get", "/open311/v2/services.json"): ("200", None, "service.json"),
    ("get", "/open311/v2/services/{code}.json"): ("200", "service-definition.json", None),
    ("post", "/open311/v2/requests.json"): ("201", "post-response.json", None),
    ("get", "/open311/v2/requests.json"): ("200", None, "request.json"),
    ("get", "/open311/v2/requests/{tracking_code}.json"): ("200", None, "request.json"),
    ("get", "/open311/v2/tokens/{submission_id}.json"): ("200", "token.json", None),
}
MODELS = {
    schemas.GeoReportService: ("service.json", False),
    schemas.GeoReportServiceDefinition: ("service-definition.json", False),
    schemas.GeoReportServiceRequest: ("request.json", False),
    schemas.GeoReportToken: ("token.json", True),
    schemas.GeoReportError: ("errors.json", True),
}


def _valid(instance: object, fixture: str) -> None:
    schema = json.loads((FIXTURES / fixture).read_text())
    jsonschema.validate(instance, schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> dict:
    return service_documents(tmp_path_factory.mktemp("openapi"))["submissions"]


@pytest.fixture(scope="module")
def operations(document) -> dict[tuple[str, str], dict]:
    return {(method, path): operation for path, item in document["paths"].items() if path.startswith("/open311/")
            for method, operation in item.items()}


def _examples(document: dict, media: dict) -> list:
    """The media's own example, else its model's (a component schema's `examples`)."""
    if "example" in media:
        return [media["example"]]
    name = media["schema"]["$ref"].removeprefix("#/components/schemas/")
    return document["components"]["schemas"][name]["examples"]


def test_every_open311_operation_is_covered(operations):
    assert set(operations) == set(ANSWERS)


@pytest.mark.parametrize("key", list(ANSWERS))
def test_the_documented_answer_and_errors_are_georeport_v2(document, operations, key):
    operation = operations[key]
    assert operation["x-error-standard"] == "Open311 GeoReport v2"
    status, whole, each = ANSWERS[key]
    examples = _examples(document, operation["responses"][status]["content"]["application/json"])
    assert examples
    for example in examples:
        if whole:
            _valid(example, whole)
        else:
            assert isinstance(example, list) and example
            for item in example:
                _valid(item, each)
    errors = {code: answer for code, answer in operation["responses"].items() if code[0] in "45"}
    assert {"422", "500"} <= set(errors)
    for code, answer in errors.items():
        assert list(answer["content"]) == ["application/json"], code
        error_example = answer["content"]["application/json"]["example"]
        _valid(error_example, "errors.json")
        assert [entry["code"] for entry in error_example] == [int(code)]


@pytest.mark.parametrize("model", list(MODELS), ids=lambda model: model.__name__)
def test_each_model_example_is_georeport_v2(model):
    fixture, in_a_list = MODELS[model]
    examples = model_examples(model)
    assert examples
    for example in examples:
        model.model_validate(example)
        _valid([example] if in_a_list else example, fixture)


def test_what_the_translation_writes_is_what_the_models_document():
    """georeport.py's own output (what the routes answer) fits the documented models, strictly."""
    entry = georeport.service_entry({"code": "X", "name": "Izin", "category": "perizinan", "unit": "Biro"})
    schemas.GeoReportService.model_validate(entry, strict=True)
    definition = {"service_code": "X", "attributes": georeport.attributes(FORM)}
    schemas.GeoReportServiceDefinition.model_validate(definition, strict=True)
    now = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    request = georeport.service_request({"tracking_code": "98JKWMK7CTKX", "status": "issued",
                                         "service_code": "X", "created_at": now, "updated_at": now}, None)
    schemas.GeoReportServiceRequest.model_validate(request, strict=True)
    for model, instance in ((schemas.GeoReportService, entry), (schemas.GeoReportServiceDefinition, definition),
                            (schemas.GeoReportServiceRequest, request)):
        assert set(instance) == set(model.model_fields), model.__name__
