"""Through the gateway, all five services as processes: revoking a client with a webhook and
deliveries still being retried — while notifications is down for a moment — disables the webhook,
nothing reaches the receiver afterwards, its tokens are refused, and both audit logs say so. And
guessing a client's secret ends in 429 with Retry-After, logged, while another address still gets
its token."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import start_system
from tests.e2e.notifications.receivers import wait_for
from tests.e2e.test_foundation import service_body
from tests.support.api import PublicApi
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET

pytestmark = pytest.mark.e2e

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict]:
    # Retries every fraction of a second: a delivery that would still come shows within the test.
    env = {"SIMPUL_WEBHOOK_RETRY_BASE_SECONDS": "0.2", "SIMPUL_WEBHOOK_RETRY_MAX_DELAY_SECONDS": "0.5",
           "SIMPUL_DISPATCH_POLL_SECONDS": "0.2"}
    system, databases = start_system(tmp_path_factory.mktemp("revocation"), extra_env=env)
    api = PublicApi(system.gateway_url)
    admin = api.as_client(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    try:
        yield {"system": system, "api": api, "admin": admin}
    finally:
        admin.close()
        api.close()
        system.stop()
        asyncio.run(databases.drop_all())


def audit(admin: httpx.Client, service: str) -> list[dict]:
    entries, cursor = [], None
    while True:
        page = admin.get(f"/v1/admin/audit/{service}", params={"limit": 200, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        entries += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return entries


def test_a_revoked_clients_webhook_is_disabled_and_nothing_more_is_delivered(world, receiver):
    system, api, admin = world["system"], world["api"], world["admin"]
    code, unit = f"UJI-{uuid.uuid4().hex[:8].upper()}", f"E2E-{uuid.uuid4().hex[:6].upper()}"
    assert admin.post("/v1/services", json=service_body(code, unit)).status_code == 201
    assert admin.post(f"/v1/services/{code}/publish").status_code == 200
    created = api.create_client(admin, "applicant", "31")
    applicant = api.as_client(created["client_id"], created["client_secret"])
    hook_path = f"/hook-{uuid.uuid4().hex[:6]}"
    receiver.script[hook_path] = [500] * 10_000  # every delivery stays pending, retried
    webhook = applicant.post("/v1/webhooks", json={"url": receiver.url(hook_path), "events": [
        "submission.submitted", "submission.status_changed"]})
    assert webhook.status_code == 201, webhook.text
    webhook_id = webhook.json()["id"]
    receiver.secrets.append(webhook.json()["secret"])

    submission = applicant.post("/v1/submissions", json={
        "service_code": code, "applicant": {"name": "Budi Santoso", "email": "budi@example.go.id"},
        "data": {"perihal": "Permohonan keterangan"}}).json()
    assert applicant.post(f"/v1/submissions/{submission['id']}/documents", data={"requirement_code": "SURAT"},
                          files={"file": ("surat.pdf", PDF, "application/pdf")}).status_code == 201
    assert applicant.post(f"/v1/submissions/{submission['id']}/submit").status_code == 200
    wait_for(lambda: len(receiver.received(hook_path)) >= 3, message=f"no retries\n{system.logs()}")
    pending = applicant.get(f"/v1/webhooks/{webhook_id}/deliveries").json()["items"]
    assert pending and all(delivery["status"] == "pending" for delivery in pending)

    # Notifications down when the client is revoked: the gateway keeps the notice until it is back.
    system["notifications"].stop()
    revoked = admin.delete(f"/v1/admin/clients/{created['client_id']}")
    assert revoked.status_code == 204
    assert applicant.get("/v1/webhooks").status_code == 401  # its tokens are refused at once
    fresh = api.http.post("/v1/oauth/token", data={"grant_type": "client_credentials",
                                                   "client_id": created["client_id"],
                                                   "client_secret": created["client_secret"]})
    assert fresh.status_code == 401 and fresh.json()["error"] == "invalid_client"
    time.sleep(1.0)
    system["notifications"].start()
    system["notifications"].wait_ready()

    def disabled() -> bool:
        shown = admin.get(f"/v1/webhooks/{webhook_id}")
        return shown.status_code == 200 and shown.json()["status"] == "disabled"

    wait_for(disabled, timeout=30, message=f"webhook still active\n{system.logs()}")
    shown = admin.get(f"/v1/webhooks/{webhook_id}").json()
    assert shown["disabled_reason"] == "client_revoked"
    count = len(receiver.received(hook_path))
    deliveries = admin.get(f"/v1/webhooks/{webhook_id}/deliveries").json()["items"]
    assert deliveries and all(delivery["status"] == "failed" for delivery in deliveries)

    # A new event of the region: nothing for the disabled webhook.
    officer = api.client_for(admin, "officer", unit)
    assert officer.post(f"/v1/submissions/{submission['id']}/actions",
                        json={"action": "start_review"}).status_code == 200
    time.sleep(3.0)  # many retry periods
    assert len(receiver.received(hook_path)) == count

    gateway_rows = [(entry["action"], entry["outcome"]) for entry in audit(admin, "gateway")
                    if entry["object"]["id"] == created["client_id"]]
    assert gateway_rows == [("client.created", "succeeded"), ("client.revoked", "succeeded"),
                            ("client.revocation_propagated", "succeeded")]
    (propagated,) = [entry for entry in audit(admin, "gateway") if entry["action"] == "client.revocation_propagated"]
    assert propagated["request_id"] == revoked.headers["x-request-id"]
    assert propagated["details"]["webhooks_disabled"] == 1 and propagated["details"]["deliveries_cancelled"] >= 1
    (disabled_row,) = [entry for entry in audit(admin, "notifications") if entry["action"] == "webhook.disabled"]
    assert disabled_row["object"]["id"] == webhook_id and disabled_row["request_id"] == revoked.headers["x-request-id"]
    assert disabled_row["details"]["client_id"] == created["client_id"]
    assert disabled_row["details"]["reason"] == "client_revoked"
    officer.close()
    applicant.close()


def test_guessing_a_secret_ends_in_429_logged_and_another_address_still_gets_a_token(world):
    system, api, admin = world["system"], world["api"], world["admin"]
    created = api.create_client(admin, "officer", "KDN-BH")
    wrong = {"grant_type": "client_credentials", "client_id": created["client_id"],
             "client_secret": "guess-5b1e0c9d"}
    # The default: ten failures of one client from one address lock that pair.
    statuses = [api.http.post("/v1/oauth/token", data=wrong).status_code for _ in range(10)]
    assert statuses == [401] * 10
    locked = api.http.post("/v1/oauth/token", data={**wrong, "client_secret": created["client_secret"]})
    assert locked.status_code == 429 and locked.json()["error"] == "temporarily_unavailable"
    assert 1 <= int(locked.headers["Retry-After"]) <= 30

    # Another address (loopback has them all): the right secret still works there.
    elsewhere = httpx.Client(base_url=system.gateway_url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with elsewhere:
        assert elsewhere.post("/v1/oauth/token", data={**wrong, "client_secret": created["client_secret"]}
                              ).status_code == 200

    def lockout_logged() -> list[dict]:
        lines = [json.loads(line) for line in system["gateway"].log_path.read_text().splitlines()
                 if line.startswith("{") and '"token_locked"' in line]
        return [line for line in lines if line.get("client_id") == created["client_id"]]

    wait_for(lockout_logged, timeout=5, message="no token_locked line")
    (line,) = lockout_logged()
    assert line["reason"] == "10 failures: client+address" and line["address"] == "127.0.0.1"
    assert line["lock_seconds"] == 30
    assert "guess-5b1e0c9d" not in system["gateway"].log_path.read_text()
