"""Webhook subscriptions and deliveries against a real HTTP receiver that verifies signatures."""

from __future__ import annotations

import asyncio
import json

from tests.api.notifications.conftest import (
    OTHER_UNIT,
    UNIT,
    admin,
    applicant,
    complaint_event,
    officer,
    submission_event,
)

ALL_TYPES = ["submission.submitted", "submission.status_changed", "submission.issued", "complaint.updated"]


async def subscribe(harness, receiver, headers, path="/hook", events=None) -> dict:
    response = await harness.client.post("/v1/webhooks", json={"url": receiver.url(path), "events": events or ALL_TYPES},
                                         headers=headers)
    assert response.status_code == 201, response.text
    created = response.json()
    receiver.secrets.append(created["secret"])
    return created


async def deliveries_of(harness, subscription_id: str, headers) -> list[dict]:
    response = await harness.client.get(f"/v1/webhooks/{subscription_id}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_subscription_lifecycle_and_secrecy(harness, receiver):
    created = await subscribe(harness, receiver, applicant("31"), events=["submission.issued"])
    assert created["secret"].startswith("whsec_")
    assert created["owner_role"] == "applicant" and created["tenant"] == "31"
    assert created["events"] == ["submission.issued"]

    shown = await harness.client.get(f"/v1/webhooks/{created['id']}", headers=applicant("31"))
    assert shown.status_code == 200
    assert "secret" not in shown.json() and created["secret"] not in shown.text
    listed = await harness.client.get("/v1/webhooks", headers=applicant("31"))
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]
    assert created["secret"] not in listed.text

    # Another region, an officer, or anyone else: as if it did not exist.
    for headers in (applicant("32"), officer("31")):
        assert (await harness.client.get(f"/v1/webhooks/{created['id']}", headers=headers)).status_code == 404
        assert (await harness.client.get("/v1/webhooks", headers=headers)).json()["items"] == []
        assert (await harness.client.delete(f"/v1/webhooks/{created['id']}", headers=headers)).status_code == 404
        assert (await harness.client.get(f"/v1/webhooks/{created['id']}/deliveries",
                                         headers=headers)).status_code == 404
    assert (await harness.client.get(f"/v1/webhooks/{created['id']}", headers=admin())).status_code == 200

    deleted = await harness.client.delete(f"/v1/webhooks/{created['id']}", headers=applicant("31"))
    assert deleted.status_code == 204
    assert (await harness.client.get(f"/v1/webhooks/{created['id']}", headers=applicant("31"))).status_code == 404


async def test_who_may_subscribe_and_what(harness, receiver):
    url = receiver.url()
    assert (await harness.client.post("/v1/webhooks", json={"url": url, "events": ALL_TYPES},
                                      headers=admin())).status_code == 403
    for body in ({"url": url, "events": []}, {"url": url, "events": ["document.issued"]},
                 {"url": url, "events": ["submission.issued", "submission.issued"]},
                 {"url": url}, {"url": url, "events": ALL_TYPES, "extra": 1}):
        response = await harness.client.post("/v1/webhooks", json=body, headers=applicant("31"))
        assert response.status_code == 422, body


async def test_a_failing_receiver_gets_each_event_once_after_retries(harness, receiver):
    created = await subscribe(harness, receiver, applicant("31"))
    receiver.script["/hook"] = [500, 503]
    event = submission_event(tenant="31")
    await harness.send(event)

    await harness.eventually(lambda: receiver.accepted_ids(), message="never delivered")
    await asyncio.sleep(0.5)  # a second delivery must not come
    requests = receiver.received("/hook")
    assert [request.status for request in requests] == [500, 503, 200]
    assert len({request.headers["webhook-id"] for request in requests}) == 1
    assert all(request.verified_with == [0] for request in requests)
    body = json.loads(requests[-1].body)
    assert body["type"] == "submission.status_changed" and body["id"] == event["id"]
    assert body["data"] == event["data"] and body["timestamp"]

    (delivery,) = await deliveries_of(harness, created["id"], applicant("31"))
    assert delivery["status"] == "delivered" and delivery["event_id"] == event["id"]
    assert delivery["id"] == requests[0].headers["webhook-id"]
    assert [(a["attempt"], a["status_code"], a["outcome"], a["error"]) for a in delivery["attempts"]] == [
        (1, 500, "retry", "HTTP 500"), (2, 503, "retry", "HTTP 503"), (3, 200, "delivered", None)]
    assert all(attempt["duration_ms"] >= 0 for attempt in delivery["attempts"])
    channel = await harness.channel(event["id"], "webhook")
    assert channel == {**channel, "recipient": created["id"], "status": "delivered", "attempts": 3}


async def test_an_unreachable_receiver_fails_after_the_retry_window(start, receiver):
    async with start(webhook_retry_window_seconds=0.5) as harness:
        response = await harness.client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook",
                                                                   "events": ALL_TYPES}, headers=applicant("31"))
        created = response.json()
        await harness.send(submission_event(tenant="31"))

        async def failed():
            items = await deliveries_of(harness, created["id"], applicant("31"))
            return items and items[0]["status"] == "failed"

        await harness.eventually(failed, message="never failed")
        (delivery,) = await deliveries_of(harness, created["id"], applicant("31"))
        assert len(delivery["attempts"]) >= 2
        assert {attempt["error"] for attempt in delivery["attempts"]} == {"connection failed"}
        assert delivery["attempts"][-1]["outcome"] == "failed"


async def test_subscriptions_match_the_tenant_or_unit_and_the_event_types(harness, receiver):
    mine = await subscribe(harness, receiver, applicant("31"), "/region31", ["submission.submitted"])
    await subscribe(harness, receiver, applicant("32"), "/region32")
    await subscribe(harness, receiver, officer(UNIT), "/unit")
    await subscribe(harness, receiver, officer(OTHER_UNIT), "/other-unit")

    submitted = submission_event("submission.submitted", tenant="31", unit=UNIT)
    changed = submission_event("submission.status_changed", tenant="31", unit=UNIT)
    complaint = complaint_event(tenant="32", unit=None)
    await harness.send(submitted, changed, complaint)

    def by_path(path):
        return sorted(receiver.accepted_ids(path))

    await harness.eventually(lambda: len(receiver.accepted_ids()) == 4)
    await asyncio.sleep(0.3)
    webhook_ids = {delivery["id"]: delivery["event_id"]
                   for delivery in await deliveries_of(harness, mine["id"], applicant("31"))}
    assert [webhook_ids[i] for i in by_path("/region31")] == [submitted["id"]]
    assert len(by_path("/unit")) == 2
    assert len(by_path("/region32")) == 1
    assert by_path("/other-unit") == []


async def test_a_rotated_secret_overlaps_with_the_old_one_for_the_grace_period(harness, receiver):
    created = await subscribe(harness, receiver, officer(UNIT))
    rotated = await harness.client.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=officer(UNIT))
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["secret"] != created["secret"] and new["secret"].startswith("whsec_")
    receiver.secrets.append(new["secret"])
    shown = (await harness.client.get(f"/v1/webhooks/{created['id']}", headers=officer(UNIT))).json()
    assert shown["previous_secret_expires_at"] is not None and "secret" not in shown

    await harness.send(submission_event(unit=UNIT))
    await harness.eventually(lambda: receiver.accepted_ids())
    assert receiver.received()[-1].verified_with == [0, 1]
    assert len(receiver.received()[-1].headers["webhook-signature"].split(" ")) == 2

    ended = await harness.client.post(f"/v1/webhooks/{created['id']}/rotate-secret",
                                      json={"grace_period_seconds": 0}, headers=officer(UNIT))
    receiver.secrets.append(ended.json()["secret"])
    await harness.send(submission_event(unit=UNIT))
    await harness.eventually(lambda: len(receiver.accepted_ids()) == 2)
    assert receiver.received()[-1].verified_with == [2]

    other = await harness.client.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=officer(OTHER_UNIT))
    assert other.status_code == 404
    too_long = await harness.client.post(f"/v1/webhooks/{created['id']}/rotate-secret",
                                         json={"grace_period_seconds": 10**9}, headers=officer(UNIT))
    assert too_long.status_code == 422


async def test_deleting_a_subscription_stops_its_pending_deliveries(harness, receiver):
    created = await subscribe(harness, receiver, applicant("31"))
    receiver.script["/hook"] = [500] * 1000
    await harness.send(submission_event(tenant="31"))
    await harness.eventually(lambda: receiver.received())
    assert (await harness.client.delete(f"/v1/webhooks/{created['id']}", headers=applicant("31"))).status_code == 204

    async def settled():
        channel = await harness.channel(receiver_event_id(receiver), "webhook")
        return channel["status"] == "failed"

    await harness.eventually(settled, message="delivery still pending after the subscription was deleted")
    count = len(receiver.received())
    await asyncio.sleep(0.5)
    assert len(receiver.received()) == count


def receiver_event_id(receiver) -> str:
    return json.loads(receiver.received()[0].body)["id"]


async def test_delivery_lists_page_with_a_cursor(harness, receiver):
    created = await subscribe(harness, receiver, applicant("31"))
    await harness.send(*(submission_event(tenant="31") for _ in range(5)))
    await harness.eventually(lambda: len(receiver.accepted_ids()) == 5)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await harness.client.get(f"/v1/webhooks/{created['id']}/deliveries", params=params,
                                         headers=applicant("31"))).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    filtered = await harness.client.get(f"/v1/webhooks/{created['id']}/deliveries", params={"status": "failed"},
                                        headers=applicant("31"))
    assert filtered.json()["items"] == []


async def test_secrets_are_never_stored_for_a_replay(harness, receiver):
    body = {"url": receiver.url(), "events": ALL_TYPES}
    headers = {**applicant("31"), "Idempotency-Key": "create-hook-1"}
    first = await harness.client.post("/v1/webhooks", json=body, headers=headers)
    assert first.status_code == 201 and first.headers["cache-control"] == "no-store"
    # Not kept for a replay either once the answers are written.
    await harness.app.state.idempotency_answers.flush()
    again = await harness.client.post("/v1/webhooks", json=body, headers=headers)
    assert again.status_code == 409 and first.json()["secret"] not in again.text
    listed = (await harness.client.get("/v1/webhooks", headers=applicant("31"))).json()["items"]
    assert [item["id"] for item in listed] == [first.json()["id"]]
    rotated = await harness.client.post(f"/v1/webhooks/{first.json()['id']}/rotate-secret", headers=applicant("31"))
    assert rotated.headers["cache-control"] == "no-store"
