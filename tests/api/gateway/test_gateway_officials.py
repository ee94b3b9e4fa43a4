"""The officials registry at the gateway, tokens acting as an official, and the services' read."""

from __future__ import annotations

import base64

from sqlalchemy import func, select

from simpul.gateway.models import audit, official_events, officials
from simpul.shared.identity import mint_service_token
from tests.support.identity import TEST_INTERNAL_SECRET

FORM = {"grant_type": "client_credentials"}
SITI = {"nip": "198503142010012002", "name": "Siti Rahma, S.H.", "position": "Kepala Biro Hukum",
        "roles": ["reviewer", "signer"], "email": "siti@kemendagri.go.id"}
BUDI = {"nip": "197901012005011003", "name": "Budi Santoso", "position": "Analis Hukum", "roles": ["verifier"]}


async def officer(gateway, unit: str) -> tuple[dict, dict[str, str]]:
    return await gateway.client_headers("officer", unit)


async def register(gateway, headers, body) -> dict:
    response = await gateway.http.post("/v1/officials", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def count(gateway, table) -> int:
    async with gateway.app.state.gateway.officials.read_sessions() as session:
        return (await session.execute(select(func.count()).select_from(table))).scalar_one()


async def test_officer_registers_lists_changes_and_deactivates_its_units_officials(gateway):
    _, headers = await officer(gateway, "KDN-BH")
    siti = await register(gateway, headers, SITI)
    assert siti["unit"] == "KDN-BH" and siti["active"] is True and siti["id"].startswith("off_")
    assert siti["roles"] == ["reviewer", "signer"] and siti["email"] == SITI["email"]
    budi = await register(gateway, headers, BUDI)

    listed = (await gateway.http.get("/v1/officials", headers=headers)).json()
    assert [item["id"] for item in listed["items"]] == [siti["id"], budi["id"]]

    changed = await gateway.http.patch(f"/v1/officials/{siti['id']}", headers=headers,
                                       json={"position": "Kepala Biro Hukum dan HAM", "email": None})
    assert changed.status_code == 200, changed.text
    assert changed.json()["position"] == "Kepala Biro Hukum dan HAM" and changed.json()["email"] is None

    assert (await gateway.http.delete(f"/v1/officials/{siti['id']}", headers=headers)).status_code == 204
    read = (await gateway.http.get(f"/v1/officials/{siti['id']}", headers=headers)).json()
    assert read["active"] is False and read["deactivated_at"] and read["version"] == 3
    active = (await gateway.http.get("/v1/officials?active=true", headers=headers)).json()
    assert [item["id"] for item in active["items"]] == [budi["id"]]

    history = (await gateway.http.get(f"/v1/officials/{siti['id']}/history", headers=headers)).json()["items"]
    assert [entry["action"] for entry in history] == ["created", "updated", "deactivated"]
    assert history[1]["changes"] == {
        "position": {"from": "Kepala Biro Hukum", "to": "Kepala Biro Hukum dan HAM"},
        "email": {"from": SITI["email"], "to": None},
    }
    assert history[0]["changes"]["nip"] == {"from": None, "to": SITI["nip"]}

    # A deactivated official can't be changed; its NIP may be registered again.
    refused = await gateway.http.patch(f"/v1/officials/{siti['id']}", headers=headers, json={"name": "X"})
    assert refused.status_code == 409
    again = await register(gateway, headers, SITI)
    assert again["id"] != siti["id"]

    async with gateway.app.state.gateway.officials.read_sessions() as session:
        actions = (await session.execute(
            select(audit.log.c.action).where(audit.log.c.object_type == "official").order_by(audit.log.c.seq)
        )).scalars().all()
    assert actions == ["official.created", "official.created", "official.updated", "official.deactivated",
                       "official.created"]


async def test_admin_names_the_unit_and_sees_every_unit(gateway):
    admin = await gateway.admin()
    missing = await gateway.http.post("/v1/officials", json=SITI, headers=admin)
    assert missing.status_code == 422
    assert [error["field"] for error in missing.json()["errors"]] == ["unit"]
    created = await register(gateway, admin, {**SITI, "unit": "KDN-OTDA"})
    assert created["unit"] == "KDN-OTDA" and created["created_by"] == "test-admin"
    _, headers = await officer(gateway, "KDN-BH")
    await register(gateway, headers, BUDI)
    everyone = (await gateway.http.get("/v1/officials", headers=admin)).json()["items"]
    assert {item["unit"] for item in everyone} == {"KDN-OTDA", "KDN-BH"}
    one_unit = (await gateway.http.get("/v1/officials?unit=KDN-BH", headers=admin)).json()["items"]
    assert [item["nip"] for item in one_unit] == [BUDI["nip"]]


async def test_bad_input_names_the_field_and_writes_nothing(gateway):
    _, headers = await officer(gateway, "KDN-BH")
    cases = [
        ({**SITI, "nip": "19850314201001200"}, "nip"),       # 17 digits
        ({**SITI, "nip": "19850230201001200X"}, "nip"),      # not digits
        ({**SITI, "nip": "198502302010012002"}, "nip"),      # 30 February
        ({**SITI, "nip": "198503142010132002"}, "nip"),      # month 13 of appointment
        ({**SITI, "nip": "198503142010013002"}, "nip"),      # sex digit 3
        ({**SITI, "roles": ["signer", "camat"]}, "roles.1"),
        ({**SITI, "roles": []}, "roles"),
        ({**SITI, "email": "not an address"}, "email"),
        ({**SITI, "name": ""}, "name"),
        ({**SITI, "position": "Kepala\nBiro"}, "position"),
    ]
    for body, field in cases:
        response = await gateway.http.post("/v1/officials", json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [error["field"] for error in response.json()["errors"]], (field, response.text)
    foreign = await gateway.http.post("/v1/officials", json={**SITI, "unit": "KDN-OTDA"}, headers=headers)
    assert foreign.status_code == 403 and foreign.json()["errors"][0]["field"] == "unit"
    applicant = (await gateway.client_headers("applicant", "16.71"))[1]
    assert (await gateway.http.post("/v1/officials", json=SITI, headers=applicant)).status_code == 403
    assert await count(gateway, officials) == 0 and await count(gateway, official_events) == 0

    await register(gateway, headers, SITI)
    duplicate = await gateway.http.post("/v1/officials", json={**BUDI, "nip": SITI["nip"]}, headers=headers)
    assert duplicate.status_code == 409 and duplicate.json()["errors"][0]["field"] == "nip"
    # The same NIP in another unit is another registration (a person moved, or serves two units).
    other_unit = (await officer(gateway, "KDN-OTDA"))[1]
    await register(gateway, other_unit, SITI)
    assert await count(gateway, officials) == 2


async def test_officers_of_another_unit_see_and_change_nothing(gateway):
    _, ours = await officer(gateway, "KDN-BH")
    _, theirs = await officer(gateway, "KDN-OTDA")
    siti = await register(gateway, ours, SITI)
    for method, path, kwargs in [
        ("GET", f"/v1/officials/{siti['id']}", {}),
        ("PATCH", f"/v1/officials/{siti['id']}", {"json": {"name": "Mallory"}}),
        ("DELETE", f"/v1/officials/{siti['id']}", {}),
        ("GET", f"/v1/officials/{siti['id']}/history", {}),
    ]:
        response = await gateway.http.request(method, path, headers=theirs, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
    assert (await gateway.http.get("/v1/officials", headers=theirs)).json()["items"] == []
    assert (await gateway.http.get("/v1/officials?unit=KDN-BH", headers=theirs)).json()["items"] == []
    still = (await gateway.http.get(f"/v1/officials/{siti['id']}", headers=ours)).json()
    assert still["active"] is True and still["name"] == SITI["name"]


async def test_token_acting_as_an_official_reaches_services_and_stops_when_deactivated(gateway, fake_service):
    client, headers = await officer(gateway, "KDN-BH")
    siti = await register(gateway, headers, SITI)
    credentials = {**FORM, "client_id": client["client_id"], "client_secret": client["client_secret"]}

    issued = await gateway.http.post("/v1/oauth/token", data={**credentials, "official": SITI["nip"]})
    assert issued.status_code == 200, issued.text
    acting = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    me = (await gateway.http.get("/v1/me", headers=acting)).json()
    assert me["client_id"] == client["client_id"] and me["tenant"] == "KDN-BH"
    assert me["official"] == {"id": siti["id"], "nip": SITI["nip"], "name": SITI["name"],
                              "position": SITI["position"], "roles": ["reviewer", "signer"]}
    forwarded = (await gateway.http.get("/v1/submissions", headers=acting)).json()
    assert forwarded["identity"]["official"] == me["official"]
    assert "official" not in (await gateway.http.get("/v1/submissions", headers=headers)).json()["identity"]
    assert (await gateway.http.get("/v1/me", headers=headers)).json()["official"] is None

    # A change of roles shows in the next assertion.
    await gateway.http.patch(f"/v1/officials/{siti['id']}", headers=headers, json={"roles": ["signer"]})
    assert (await gateway.http.get("/v1/me", headers=acting)).json()["official"]["roles"] == ["signer"]

    assert (await gateway.http.delete(f"/v1/officials/{siti['id']}", headers=headers)).status_code == 204
    refused = await gateway.http.get("/v1/submissions", headers=acting)
    assert refused.status_code == 401
    assert (await gateway.http.get("/v1/me", headers=headers)).status_code == 200  # the client itself is fine
    again = await gateway.http.post("/v1/oauth/token", data={**credentials, "official": SITI["nip"]})
    assert again.status_code == 400 and again.json()["error"] == "invalid_request"


async def test_token_refuses_a_foreign_unknown_or_misplaced_official(gateway):
    client, headers = await officer(gateway, "KDN-BH")
    other_client, other = await officer(gateway, "KDN-OTDA")
    await register(gateway, other, SITI)
    credentials = {**FORM, "client_id": client["client_id"], "client_secret": client["client_secret"]}
    for nip in (SITI["nip"], "199001012015011001", "abc"):
        response = await gateway.http.post("/v1/oauth/token", data={**credentials, "official": nip})
        assert response.status_code == 400 and response.json()["error"] == "invalid_request", response.text
    applicant = await gateway.create_client("applicant", "16.71")
    response = await gateway.http.post("/v1/oauth/token", data={
        **FORM, "client_id": applicant["client_id"], "client_secret": applicant["client_secret"],
        "official": SITI["nip"]})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    # Bad credentials stay 401 whatever the official: nothing is told about NIPs before that.
    response = await gateway.http.post("/v1/oauth/token", data={
        **credentials, "client_secret": "wrong", "official": SITI["nip"]})
    assert response.status_code == 401


async def test_internal_read_needs_a_service_token(gateway):
    _, headers = await officer(gateway, "KDN-BH")
    siti = await register(gateway, headers, SITI)
    path = f"/internal/officials/{siti['id']}"
    token = mint_service_token(TEST_INTERNAL_SECRET, "submissions", "gateway")
    read = await gateway.http.get(path, headers={"X-Simpul-Assertion": token})
    assert read.status_code == 200, read.text
    assert read.json()["unit"] == "KDN-BH" and read.json()["roles"] == ["reviewer", "signer"]
    assert read.json()["active"] is True
    assert (await gateway.http.get(path)).status_code == 401
    assert (await gateway.http.get(path, headers=headers)).status_code == 401
    wrong_audience = mint_service_token(TEST_INTERNAL_SECRET, "submissions", "signatures")
    assert (await gateway.http.get(path, headers={"X-Simpul-Assertion": wrong_audience})).status_code == 401
    missing = await gateway.http.get("/internal/officials/off_nothing", headers={"X-Simpul-Assertion": token})
    assert missing.status_code == 404


async def test_malformed_cursors_are_400(gateway):
    from simpul.shared.pagination import encode_cursor

    _, headers = await officer(gateway, "KDN-BH")
    siti = await register(gateway, headers, SITI)
    for cursor in ("not-a-cursor", encode_cursor(["2026-01-01T00:00:00+00:00", 7]), encode_cursor([1, "x"])):
        response = await gateway.http.get("/v1/officials", params={"cursor": cursor}, headers=headers)
        assert response.status_code == 400, response.text
    beyond_64_bits = base64.urlsafe_b64encode(f"[{2**70}]".encode()).decode().rstrip("=")
    for cursor in (encode_cursor(["x"]), encode_cursor([2**63]), beyond_64_bits, encode_cursor([True])):
        response = await gateway.http.get(f"/v1/officials/{siti['id']}/history", params={"cursor": cursor},
                                          headers=headers)
        assert response.status_code == 400, response.text


async def test_pages_walk_every_official_once(gateway):
    _, headers = await officer(gateway, "KDN-BH")
    nips = [f"19850314201001200{n}" for n in range(1, 6)]
    for nip in nips:
        await register(gateway, headers, {**BUDI, "nip": nip})
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await gateway.http.get("/v1/officials", params=params, headers=headers)).json()
        seen += [item["nip"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == nips


async def test_a_registration_retried_with_its_idempotency_key_is_answered_again(gateway):
    _, headers = await officer(gateway, "KDN-BH")
    keyed = {**headers, "Idempotency-Key": "register-siti-1"}
    first = await gateway.http.post("/v1/officials", json=SITI, headers=keyed)
    again = await gateway.http.post("/v1/officials", json=SITI, headers=keyed)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    other_body = await gateway.http.post("/v1/officials", json=BUDI, headers=keyed)
    assert other_body.status_code == 409
    assert await count(gateway, officials) == 1
