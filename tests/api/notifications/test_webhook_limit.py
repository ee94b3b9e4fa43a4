"""A region or unit holds at most SIMPUL_WEBHOOK_MAX_PER_TENANT live webhooks, even when it asks
for many at once; a deleted one frees its place."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from simpul.notifications.models import webhook_subscriptions
from simpul.notifications.settings import NotificationsSettings
from tests.api.notifications.conftest import applicant


async def create(harness, receiver, tenant: str):
    return await harness.client.post("/v1/webhooks", headers=applicant(tenant),
                                     json={"url": receiver.url("/hook"), "events": ["submission.submitted"]})


async def live(harness, tenant: str) -> int:
    async with harness.app.state.engine.connect() as connection:
        return (await connection.execute(
            select(func.count()).select_from(webhook_subscriptions)
            .where(webhook_subscriptions.c.tenant == tenant, webhook_subscriptions.c.deleted_at.is_(None))
        )).scalar_one()


async def test_the_limit_holds_under_concurrent_creations_and_per_tenant(start, receiver):
    async with start(webhook_max_per_tenant=3) as harness:
        answers = await asyncio.gather(*(create(harness, receiver, "31") for _ in range(8)))
        assert sorted(answer.status_code for answer in answers) == [201] * 3 + [409] * 5
        refused = next(answer for answer in answers if answer.status_code == 409)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("webhook-limit") and refused.json()["limit"] == 3
        assert await live(harness, "31") == 3
        assert (await create(harness, receiver, "32")).status_code == 201  # another region's own

        first = next(answer for answer in answers if answer.status_code == 201).json()
        deleted = await harness.client.delete(f"/v1/webhooks/{first['id']}", headers=applicant("31"))
        assert deleted.status_code == 204
        assert (await create(harness, receiver, "31")).status_code == 201
        assert (await create(harness, receiver, "31")).status_code == 409
        assert await live(harness, "31") == 3


def test_the_default_is_twenty():
    assert NotificationsSettings().webhook_max_per_tenant == 20
