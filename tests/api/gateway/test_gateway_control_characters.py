"""A client name the system can't carry is refused, naming the field, and no client is made."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "Kota\u0000Palembang", "role": "applicant", "tenant": "16.71"}, "name"),
    ({"name": "Kota\nPalembang", "role": "applicant", "tenant": "16.71"}, "name"),
    ({"name": "Kota Palembang", "role": "applicant", "tenant": "16.71\u0085"}, "tenant"),
])
async def test_a_client_with_a_control_character_is_refused(gateway, body, field):
    admin = await gateway.admin()
    before = len((await gateway.http.get("/v1/admin/clients", headers=admin)).json()["items"])
    response = await gateway.http.post("/v1/admin/clients", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert len((await gateway.http.get("/v1/admin/clients", headers=admin)).json()["items"]) == before
