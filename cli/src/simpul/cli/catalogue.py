"""The catalogue to and from a JSON file, through the gateway: each service's current version as
an admin writes it (`POST /v1/services`), with the status it had."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from simpul.cli.api import AdminApi, ApiError

FORMAT = "simpul-catalogue"
FORMAT_VERSION = 1
# What the catalogue sets itself on a version; a create refuses them.
SERVER_FIELDS = ("version", "status", "created_at", "updated_at", "published_at", "retired_at", "superseded_by")


def export_catalogue(api: AdminApi) -> dict[str, Any]:
    services = []
    for summary in api.every("/v1/services"):
        document = api.call("GET", f"/v1/services/{summary['code']}")
        fields = {name: value for name, value in document.items() if name not in SERVER_FIELDS}
        services.append({"status": document["status"], "standard": fields})
    return {"format": FORMAT, "format_version": FORMAT_VERSION,
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"), "services": services}


def read_export(content: Any) -> list[dict[str, Any]]:
    """The services of an export, or ValueError saying why the file is not one."""
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ValueError(f"not a catalogue export (no \"format\": \"{FORMAT}\")")
    if content.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"catalogue export format_version {content.get('format_version')!r}; "
                         f"this simpul reads {FORMAT_VERSION}")
    services = content.get("services")
    if not isinstance(services, list) or not all(
            isinstance(entry, dict) and isinstance(entry.get("standard"), dict)
            and isinstance(entry["standard"].get("code"), str) for entry in services):
        raise ValueError("\"services\" must be a list of {\"status\", \"standard\": {\"code\", ...}}")
    return services


def import_catalogue(api: AdminApi, services: list[dict[str, Any]], report: Callable[[str], None]) -> int:
    """Create each service that does not exist yet and bring it to its exported status; a code the
    catalogue holds already is left as it is. Returns how many failed."""
    failed = 0
    for entry in services:
        code = entry["standard"]["code"]
        try:
            api.call("POST", "/v1/services", json=entry["standard"])
        except ApiError as exc:
            if exc.status == 409:
                report(f"{code}: exists already, left as it is")
            else:
                report(f"{code}: not imported: {exc}")
                failed += 1
            continue
        try:
            if entry.get("status") in ("published", "retired"):
                api.call("POST", f"/v1/services/{code}/publish")
            if entry.get("status") == "retired":
                api.call("POST", f"/v1/services/{code}/retire")
        except ApiError as exc:
            report(f"{code}: created as a draft, but not {entry['status']}: {exc}")
            failed += 1
            continue
        report(f"{code}: imported ({entry.get('status', 'draft')})")
    return failed
