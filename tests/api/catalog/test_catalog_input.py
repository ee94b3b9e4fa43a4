"""Bad input is a 4xx problem naming the field, and writes nothing; Idempotency-Key on POST."""

from __future__ import annotations

import copy
import json

from tests.api.catalog.helpers import admin, assert_problem, create, fields_of, public, publish, service_body


def with_change(path: str, value, code: str = "UJI-A") -> dict:
    """service_body with the value at a dotted path replaced (or added)."""
    body = service_body(code)
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return body


def without(path: str, code: str = "UJI-A") -> dict:
    body = service_body(code)
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    del target[last]
    return body


INVALID_BODIES = [
    (with_change("surprise", True), "surprise"),
    (with_change("fee.discount", 10), "fee.discount"),
    (with_change("requirements.0.colour", "red"), "requirements.0.colour"),
    (with_change("standard.mascot", "garuda"), "standard.mascot"),
    (without("name"), "name"),
    (without("standard.security_guarantee"), "standard.security_guarantee"),
    (with_change("code", "lowercase"), "code"),
    (with_change("code", "A"), "code"),
    (with_change("unit", "kdn bh"), "unit"),
    (with_change("category", "Not A Slug"), "category"),
    (with_change("sla_working_days", 0), "sla_working_days"),
    (with_change("sla_working_days", "5"), "sla_working_days"),
    (with_change("fee.amount", -1), "fee.amount"),
    (with_change("fee.amount", 1500.5), "fee.amount"),
    (with_change("fee.amount", "0"), "fee.amount"),
    (with_change("fee.currency", "USD"), "fee.currency"),
    (with_change("requirements.0.max_bytes", 100 * 1024 * 1024 + 1), "requirements.0.max_bytes"),
    (with_change("requirements.0.max_bytes", 0), "requirements.0.max_bytes"),
    (with_change("requirements.0.content_types", []), "requirements.0.content_types"),
    (with_change("requirements.0.content_types", ["pdf"]), "requirements.0.content_types.0"),
    (with_change("requirements.0.required", "yes"), "requirements.0.required"),
    (with_change("requirements.1.code", "SURAT"), "requirements.1.code"),
    (with_change("requirements.0.content_types", ["image/png", "image/png"]), "requirements.0.content_types.1"),
    (with_change("procedure.1.step", 3), "procedure.1.step"),
    (with_change("procedure", []), "procedure"),
    (with_change("legal_basis", []), "legal_basis"),
    (with_change("complaint_channels", []), "complaint_channels"),
    (with_change("form_schema", "not an object"), "form_schema"),
    (with_change("form_schema.type", "array"), "form_schema.type"),
    (with_change("form_schema.properties.perihal.type", "strin"), "form_schema.properties.perihal.type"),
    (with_change("form_schema.required", "perihal"), "form_schema.required"),
    (with_change("form_schema.properties.perihal.minLength", -1), "form_schema.properties.perihal.minLength"),
    (with_change("form_schema.properties.perihal.pattern", "(unclosed"), "form_schema.properties.perihal.pattern"),
    (with_change("form_schema.$schema", "http://json-schema.org/draft-07/schema#"), "form_schema.$schema"),
    (
        with_change("form_schema.properties.alamat", {"$ref": "https://example.com/alamat.json"}),
        "form_schema.properties.alamat.$ref",
    ),
    (with_change("form_schema.properties.perihal.maxLength", 2**70), "form_schema.properties.perihal.maxLength"),
    (with_change("form_schema.properties.perihal.title", "a\x00b"), "form_schema.properties.perihal.title"),
    (with_change("name", "Layanan\x00uji"), "name"),
    (with_change("legal_basis", ["UU 25/2009\x00"]), "legal_basis.0"),
    (with_change("name", "Layanan\nuji"), "name"),
    (with_change("description", "bel\x07"), "description"),
    (with_change("standard.facilities", "C1\x85 kendali"), "standard.facilities"),
    (with_change("procedure.0.title", "\x1b[2J"), "procedure.0.title"),
    (with_change("complaint_channels.0.contact", "del\x7f"), "complaint_channels.0.contact"),
    (with_change("form_schema.properties.perihal.description", "esc\x1b"), "form_schema.properties.perihal.description"),
    (with_change("fee.amount", 10**13), "fee.amount"),
    (with_change("personal_data_retention_days", -1), "personal_data_retention_days"),
    (with_change("personal_data_retention_days", 36501), "personal_data_retention_days"),
    (with_change("personal_data_retention_days", "30"), "personal_data_retention_days"),
    (with_change("personal_data_retention_days", 1.5), "personal_data_retention_days"),
]


async def test_invalid_input_is_422_naming_the_field_and_writes_nothing(client):
    # One app for every case: a fresh database per case costs more than the cases themselves.
    missed = []
    for body, field in INVALID_BODIES:
        problem = assert_problem(await client.post("/v1/services", json=body, headers=admin()), 422)
        if field not in fields_of(problem) or not all(error["message"] for error in problem["errors"]):
            missed.append((field, problem["errors"]))
    assert missed == []
    assert_problem(await client.get("/v1/services/UJI-A", headers=admin()), 404)
    assert (await client.get("/v1/services", headers=admin())).json()["items"] == []
    assert (await client.get("/v1/services/UJI-A/history", headers=admin())).status_code == 404


async def test_a_revision_is_checked_the_same_way_and_changes_nothing(client):
    await create(client, "UJI-A")
    await publish(client, "UJI-A")
    before = (await client.get("/v1/services/UJI-A", headers=admin())).json()
    for body, field in INVALID_BODIES[:3] + INVALID_BODIES[-6:]:
        body = copy.deepcopy(body)
        body["code"] = "UJI-A"
        problem = assert_problem(await client.put("/v1/services/UJI-A", json=body, headers=admin()), 422)
        assert field in fields_of(problem)
    mismatch = assert_problem(
        await client.put("/v1/services/UJI-A", json=service_body("UJI-B"), headers=admin()), 422
    )
    assert fields_of(mismatch) == ["code"]
    assert (await client.get("/v1/services/UJI-A", headers=admin())).json() == before
    assert len((await client.get("/v1/services/UJI-A/history", headers=admin())).json()["items"]) == 2


async def test_validation_messages_follow_accept_language(client):
    body = with_change("form_schema.type", "array")
    english = assert_problem(
        await client.post("/v1/services", json=body, headers={**admin(), "Accept-Language": "en"}), 422
    )
    assert english["title"] == "Unprocessable content"
    assert english["errors"] == [
        {"field": "form_schema.type", "message": 'form_schema must describe an object ("type": "object")'}
    ]
    indonesian = assert_problem(await client.post("/v1/services", json=body, headers=admin()), 422)
    assert indonesian["errors"][0]["message"].startswith("form_schema harus")


async def test_oversize_bodies_are_413_before_anything_else(client):
    body = service_body("UJI-A", description="x" * 2_000_000)
    for headers in (admin(), public()):
        problem = assert_problem(await client.post("/v1/services", json=body, headers=headers), 413)
        assert problem["type"].endswith("content-too-large")

    async def chunks():
        for _ in range(300):
            yield b" " * 4096

    streamed = await client.put(
        "/v1/services/UJI-A", content=chunks(), headers={**admin(), "Content-Type": "application/json"}
    )
    assert_problem(streamed, 413)
    assert_problem(await client.get("/v1/services/UJI-A", headers=admin()), 404)


async def test_malformed_json_is_400(client):
    response = await client.post(
        "/v1/services", content=b'{"code": "UJI-A",', headers={**admin(), "Content-Type": "application/json"}
    )
    assert_problem(response, 400)


async def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(client):
    headers = {**admin(), "Idempotency-Key": "create-uji-a"}
    first = await client.post("/v1/services", json=service_body("UJI-A"), headers=headers)
    assert first.status_code == 201
    replay = await client.post("/v1/services", json=service_body("UJI-A"), headers=headers)
    assert replay.status_code == 201
    assert replay.content == first.content
    assert replay.headers["location"] == "/v1/services/UJI-A"
    assert replay.headers["idempotent-replayed"] == "true"

    other = await client.post("/v1/services", json=service_body("UJI-B"), headers=headers)
    assert assert_problem(other, 409)["type"].endswith("idempotency-key-reused")
    assert_problem(await client.get("/v1/services/UJI-B", headers=admin()), 404)
    history = (await client.get("/v1/services/UJI-A/history", headers=admin())).json()["items"]
    assert [entry["action"] for entry in history] == ["created"]

    # A publish retried with its key answers as the first time instead of 409.
    publish_headers = {**admin(), "Idempotency-Key": "publish-uji-a"}
    published = await client.post("/v1/services/UJI-A/publish", headers=publish_headers)
    again = await client.post("/v1/services/UJI-A/publish", headers=publish_headers)
    assert (published.status_code, again.status_code) == (200, 200)
    assert again.content == published.content


async def test_a_replay_after_publishing_returns_the_draft_first_answered(served):
    client, app = served
    headers = {**admin(), "Idempotency-Key": "create-uji-kept"}
    first = await client.post("/v1/services", json=service_body("UJI-K"), headers=headers)
    assert first.status_code == 201 and first.json()["status"] == "draft"
    await app.state.idempotency_answers.flush()
    assert (await client.post("/v1/services/UJI-K/publish", headers=admin())).status_code == 200
    replay = await client.post("/v1/services", json=service_body("UJI-K"), headers=headers)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content and replay.headers["location"] == first.headers["location"]


async def test_anonymous_status_filter_needs_a_token(client):
    assert_problem(await client.get("/v1/services", params={"status": "draft"}, headers=public()), 401)
    assert (await client.get("/v1/services", params={"status": "published"}, headers=public())).status_code == 200
    assert_problem(await client.get("/v1/services", params={"status": "deleted"}, headers=admin()), 422)


async def test_numbers_json_allows_but_storage_cannot_are_refused(client):
    body = service_body("UJI-A")
    raw = json.dumps(body).replace('"minLength": 3', '"minLength": 3, "maximum": NaN')
    assert "NaN" in raw
    response = await client.post("/v1/services", content=raw, headers={**admin(), "Content-Type": "application/json"})
    assert fields_of(assert_problem(response, 422)) == ["form_schema.properties.perihal.maximum"]


async def test_a_retention_period_of_personal_data_is_optional(client):
    """Without it the document is what v1 clients always got; with it, the standard carries it and
    changing it makes a new version like any other change."""
    plain = await create(client, "UJI-TANPA")
    assert "personal_data_retention_days" not in plain
    await publish(client, "UJI-TANPA")
    unchanged = await client.put("/v1/services/UJI-TANPA", json=service_body("UJI-TANPA"), headers=admin())
    assert unchanged.status_code == 200 and unchanged.json()["version"] == 1  # same content: no new version
    kept = await create(client, "UJI-RETENSI", personal_data_retention_days=365)
    assert kept["personal_data_retention_days"] == 365
    await publish(client, "UJI-RETENSI")
    served = (await client.get("/v1/services/UJI-RETENSI", headers=public())).json()
    assert served["personal_data_retention_days"] == 365
    revised = await client.put("/v1/services/UJI-RETENSI", headers=admin(),
                               json=service_body("UJI-RETENSI", personal_data_retention_days=0))
    assert revised.status_code == 200 and revised.json()["version"] == 2
    assert revised.json()["personal_data_retention_days"] == 0
