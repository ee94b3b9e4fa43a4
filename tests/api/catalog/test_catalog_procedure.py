"""A standard's procedure with roles and working days is the submissions' workflow: checked when
written, every error naming its field, nothing written; without roles nothing changes."""

from __future__ import annotations

from tests.api.catalog.helpers import admin, assert_problem, create, fields_of, public, publish, service_body


def three_steps(**changes) -> list[dict]:
    steps = [
        {"step": 1, "title": "Verifikasi berkas", "actor": "Verifikator", "role": "verifier", "working_days": 2},
        {"step": 2, "title": "Telaah dan paraf", "actor": "Kepala Bagian", "role": "reviewer", "working_days": 2},
        {"step": 3, "title": "Penandatanganan", "actor": "Kepala Biro", "role": "signer", "working_days": 1},
    ]
    for key, value in changes.items():
        index, name = key.split("__")
        if value is None:
            steps[int(index[1:])].pop(name, None)
        else:
            steps[int(index[1:])][name] = value
    return steps


async def test_a_procedure_with_roles_is_kept_and_served(client):
    await create(client, "UJI-P", procedure=three_steps(), sla_working_days=5)
    await publish(client, "UJI-P")
    served = (await client.get("/v1/services/UJI-P", headers=public())).json()
    assert [(s["role"], s["working_days"]) for s in served["procedure"]] == [
        ("verifier", 2), ("reviewer", 2), ("signer", 1)]


async def test_a_procedure_without_roles_is_as_before(client):
    await create(client, "UJI-Q")
    served = (await client.get("/v1/services/UJI-Q", headers=admin())).json()
    assert [s.get("role") for s in served["procedure"]] == [None, None]


BAD_PROCEDURES = [
    (three_steps(s1__role="kepala"), "procedure.1.role"),
    (three_steps(s1__role=None), "procedure.1.role"),
    (three_steps(s0__working_days=None), "procedure.0.working_days"),
    (three_steps(s0__working_days=0), "procedure.0.working_days"),
    (three_steps(s0__working_days="2"), "procedure.0.working_days"),
    (three_steps(s2__role="reviewer"), "procedure.2.role"),
    (three_steps(s1__working_days=3), "procedure"),
]


async def test_bad_procedures_are_422_naming_the_field_and_write_nothing(client):
    missed = []
    for steps, field in BAD_PROCEDURES:
        body = service_body("UJI-R", procedure=steps, sla_working_days=5)
        problem = assert_problem(await client.post("/v1/services", json=body, headers=admin()), 422)
        if field not in fields_of(problem):
            missed.append((field, problem["errors"]))
    assert missed == []
    assert_problem(await client.get("/v1/services/UJI-R", headers=admin()), 404)


async def test_days_over_the_sla_say_by_how_much(client):
    body = service_body("UJI-S", procedure=three_steps(), sla_working_days=4)
    problem = assert_problem(
        await client.post("/v1/services", json=body, headers={**admin(), "Accept-Language": "en"}), 422)
    assert problem["errors"] == [
        {"field": "procedure", "message": "the steps' working_days add up to 5, more than sla_working_days (4)"}]
