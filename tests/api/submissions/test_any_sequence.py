"""Any sequence of API calls leaves a valid state and a consistent, append-only history (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.submissions.conftest import JPEG, PDF, admin, applicant

# The contract of API.md, written out independently of the code under test: (state, call) -> next state.
CONTRACT = {
    ("draft", "submit"): "submitted",
    ("revision_requested", "submit"): "submitted",
    ("draft", "cancel"): "cancelled",
    ("submitted", "cancel"): "cancelled",
    ("submitted", "start_review"): "in_review",
    ("in_review", "request_revision"): "revision_requested",
    ("in_review", "approve"): "approved",
    ("in_review", "reject"): "rejected",
}
CALLS = ["submit", "cancel", "start_review", "request_revision", "approve", "reject", "upload"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(calls=st.lists(st.sampled_from(CALLS), max_size=12))
async def test_any_sequence(harness, calls):
    created = await harness.create()
    sid = created["id"]
    await harness.upload(sid, "ktp", JPEG)
    await harness.upload(sid, "domicile", PDF)
    expected = "draft"
    expected_history = ["create", "upload_document", "upload_document"]
    for call in calls:
        if call == "upload":
            response = await harness.upload(sid, "photo", JPEG)
            ok = expected in ("draft", "revision_requested")
            assert response.status_code == (201 if ok else 409), response.text
            if ok:
                expected_history.append("upload_document")
            continue
        if call in ("submit", "cancel"):
            response = await harness.client.post(f"/v1/submissions/{sid}/{call}", headers=applicant())
        else:
            response = await harness.act(sid, call, "catatan")
        following = CONTRACT.get((expected, call))
        if following is None:
            assert response.status_code == 409, (expected, call, response.text)
            assert response.json()["current_status"] in (expected, "issued")
        else:
            assert response.status_code == 200, (expected, call, response.text)
            expected = following
            expected_history.append(call)
        if expected == "approved":
            # The issue worker moves it on by itself.
            expected = (await harness.wait_for_status(sid, "issued"))["status"]
            assert expected == "issued"
            expected_history.append("issue")

    current = (await harness.client.get(f"/v1/submissions/{sid}", headers=admin())).json()
    assert current["status"] == expected
    entries = (await harness.client.get(f"/v1/submissions/{sid}/history?limit=200", headers=admin())).json()["items"]
    assert [e["action"] for e in entries] == expected_history
    previous = None
    for entry in entries:
        assert entry["from"] == previous
        previous = entry["to"]
    assert previous == expected
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    sla = current["sla"]
    if sla is not None:
        assert sla["paused"] == (expected == "revision_requested")
        assert sla["remaining"] == max(0, sla["working_days"] - sla["used"])
