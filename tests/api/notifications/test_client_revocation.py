"""A revoked API client's webhooks: disabled (not deleted) with the reason, their pending
deliveries cancelled, nothing posted afterwards, even for a delivery a dispatcher had already
claimed; the other client's webhooks untouched; audited; idempotent; for the gateway only."""

from __future__ import annotations

import asyncio

from tests.api.notifications.conftest import admin, as_role, service, submission_event
from tests.api.notifications.test_webhooks import ALL_TYPES
from tests.support.audit import audit_entries

REVOKED, KEPT = "client-revoked-1", "client-kept-2"


def client_headers(client_id: str) -> dict[str, str]:
    return as_role("notifications", "applicant", "31", subject=client_id)


async def subscribe(harness, receiver, client_id: str, path: str) -> dict:
    response = await harness.client.post("/v1/webhooks", json={"url": receiver.url(path), "events": ALL_TYPES},
                                         headers=client_headers(client_id))
    assert response.status_code == 201, response.text
    receiver.secrets.append(response.json()["secret"])
    return response.json()


async def revoke(harness, client_id: str, headers: dict[str, str] | None = None):
    return await harness.client.post("/internal/client-revocations", headers=headers or service("gateway"),
                                     json={"client_id": client_id, "revoked_at": "2026-12-03T10:00:00+00:00",
                                           "revoked_by": "test-admin"})


async def test_revocation_disables_the_clients_webhooks_and_cancels_their_deliveries(harness, receiver):
    revoked = await subscribe(harness, receiver, REVOKED, "/revoked")
    kept = await subscribe(harness, receiver, KEPT, "/kept")
    receiver.script["/revoked"] = [500] * 1000
    await harness.send(submission_event(tenant="31"))
    await harness.eventually(lambda: receiver.received("/revoked") and receiver.received("/kept"))

    answer = await revoke(harness, REVOKED)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"webhooks_disabled": 1, "deliveries_cancelled": 1}
    count = len(receiver.received("/revoked"))

    shown = (await harness.client.get(f"/v1/webhooks/{revoked['id']}", headers=client_headers(KEPT))).json()
    assert (shown["status"], shown["disabled_reason"]) == ("disabled", "client_revoked") and shown["disabled_at"]
    other = (await harness.client.get(f"/v1/webhooks/{kept['id']}", headers=admin())).json()
    assert (other["status"], other["disabled_reason"]) == ("active", None)
    deliveries = await harness.client.get(f"/v1/webhooks/{revoked['id']}/deliveries", headers=admin())
    (delivery,) = deliveries.json()["items"]
    assert delivery["status"] == "failed"

    # A new event reaches the other client's webhook only, and nothing more goes to the revoked one.
    await harness.send(submission_event(tenant="31"))
    await harness.eventually(lambda: len(receiver.received("/kept")) == 2)
    await asyncio.sleep(0.6)
    assert len(receiver.received("/revoked")) == count
    # A disabled webhook's secret is not rotated.
    rotated = await harness.client.post(f"/v1/webhooks/{revoked['id']}/rotate-secret", headers=client_headers(KEPT))
    assert rotated.status_code == 409 and rotated.json()["type"].endswith("webhook-disabled")

    again = await revoke(harness, REVOKED)
    assert again.json() == {"webhooks_disabled": 0, "deliveries_cancelled": 0}
    entries = [entry for entry in await audit_entries(harness.client, "notifications", admin())
               if entry["action"] == "webhook.disabled"]
    assert len(entries) == 1
    (entry,) = entries
    assert (entry["object"]["id"], entry["actor"]["role"]) == (revoked["id"], "service")
    assert entry["actor"]["id"] == "service:gateway"
    assert entry["details"] == {"reason": "client_revoked", "client_id": REVOKED, "revoked_by": "test-admin",
                                "revoked_at": "2026-12-03T10:00:00+00:00", "deliveries_cancelled": 1}


async def test_a_delivery_claimed_before_the_revocation_is_not_posted(harness, receiver):
    revoked = await subscribe(harness, receiver, REVOKED, "/revoked")
    dispatcher = harness.app.state.dispatchers["webhook"]
    await dispatcher.worker.stop()  # the test plays the dispatcher's round by hand
    event = submission_event(tenant="31")
    await harness.send(event)
    claimed = await dispatcher._claim_due()
    assert len(claimed) == 1
    assert (await revoke(harness, REVOKED)).json() == {"webhooks_disabled": 1, "deliveries_cancelled": 1}
    await dispatcher._dispatch(claimed)
    await asyncio.sleep(0.2)
    assert receiver.received("/revoked") == []
    deliveries = await harness.client.get(f"/v1/webhooks/{revoked['id']}/deliveries", headers=admin())
    (delivery,) = deliveries.json()["items"]
    assert delivery["status"] == "failed" and delivery["attempts"] == []
    channel = await harness.channel(event["id"], "webhook")
    assert (channel["status"], channel["attempts"]) == ("failed", 0)  # the claim's count taken back


async def test_only_the_gateway_and_services_may_say_a_client_was_revoked(harness, receiver):
    await subscribe(harness, receiver, REVOKED, "/revoked")
    assert (await revoke(harness, REVOKED, admin())).status_code == 403
    assert (await revoke(harness, REVOKED, client_headers(REVOKED))).status_code == 403
    bad = await harness.client.post("/internal/client-revocations", headers=service("gateway"), json={"client": "x"})
    assert bad.status_code == 422
