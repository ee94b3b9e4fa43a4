"""The Open311 facade's create: a submission created and submitted in one transaction (both or
neither), with the same history, audit, receipt and events as the two /v1 calls."""

from __future__ import annotations

import pytest

from simpul.shared.identity import Identity
from simpul.shared.problems import Problem
from simpul.submissions.schemas import SubmissionCreate
from tests.api.submissions.conftest import admin, applicant
from tests.api.submissions.fakes import VALID_DATA, standard
from tests.support.audit import audit_entries

FORM = {"service_code": "IZIN-USAHA", "email": "siti@example.go.id", "first_name": "Siti", "last_name": "Rahayu",
        "attribute[nik]": "3171234567890001", "attribute[business_name]": "Warung Sejahtera",
        "attribute[employees]": "3", "attribute[address.city]": "Jakarta"}


def without_documents(harness) -> None:
    requirements = [{**requirement, "required": False} for requirement in standard()["requirements"]]
    harness.catalog.publish("IZIN-USAHA", requirements=requirements)


async def test_created_and_submitted_with_history_audit_and_receipt(harness):
    without_documents(harness)
    answer = await harness.client.post("/open311/v2/requests.json", data=FORM, headers=applicant())
    assert answer.status_code == 201, answer.text
    [created] = answer.json()
    assert answer.headers["location"] == f"/open311/v2/tokens/{created['token']}.json"

    submission = (await harness.client.get(f"/v1/submissions/{created['token']}", headers=applicant())).json()
    assert submission["status"] == "submitted" and submission["tracking_code"] == created["service_request_id"]
    assert submission["receipt"]["number"] and submission["due_at"]
    assert submission["data"] == {"nik": "3171234567890001", "business_name": "Warung Sejahtera", "employees": 3,
                                  "address": {"city": "Jakarta"}}
    history = (await harness.client.get(f"/v1/submissions/{created['token']}/history", headers=applicant())).json()
    assert [(entry["action"], entry["to"]) for entry in history["items"]] == [("create", "draft"),
                                                                               ("submit", "submitted")]
    entries = await audit_entries(harness.client, "submissions", admin())
    assert [entry["action"] for entry in entries] == ["submission.create", "submission.submit"]
    assert (await harness.client.get(f"/open311/v2/tokens/{created['token']}.json", headers=applicant())).json() \
        == [created]


async def test_a_refused_submit_leaves_no_draft_behind(harness):
    # The facade refuses services with required documents before writing; the use case itself
    # rolls the creation back with the refused submit.
    identity = Identity(subject="client-31", role="applicant", tenant="31")
    body = SubmissionCreate(service_code="IZIN-USAHA", applicant={"name": "Siti", "email": "siti@example.go.id"},
                            data=VALID_DATA)
    with pytest.raises(Problem) as refused:
        await harness.app.state.submissions.create_and_submit(identity, body, "en",
                                                              replay_from=lambda id_: f"/x/{id_}")
    assert refused.value.status == 422
    assert (await harness.client.get("/v1/submissions", headers=admin())).json()["items"] == []
    assert await audit_entries(harness.client, "submissions", admin()) == []


async def test_a_service_with_required_documents_is_refused_before_anything_is_written(harness):
    answer = await harness.client.post("/open311/v2/requests.json", data=FORM, headers=applicant())
    assert answer.status_code == 400
    assert "ktp, domicile" in answer.json()["detail"]
    assert (await harness.client.get("/v1/submissions", headers=admin())).json()["items"] == []


async def test_services_and_a_definition_come_from_the_catalogue(harness):
    services = (await harness.client.get("/open311/v2/services.json", headers=applicant())).json()
    assert [service["service_code"] for service in services] == ["IZIN-USAHA", "NPWP-DAERAH"]
    definition = (await harness.client.get("/open311/v2/services/IZIN-USAHA.json", headers=applicant())).json()
    assert [attribute["code"] for attribute in definition["attributes"]] == [
        "nik", "business_name", "employees", "address.city", "address.postal_code"]
    retired = await harness.client.get("/open311/v2/services/IZIN-LAMA.json", headers=applicant())
    assert retired.status_code == 404
