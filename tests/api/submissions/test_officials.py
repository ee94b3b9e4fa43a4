"""History entries name the official an officer's token acted as, and the issue request carries
the deciding official, the initials chain and the unit's full name."""

from __future__ import annotations

from simpul.shared.identity import Official
from tests.api.submissions.conftest import SERVICE, UNIT, applicant, officer
from tests.api.submissions.fakes import FORM_SCHEMA
from tests.support.identity import as_role

VERIFIER = Official(id="off_v", nip="199001012015011001", name="Budi Santoso", position="Analis Perizinan",
                    roles=("verifier",))
SIGNER = Official(id="off_s", nip="198503142010012002", name="Siti Rahma, S.H.", position="Kepala Dinas",
                  roles=("reviewer", "signer"))


def acting(official: Official) -> dict[str, str]:
    return as_role(SERVICE, "officer", UNIT, "cli_officer", official=official)


def named(official: Official) -> dict[str, str]:
    return {"nip": official.nip, "name": official.name, "position": official.position}


async def act(harness, sid: str, action: str, headers: dict[str, str], note: str | None = None):
    body = {"action": action} if note is None else {"action": action, "note": note}
    response = await harness.client.post(f"/v1/submissions/{sid}/actions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_history_and_the_issued_document_name_the_officials(harness):
    harness.catalog.publish("IZIN-USAHA", unit_name="Dinas Penanaman Modal dan PTSP")
    sid = (await harness.submitted())["id"]
    await act(harness, sid, "start_review", acting(VERIFIER))
    await act(harness, sid, "approve", acting(SIGNER), "Lengkap")
    await harness.wait_for_status(sid, "issued")

    entries = (await harness.client.get(f"/v1/submissions/{sid}/history", headers=applicant())).json()["items"]
    by_action = {entry["action"]: entry for entry in entries}
    assert by_action["start_review"]["official"] == named(VERIFIER)
    assert by_action["approve"]["official"] == named(SIGNER)
    assert by_action["approve"]["actor"] == {"client_id": "cli_officer", "role": "officer"}
    # The applicant's and the system's entries name no official.
    assert by_action["create"]["official"] is None and by_action["issue"]["official"] is None

    call = harness.signatures.requests[0]
    assert call["official"] == named(SIGNER)
    assert call["unit_name"] == "Dinas Penanaman Modal dan PTSP"
    # The frozen standard's form schema: its titles label the data on the document.
    assert call["form_schema"] == FORM_SCHEMA
    assert [(a["nip"], a["action"]) for a in call["approvals"]] == [(VERIFIER.nip, "start_review"),
                                                                    (SIGNER.nip, "approve")]
    assert all(a["name"] and a["position"] and a["at"] and a["step"] is None for a in call["approvals"])


async def test_without_officials_the_request_stays_as_before(harness):
    sid = (await harness.submitted())["id"]
    for action in ("start_review", "approve"):
        await act(harness, sid, action, officer())
    await harness.wait_for_status(sid, "issued")
    call = harness.signatures.requests[0]
    assert "official" not in call and "approvals" not in call and "unit_name" not in call
    entries = (await harness.client.get(f"/v1/submissions/{sid}/history", headers=applicant())).json()["items"]
    assert all(entry["official"] is None for entry in entries)


async def test_an_official_named_in_a_body_is_ignored(harness):
    """Only the assertion names an official: a free field in the body is refused, not trusted."""
    sid = (await harness.submitted())["id"]
    response = await harness.client.post(
        f"/v1/submissions/{sid}/actions", headers=officer(),
        json={"action": "start_review", "official": named(SIGNER)},
    )
    assert response.status_code == 422
    entries = (await harness.client.get(f"/v1/submissions/{sid}/history", headers=applicant())).json()["items"]
    assert [entry["action"] for entry in entries][-1] == "submit"
