"""Webhook subscriptions, secret rotations and dead-letter replays through a crash: the process
dies after the change committed, before its answer was sent; the retry with the key is told the
key was used and changes nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update

from simpul.notifications.models import templates
from tests.api.notifications.conftest import admin, applicant, complaint_event


@pytest.fixture
async def harness(start) -> AsyncIterator:
    async with start() as started:
        yield started


async def test_a_subscription_and_its_rotation_happen_once(harness, deaths, receiver):
    client = harness.client
    body = {"url": receiver.url(), "events": ["submission.submitted"]}
    await deaths.refused_after_death(client, "/v1/webhooks", applicant("31"), json=body)
    (webhook,) = (await client.get("/v1/webhooks", headers=applicant("31"))).json()["items"]

    await deaths.refused_after_death(client, f"/v1/webhooks/{webhook['id']}/rotate-secret", applicant("31"))
    rotated = (await client.get(f"/v1/webhooks/{webhook['id']}", headers=applicant("31"))).json()
    assert rotated["rotated_at"] is not None
    await deaths.refused_after_death(client, f"/v1/webhooks/{webhook['id']}/rotate-secret", applicant("31"))
    again = (await client.get(f"/v1/webhooks/{webhook['id']}", headers=applicant("31"))).json()
    assert again["rotated_at"] > rotated["rotated_at"]  # a new key rotates again, once


async def test_a_dead_letter_is_replayed_once(harness, deaths, mail):
    async with harness.app.state.sessions.begin() as session:
        await session.execute(update(templates).where(templates.c.event_type == "complaint.updated",
                                                      templates.c.language == "id")
                              .values(subject="{{ no_such_field.name }}"))
    assert (await harness.send(complaint_event(email="warga@x.id")))["dead_lettered"] == 1
    (letter,) = (await harness.client.get("/v1/notifications/dead-letters", headers=admin())).json()["items"]
    default = (await harness.client.get("/v1/templates/complaint.updated/en", headers=admin())).json()
    fixed = {"subject": "Pengaduan: {{ status | status }}", "text": default["text"], "html": default["html"]}
    assert (await harness.client.put("/v1/templates/complaint.updated/id", json=fixed,
                                     headers=admin())).status_code == 200

    await deaths.refused_after_death(harness.client, f"/v1/notifications/dead-letters/{letter['id']}/replay", admin())
    await harness.eventually(lambda: mail.to("warga@x.id"))
    assert len(mail.to("warga@x.id")) == 1
    waiting = await harness.client.get("/v1/notifications/dead-letters", params={"replayed": "false"},
                                       headers=admin())
    assert waiting.json()["items"] == []
