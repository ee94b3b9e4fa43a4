"""An official of one unit against the other unit's procedure, through the real gateway: the
matrix's calls name objects in the path; these name the other unit's official in the body of a
disposition (`assign`), and act on a step-by-step submission of the other unit. Each refusal is
404 (the submission is not there for unit Y) or 422 naming `official_id` (unit Y's official is not
one of unit X's), and writes nothing: no audit row in any service, the submission unchanged. And
the list filters that name unit X's official or unit show unit Y's callers nothing of unit X."""

from __future__ import annotations

import uuid

import pytest

from tests.attacks.world import World, keyed, ok
from tests.e2e.test_foundation import service_body

pytestmark = pytest.mark.e2e

STEPS = [
    {"step": 1, "title": "Verifikasi berkas", "actor": "Verifikator", "role": "verifier", "working_days": 2},
    {"step": 2, "title": "Telaah dan paraf", "actor": "Kepala Bagian", "role": "reviewer", "working_days": 2},
    {"step": 3, "title": "Penandatanganan", "actor": "Kepala Biro", "role": "signer", "working_days": 1},
]


@pytest.fixture(scope="module")
def stepped(world: World) -> str:
    """A submission of side A in review at step 1 of a three-step procedure of unit X."""
    side = world.sides["A"]
    code = f"ATK-SOP-{uuid.uuid4().hex[:6].upper()}"
    body = {**service_body(code, side.unit), "procedure": STEPS, "sla_working_days": 5}
    ok(world.admin.post("/v1/services", json=body, headers=keyed()))
    ok(world.admin.post(f"/v1/services/{code}/publish"))
    submission_id = world.fresh_submission(side, "submitted", service_code=code)
    started = side.acting_official.post(f"/v1/submissions/{submission_id}/actions",
                                        json={"action": "start_review"}, headers=keyed())
    assert ok(started)["current_step"]["step"] == 1
    return submission_id


def refused_without_a_trace(world: World, submission_id: str, caller, body: dict, status: int) -> dict:
    heads = world.quiet_audit_heads()
    before = ok(world.admin.get(f"/v1/submissions/{submission_id}"))
    response = caller.post(f"/v1/submissions/{submission_id}/actions", json=body, headers=keyed())
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert world.audit_heads() == heads, world.audit_rows_since(heads)
    assert ok(world.admin.get(f"/v1/submissions/{submission_id}")) == before
    return response.json()


def test_an_official_of_unit_y_finds_no_submission_of_unit_x(world, stepped):
    foreign = world.sides["B"]
    for body in ({"action": "forward"}, {"action": "assign", "official_id": foreign.official_id, "note": "Telaah."},
                 {"action": "reject", "note": "Tidak lengkap."}):
        refused_without_a_trace(world, stepped, foreign.acting_official, body, 404)
    listed = ok(foreign.acting_official.get("/v1/submissions", params={"assigned_to": "me"}))["items"]
    assert stepped not in {item["id"] for item in listed}


def test_a_step_cannot_be_disposed_to_an_official_of_another_unit(world, stepped):
    own, foreign = world.sides["A"], world.sides["B"]
    body = {"action": "assign", "official_id": foreign.official_id, "note": "Mohon diverifikasi."}
    problem = refused_without_a_trace(world, stepped, own.acting_official, body, 422)
    assert [error["field"] for error in problem["errors"]] == ["official_id"]
    # The same disposition to the unit's own official goes through: the unit was what was refused.
    assigned = own.acting_official.post(f"/v1/submissions/{stepped}/actions", headers=keyed(),
                                        json={**body, "official_id": own.official_id})
    assert ok(assigned)["current_step"]["assigned_to"] == own.official_id


def test_filters_naming_the_other_units_official_or_unit_show_nothing_of_it(world, stepped):
    own, foreign = world.sides["A"], world.sides["B"]
    assign = {"action": "assign", "official_id": own.official_id, "note": "Mohon diverifikasi."}
    ok(own.acting_official.post(f"/v1/submissions/{stepped}/actions", json=assign, headers=keyed()))
    # The control: unit X's official finds it in its queue, by 'me' and by its id.
    for assigned_to in ("me", own.official_id):
        queue = ok(own.acting_official.get("/v1/submissions", params={"assigned_to": assigned_to}))["items"]
        assert stepped in {item["id"] for item in queue}
    for caller in (foreign.officer, foreign.acting_official):
        by_assignee = caller.get("/v1/submissions", params={"assigned_to": own.official_id})
        by_unit = caller.get("/v1/officials", params={"unit": own.unit})
        for response in (by_assignee, by_unit):
            assert ok(response)["items"] == [], response.text
            leaked = sorted(identifier for identifier in own.private_ids | {stepped} if identifier in response.text)
            assert not leaked, leaked
