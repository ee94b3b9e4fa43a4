from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from simpul.shared.app import create_service_app
from simpul.submissions.models import idempotency
from simpul.submissions.settings import SubmissionsSettings


def create_app(settings: SubmissionsSettings | None = None) -> FastAPI:
    settings = settings or SubmissionsSettings()
    return create_service_app(
        settings,
        title="Simpul submissions",
        description="Submissions and their documents, review, SLA clock, receipts, tracking, complaints, surveys and reports.",
        migrations=Path(__file__).parent / "migrations",
        idempotency=idempotency,
    )
