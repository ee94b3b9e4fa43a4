"""Create, revise, publish, retire; versions and history; who may do what."""

from __future__ import annotations

import asyncio
from datetime import datetime

from simpul.catalog.schemas import ServiceHistoryPage, ServiceDocument, VersionPage
from tests.api.catalog.helpers import admin, assert_problem, create, public, publish, role, service_body


def rfc3339(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, value
    return parsed


async def test_create_gives_a_draft_version_1_seen_only_by_admins(client):
    response = await client.post("/v1/services", json=service_body("UJI-A"), headers=admin())
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/services/UJI-A"
    assert response.headers["etag"].startswith('"')
    document = response.json()
    ServiceDocument.model_validate(document)
    assert (document["code"], document["version"], document["status"]) == ("UJI-A", 1, "draft")
    assert document["name_en"] == "Test service"
    assert document["standard"]["number_of_staff"] == "4 orang"
    assert document["published_at"] is None
    rfc3339(document["created_at"])

    for headers in (public(), role("applicant", "31"), role("officer", "KDN-BH"), role("service")):
        assert_problem(await client.get("/v1/services/UJI-A", headers=headers), 404)
        assert_problem(await client.get("/v1/services/UJI-A/versions/1", headers=headers), 404)
        assert_problem(await client.get("/v1/services/UJI-A/versions", headers=headers), 404)
        listed = (await client.get("/v1/services", headers=headers)).json()
        assert listed == {"items": [], "next_cursor": None}

    seen = await client.get("/v1/services/UJI-A", headers=admin())
    assert seen.status_code == 200
    assert seen.json() == document
    assert seen.headers["cache-control"] == "no-store"
    assert [item["code"] for item in (await client.get("/v1/services", headers=admin())).json()["items"]] == ["UJI-A"]


async def test_revising_a_draft_replaces_it_in_place(client):
    await create(client, "UJI-A")
    revised = await client.put("/v1/services/UJI-A", json=service_body("UJI-A", sla_working_days=9), headers=admin())
    assert revised.status_code == 200, revised.text
    assert (revised.json()["version"], revised.json()["sla_working_days"]) == (1, 9)

    # The code may be left out of a PUT body: the path names the service.
    body = service_body("UJI-A", name="Layanan uji diperbaiki")
    del body["code"]
    renamed = await client.put("/v1/services/UJI-A", json=body, headers=admin())
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["version"] == 1 and renamed.json()["name"] == "Layanan uji diperbaiki"

    versions = (await client.get("/v1/services/UJI-A/versions", headers=admin())).json()
    assert [item["version"] for item in versions["items"]] == [1]


async def test_publish_then_revise_makes_a_new_current_version_and_keeps_the_old(client):
    await create(client, "UJI-A")
    assert (await client.get("/v1/services/UJI-A", headers=admin())).json()["status"] == "draft"
    published = await publish(client, "UJI-A")
    assert published["status"] == "published"
    rfc3339(published["published_at"])

    seen = await client.get("/v1/services/UJI-A", headers=public())
    assert seen.status_code == 200 and seen.json() == published
    assert seen.headers["cache-control"] == "public, max-age=60"

    revised = await client.put("/v1/services/UJI-A", json=service_body("UJI-A", sla_working_days=7), headers=admin())
    assert revised.status_code == 200, revised.text
    current = revised.json()
    assert (current["version"], current["status"], current["sla_working_days"]) == (2, "published", 7)

    assert (await client.get("/v1/services/UJI-A", headers=public())).json() == current
    first = (await client.get("/v1/services/UJI-A/versions/1", headers=public())).json()
    ServiceDocument.model_validate(first)
    assert (first["version"], first["sla_working_days"], first["status"], first["superseded_by"]) == (1, 5, "retired", 2)
    assert first["published_at"] == published["published_at"]
    assert (await client.get("/v1/services/UJI-A/versions/2", headers=role("service"))).json() == current

    # The same content again is no revision: PUT stays idempotent.
    again = await client.put("/v1/services/UJI-A", json=service_body("UJI-A", sla_working_days=7), headers=admin())
    assert again.status_code == 200 and again.json() == current
    assert again.headers["etag"] == revised.headers["etag"]

    versions = (await client.get("/v1/services/UJI-A/versions", headers=public())).json()
    VersionPage.model_validate(versions)
    assert [(v["version"], v["status"], v["current"]) for v in versions["items"]] == [
        (1, "retired", False),
        (2, "published", True),
    ]
    assert_problem(await client.get("/v1/services/UJI-A/versions/3", headers=admin()), 404)

    listed = (await client.get("/v1/services", headers=public())).json()["items"]
    assert [(item["code"], item["version"], item["sla_working_days"]) for item in listed] == [("UJI-A", 2, 7)]


async def test_retire_is_final_and_keeps_the_service_readable(client):
    await create(client, "UJI-A")
    await publish(client, "UJI-A")
    retired = await client.post("/v1/services/UJI-A/retire", headers=admin())
    assert retired.status_code == 200, retired.text
    assert retired.json()["status"] == "retired"
    rfc3339(retired.json()["retired_at"])

    readable = await client.get("/v1/services/UJI-A", headers=public())
    assert readable.status_code == 200 and readable.json()["status"] == "retired"
    assert (await client.get("/v1/services", headers=public())).json()["items"] == []

    revise = assert_problem(await client.put("/v1/services/UJI-A", json=service_body("UJI-A"), headers=admin()), 409)
    assert revise["state"] == "retired" and "retired" in revise["detail"]
    for action in ("publish", "retire"):
        refused = assert_problem(await client.post(f"/v1/services/UJI-A/{action}", headers=admin()), 409)
        assert refused["state"] == "retired"
        assert refused["type"].endswith("invalid-service-state")
    assert (await client.get("/v1/services/UJI-A/versions", headers=admin())).json()["items"][0]["version"] == 1


async def test_wrong_state_is_409_naming_the_state(client):
    await create(client, "UJI-A")
    draft = assert_problem(
        await client.post("/v1/services/UJI-A/retire", headers={**admin(), "Accept-Language": "en"}), 409
    )
    assert draft["state"] == "draft"
    assert draft["detail"] == "Service 'UJI-A' is draft; 'retire' is not possible."
    await publish(client, "UJI-A")
    twice = assert_problem(await client.post("/v1/services/UJI-A/publish", headers=admin()), 409)
    assert twice["state"] == "published"
    assert "published" in twice["detail"]


async def test_history_records_every_change_with_who_and_when(client):
    await create(client, "UJI-A")
    await client.put("/v1/services/UJI-A", json=service_body("UJI-A", sla_working_days=6), headers=admin())
    await client.post("/v1/services/UJI-A/publish", headers=admin("admin-2"))
    await client.put("/v1/services/UJI-A", json=service_body("UJI-A", sla_working_days=8), headers=admin())
    await client.post("/v1/services/UJI-A/retire", headers=admin("admin-3"))

    history = (await client.get("/v1/services/UJI-A/history", headers=admin())).json()
    ServiceHistoryPage.model_validate(history)
    assert [(h["action"], h["version"], h["from"], h["to"], h["actor"]["client_id"]) for h in history["items"]] == [
        ("created", 1, None, "draft", "admin-1"),
        ("revised", 1, "draft", "draft", "admin-1"),
        ("published", 1, "draft", "published", "admin-2"),
        ("revised", 2, "published", "published", "admin-1"),
        ("retired", 2, "published", "retired", "admin-3"),
    ]
    assert all(h["actor"]["role"] == "admin" for h in history["items"])
    moments = [rfc3339(h["at"]) for h in history["items"]]
    assert moments == sorted(moments)

    first = (await client.get("/v1/services/UJI-A/history", params={"limit": 2}, headers=admin())).json()
    rest = (
        await client.get("/v1/services/UJI-A/history", params={"cursor": first["next_cursor"]}, headers=admin())
    ).json()
    assert first["items"] + rest["items"] == history["items"] and rest["next_cursor"] is None

    assert_problem(await client.get("/v1/services/UJI-A/history", headers=public()), 401)
    assert_problem(await client.get("/v1/services/UJI-A/history", headers=role("officer", "KDN-BH")), 403)
    assert_problem(await client.get("/v1/services/NOPE/history", headers=admin()), 404)


async def test_writes_need_an_admin(client):
    body = service_body("UJI-A")
    anonymous_post = assert_problem(await client.post("/v1/services", json=body, headers=public()), 401)
    assert anonymous_post["type"].endswith("unauthenticated")
    for headers in (role("applicant", "31"), role("officer", "KDN-BH"), role("service")):
        assert_problem(await client.post("/v1/services", json=body, headers=headers), 403)
    await create(client, "UJI-A")
    for method, path in (
        ("PUT", "/v1/services/UJI-A"),
        ("POST", "/v1/services/UJI-A/publish"),
        ("POST", "/v1/services/UJI-A/retire"),
    ):
        payload = body if method == "PUT" else None
        refused = await client.request(method, path, json=payload, headers=public())
        assert_problem(refused, 401)
        assert refused.headers["www-authenticate"] == "Bearer"
        assert_problem(await client.request(method, path, json=payload, headers=role("officer", "KDN-BH")), 403)
    assert (await client.get("/v1/services/UJI-A", headers=admin())).json()["status"] == "draft"


async def test_unknown_services_are_404(client):
    for method, path in (
        ("GET", "/v1/services/NOPE"),
        ("GET", "/v1/services/NOPE/versions"),
        ("GET", "/v1/services/NOPE/versions/1"),
        ("PUT", "/v1/services/NOPE"),
        ("POST", "/v1/services/NOPE/publish"),
        ("POST", "/v1/services/NOPE/retire"),
        ("GET", "/v1/services/not%20a%20code"),
        ("GET", "/v1/services/" + "X" * 300),
    ):
        payload = service_body("NOPE") if method == "PUT" else None
        problem = assert_problem(await client.request(method, path, json=payload, headers=admin()), 404)
        assert len(problem["detail"]) < 200


async def test_creating_an_existing_code_is_409(client):
    await create(client, "UJI-A")
    problem = assert_problem(await client.post("/v1/services", json=service_body("UJI-A"), headers=admin()), 409)
    assert problem["type"].endswith("service-exists")


async def test_concurrent_revisions_each_get_their_own_version(client):
    await create(client, "UJI-A")
    await publish(client, "UJI-A")
    responses = await asyncio.gather(
        *(
            client.put("/v1/services/UJI-A", json=service_body("UJI-A", sla_working_days=10 + n), headers=admin())
            for n in range(5)
        )
    )
    assert [r.status_code for r in responses] == [200] * 5
    assert sorted(r.json()["version"] for r in responses) == [2, 3, 4, 5, 6]
    versions = (await client.get("/v1/services/UJI-A/versions", headers=public())).json()["items"]
    assert [v["version"] for v in versions] == [1, 2, 3, 4, 5, 6]
    assert [v["current"] for v in versions] == [False] * 5 + [True]
    assert [v["superseded_by"] for v in versions] == [2, 3, 4, 5, 6, None]
