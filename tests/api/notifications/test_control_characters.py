"""Control characters are refused at the door of the notifications service, naming the field."""

from __future__ import annotations

from sqlalchemy import func, select

from simpul.notifications.models import templates, webhook_subscriptions
from tests.api.notifications.conftest import admin, applicant


async def counts(harness) -> tuple[int, int]:
    async with harness.app.state.engine.connect() as connection:
        return tuple([(await connection.execute(select(func.count()).select_from(table))).scalar_one()
                      for table in (webhook_subscriptions, templates)])


async def test_webhook_urls_and_template_texts_refuse_control_characters(harness):
    before = await counts(harness)
    webhook = await harness.client.post("/v1/webhooks", headers=applicant("31"),
                                        json={"url": "https://apps.example.go.id/\u0000hook",
                                              "events": ["submission.submitted"]})
    assert webhook.status_code == 422, webhook.text
    assert [error["field"] for error in webhook.json()["errors"]] == ["url"]

    template = {"subject": "Status\r\nBcc: everyone@example.org", "text": "Halo {{ applicant.name }}",
                "html": "<p>Halo</p>"}
    saved = await harness.client.put("/v1/templates/submission.submitted/id", json=template, headers=admin())
    assert saved.status_code == 422, saved.text
    assert [error["field"] for error in saved.json()["errors"]] == ["subject"]
    saved = await harness.client.put("/v1/templates/submission.submitted/id", headers=admin(),
                                     json={**template, "subject": "Status", "text": "Halo\u0000"})
    assert [error["field"] for error in saved.json()["errors"]] == ["text"]
    assert await counts(harness) == before
