"""Public reading: lists with filters and cursors, ETag and 304, the demo catalogue."""

from __future__ import annotations

import asyncio

from simpul.catalog.app import create_app
from simpul.catalog.schemas import ServiceDocument, ServicePage, ServiceRevision
from simpul.catalog.settings import CatalogSettings
from simpul.shared.pagination import encode_cursor
from tests.api.catalog.helpers import admin, assert_problem, create, public, publish, role, service_body
from tests.support.asgi import running


async def walk(client, headers, **params) -> list[dict]:
    """Every item of a list, page by page; checks that pages never overlap."""
    items: list[dict] = []
    cursor = None
    pages = 0
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = await client.get("/v1/services", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        ServicePage.model_validate(page)
        assert len(page["items"]) <= params.get("limit", 50)
        items.extend(page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert pages < 50


async def seed_catalogue(client) -> None:
    """Eleven services over two units and categories; three drafts, one retired."""
    specs = [
        ("KDN-BH", "perizinan", "Izin perjalanan dinas", "Travel permit"),
        ("KDN-BH", "perizinan", "Izin penelitian", "Research permit"),
        ("KDN-BH", "rekomendasi", "Rekomendasi pemekaran", "Recommendation on a new region"),
        ("OTDA", "perizinan", "Izin cuti kepala daerah", "Leave permit for a regional head"),
        ("OTDA", "fasilitasi", "Fasilitasi ranperda", "Facilitation of a draft regulation"),
        ("OTDA", "fasilitasi", "Fasilitasi 100% daring", "Fully online facilitation"),
        ("KEUDA", "rekomendasi", "Rekomendasi pinjaman daerah", "Regional loan recommendation"),
        ("KEUDA", "fasilitasi", "Evaluasi APBD", "Budget evaluation"),
        ("BANGDA", "fasilitasi", "Evaluasi RPJMD", "Evaluation of the medium-term plan"),
        ("BANGDA", "rekomendasi", "Pertimbangan RKPD", "Annual plan review"),
        ("BANGDA", "perizinan", "Izin uji", "Test permit"),
    ]
    for index, (unit, category, name, name_en) in enumerate(specs):
        code = f"SVC-{index:02d}"
        await create(client, code, unit=unit, category=category, name=name, name_en=name_en)
        if index not in (2, 5, 8):
            await publish(client, code)
    assert (await client.post("/v1/services/SVC-10/retire", headers=admin())).status_code == 200


async def test_lists_walk_every_page_in_code_order(client):
    await seed_catalogue(client)
    published = [f"SVC-{i:02d}" for i in (0, 1, 3, 4, 6, 7, 9)]
    for limit in (1, 2, 3, 7, 50):
        items = await walk(client, public(), limit=limit)
        assert [item["code"] for item in items] == published
    assert {item["status"] for item in items} == {"published"}
    assert [item["code"] for item in await walk(client, role("applicant", "31"), limit=4)] == published
    assert [item["code"] for item in await walk(client, role("service"), limit=4)] == published

    everything = await walk(client, admin(), limit=4)
    assert [item["code"] for item in everything] == [f"SVC-{i:02d}" for i in range(11)]
    drafts = await walk(client, admin(), limit=2, status="draft")
    assert [item["code"] for item in drafts] == ["SVC-02", "SVC-05", "SVC-08"]
    assert [item["code"] for item in await walk(client, admin(), status="retired")] == ["SVC-10"]
    assert_problem(await client.get("/v1/services", params={"status": "draft"}, headers=role("officer", "OTDA")), 403)


async def test_filters_combine_with_pagination(client):
    await seed_catalogue(client)
    codes = lambda items: [item["code"] for item in items]  # noqa: E731
    assert codes(await walk(client, public(), unit="OTDA", limit=1)) == ["SVC-03", "SVC-04"]
    assert codes(await walk(client, public(), category="rekomendasi")) == ["SVC-06", "SVC-09"]
    assert codes(await walk(client, public(), unit="KEUDA", category="fasilitasi")) == ["SVC-07"]
    assert codes(await walk(client, public(), q="IZIN", limit=1)) == ["SVC-00", "SVC-01", "SVC-03"]
    assert codes(await walk(client, public(), q="loan")) == ["SVC-06"]
    assert codes(await walk(client, public(), q="svc-09")) == ["SVC-09"]
    assert codes(await walk(client, admin(), q="100%")) == ["SVC-05"]
    assert codes(await walk(client, admin(), q="_")) == []
    assert codes(await walk(client, public(), unit="NOWHERE")) == []


async def test_list_items_are_summaries_of_the_current_version(client):
    fee = {"amount": 50000, "currency": "IDR", "legal_basis": "PP 1/2020"}
    await create(client, "UJI-A", fee=fee)
    await publish(client, "UJI-A")
    await client.put("/v1/services/UJI-A", json=service_body("UJI-A", name="Nama baru", fee=fee), headers=admin())
    (item,) = (await client.get("/v1/services", headers=public())).json()["items"]
    assert item["version"] == 2 and item["name"] == "Nama baru"
    assert item["fee"] == {"amount": 50000, "currency": "IDR"}
    assert "form_schema" not in item


async def test_bad_paging_parameters(client):
    assert_problem(await client.get("/v1/services", params={"cursor": "!!!"}, headers=public()), 400)
    assert_problem(await client.get("/v1/services", params={"cursor": "WzFd"}, headers=public()), 400)  # [1]
    assert_problem(await client.get("/v1/services", params={"limit": 0}, headers=public()), 422)
    limit = assert_problem(await client.get("/v1/services", params={"limit": 201}, headers=public()), 422)
    assert limit["errors"][0]["field"] == "limit"
    await create(client, "UJI-A")
    forged = [encode_cursor(["x"]), encode_cursor([2**40]), encode_cursor([-1]), encode_cursor([True])]
    for cursor in forged:
        for path in ("/v1/services/UJI-A/versions", "/v1/services/UJI-A/history"):
            assert_problem(await client.get(path, params={"cursor": cursor}, headers=admin()), 400)
    for cursor in (encode_cursor(["\x00"]), encode_cursor([7])):
        assert_problem(await client.get("/v1/services", params={"cursor": cursor}, headers=public()), 400)
    for name, value in (("q", "a\x00b"), ("unit", "\x00"), ("category", "x\x00"), ("unit", "kdn bh")):
        problem = assert_problem(await client.get("/v1/services", params={name: value}, headers=public()), 422)
        assert problem["errors"][0]["field"] == name


async def test_etag_and_304(client):
    await create(client, "UJI-A")
    published = await client.post("/v1/services/UJI-A/publish", headers=admin())
    etag = published.headers["etag"]

    first = await client.get("/v1/services/UJI-A", headers=public())
    assert first.headers["etag"] == etag
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cached = await client.get("/v1/services/UJI-A", headers={**public(), "If-None-Match": value})
        assert cached.status_code == 304, value
        assert cached.content == b""
        assert cached.headers["etag"] == etag
        assert cached.headers["cache-control"] == "public, max-age=60"
    assert (await client.get("/v1/services/UJI-A", headers={**public(), "If-None-Match": '"other"'})).status_code == 200

    await client.put("/v1/services/UJI-A", json=service_body("UJI-A", sla_working_days=3), headers=admin())
    changed = await client.get("/v1/services/UJI-A", headers={**public(), "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag and changed.json()["version"] == 2

    # Version 1 changed too: it is now retired, superseded by 2.
    old = await client.get("/v1/services/UJI-A/versions/1", headers={**public(), "If-None-Match": etag})
    assert old.status_code == 200 and old.json()["status"] == "retired"
    again = await client.get("/v1/services/UJI-A/versions/1", headers={**public(), "If-None-Match": old.headers["etag"]})
    assert again.status_code == 304


async def test_demo_catalogue_is_loaded_once_and_admin_changes_survive(settings_for):
    settings = await settings_for(CatalogSettings, demo=True)
    async with running(create_app(settings)) as client:
        items = (await client.get("/v1/services", headers=public())).json()["items"]
        codes = [item["code"] for item in items]
        assert len(codes) >= 3 and {item["status"] for item in items} == {"published"}
        for code in codes:
            document = (await client.get(f"/v1/services/{code}", headers=public())).json()
            ServiceDocument.model_validate(document)
            assert document["name_en"] and document["requirements"] and document["form_schema"]["required"]
        first = codes[0]
        document = (await client.get(f"/v1/services/{first}", headers=admin())).json()
        # Optional fields a standard leaves unset are absent from its document.
        revised = {key: document[key] for key in ServiceRevision.model_fields if key != "code" and key in document}
        changed = await client.put(f"/v1/services/{first}", json={**revised, "sla_working_days": 30}, headers=admin())
        assert changed.status_code == 200, changed.text
        assert (await client.post(f"/v1/services/{codes[1]}/retire", headers=admin())).status_code == 200

    # A second start over the same database creates nothing and undoes nothing.
    async with running(create_app(settings)) as client:
        everything = (await client.get("/v1/services", headers=admin())).json()["items"]
        assert [item["code"] for item in everything] == sorted(codes)
        assert (await client.get(f"/v1/services/{codes[1]}", headers=public())).json()["status"] == "retired"
        current = (await client.get(f"/v1/services/{first}", headers=public())).json()
        assert (current["version"], current["sla_working_days"]) == (2, 30)
        history = (await client.get(f"/v1/services/{codes[2]}/history", headers=admin())).json()["items"]
        assert [(entry["action"], entry["actor"]["client_id"]) for entry in history] == [
            ("created", "catalog:demo"),
            ("published", "catalog:demo"),
        ]


async def test_without_demo_the_catalogue_starts_empty(client):
    assert (await client.get("/v1/services", headers=admin())).json() == {"items": [], "next_cursor": None}


async def test_health_and_calls_without_the_gateway(client):
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    assert 'service="catalog"' in (await client.get("/metrics")).text
    assert_problem(await client.get("/v1/services"), 401)


async def test_another_process_sees_a_change_within_the_cache_time(settings_for):
    settings = await settings_for(CatalogSettings, cache_seconds=0.3)
    async with running(create_app(settings)) as writer, running(create_app(settings)) as reader:
        await create(writer, "UJI-A")
        await publish(writer, "UJI-A")
        assert (await reader.get("/v1/services/UJI-A", headers=public())).json()["version"] == 1
        revised = await writer.put("/v1/services/UJI-A", json=service_body("UJI-A", sla_working_days=2), headers=admin())
        assert revised.json()["version"] == 2
        # The writer shows its own change at once; the other process within the cache time.
        assert (await writer.get("/v1/services/UJI-A", headers=public())).json()["version"] == 2
        assert (await reader.get("/v1/services/UJI-A", headers=public())).json()["version"] == 1
        await asyncio.sleep(0.35)
        assert (await reader.get("/v1/services/UJI-A", headers=public())).json()["version"] == 2
