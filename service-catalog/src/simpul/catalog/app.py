from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from simpul.shared.app import create_service_app
from simpul.shared.db import utcnow

from simpul.catalog.api import router
from simpul.catalog.cache import DocumentCache
from simpul.catalog.demo import load_demo
from simpul.catalog.models import audit, idempotency
from simpul.catalog.service import Catalogue
from simpul.catalog.settings import CatalogSettings


def create_app(settings: CatalogSettings | None = None, *, clock: Callable[[], datetime] = utcnow) -> FastAPI:
    settings = settings or CatalogSettings()
    app = create_service_app(
        settings,
        title="Simpul catalog",
        description="The public catalogue of service standards (PermenPANRB 15/2014).",
        migrations=Path(__file__).parent / "migrations",
        idempotency=idempotency,
        audit=audit,
        on_startup=[load_demo] if settings.demo else [],
    )
    app.state.catalogue = Catalogue(
        app.state.sessions, app.state.read_sessions, clock=clock, cache=DocumentCache(settings.cache_seconds)
    )
    app.include_router(router)
    return app
