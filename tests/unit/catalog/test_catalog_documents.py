"""A service standard's documents without HTTP or a database: the wire form, summary, ETag."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from simpul.catalog.documents import (
    VersionState,
    content_from_document,
    content_of,
    etag_of,
    render,
    search_text,
    summary_of,
)
from simpul.catalog.schemas import ServiceStatus as Status
from tests.unit.catalog.test_catalog_rules import service


def test_a_document_round_trips_to_its_content_and_carries_its_state():
    moment = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    body = service(name_en="Test")
    state = VersionState(2, Status.RETIRED, moment, moment, published_at=moment, retired_at=moment, superseded_by=3)
    document = render("UJI-A", content_of(body), state)
    assert list(document)[:3] == ["code", "version", "status"]
    assert (document["version"], document["status"], document["superseded_by"]) == (2, "retired", 3)
    assert document["created_at"] == "2026-03-02T09:30:00+00:00"
    # The payment stage (v1 addition) defaults to `none`: the fee is collected outside Simpul.
    assert document["fee"] == {"amount": 0, "currency": "IDR", "legal_basis": "Gratis", "payment_stage": "none",
                               "refundable": False}
    assert document["requirements"][0]["required"] is True
    assert content_from_document(orjson.dumps(document)) == content_of(body)

    summary = summary_of(document)
    assert summary["fee"] == {"amount": 0, "currency": "IDR"} and "form_schema" not in summary
    assert search_text(document) == "uji-a\nlayanan uji\ntest\nlayanan untuk pengujian."


def test_etags_follow_the_bytes():
    assert etag_of(b"{}") == etag_of(b"{}")
    assert etag_of(b'{"a":1}') != etag_of(b'{"a":2}')
    assert etag_of(b"{}").startswith('"') and etag_of(b"{}").endswith('"')
