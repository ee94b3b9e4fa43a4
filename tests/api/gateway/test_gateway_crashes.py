"""Creating an API client through a crash: the process dies after the client was committed,
before its answer (which shows the secret once) was sent; the retry makes no second client."""

from __future__ import annotations

async def test_a_client_is_created_once(start_gateway, deaths):
    async with start_gateway() as gateway:
        admin = await gateway.admin()
        body = {"name": "Kota Palembang", "role": "applicant", "tenant": "16.71"}
        await deaths.refused_after_death(gateway.http, "/v1/admin/clients", admin, json=body)
        listed = (await gateway.http.get("/v1/admin/clients", params={"role": "applicant"}, headers=admin)).json()
        assert [client["name"] for client in listed["items"]] == ["Kota Palembang"]
