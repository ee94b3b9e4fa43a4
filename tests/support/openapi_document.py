"""The gateway's aggregated OpenAPI document built in-process: every service's app made with
`create_app(settings)` (no process, no database opened), its document merged by the gateway's
own `merge`, as the running gateway does it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simpul.catalog.app import create_app as catalog_app
from simpul.catalog.settings import CatalogSettings
from simpul.gateway.app import create_app as gateway_app
from simpul.gateway.openapi import merge
from simpul.gateway.settings import GatewaySettings
from simpul.notifications.app import create_app as notifications_app
from simpul.notifications.settings import NotificationsSettings
from simpul.signatures.app import create_app as signatures_app
from simpul.signatures.settings import SignaturesSettings
from simpul.submissions.app import create_app as submissions_app
from simpul.submissions.settings import SubmissionsSettings
from tests.support.identity import TEST_INTERNAL_SECRET, jwks_json

SERVICES = {
    "catalog": (catalog_app, CatalogSettings),
    "submissions": (submissions_app, SubmissionsSettings),
    "signatures": (signatures_app, SignaturesSettings),
    "notifications": (notifications_app, NotificationsSettings),
}


def service_documents(directory: Path) -> dict[str, dict[str, Any]]:
    documents = {}
    for name, (create_app, settings_class) in SERVICES.items():
        settings = settings_class(
            data_dir=directory / name,
            identity_jwks=jwks_json(),
            internal_secret=TEST_INTERNAL_SECRET,
            database_url=f"sqlite+aiosqlite:///{directory / name}.db",
        )
        documents[name] = create_app(settings).openapi()
    return documents


def gateway_document(directory: Path) -> dict[str, Any]:
    settings = GatewaySettings(
        data_dir=directory / "gateway",
        internal_secret=TEST_INTERNAL_SECRET,
        database_url=f"sqlite+aiosqlite:///{directory / 'gateway'}.db",
        metrics_port=0,
    )
    return gateway_app(settings).openapi()


def aggregated_document(directory: Path) -> dict[str, Any]:
    return merge(gateway_document(directory), service_documents(directory), server_url="https://api.example")
