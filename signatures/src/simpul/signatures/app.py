from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from simpul.shared.app import create_service_app
from simpul.signatures.models import idempotency
from simpul.signatures.settings import SignaturesSettings


def create_app(settings: SignaturesSettings | None = None) -> FastAPI:
    settings = settings or SignaturesSettings()
    return create_service_app(
        settings,
        title="Simpul signatures",
        description="Issued documents, their PAdES signatures, verification and revocation.",
        migrations=Path(__file__).parent / "migrations",
        idempotency=idempotency,
    )
