"""Checks a submission's `data` against the service's `form_schema` (JSON Schema)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson
from jsonschema import exceptions, validators

from simpul.shared.problems import Text

MESSAGES: dict[str, Text] = {
    "required": Text("wajib diisi", "is required"),
    "type": Text("jenis nilainya salah (harus {expected})", "has the wrong type (expected {expected})"),
    "enum": Text("nilainya tidak diizinkan", "is not one of the allowed values"),
    "const": Text("nilainya tidak diizinkan", "is not the allowed value"),
    "pattern": Text("formatnya tidak sesuai", "does not match the expected pattern"),
    "format": Text("formatnya tidak sesuai ({expected})", "is not a valid {expected}"),
    "minLength": Text("terlalu pendek (minimal {expected} karakter)", "is too short (at least {expected} characters)"),
    "maxLength": Text("terlalu panjang (maksimal {expected} karakter)", "is too long (at most {expected} characters)"),
    "minimum": Text("terlalu kecil (minimal {expected})", "is too small (at least {expected})"),
    "maximum": Text("terlalu besar (maksimal {expected})", "is too large (at most {expected})"),
    "exclusiveMinimum": Text("harus lebih dari {expected}", "must be greater than {expected}"),
    "exclusiveMaximum": Text("harus kurang dari {expected}", "must be less than {expected}"),
    "minItems": Text("terlalu sedikit butir (minimal {expected})", "has too few items (at least {expected})"),
    "maxItems": Text("terlalu banyak butir (maksimal {expected})", "has too many items (at most {expected})"),
    "uniqueItems": Text("butirnya tidak boleh berulang", "has duplicate items"),
    "additionalProperties": Text("field tidak dikenal", "is not a known field"),
}
FALLBACK = Text("nilainya tidak valid", "is not valid")


class FormValidators:
    """Compiled validators per (service, version): a published version's schema never changes."""

    def __init__(self, size: int = 256) -> None:
        self._cache: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self._size = size

    def validator(self, key: tuple[str, int], schema: dict[str, Any]) -> Any:
        validator = self._cache.get(key)
        if validator is None:
            cls = validators.validator_for(schema)
            validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
            self._cache[key] = validator
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return validator

    def errors(self, key: tuple[str, int], schema: dict[str, Any], data: dict[str, Any], language: str) -> list[dict[str, str]]:
        """Every problem in `data`, each naming its field as `data.<path>`; empty when valid."""
        if not schema:
            return []
        found: dict[str, str] = {}
        for error in self.validator(key, schema).iter_errors(data):
            for path, message in _describe(error, language):
                found.setdefault(path, message)
        return [{"field": path, "message": message} for path, message in found.items()]


def _field(path: list[Any]) -> str:
    return ".".join(["data", *(str(part) for part in path)])


def _describe(error: exceptions.ValidationError, language: str) -> list[tuple[str, str]]:
    path = list(error.absolute_path)
    keyword = error.validator
    if keyword == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return [(_field([*path, name]), MESSAGES["required"].render(language)) for name in missing]
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        patterns = error.schema.get("patternProperties", {})
        extra = [name for name in error.instance if name not in known and not patterns]
        if extra:
            return [(_field([*path, name]), MESSAGES["additionalProperties"].render(language)) for name in extra]
    text = MESSAGES.get(str(keyword), FALLBACK)
    expected = error.validator_value
    if not isinstance(expected, (str, int, float)):
        expected = orjson.dumps(expected).decode()
    return [(_field(path), text.render(language, expected=expected))]
