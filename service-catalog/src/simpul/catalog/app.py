from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from simpul.shared.app import create_service_app
from simpul.catalog.models import idempotency
from simpul.catalog.settings import CatalogSettings


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    settings = settings or CatalogSettings()
    return create_service_app(
        settings,
        title="Simpul catalog",
        description="The public catalogue of service standards (PermenPANRB 15/2014).",
        migrations=Path(__file__).parent / "migrations",
        idempotency=idempotency,
    )
