"""The catalogue's rules without HTTP or a database: states, versioning, what a valid standard is."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from simpul.catalog.documents import VersionState
from simpul.catalog.rules import (
    MAX_FORM_SCHEMA_DEPTH,
    check_status_filter,
    definition_errors,
    entered,
    first_version,
    form_schema_errors,
    revised_in_place,
    revision_errors,
    revision_makes_new_version,
    superseded,
    transition,
)
from simpul.catalog.schemas import ServiceCreate, ServiceRevision
from simpul.catalog.schemas import ServiceStatus as Status
from simpul.shared.identity import ANONYMOUS, Identity
from simpul.shared.problems import Problem

BASE = {
    "code": "UJI-A",
    "name": "Layanan uji",
    "description": "Layanan untuk pengujian.",
    "unit": "KDN-BH",
    "category": "perizinan",
    "legal_basis": ["UU 25/2009"],
    "requirements": [
        {"code": "SURAT", "name": "Surat", "content_types": ["application/pdf"], "max_bytes": 1000},
        {"code": "FOTO", "name": "Foto", "content_types": ["image/*"], "max_bytes": 1000, "required": False},
    ],
    "form_schema": {"type": "object", "properties": {"perihal": {"type": "string"}}, "required": ["perihal"]},
    "procedure": [{"step": 1, "title": "Ajukan", "actor": "Pemohon"}, {"step": 2, "title": "Periksa", "actor": "Petugas"}],
    "sla_working_days": 5,
    "fee": {"amount": 0, "legal_basis": "Gratis"},
    "output": {"name": "Surat", "description": "Surat hasil"},
    "complaint_channels": [{"channel": "email", "contact": "a@example.go.id"}],
    "standard": {
        key: "isi"
        for key in (
            "facilities",
            "staff_competence",
            "internal_supervision",
            "complaint_handling",
            "number_of_staff",
            "service_guarantee",
            "security_guarantee",
            "performance_evaluation",
        )
    },
}


def service(**changes) -> ServiceCreate:
    body = copy.deepcopy(BASE)
    body.update(changes)
    return ServiceCreate.model_validate(body)


def fields(errors) -> list[str]:
    return [error.field for error in errors]


# -- states ----------------------------------------------------------------------------------------


def test_publish_only_from_draft_and_retire_only_from_published():
    assert transition("X", "draft", "publish") == Status.PUBLISHED
    assert transition("X", "published", "retire") == Status.RETIRED
    for state, action in (("published", "publish"), ("retired", "publish"), ("draft", "retire"), ("retired", "retire")):
        with pytest.raises(Problem) as refused:
            transition("X", state, action)
        assert refused.value.status == 409
        assert refused.value.extra == {"state": state}
        assert refused.value.params["state"] == state


def test_revision_is_in_place_for_drafts_new_for_published_refused_for_retired():
    assert revision_makes_new_version("X", "draft") is False
    assert revision_makes_new_version("X", "published") is True
    with pytest.raises(Problem) as refused:
        revision_makes_new_version("X", "retired")
    assert (refused.value.status, refused.value.extra) == (409, {"state": "retired"})


def test_each_step_of_a_life_dates_the_version_it_changes():
    created, later = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 2, 2, tzinfo=UTC)
    draft = first_version(created, published=False)
    assert (draft.version, draft.status, draft.published_at) == (1, Status.DRAFT, None)
    assert first_version(created, published=True).published_at == created
    assert revised_in_place(draft, later) == VersionState(1, Status.DRAFT, created, later)
    published = entered(draft, Status.PUBLISHED, later)
    assert (published.status, published.updated_at, published.published_at, published.retired_at) == (
        Status.PUBLISHED, later, later, None,
    )
    assert entered(published, Status.RETIRED, later).retired_at == later
    retired, successor = superseded(published, later)
    assert (retired.status, retired.retired_at, retired.superseded_by) == (Status.RETIRED, later, 2)
    assert successor == VersionState(2, Status.PUBLISHED, later, later, published_at=later)


def test_only_admins_list_by_a_status_other_than_published():
    check_status_filter(ANONYMOUS, None)
    check_status_filter(ANONYMOUS, Status.PUBLISHED)
    check_status_filter(Identity(subject="a", role="admin"), Status.DRAFT)
    with pytest.raises(Problem) as refused:
        check_status_filter(ANONYMOUS, Status.DRAFT)
    assert refused.value.status == 401
    with pytest.raises(Problem) as refused:
        check_status_filter(Identity(subject="c", role="applicant"), Status.RETIRED)
    assert refused.value.status == 403


# -- what a valid standard is -----------------------------------------------------------------------


def test_a_sound_standard_has_no_errors():
    assert definition_errors(service()) == []


def test_a_revision_names_the_code_of_its_path_or_none():
    body = ServiceRevision.model_validate({**BASE, "code": "UJI-B", "procedure": [{"step": 2, "title": "Ajukan", "actor": "Pemohon"}]})
    assert fields(revision_errors("UJI-A", body))[:2] == ["code", "procedure.0.step"]
    assert revision_errors("UJI-B", body)[0].field == "procedure.0.step"


def test_requirement_codes_are_unique_and_steps_numbered_in_order():
    duplicate = copy.deepcopy(BASE["requirements"])
    duplicate[1]["code"] = "SURAT"
    duplicate[1]["content_types"] = ["image/png", "image/jpeg", "image/png"]
    steps = [{"step": 1, "title": "a", "actor": "b"}, {"step": 3, "title": "c", "actor": "d"}]
    errors = definition_errors(service(requirements=duplicate, procedure=steps))
    assert fields(errors) == ["requirements.1.code", "requirements.1.content_types.2", "procedure.1.step"]


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({"type": "array"}, "form_schema.type"),
        ({"properties": {}}, "form_schema.type"),
        ({"type": "object", "properties": {"a": {"type": "strin"}}}, "form_schema.properties.a.type"),
        ({"type": "object", "required": "a"}, "form_schema.required"),
        ({"type": "object", "properties": {"a": {"maxLength": "5"}}}, "form_schema.properties.a.maxLength"),
        ({"type": "object", "properties": {"a": {"pattern": "[unclosed"}}}, "form_schema.properties.a.pattern"),
        ({"type": "object", "$schema": "http://json-schema.org/draft-07/schema#"}, "form_schema.$schema"),
        ({"type": "object", "properties": {"a": {"$ref": "http://169.254.169.254/x"}}}, "form_schema.properties.a.$ref"),
        ({"type": "object", "allOf": [{"$ref": "other.json#/x"}]}, "form_schema.allOf.0.$ref"),
        ({"type": "object", "properties": {"a": {"maximum": float("nan")}}}, "form_schema.properties.a.maximum"),
        ({"type": "object", "properties": {"a": {"maximum": 2**64}}}, "form_schema.properties.a.maximum"),
        ({"type": "object", "properties": {"a\x00": {}}}, "form_schema.properties.a\x00"),
    ],
)
def test_form_schema_must_be_a_valid_self_contained_object_schema(schema, field):
    assert field in fields(form_schema_errors(schema))


def test_form_schema_accepts_local_references_and_2020_12():
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"kode": {"type": "string", "pattern": "^[0-9]{2}$"}},
        "properties": {"kode_daerah": {"$ref": "#/$defs/kode"}, "tanggal": {"type": "string", "format": "date"}},
        "required": ["kode_daerah"],
        "additionalProperties": False,
    }
    assert form_schema_errors(schema) == []


def test_form_schema_size_and_depth_are_bounded():
    deep: dict = {"type": "object"}
    node = deep
    for _ in range(MAX_FORM_SCHEMA_DEPTH + 5):
        node["properties"] = {"x": {"type": "object"}}
        node = node["properties"]["x"]
    assert fields(form_schema_errors(deep)) == ["form_schema"]
    large = {"type": "object", "description": "x" * 70_000}
    assert fields(form_schema_errors(large)) == ["form_schema"]


# -- the wire models -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "location"),
    [
        ({"extra": 1}, ("extra",)),
        ({"fee": {"amount": "0", "legal_basis": "x"}}, ("fee", "amount")),
        ({"fee": {"amount": 0, "currency": "USD", "legal_basis": "x"}}, ("fee", "currency")),
        ({"sla_working_days": 5.5}, ("sla_working_days",)),
        ({"code": "uji-a"}, ("code",)),
        ({"unit": "-KDN"}, ("unit",)),
    ],
)
def test_wire_model_refuses(changes, location):
    with pytest.raises(ValidationError) as refused:
        service(**changes)
    assert location in [error["loc"] for error in refused.value.errors()]


def test_max_bytes_is_1_to_100_mib():
    for value, ok in ((1, True), (100 * 1024 * 1024, True), (0, False), (100 * 1024 * 1024 + 1, False)):
        requirements = [dict(BASE["requirements"][0], max_bytes=value)]
        if ok:
            service(requirements=requirements)
        else:
            with pytest.raises(ValidationError):
                service(requirements=requirements)


def test_a_revision_may_leave_out_the_code():
    body = copy.deepcopy(BASE)
    del body["code"]
    assert ServiceRevision.model_validate(body).code is None
