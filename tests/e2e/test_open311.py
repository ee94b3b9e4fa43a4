"""The Open311 GeoReport v2 facade through the gateway, driven by a GeoReport client library from
PyPI (`georeport`, which reads services and requests) and, for what that library lacks (creating a
request, the api_key on a list, tokens), by plain HTTP following the spec. Every answer is checked
against the GeoReport v2 schemas in tests/fixtures/open311."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import jsonschema
import pytest
from georeport import GeoReport

from tests.e2e.test_foundation import service_body

pytestmark = pytest.mark.e2e

SCHEMAS = Path(__file__).parents[1] / "fixtures" / "open311"


def valid(name: str, document: object, many: bool = False) -> object:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    if many:
        schema = {"type": "array", "items": schema}
    jsonschema.validate(document, schema, format_checker=jsonschema.FormatChecker())
    return document


def errors_of(response: httpx.Response, status: int) -> list[dict]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return valid("errors", response.json())


@pytest.fixture(scope="module")
def without_documents(admin) -> dict:
    """A published service GeoReport can request: no required document, a form with a list, a
    number and a nested contact."""
    code = f"UJI-{uuid.uuid4().hex[:8].upper()}"
    body = service_body(code, f"E2E-{uuid.uuid4().hex[:6].upper()}")
    body["requirements"] = [{**body["requirements"][0], "required": False}]
    body["form_schema"] = {
        "type": "object",
        "required": ["perihal", "jenis", "kontak"],
        "properties": {
            "perihal": {"type": "string", "minLength": 3, "description": "Perihal permohonan"},
            "jenis": {"enum": ["baru", "perpanjangan"]},
            "jumlah": {"type": "integer", "minimum": 1},
            "kontak": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}},
                       "additionalProperties": False},
        },
        "additionalProperties": False,
    }
    assert admin.post("/v1/services", json=body).status_code == 201
    published = admin.post(f"/v1/services/{code}/publish")
    assert published.status_code == 200, published.text
    return published.json()


def test_a_georeport_client_lists_services_and_reads_a_definition(system, without_documents):
    client = GeoReport(f"{system.gateway_url}/open311/v2")
    services = valid("service", client.get_service_list(), many=True)
    assert without_documents["code"] in {service["service_code"] for service in services}
    assert {"IZIN-LN-KDH", "FASILITASI-RANPERDA"} <= {service["service_code"] for service in services}

    definition = valid("service-definition", client.get_service_definition(without_documents["code"]))
    attributes = {attribute["code"]: attribute for attribute in definition["attributes"]}
    assert attributes["perihal"]["datatype"] == "string" and attributes["perihal"]["required"] is True
    assert attributes["jenis"]["datatype"] == "singlevaluelist"
    assert [value["key"] for value in attributes["jenis"]["values"]] == ["baru", "perpanjangan"]
    assert attributes["jumlah"] == {**attributes["jumlah"], "datatype": "number", "required": False}
    assert attributes["kontak.email"]["required"] is True
    assert [attribute["order"] for attribute in definition["attributes"]] == [1, 2, 3, 4]
    demo = valid("service-definition", client.get_service_definition("IZIN-LN-KDH"))
    assert any(attribute["datatype"] == "datetime" for attribute in demo["attributes"])


def test_create_with_api_key_then_read_list_and_token(system, api, admin, without_documents):
    applicant = api.create_client(admin, "applicant", "31")
    api_key = api.token(applicant["client_id"], applicant["client_secret"])
    http = httpx.Client(base_url=f"{system.gateway_url}/open311/v2", timeout=30.0)
    form = {
        "api_key": api_key, "service_code": without_documents["code"], "email": "siti@example.go.id",
        "first_name": "Siti", "last_name": "Rahmá", "attribute[perihal]": "Permohonan uji Open311",
        "attribute[jenis]": "baru", "attribute[jumlah]": "2", "attribute[kontak.email]": "siti@example.go.id",
        "lat": "-6.2", "long": "106.8",
    }
    created = http.post("/requests.json", data=form)
    assert created.status_code == 201, created.text
    answer = valid("post-response", created.json())[0]
    tracking_code, token = answer["service_request_id"], answer["token"]

    # What was made is a submitted submission of that client, with the attributes as its data.
    own = api.as_client(applicant["client_id"], applicant["client_secret"])
    submission = own.get(f"/v1/submissions/{token}").json()
    assert submission["status"] == "submitted" and submission["tracking_code"] == tracking_code
    assert submission["data"] == {"perihal": "Permohonan uji Open311", "jenis": "baru", "jumlah": 2,
                                  "kontak": {"email": "siti@example.go.id"}}
    assert submission["applicant"]["name"] == "Siti Rahmá"

    request = valid("request", GeoReport(f"{system.gateway_url}/open311/v2").get_service_request(tracking_code))
    assert request["status"] == "open" and request["service_code"] == without_documents["code"]
    assert request["agency_responsible"] == without_documents["unit"]
    assert request["expected_datetime"] is not None
    assert request["requested_datetime"].startswith(submission["submitted_at"][:19])

    listed = http.get("/requests.json", params={"api_key": api_key})
    assert listed.status_code == 200, listed.text
    assert tracking_code in {item["service_request_id"] for item in valid("request", listed.json(), many=True)}
    bearer = http.get("/requests.json", headers={"Authorization": f"Bearer {api_key}"})
    assert bearer.json() == listed.json()
    other = api.client_for(admin, "applicant", "32")
    other_key = other.headers["Authorization"].removeprefix("Bearer ")
    assert tracking_code not in {item["service_request_id"]
                                 for item in http.get("/requests.json", params={"api_key": other_key}).json()}

    tokens = http.get(f"/tokens/{token}.json", params={"api_key": api_key})
    assert valid("token", tokens.json()) == [{"token": token, "service_request_id": tracking_code}]
    assert created.headers["location"] == f"/open311/v2/tokens/{token}.json"
    errors_of(http.get(f"/tokens/{token}.json", params={"api_key": other_key}), 404)

    # Closed once the officer rejects it.
    officer = api.client_for(admin, "officer", without_documents["unit"])
    for action in ("start_review", "reject"):
        acted = officer.post(f"/v1/submissions/{token}/actions", json={"action": action, "note": "Uji."})
        assert acted.status_code == 200, acted.text
    closed = valid("request", http.get(f"/requests/{tracking_code}.json").json(), many=True)[0]
    assert closed["status"] == "closed" and closed["status_notes"]
    by_status = {status: {item["service_request_id"] for item in http.get(
        "/requests.json", params={"api_key": api_key, "status": status, "service_code": without_documents["code"]}
    ).json()} for status in ("open", "closed")}
    assert tracking_code in by_status["closed"] and tracking_code not in by_status["open"]
    errors_of(http.get("/requests.json", params={"api_key": api_key, "status": "pending"}), 400)

    # The key was in queries and a form body: no process logged it (the access lines are there).
    deadline = time.monotonic() + 10
    while True:
        logged = "".join(process.log_path.read_text() for process in system.processes.values())
        if f"/open311/v2/tokens/{{submission_id}}.json" in logged or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "/open311/v2/tokens/{submission_id}.json" in logged
    assert api_key not in logged and api_key.split(".")[2] not in logged


def test_a_retry_with_the_same_idempotency_key_replays_and_makes_one_request(system, api, admin, without_documents):
    applicant = api.create_client(admin, "applicant", "35")
    api_key = api.token(applicant["client_id"], applicant["client_secret"])
    http = httpx.Client(base_url=f"{system.gateway_url}/open311/v2", timeout=30.0)
    form = {"api_key": api_key, "service_code": without_documents["code"], "email": "siti@example.go.id",
            "first_name": "Siti", "attribute[perihal]": "Permohonan sekali saja", "attribute[jenis]": "baru",
            "attribute[kontak.email]": "siti@example.go.id"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = http.post("/requests.json", data=form, headers=key)
    again = http.post("/requests.json", data=form, headers=key)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json() == first.json()
    assert submissions_of(api, applicant) == 1
    errors_of(http.post("/requests.json", data={**form, "attribute[perihal]": "Lain lagi"}, headers=key), 409)
    assert submissions_of(api, applicant) == 1


def submissions_of(api, client: dict) -> int:
    return len(api.as_client(client["client_id"], client["client_secret"]).get("/v1/submissions").json()["items"])


def test_bad_input_is_an_open311_error_and_writes_nothing(system, api, admin, without_documents):
    applicant = api.create_client(admin, "applicant", "34")  # a region no other test here writes for
    api_key = api.token(applicant["client_id"], applicant["client_secret"])
    http = httpx.Client(base_url=f"{system.gateway_url}/open311/v2", timeout=30.0)
    base = {"api_key": api_key, "email": "siti@example.go.id", "first_name": "Siti",
            "attribute[perihal]": "Permohonan uji", "attribute[jenis]": "baru",
            "attribute[kontak.email]": "siti@example.go.id"}

    unknown = errors_of(http.post("/requests.json", data={**base, "service_code": "TIDAK-ADA"}), 404)
    assert "TIDAK-ADA" in unknown[0]["description"]
    errors_of(http.get("/services/TIDAK-ADA.json"), 404)
    missing = errors_of(http.post("/requests.json", data={
        **{k: v for k, v in base.items() if k != "attribute[perihal]"}, "service_code": without_documents["code"]}), 400)
    assert any("attribute[perihal]" in error["description"] for error in missing)
    wrong = errors_of(http.post("/requests.json", data={**base, "service_code": without_documents["code"],
                                                        "attribute[jumlah]": "dua"}), 400)
    assert any("attribute[jumlah]" in error["description"] for error in wrong)
    documents = errors_of(http.post("/requests.json", data={**base, "service_code": "IZIN-LN-KDH"}), 400)
    assert "SURAT-PERMOHONAN" in documents[0]["description"]
    forged = errors_of(http.post("/requests.json", data={**base, "api_key": "bukan-token",
                                                         "service_code": without_documents["code"]}), 401)
    assert forged[0]["code"] == 401
    errors_of(http.post("/requests.json", data={k: v for k, v in base.items() if k != "api_key"}
                        | {"service_code": without_documents["code"]}), 401)
    errors_of(http.get("/requests.json"), 401)
    errors_of(http.get("/requests/ZZZZZZZZZZ.json"), 404)
    assert submissions_of(api, applicant) == 0
