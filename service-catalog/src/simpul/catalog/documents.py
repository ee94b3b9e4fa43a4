"""A service standard in its wire form: the document every version row stores ready to send, its
summary in lists, its search text and ETag, the items of the version and history lists. Pure:
no database, no HTTP."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from simpul.catalog.schemas import ServiceFields
from simpul.catalog.schemas import ServiceStatus as Status


@dataclass(frozen=True)
class VersionState:
    """What the service's life, not the admin's text, decides about one version."""

    version: int
    status: Status
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    retired_at: datetime | None = None
    superseded_by: int | None = None


# Keys of a document that VersionState sets; every other key (but `code`) is the admin's content.
_STATE_KEYS = ("version", "status", "created_at", "updated_at", "published_at", "retired_at", "superseded_by")


def service_path(code: str) -> str:
    """Where a service's current document is read."""
    return f"/v1/services/{code}"


def content_of(fields: ServiceFields) -> dict[str, Any]:
    content = fields.model_dump(mode="json", exclude={"code"})
    # Optional fields only when set: a standard written before they existed, sent again unchanged,
    # stays the same content (no new version), and v1 clients see the document as before.
    for optional in ("unit_name", "personal_data_retention_days"):
        if content.get(optional) is None:
            content.pop(optional, None)
    return content


def content_from_document(document: str | bytes) -> dict[str, Any]:
    parsed = orjson.loads(document)
    return {key: value for key, value in parsed.items() if key != "code" and key not in _STATE_KEYS}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def render(code: str, content: dict[str, Any], state: VersionState) -> dict[str, Any]:
    return {
        "code": code,
        "version": state.version,
        "status": str(state.status),
        **content,
        "created_at": _iso(state.created_at),
        "updated_at": _iso(state.updated_at),
        "published_at": _iso(state.published_at),
        "retired_at": _iso(state.retired_at),
        "superseded_by": state.superseded_by,
    }


def version_entry(row: Any, *, current: bool) -> bytes:
    """One item of a service's version list: a version row's state, without its document."""
    return orjson.dumps(
        {
            "version": row.version,
            "status": row.status,
            "current": current,
            "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at),
            "published_at": _iso(row.published_at),
            "retired_at": _iso(row.retired_at),
            "superseded_by": row.superseded_by,
        }
    )


def history_entry(row: Any) -> bytes:
    """One item of a service's history: a history row."""
    return orjson.dumps(
        {
            "at": _iso(row.at),
            "action": row.action,
            "version": row.version,
            "from": row.from_status,
            "to": row.to_status,
            "actor": {"client_id": row.actor_id, "role": row.actor_role},
        }
    )


def summary_of(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": document["code"],
        "version": document["version"],
        "status": document["status"],
        "name": document["name"],
        "name_en": document["name_en"],
        "description": document["description"],
        "unit": document["unit"],
        "category": document["category"],
        "sla_working_days": document["sla_working_days"],
        "fee": {"amount": document["fee"]["amount"], "currency": document["fee"]["currency"]},
        "created_at": document["created_at"],
        "updated_at": document["updated_at"],
        "published_at": document["published_at"],
    }


def search_text(document: dict[str, Any]) -> str:
    parts = (document["code"], document["name"], document["name_en"] or "", document["description"])
    return "\n".join(parts).lower()


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


@dataclass(frozen=True)
class Served:
    """A version document ready to send."""

    body: bytes
    etag: str
    status: str

    @property
    def document(self) -> dict[str, Any]:
        return orjson.loads(self.body)


@dataclass(frozen=True)
class Listing:
    """A page of pre-serialised JSON items."""

    items: list[bytes]
    next_cursor: str | None

