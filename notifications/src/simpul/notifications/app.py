from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from simpul.shared.app import create_service_app
from simpul.notifications.models import idempotency
from simpul.notifications.settings import NotificationsSettings


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    return create_service_app(
        settings,
        title="Simpul notifications",
        description="Email, webhook and inbox notifications for every event.",
        migrations=Path(__file__).parent / "migrations",
        idempotency=idempotency,
    )
