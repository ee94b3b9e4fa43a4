from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from simpul.notifications.app import create_app
from simpul.notifications.settings import NotificationsSettings
from simpul.shared.identity import ASSERTION_HEADER, mint_service_token
from tests.e2e.notifications.receivers import MailSink, WebhookReceiver
from tests.support.asgi import running
from tests.support.identity import TEST_INTERNAL_SECRET, as_role

SERVICE = "notifications"
UNIT = "KDN-BH"
OTHER_UNIT = "KDN-PD"


def applicant(tenant: str = "31") -> dict[str, str]:
    return as_role(SERVICE, "applicant", tenant)


def officer(unit: str = UNIT) -> dict[str, str]:
    return as_role(SERVICE, "officer", unit)


def admin() -> dict[str, str]:
    return as_role(SERVICE, "admin")


def service(caller: str = "submissions") -> dict[str, str]:
    return {ASSERTION_HEADER: mint_service_token(TEST_INTERNAL_SECRET, caller, SERVICE)}


def submission_event(event_type: str = "submission.status_changed", *, tenant: str = "31", unit: str = UNIT,
                     email: str | None = "siti@example.id", language: str = "id", name: str = "Siti Rahma",
                     submission_id: str | None = None, **data: Any) -> dict[str, Any]:
    submission_id = submission_id or str(uuid.uuid4())
    payload = {
        "submission_id": submission_id, "tracking_code": "SPL" + uuid.uuid4().hex[:9].upper(),
        "service_code": "IZIN-USAHA", "service_name": "Izin Usaha Mikro", "service_version": 1,
        "unit": unit, "tenant": tenant, "applicant": {"name": name, "email": email, "language": language},
        "from": "submitted", "to": "in_review", "note": None, "at": datetime.now(UTC).isoformat(),
        "due_at": "2030-01-10T10:00:00+00:00",
    }
    payload.update(data)
    return envelope(event_type, f"submissions/{submission_id}", payload)


def complaint_event(*, tenant: str = "31", unit: str | None = UNIT, status: str = "in_progress",
                    email: str = "siti@example.id", language: str = "id") -> dict[str, Any]:
    complaint_id = str(uuid.uuid4())
    return envelope("complaint.updated", f"complaints/{complaint_id}", {
        "complaint_id": complaint_id, "submission_id": None, "tenant": tenant, "unit": unit, "status": status,
        "applicant": {"name": "Siti Rahma", "email": email, "language": language},
        "at": datetime.now(UTC).isoformat(),
    })


def envelope(event_type: str, subject: str, data: dict[str, Any], source: str = "simpul/submissions") -> dict:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "type": event_type, "source": source,
            "subject": subject, "occurred_at": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json", "data": data}


@dataclass
class Harness:
    client: httpx.AsyncClient
    app: Any
    settings: NotificationsSettings

    async def send(self, *events: Any) -> dict[str, int]:
        response = await self.client.post("/internal/events", json=list(events), headers=service())
        assert response.status_code == 200, response.text
        return response.json()

    async def inbox(self, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
        """Every page, newest first."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page_params = {"limit": 200, **params, **({"cursor": cursor} if cursor else {})}
            response = await self.client.get("/v1/notifications", headers=headers, params=page_params)
            assert response.status_code == 200, response.text
            items += response.json()["items"]
            cursor = response.json()["next_cursor"]
            if cursor is None:
                return items

    async def channel(self, event_id: str, channel: str) -> dict[str, Any]:
        for item in await self.inbox(admin()):
            if item["event_id"] == event_id:
                return next(entry for entry in item["channels"] if entry["channel"] == channel)
        raise AssertionError(f"no notification for {event_id}")

    async def eventually(self, condition: Callable[[], Any], timeout: float = 10.0, message: str = "") -> Any:
        """Polls an async or plain condition while the app's background tasks run."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(message or "condition not met in time")
            await asyncio.sleep(0.05)


@pytest.fixture
def mail() -> Iterator[MailSink]:
    sink = MailSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()


# Fast retries so that outages of a second or two play out within a test.
FAST = {
    "webhook_allow_loopback": True,
    "email_retry_base_seconds": 0.05,
    "email_retry_max_delay_seconds": 0.3,
    "webhook_retry_base_seconds": 0.1,
    "webhook_retry_max_delay_seconds": 0.3,
    "dispatch_poll_seconds": 0.1,
}


@pytest.fixture
def start(settings_for, mail) -> Callable[..., Any]:
    """`async with start(**overrides) as harness`: the app in-process, mail to the `mail` sink."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[Harness]:
        settings = await settings_for(NotificationsSettings,
                                      **{**FAST, "smtp_host": "127.0.0.1", "smtp_port": mail.port, **overrides})
        app = create_app(settings)
        async with running(app) as client:
            yield Harness(client, app, settings)

    return make


@pytest.fixture
async def harness(start) -> AsyncIterator[Harness]:
    async with start() as started:
        yield started
