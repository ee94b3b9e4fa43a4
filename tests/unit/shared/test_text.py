"""The wire types of free text: what they let through and what they refuse."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, ValidationError

from simpul.shared.problems import validation_errors
from simpul.shared.text import PlainJson, PlainText, SingleLineText


class Form(BaseModel):
    name: SingleLineText
    note: PlainText = ""
    data: PlainJson = {}


@pytest.mark.parametrize("name", ["Bagian Hukum", "Pemerintah Kota Palembang — Sekretariat", "Ñandú 😀", ""])
def test_ordinary_text_passes(name):
    assert Form(name=name, note="baris satu\r\n\tbaris dua").name == name


@pytest.mark.parametrize("bad", ["\x00", "a\x01b", "\x07", "\x1b[31m", "\x7f", "\x85", "\x9f", "\ud800", "x\udfff"])
def test_controls_del_c1_and_lone_surrogates_are_refused_everywhere(bad):
    for fields in ({"name": bad}, {"name": "ok", "note": bad}, {"name": "ok", "data": {"a": [{"b": bad}]}},
                   {"name": "ok", "data": {bad: 1}}):
        with pytest.raises(ValidationError) as caught:
            Form(**fields)
        assert caught.value.errors()[0]["type"] == "control_character"


@pytest.mark.parametrize("line_break", ["\n", "\r", "\t"])
def test_single_line_text_refuses_line_breaks_and_tabs(line_break):
    with pytest.raises(ValidationError):
        Form(name=f"a{line_break}b")
    assert Form(name="a", note=f"a{line_break}b").note == f"a{line_break}b"


def test_the_refusal_names_the_field_and_the_character_in_both_languages():
    with pytest.raises(ValidationError) as caught:
        Form.model_validate_json('{"name": "Budi\\u0000"}')
    english, = validation_errors(caught.value.errors(), "en")
    assert english == {"field": "name", "message": "contains a control character that is not allowed (U+0000)"}
    indonesian, = validation_errors(caught.value.errors(), "id")
    assert indonesian["field"] == "name"
    assert "karakter kendali" in indonesian["message"]


def test_a_lone_surrogate_escaped_in_json_is_refused():
    """FastAPI decodes bodies with the standard library, which lets `\\ud83d` through alone."""
    with pytest.raises(ValidationError) as caught:
        Form.model_validate(json.loads('{"name": "ok", "data": {"x": "\\ud83d"}}'))
    assert validation_errors(caught.value.errors(), "en")[0]["field"] == "data.x"


def test_deep_json_is_walked_without_recursion():
    deep: dict = {"leaf": "\x00"}
    for _ in range(5000):
        deep = {"n": deep}
    with pytest.raises(ValidationError) as caught:
        Form(name="ok", data=deep)
    assert validation_errors(caught.value.errors(), "en")[0]["field"].endswith("n.n.leaf")
