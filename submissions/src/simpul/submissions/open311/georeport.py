"""GeoReport v2 from and to Simpul's wire forms: no I/O, unit-tested on its own."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simpul.shared.problems import Problem, Text

# Where a submission stands, as GeoReport's two states and a note a person reads.
CLOSED = {"issued", "rejected", "cancelled"}
STATES_OF = {
    "open": ("draft", "submitted", "in_review", "revision_requested", "approved"),
    "closed": tuple(sorted(CLOSED)),
}
STATUS_NOTES = {
    "draft": "Draf, belum diajukan / Draft, not submitted yet",
    "submitted": "Diterima, menunggu pemeriksaan / Received, waiting for review",
    "in_review": "Sedang diperiksa / Under review",
    "revision_requested": "Menunggu perbaikan dari pemohon / Waiting for the applicant's revision",
    "approved": "Disetujui, dokumen sedang diterbitkan / Approved, the document is being issued",
    "issued": "Selesai, dokumen diterbitkan / Done, the document was issued",
    "rejected": "Ditolak / Rejected",
    "cancelled": "Dibatalkan oleh pemohon / Cancelled by the applicant",
}
NOT_A_NUMBER = Text("bukan angka", "not a number")
NOT_A_BOOLEAN = Text("harus true atau false", "must be true or false")
UNKNOWN_ATTRIBUTE = Text("atribut ini tidak ada pada layanan ini", "this service has no such attribute")
REQUIRED = Text("wajib diisi", "is required")
BAD_ATTRIBUTES = Text("Atribut permohonan tidak valid.", "The request's attributes are not valid.")


def service_entry(summary: dict[str, Any]) -> dict[str, Any]:
    """A published standard (the catalogue's list item) as a GeoReport service."""
    return {
        "service_code": summary["code"],
        "service_name": summary["name"],
        "description": summary.get("description"),
        # Every standard has a form (its form_schema): the definition says what it asks.
        "metadata": True,
        # Requests are created at once, with their id in the answer.
        "type": "realtime",
        "keywords": ", ".join(filter(None, (summary.get("category"), summary.get("unit")))),
        "group": summary.get("category"),
    }


def attributes(form_schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The form's fields as GeoReport attributes, in the form's order; an object's fields are
    flattened to dotted codes (`narahubung.email`)."""
    found: list[dict[str, Any]] = []
    _collect(form_schema, "", True, found)
    for order, attribute in enumerate(found, start=1):
        attribute["order"] = order
    return found


def _collect(schema: dict[str, Any], prefix: str, required_here: bool, found: list[dict[str, Any]]) -> None:
    required = set(schema.get("required", []))
    for name, field in (schema.get("properties") or {}).items():
        code = f"{prefix}{name}"
        is_required = required_here and name in required
        if field.get("type") == "object" and "properties" in field:
            _collect(field, f"{code}.", is_required, found)
            continue
        datatype, values, hint = _datatype(field)
        attribute: dict[str, Any] = {
            "variable": True,
            "code": code,
            "datatype": datatype,
            "required": is_required,
            "datatype_description": hint,
            "description": field.get("description") or field.get("title") or code,
        }
        if values is not None:
            attribute["values"] = [{"key": str(value), "name": str(value)} for value in values]
        found.append(attribute)


def _datatype(field: dict[str, Any]) -> tuple[str, list | None, str | None]:
    if "enum" in field:
        return "singlevaluelist", field["enum"], None
    kind = field.get("type")
    if kind == "array":
        items = field.get("items") or {}
        if "enum" in items:
            return "multivaluelist", items["enum"], None
        return "string", None, "Several values: repeat attribute[code][] or separate them with commas"
    if kind == "boolean":
        return "singlevaluelist", ["true", "false"], None
    if kind in ("integer", "number"):
        return "number", None, "An integer" if kind == "integer" else "A number"
    if field.get("format") in ("date", "date-time"):
        return "datetime", None, "YYYY-MM-DD" if field["format"] == "date" else "RFC 3339 date and time"
    if (field.get("maxLength") or 0) > 255:
        return "text", None, None
    return "string", None, None


def form_data(form_schema: dict[str, Any], fields: list[tuple[str, str]], language: str) -> dict[str, Any]:
    """`attribute[code]` (and `attribute[code][]`) form fields as the submission's `data`, typed
    by the form; 400 naming each unknown, mistyped or missing required attribute."""
    known = {attribute["code"]: attribute for attribute in attributes(form_schema)}
    schemas = _field_schemas(form_schema, "")
    given: dict[str, list[str]] = {}
    for name, value in fields:
        if name.startswith("attribute[") and name.endswith("]"):
            code = name[len("attribute["):].removesuffix("[]").removesuffix("]")
            given.setdefault(code, []).append(value)
    errors: list[dict[str, str]] = []
    data: dict[str, Any] = {}
    for code, values in given.items():
        if code not in known:
            errors.append({"field": f"attribute[{code}]", "message": UNKNOWN_ATTRIBUTE.render(language)})
            continue
        try:
            value = _typed(schemas[code], values)
        except ValueError as exc:
            errors.append({"field": f"attribute[{code}]", "message": str(exc.args[0].render(language))})
            continue
        target = data
        *parents, leaf = code.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    for code, attribute in known.items():
        if attribute["required"] and code not in given:
            errors.append({"field": f"attribute[{code}]", "message": REQUIRED.render(language)})
    if errors:
        raise Problem(400, BAD_ATTRIBUTES, slug="invalid-attributes", errors=errors)
    return data


def _field_schemas(schema: dict[str, Any], prefix: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, field in (schema.get("properties") or {}).items():
        if field.get("type") == "object" and "properties" in field:
            found.update(_field_schemas(field, f"{prefix}{name}."))
        else:
            found[f"{prefix}{name}"] = field
    return found


def _typed(field: dict[str, Any], values: list[str]) -> Any:
    kind = field.get("type")
    if kind == "array":
        items = field.get("items") or {}
        if "enum" not in items and len(values) == 1:
            values = [part.strip() for part in values[0].split(",") if part.strip()]
        return [_scalar(items, value) for value in values]
    return _scalar(field, values[-1])


def _scalar(field: dict[str, Any], value: str) -> Any:
    kind = field.get("type")
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            raise ValueError(NOT_A_NUMBER) from None
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            raise ValueError(NOT_A_NUMBER) from None
    if kind == "boolean":
        if value not in ("true", "false"):
            raise ValueError(NOT_A_BOOLEAN)
        return value == "true"
    return value


def service_request(view: dict[str, Any], unit: str | None) -> dict[str, Any]:
    """A submission (its tracking view or full view) as a GeoReport service request. No personal
    data: the tracking code is its id, as on /v1/track."""
    status = view["status"]
    return {
        "service_request_id": view["tracking_code"],
        "status": "closed" if status in CLOSED else "open",
        "status_notes": STATUS_NOTES.get(status, status),
        "service_name": view.get("service_name"),
        "service_code": view["service_code"],
        "description": None,
        "agency_responsible": unit,
        "service_notice": None,
        "requested_datetime": _rfc3339(view.get("submitted_at") or view.get("created_at")),
        "updated_datetime": _rfc3339(view.get("updated_at")),
        # The SLA due date (working days, holidays and weekends excluded).
        "expected_datetime": _rfc3339(view.get("due_at")),
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


def _rfc3339(moment: datetime | str | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat() if isinstance(moment, datetime) else moment
