"""Small pieces: sniffing, form errors, tracking codes, ids."""

from __future__ import annotations

import math
import uuid

import pytest

from simpul.submissions.access import TRACKING_ALPHABET, TRACKING_LENGTH, new_id, new_tracking_code, normalise_tracking_code, safe_filename
from simpul.submissions.forms import FormValidators
from simpul.submissions.sniff import accepts, sniff


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.4\n", "application/pdf"),
        (b"\n\n  %PDF-1.7", "application/octet-stream"),
        (b"<html><script>alert(1)</script>%PDF-1.7", "application/octet-stream"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"\xff\xd8\xff\xdb", "image/jpeg"),
        (b"GIF89a....", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"II*\x00\x08\x00", "image/tiff"),
        (b"PK\x03\x04" + b"\x00" * 22 + b"\x08\x00\x00\x00mimetypeapplication/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.text"),
        (b"PK\x03\x04" + b"\x00" * 40, "application/zip"),
        (b"MZ\x90\x00", "application/octet-stream"),
        (b"<html><script>", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_sniff(head, expected):
    assert sniff(head) == expected


def test_accepts():
    assert accepts(["application/pdf"], "application/pdf")
    assert accepts(["image/*"], "image/png")
    assert not accepts(["image/*"], "application/pdf")
    assert accepts(["*/*"], "application/octet-stream")
    assert not accepts([], "application/pdf")


SCHEMA = {
    "type": "object",
    "required": ["name", "children"],
    "properties": {
        "name": {"type": "string"},
        "children": {"type": "array", "items": {"type": "object", "required": ["age"], "properties": {"age": {"type": "integer", "minimum": 0}}}},
        "email": {"type": "string", "format": "email"},
        "born": {"type": "string", "format": "date"},
    },
}


def test_form_errors_name_nested_fields():
    errors = FormValidators().errors(
        ("S", 1), SCHEMA, {"children": [{"age": -1}, {}], "email": "nope", "born": "2026-02-30"}, "en"
    )
    assert {e["field"] for e in errors} == {
        "data.name", "data.children.0.age", "data.children.1.age", "data.email", "data.born",
    }
    indonesian = FormValidators().errors(("S", 1), SCHEMA, {"children": []}, "id")
    assert indonesian == [{"field": "data.name", "message": "wajib diisi"}]


def test_no_schema_accepts_anything():
    assert FormValidators().errors(("S", 1), {}, {"x": 1}, "id") == []


def test_tracking_codes():
    codes = {new_tracking_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == TRACKING_LENGTH and set(c) <= set(TRACKING_ALPHABET) for c in codes)
    assert not set("0O1IL") & set(TRACKING_ALPHABET)
    assert TRACKING_LENGTH * math.log2(len(TRACKING_ALPHABET)) >= 50
    code = next(iter(codes))
    assert normalise_tracking_code(f" {code[:4].lower()}-{code[4:8]} {code[8:]} ") == code
    assert normalise_tracking_code("0000AAAABBBB") is None
    assert normalise_tracking_code("ABC") is None


def test_ids_sort_by_creation_and_are_uuid7():
    ids = [new_id() for _ in range(50)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)


def test_safe_filename():
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\x\\ktp scan.pdf") == "ktp scan.pdf"
    assert safe_filename("a\x00b\nc.pdf") == "abc.pdf"
    assert safe_filename("") is None
