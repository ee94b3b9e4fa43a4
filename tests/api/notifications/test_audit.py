"""The notifications service's audit log: webhooks created, rotated and deleted, templates
changed; never a secret or a webhook URL."""

from __future__ import annotations

from tests.api.notifications.conftest import admin, applicant
from tests.api.notifications.test_webhooks import subscribe
from tests.support.audit import assert_admins_only, assert_tampering_found, audit_entries


async def test_webhook_and_template_changes_are_audited(harness, receiver):
    created = await subscribe(harness, receiver, {**applicant("31"), "X-Request-Id": "req-hook"},
                              events=["submission.issued"])
    webhook = f"/v1/webhooks/{created['id']}"
    rotated = await harness.client.post(f"{webhook}/rotate-secret", headers=applicant("31"))
    assert rotated.status_code == 200
    assert (await harness.client.delete(webhook, headers=applicant("31"))).status_code == 204
    template = {"subject": "[{{ tracking_code }}]", "text": "Halo", "html": "<p>Halo</p>"}
    assert (await harness.client.put("/v1/templates/submission.issued/id", json=template,
                                     headers=admin())).status_code == 200

    entries = await audit_entries(harness.client, "notifications", admin())
    assert [(entry["action"], entry["object"]["id"], entry["actor"]["role"]) for entry in entries] == [
        ("webhook.created", created["id"], "applicant"),
        ("webhook.secret_rotated", created["id"], "applicant"),
        ("webhook.deleted", created["id"], "applicant"),
        ("template.changed", "submission.issued/id", "admin"),
    ]
    assert entries[0]["request_id"] == "req-hook"
    assert entries[0]["actor"]["tenant"] == "31"
    assert entries[0]["details"] == {"events": ["submission.issued"]}
    logged = str(entries)
    assert created["secret"] not in logged and rotated.json()["secret"] not in logged
    assert receiver.url("/hook") not in logged
    await assert_tampering_found(harness.client, harness.app, "notifications", admin(), seq=3)
    await assert_admins_only(harness.client, "notifications", applicant("31"))
