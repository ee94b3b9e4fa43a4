"""The gateway's own audit log (API clients), and the other services' logs routed to them."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from simpul.gateway.models import audit
from simpul.shared.pagination import encode_cursor

LOG = "/v1/admin/audit/gateway"


async def test_client_changes_are_audited_with_actor_and_request_id(gateway):
    admin = await gateway.admin()
    created = await gateway.http.post("/v1/admin/clients", json={"name": "Kota Palembang", "role": "applicant",
                                                                 "tenant": "16.71"},
                                      headers={**admin, "X-Request-Id": "req-create-1"})
    client_id = created.json()["client_id"]
    revoked = await gateway.http.delete(f"/v1/admin/clients/{client_id}", headers={**admin, "X-Request-Id": "req-2"})
    assert revoked.status_code == 204

    page = await gateway.http.get(LOG, headers=admin)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    items = page.json()["items"]
    # The bootstrap admin's creation comes first, by the system.
    assert (items[0]["action"], items[0]["actor"]["role"]) == ("client.created", "system")
    mine = [item for item in items if item["object"] == {"type": "client", "id": client_id}]
    assert [(item["action"], item["request_id"], item["actor"]["id"], item["actor"]["role"]) for item in mine] == [
        ("client.created", "req-create-1", "test-admin", "admin"),
        ("client.revoked", "req-2", "test-admin", "admin"),
    ]
    assert mine[0]["details"] == {"role": "applicant", "tenant": "16.71"}


async def test_pages_and_verification(gateway):
    admin = await gateway.admin()
    for number in range(3):
        await gateway.create_client("applicant", "16.71", name=f"Client {number}")
    first = (await gateway.http.get(LOG, params={"limit": 2}, headers=admin)).json()
    second = (await gateway.http.get(LOG, params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin)).json()
    assert [item["seq"] for item in first["items"] + second["items"]] == [1, 2, 3, 4]
    assert second["next_cursor"] is None
    for cursor in ("%%%", encode_cursor(["3"])):
        refused = await gateway.http.get(LOG, params={"cursor": cursor}, headers=admin)
        assert (refused.status_code, refused.headers["content-type"]) == (400, "application/problem+json")

    verified = await gateway.http.get(f"{LOG}/verify", headers=admin)
    assert verified.json() == {"valid": True, "checked": 4, "first_broken": None, "reason": None}

    async with gateway.app.state.audit.sessions.begin() as session:
        await session.execute(update(audit.log).where(audit.log.c.seq == 3).values(object_id="someone-else"))
    broken = (await gateway.http.get(f"{LOG}/verify", headers=admin)).json()
    assert broken == {"valid": False, "checked": 3, "first_broken": 3, "reason": "altered"}


@pytest.mark.parametrize("path", [LOG, f"{LOG}/verify"])
async def test_only_admins_read_the_log(gateway, path):
    _, officer = await gateway.client_headers("officer", "KDN-PFK")
    assert (await gateway.http.get(path, headers=officer)).status_code == 403
    assert (await gateway.http.get(path)).status_code == 401


@pytest.mark.parametrize("service", ["catalog", "submissions", "signatures", "notifications"])
async def test_another_services_log_is_answered_by_that_service(gateway, service):
    answer = await gateway.http.get(f"/v1/admin/audit/{service}/verify", headers=await gateway.admin())
    echoed = answer.json()
    assert (echoed["service"], echoed["path"], echoed["identity"]["role"]) == (
        service, f"/v1/admin/audit/{service}/verify", "admin")


async def test_an_unknown_log_is_not_found(gateway):
    assert (await gateway.http.get("/v1/admin/audit/nope", headers=await gateway.admin())).status_code == 404
