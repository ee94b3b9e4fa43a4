"""Free text the system can carry: wire types that refuse control characters at the door.

A NUL or another control character accepted at intake fails later, where nobody can fix it
(PostgreSQL refuses NUL in text, the PDF renderer refuses controls, mail headers break on
newlines). Every free-text field of every request model is one of these types, so the refusal
is a 422 naming the field before anything is written; tests/unit/test_text_fields.py fails when
a request model declares a plain `str`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

CONTROL_CHARACTER = "control_character"

# C0 controls but TAB, LF, CR; DEL; C1 controls; lone surrogates (JSON `\ud800` decodes to one,
# and no encoder downstream can write it).
_MULTI_LINE_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SINGLE_LINE_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class CheckedText:
    """Marks a `str` type whose characters are checked (the field-coverage test looks for it)."""

    def __init__(self, refused: re.Pattern[str]) -> None:
        self.refused = refused

    def __call__(self, value: str) -> str:
        found = self.refused.search(value)
        if found is not None:
            raise PydanticCustomError(
                CONTROL_CHARACTER,
                "contains a control character that is not allowed (U+{code})",
                {"code": f"{ord(found.group()):04X}"},
            )
        return value


# The checks alone, for types that add constraints of their own and must order them first
# (`Annotated[str, StringConstraints(strip_whitespace=True, ...), MULTI_LINE]`).
SINGLE_LINE = AfterValidator(CheckedText(_SINGLE_LINE_REFUSED))
MULTI_LINE = AfterValidator(CheckedText(_MULTI_LINE_REFUSED))

# Names, codes, subjects, reasons: one line, no TAB/LF/CR either.
SingleLineText = Annotated[str, SINGLE_LINE]
# Notes, descriptions, complaint texts, templates: line breaks and tabs allowed.
PlainText = Annotated[str, MULTI_LINE]


def _clean_json(value: dict[str, Any]) -> dict[str, Any]:
    # A stack, not recursion: a deeply nested body must not exhaust the interpreter's stack.
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            stack.extend(((key, path) for key in node))
            stack.extend(((item, (*path, key)) for key, item in node.items()))
        elif isinstance(node, list):
            stack.extend(((item, (*path, index)) for index, item in enumerate(node)))
        elif isinstance(node, str) and (found := _MULTI_LINE_REFUSED.search(node)) is not None:
            raise PydanticCustomError(
                CONTROL_CHARACTER,
                "contains a control character that is not allowed (U+{code})",
                {"code": f"{ord(found.group()):04X}", "path": ".".join(str(part) for part in path)},
            )
    return value


# Free-form JSON objects (form data, event data): every key and string inside is checked.
PlainJson = Annotated[dict[str, Any], AfterValidator(_clean_json)]
