"""`simpul clients|officials|catalogue`: what the CLI sends to the gateway and prints, against a
recording stand-in of the gateway's API (tests/e2e/test_cli.py drives a real one)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from click.testing import CliRunner

from simpul.cli.main import cli

CREDENTIALS = ["--client-id", "ops-admin", "--client-secret", "ops-secret-123"]


class Gateway:
    """Answers like the gateway's API, and keeps every request for the test to read."""

    def __init__(self, routes: dict[tuple[str, str], list[httpx.Response]]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/v1/oauth/token":
            form = dict(part.split("=", 1) for part in request.content.decode().split("&"))
            if form.get("client_secret") != "ops-secret-123":
                return httpx.Response(401, json={"error": "invalid_client", "error_description": "bad credentials"})
            return httpx.Response(200, json={"access_token": "token-1", "token_type": "Bearer", "expires_in": 900})
        assert request.headers["authorization"] == "Bearer token-1"
        answers = self.routes[(request.method, request.url.path)]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def invoke(self, *args: str):
        return CliRunner().invoke(cli, [*CREDENTIALS, *args], obj={"transport": httpx.MockTransport(self)})

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.method == method and request.url.path == path]


def problem(status: int, title: str, **fields) -> httpx.Response:
    return httpx.Response(status, json={"type": "about:blank", "title": title, "status": status, **fields},
                          headers={"content-type": "application/problem+json"})


def test_create_client_sends_the_fields_with_an_idempotency_key_and_prints_the_secret_once():
    gateway = Gateway({("POST", "/v1/admin/clients"): [httpx.Response(201, json={
        "client_id": "c-1", "client_secret": "s3cret", "name": "Kota Bandung", "role": "applicant", "tenant": "32.73"})]})
    result = gateway.invoke("clients", "create", "--name", "Kota Bandung", "--role", "applicant", "--tenant", "32.73")
    assert result.exit_code == 0, result.output
    assert result.output == "client_id\tc-1\nclient_secret\ts3cret\n"
    (sent,) = gateway.sent("POST", "/v1/admin/clients")
    assert json.loads(sent.content) == {"name": "Kota Bandung", "role": "applicant", "tenant": "32.73"}
    assert len(sent.headers["idempotency-key"]) == 36


def test_list_clients_follows_every_page():
    first = {"items": [{"client_id": "c-1", "name": "A", "role": "admin", "tenant": None, "status": "active",
                        "created_at": "2026-01-01T00:00:00+00:00"}], "next_cursor": "next"}
    second = {"items": [{"client_id": "c-2", "name": "B", "role": "officer", "tenant": "KDN-BH", "status": "revoked",
                         "created_at": "2026-01-02T00:00:00+00:00"}], "next_cursor": None}
    gateway = Gateway({("GET", "/v1/admin/clients"): [httpx.Response(200, json=first), httpx.Response(200, json=second)]})
    result = gateway.invoke("clients", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "client_id\tname\trole\ttenant\tstatus\tcreated_at"
    assert lines[1:] == ["c-1\tA\tadmin\t-\tactive\t2026-01-01T00:00:00+00:00",
                         "c-2\tB\tofficer\tKDN-BH\trevoked\t2026-01-02T00:00:00+00:00"]
    assert [request.url.params.get("cursor") for request in gateway.sent("GET", "/v1/admin/clients")] == [None, "next"]


def test_a_refusal_is_one_line_with_the_problem_and_its_field_errors():
    gateway = Gateway({("POST", "/v1/officials"): [problem(
        422, "Invalid input", detail="Check the fields", request_id="r-9",
        errors=[{"field": "nip", "message": "must be 18 digits"}])]})
    result = gateway.invoke("officials", "create", "--unit", "KDN-BH", "--nip", "123", "--name", "Dr. A",
                            "--position", "Kepala", "--role", "signer", "--role", "reviewer")
    assert result.exit_code == 1
    assert result.output == ("Error: 422 Invalid input; Check the fields; nip: must be 18 digits (request id r-9)\n")
    (sent,) = gateway.sent("POST", "/v1/officials")
    assert json.loads(sent.content)["roles"] == ["signer", "reviewer"]


def test_bad_admin_credentials_are_named():
    gateway = Gateway({})
    result = CliRunner().invoke(cli, ["--client-id", "ops-admin", "--client-secret", "wrong", "clients", "list"],
                                obj={"transport": httpx.MockTransport(gateway)})
    assert result.exit_code == 1
    assert "401 invalid_client; bad credentials" in result.output


def test_without_an_admin_client_it_says_which_variables(monkeypatch):
    monkeypatch.delenv("SIMPUL_ADMIN_CLIENT_ID", raising=False)
    monkeypatch.delenv("SIMPUL_ADMIN_CLIENT_SECRET", raising=False)
    result = CliRunner().invoke(cli, ["clients", "list"])
    assert result.exit_code == 2
    assert "SIMPUL_ADMIN_CLIENT_ID and SIMPUL_ADMIN_CLIENT_SECRET" in result.output


def test_an_unreachable_gateway_is_one_line():
    result = CliRunner().invoke(cli, ["--url", "http://127.0.0.1:9", *CREDENTIALS, "clients", "list"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot reach the gateway at http://127.0.0.1:9")
    assert "Traceback" not in result.output


STANDARD = {"code": "IZIN-A", "name": "Izin A", "unit": "KDN-BH"}


def test_export_writes_each_current_version_without_what_the_catalogue_sets(tmp_path: Path):
    listed = {"items": [{"code": "IZIN-A", "status": "published"}], "next_cursor": None}
    document = {**STANDARD, "version": 3, "status": "published", "created_at": "x", "updated_at": "x",
                "published_at": "x", "retired_at": None, "superseded_by": None}
    gateway = Gateway({("GET", "/v1/services"): [httpx.Response(200, json=listed)],
                       ("GET", "/v1/services/IZIN-A"): [httpx.Response(200, json=document)]})
    result = gateway.invoke("catalogue", "export", str(tmp_path / "catalogue.json"))
    assert result.exit_code == 0, result.output
    exported = json.loads((tmp_path / "catalogue.json").read_text())
    assert exported["format"] == "simpul-catalogue"
    assert exported["services"] == [{"status": "published", "standard": STANDARD}]


def test_import_creates_publishes_and_leaves_an_existing_code_alone(tmp_path: Path):
    export = {"format": "simpul-catalogue", "format_version": 1, "services": [
        {"status": "published", "standard": STANDARD},
        {"status": "draft", "standard": {**STANDARD, "code": "IZIN-B"}},
    ]}
    (tmp_path / "catalogue.json").write_text(json.dumps(export))
    gateway = Gateway({
        ("POST", "/v1/services"): [httpx.Response(201, json={}), problem(409, "Service code exists")],
        ("POST", "/v1/services/IZIN-A/publish"): [httpx.Response(200, json={})],
    })
    result = gateway.invoke("catalogue", "import", str(tmp_path / "catalogue.json"))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["IZIN-A: imported (published)", "IZIN-B: exists already, left as it is"]
    assert [json.loads(request.content)["code"] for request in gateway.sent("POST", "/v1/services")] == \
        ["IZIN-A", "IZIN-B"]
    assert len(gateway.sent("POST", "/v1/services/IZIN-A/publish")) == 1


def test_import_refuses_a_file_that_is_not_an_export_before_calling_anything(tmp_path: Path):
    (tmp_path / "other.json").write_text(json.dumps({"services": []}))
    gateway = Gateway({})
    result = gateway.invoke("catalogue", "import", str(tmp_path / "other.json"))
    assert result.exit_code == 1
    assert "not a catalogue export" in result.output
    assert gateway.requests == []


def test_a_failed_import_exits_non_zero(tmp_path: Path):
    export = {"format": "simpul-catalogue", "format_version": 1, "services": [{"status": "draft", "standard": STANDARD}]}
    (tmp_path / "catalogue.json").write_text(json.dumps(export))
    gateway = Gateway({("POST", "/v1/services"): [problem(422, "Invalid input")]})
    result = gateway.invoke("catalogue", "import", str(tmp_path / "catalogue.json"))
    assert result.exit_code == 1
    assert "IZIN-A: not imported: 422 Invalid input" in result.output
    assert "1 of 1 service(s) not imported" in result.output
