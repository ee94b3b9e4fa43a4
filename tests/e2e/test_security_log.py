"""The access and security logs of real processes: one access line per request under the
request id the client got back, the caller behind a trusted proxy, refusals with their reason."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from tests.e2e.conftest import start_system
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET

EMAIL = "siti.rahma@example.id"
CALLER = "203.0.113.9"


@pytest.fixture(scope="module")
def logged_system(tmp_path_factory):
    running, databases = start_system(tmp_path_factory.mktemp("seclog"), services=("gateway", "catalog"),
                                      extra_env={"SIMPUL_TRUSTED_PROXIES": "127.0.0.1"})
    yield running
    running.stop()
    asyncio.run(databases.drop_all())


def json_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def eventually_logged(path, request_ids: set[str], timeout: float = 5.0) -> list[dict]:
    """The log's JSON lines once every one of `request_ids` has its access line in it (written as
    its answer completes, a moment after the client has it; a security line may come first)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = json_lines(path)
        accessed = {line.get("request_id") for line in lines if "status" in line}
        if request_ids <= accessed or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_one_access_line_per_request_under_the_request_id_the_client_got(logged_system):
    forwarded = {"X-Forwarded-For": CALLER}
    with httpx.Client(base_url=logged_system.gateway_url, headers=forwarded) as http:
        token = http.post("/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": ADMIN_CLIENT_ID,
                                                   "client_secret": ADMIN_CLIENT_SECRET}).json()["access_token"]
        code = http.get("/v1/services").json()["items"][0]["code"]
        answers = [
            http.get(f"/v1/services/{code}", params={"email": EMAIL}, headers={"Authorization": f"Bearer {token}"}),
            http.get("/v1/services", headers={"Authorization": f"Bearer {token[:-4]}AAAA"}),
            http.post("/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": ADMIN_CLIENT_ID,
                                               "client_secret": EMAIL}),
        ]
    assert [answer.status_code for answer in answers] == [200, 401, 401]
    request_ids = [answer.headers["x-request-id"] for answer in answers]
    gateway_log = logged_system["gateway"].log_path
    lines = eventually_logged(gateway_log, set(request_ids))
    access = [line for line in lines if line.get("service") == "gateway" and "status" in line]
    for answer, request_id in zip(answers, request_ids, strict=True):
        (line,) = [line for line in access if line["request_id"] == request_id]
        assert line["status"] == answer.status_code and line["address"] == CALLER
    read = next(line for line in access if line["request_id"] == request_ids[0])
    assert (read["route"], read["client"], read["role"]) == ("/v1/services/{code}", ADMIN_CLIENT_ID, "admin")
    assert read["bytes_out"] == len(answers[0].content)

    security = {line["request_id"]: line for line in lines if "event" in line}
    assert security[request_ids[1]]["event"] == "token_rejected"
    assert security[request_ids[1]]["reason"] == "Signature verification failed"
    assert (security[request_ids[2]]["reason"], security[request_ids[2]]["address"]) == ("bad secret", CALLER)

    catalog_lines = eventually_logged(logged_system["catalog"].log_path, {request_ids[0]})
    (served,) = [line for line in catalog_lines if line.get("request_id") == request_ids[0]]
    assert (served["route"], served["status"], served["service"]) == ("/v1/services/{code}", 200, "catalog")

    everything = gateway_log.read_text() + logged_system["catalog"].log_path.read_text()
    for secret in (token, ADMIN_CLIENT_SECRET, EMAIL, code):
        assert secret not in everything
