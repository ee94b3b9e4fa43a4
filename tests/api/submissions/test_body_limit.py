"""The submissions service holds bodies it parses whole to SIMPUL_MAX_JSON_BYTES itself (the
gateway does too: defence in depth), whatever type the client declares; uploads keep theirs."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import func, select

from tests.api.submissions.conftest import PDF, VALID_DATA, applicant

from simpul.submissions.models import documents, submissions

LIMIT = 4096


@pytest.fixture
def harness_overrides() -> dict:
    return {"max_json_bytes": LIMIT}


async def count(harness, table) -> int:
    async with harness.app.state.engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(table))).scalar_one()


@pytest.mark.parametrize("media_type", ["application/json", "multipart/form-data; boundary=x", "text/plain"])
async def test_an_oversize_body_is_413_and_nothing_is_written(harness, media_type):
    padded = {"service_code": "IZIN-USAHA", "applicant": {"name": "x" * LIMIT, "email": "a@example.go.id"},
              "data": VALID_DATA}
    body = orjson.dumps(padded)

    async def chunked():
        yield body

    for content in (body, chunked()):
        response = await harness.client.post("/v1/submissions", content=content,
                                             headers={**applicant(), "Content-Type": media_type})
        assert response.status_code == 413, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert await count(harness, submissions) == 0


async def test_uploads_are_held_to_their_requirement_not_to_the_json_limit(harness):
    created = await harness.create()
    large_pdf = PDF[:-7] + b"0" * (3 * LIMIT) + PDF[-7:]
    response = await harness.upload(created["id"], "domicile", large_pdf)
    assert response.status_code == 201, response.text
    assert await count(harness, documents) == 1
