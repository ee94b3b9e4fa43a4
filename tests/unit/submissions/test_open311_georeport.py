"""The GeoReport v2 translation on its own: form schemas to attributes, form fields to data,
submissions to service requests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simpul.shared.problems import Problem
from simpul.submissions.open311.georeport import CLOSED, STATES_OF, attributes, form_data, service_request
from simpul.submissions.statemachine import Status

FORM = {
    "type": "object",
    "required": ["perihal", "jenis", "kontak"],
    "properties": {
        "perihal": {"type": "string", "minLength": 3, "description": "Perihal"},
        "uraian": {"type": "string", "maxLength": 4000},
        "tanggal": {"type": "string", "format": "date"},
        "jenis": {"enum": ["baru", "perpanjangan"]},
        "negara": {"type": "array", "items": {"enum": ["SG", "MY"]}},
        "kota": {"type": "array", "items": {"type": "string"}},
        "jumlah": {"type": "integer"},
        "rasio": {"type": "number"},
        "setuju": {"type": "boolean"},
        "kontak": {"type": "object", "required": ["email"],
                   "properties": {"email": {"type": "string"}, "telepon": {"type": "string"}}},
    },
}


def test_each_kind_of_field_has_its_datatype_in_the_forms_order():
    found = attributes(FORM)
    assert [(a["code"], a["datatype"], a["required"], a["order"]) for a in found] == [
        ("perihal", "string", True, 1),
        ("uraian", "text", False, 2),
        ("tanggal", "datetime", False, 3),
        ("jenis", "singlevaluelist", True, 4),
        ("negara", "multivaluelist", False, 5),
        ("kota", "string", False, 6),
        ("jumlah", "number", False, 7),
        ("rasio", "number", False, 8),
        ("setuju", "singlevaluelist", False, 9),
        ("kontak.email", "string", True, 10),
        ("kontak.telepon", "string", False, 11),
    ]
    assert found[3]["values"] == [{"key": "baru", "name": "baru"}, {"key": "perpanjangan", "name": "perpanjangan"}]
    assert found[0]["description"] == "Perihal" and all(a["variable"] for a in found)


def test_form_fields_become_typed_data_with_nested_objects_and_lists():
    data = form_data(FORM, [
        ("attribute[perihal]", "Izin"), ("attribute[jenis]", "baru"), ("attribute[kontak.email]", "a@b.id"),
        ("attribute[negara][]", "SG"), ("attribute[negara][]", "MY"), ("attribute[kota]", "Singapura, Johor"),
        ("attribute[jumlah]", "3"), ("attribute[rasio]", "2.5"), ("attribute[setuju]", "true"),
        ("service_code", "X"), ("lat", "-6.2"),
    ], "en")
    assert data == {"perihal": "Izin", "jenis": "baru", "kontak": {"email": "a@b.id"}, "negara": ["SG", "MY"],
                    "kota": ["Singapura", "Johor"], "jumlah": 3, "rasio": 2.5, "setuju": True}


def test_missing_unknown_and_mistyped_attributes_are_named():
    with pytest.raises(Problem) as raised:
        form_data(FORM, [("attribute[jenis]", "baru"), ("attribute[jumlah]", "tiga"), ("attribute[warna]", "biru"),
                         ("attribute[setuju]", "ya")], "en")
    assert raised.value.status == 400
    assert {error["field"]: error["message"] for error in raised.value.errors} == {
        "attribute[jumlah]": "not a number",
        "attribute[warna]": "this service has no such attribute",
        "attribute[setuju]": "must be true or false",
        "attribute[perihal]": "is required",
        "attribute[kontak.email]": "is required",
    }


@pytest.mark.parametrize(("status", "open_or_closed"), [
    ("draft", "open"), ("submitted", "open"), ("in_review", "open"), ("revision_requested", "open"),
    ("approved", "open"), ("issued", "closed"), ("rejected", "closed"), ("cancelled", "closed"),
])
def test_submission_states_map_to_open_or_closed(status, open_or_closed):
    submitted = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    request = service_request({
        "tracking_code": "7K3M9QXW2R", "status": status, "service_code": "S", "service_name": "Layanan",
        "created_at": datetime(2026, 11, 30, tzinfo=UTC), "submitted_at": submitted, "updated_at": submitted,
        "due_at": datetime(2026, 12, 8, 10, tzinfo=UTC),
    }, "KDN-BH")
    assert request["status"] == open_or_closed and request["status_notes"]
    assert request["service_request_id"] == "7K3M9QXW2R" and request["agency_responsible"] == "KDN-BH"
    assert request["requested_datetime"] == "2026-12-01T03:00:00+00:00"
    assert request["expected_datetime"] == "2026-12-08T10:00:00+00:00"


def test_every_state_is_open_or_closed_once():
    listed = [state for states in STATES_OF.values() for state in states]
    assert sorted(listed) == sorted(status.value for status in Status)
    assert set(STATES_OF["closed"]) == CLOSED
