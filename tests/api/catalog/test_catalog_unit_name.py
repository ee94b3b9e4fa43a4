"""A standard may give its unit's full name (issued documents print it); without it, nothing changes."""

from __future__ import annotations

from tests.api.catalog.helpers import admin, assert_problem, create, fields_of, public, publish, service_body

NAME = "Direktorat Jenderal Bina Keuangan Daerah"


async def test_unit_name_is_kept_and_served(client):
    await create(client, "UJI-NAMA", unit_name=NAME)
    await publish(client, "UJI-NAMA")
    served = (await client.get("/v1/services/UJI-NAMA", headers=public())).json()
    assert served["unit_name"] == NAME and served["unit"]

    await create(client, "UJI-TANPA")
    await publish(client, "UJI-TANPA")
    without = (await client.get("/v1/services/UJI-TANPA", headers=public())).json()
    assert "unit_name" not in without  # documents written without it read exactly as before


async def test_a_malformed_unit_name_is_refused(client):
    for bad in ("", "Biro\nHukum", "x" * 201):
        response = await client.post("/v1/services", json=service_body("UJI-SALAH", unit_name=bad), headers=admin())
        assert fields_of(assert_problem(response, 422)) == ["unit_name"]
