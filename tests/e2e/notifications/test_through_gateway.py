"""Notifications of a real submission through the gateway, all five services as processes, over
each transport: the applicant's mail at aiosmtpd, signed webhooks, the inbox."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.e2e.conftest import start_system
from tests.e2e.notifications.receivers import amqp_server, amqp_vhost, wait_for
from tests.e2e.test_foundation import service_body
from tests.support.api import PublicApi
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET

pytestmark = pytest.mark.e2e

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture(scope="module", params=["http", pytest.param("amqp", marks=pytest.mark.amqp)])
def world(request, tmp_path_factory, mail) -> Iterator[dict]:
    if request.param == "amqp" and amqp_server() is None:
        pytest.skip("SIMPUL_TEST_AMQP not set")
    with ExitStack() as stack:
        env = {"SIMPUL_SMTP_HOST": "127.0.0.1", "SIMPUL_SMTP_PORT": str(mail.port)}
        if request.param == "amqp":
            env["SIMPUL_EVENT_BROKER"] = stack.enter_context(amqp_vhost(amqp_server()))[0]
        system, databases = start_system(tmp_path_factory.mktemp(f"notify-{request.param}"), extra_env=env)
        api = PublicApi(system.gateway_url)
        admin = api.as_client(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
        code = f"UJI-{uuid.uuid4().hex[:8].upper()}"
        unit = f"E2E-{uuid.uuid4().hex[:6].upper()}"
        assert admin.post("/v1/services", json=service_body(code, unit)).status_code == 201
        assert admin.post(f"/v1/services/{code}/publish").status_code == 200
        people = {"applicant": api.client_for(admin, "applicant", "31"),
                  "officer": api.client_for(admin, "officer", unit),
                  "other": api.client_for(admin, "applicant", "32"), "admin": admin}
        try:
            yield {"system": system, "code": code, "unit": unit, **people}
        finally:
            for client in people.values():
                client.close()
            api.close()
            system.stop()
            asyncio.run(databases.drop_all())


def test_a_submission_notifies_its_applicant_and_subscribers(world, mail, receiver):
    applicant, officer = world["applicant"], world["officer"]
    hook_path = f"/hook-{uuid.uuid4().hex[:6]}"
    created = applicant.post("/v1/webhooks", json={"url": receiver.url(hook_path), "events": [
        "submission.submitted", "submission.status_changed", "submission.issued"]})
    assert created.status_code == 201, created.text
    receiver.secrets.append(created.json()["secret"])
    address = f"budi-{uuid.uuid4().hex[:6]}@example.go.id"

    changed_at = time.time()
    submission = applicant.post("/v1/submissions", json={
        "service_code": world["code"], "applicant": {"name": "Budi Santoso", "email": address, "language": "en"},
        "data": {"perihal": "Permohonan keterangan"}}).json()
    sid = submission["id"]
    uploaded = applicant.post(f"/v1/submissions/{sid}/documents", data={"requirement_code": "SURAT"},
                              files={"file": ("surat.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    assert applicant.post(f"/v1/submissions/{sid}/submit").status_code == 200

    wait_for(lambda: mail.to(address), message=f"no mail\n{world['system'].logs()}")
    assert time.time() - changed_at < 10
    (received,) = mail.to(address)
    assert received["Subject"] == f"Your application {submission['tracking_code']} has been received"

    assert officer.post(f"/v1/submissions/{sid}/actions", json={"action": "start_review"}).status_code == 200
    assert officer.post(f"/v1/submissions/{sid}/actions", json={"action": "approve", "note": "OK"}).status_code == 200
    # submitted, in review, approved, issued: one mail each.
    wait_for(lambda: len(mail.to(address)) == 4, timeout=60,
             message=f"mail missing: {[m['Subject'] for m in mail.to(address)]}\n{world['system'].logs()}")
    subjects = [message["Subject"] for message in mail.to(address)]
    assert subjects[1:3] == [f"Application {submission['tracking_code']}: in review",
                             f"Application {submission['tracking_code']}: approved"]
    assert subjects[3] == f"The document for application {submission['tracking_code']} has been issued"
    issued_text = mail.to(address)[3].get_body(("plain",)).get_content()
    assert "/v1/verify/" in issued_text

    # Webhooks: every event of the applicant's region, signed with its secret, each once.
    wait_for(lambda: len(receiver.accepted_ids(hook_path)) == 6, timeout=30, message="webhooks missing")
    requests = receiver.received(hook_path)
    assert all(request.verified_with == [len(receiver.secrets) - 1] for request in requests)
    types = [json.loads(request.body)["type"] for request in requests]
    assert sorted(types) == sorted(["submission.status_changed"] * 4 + ["submission.submitted", "submission.issued"])

    def inbox(client: httpx.Client) -> list[dict]:
        response = client.get("/v1/notifications", params={"submission_id": sid})
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def all_sent() -> bool:
        items = inbox(applicant)
        return len(items) == 6 and all(channel["status"] in ("sent", "delivered")
                                       for item in items for channel in item["channels"])

    wait_for(all_sent, message="inbox incomplete")
    assert len(inbox(officer)) == 6
    assert inbox(world["other"]) == []
    deliveries = applicant.get(f"/v1/webhooks/{created.json()['id']}/deliveries").json()["items"]
    assert len(deliveries) == 6 and all(delivery["status"] == "delivered" for delivery in deliveries)
