"""Idempotency-Key in every service: each POST route is known to settle its key with its effect
(see simpul.shared.idempotency), to change nothing, or to deduplicate by its own key; and the
"idempotency lease" migration upgrades and downgrades each service's table."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, inspect, insert, select

from simpul.shared.db import create_engine, migrate
from simpul.shared.idempotency import TABLE_NAME, idempotency_table, initial_idempotency_columns

# Settles its key in the transaction of its effect: one effect per key through any crash.
SETTLES = "settles"
# Changes nothing (a check, a preview): after a crash it simply runs again.
NO_EFFECT = "no effect"
# Internal, called without a key; the effect is deduplicated by the caller's own id.
OWN_KEY = "deduplicated by its own key"

POST_ROUTES = {
    "gateway": {
        "/v1/oauth/token": NO_EFFECT,  # the front strips the key: a token is not kept for replay
        "/v1/admin/clients": SETTLES,
        "/v1/officials": SETTLES,
    },
    "catalog": {
        "/v1/services": SETTLES,
        "/v1/services/{code}/publish": SETTLES,
        "/v1/services/{code}/retire": SETTLES,
    },
    "submissions": {
        "/v1/submissions": SETTLES,
        "/v1/submissions/{submission_id}/documents": SETTLES,
        "/v1/submissions/{submission_id}/submit": SETTLES,
        "/v1/submissions/{submission_id}/actions": SETTLES,
        "/v1/submissions/{submission_id}/cancel": SETTLES,
        "/v1/submissions/{submission_id}/survey": SETTLES,
        "/v1/complaints": SETTLES,
        "/v1/complaints/{complaint_id}/responses": SETTLES,
        "/v1/complaints/{complaint_id}/attachments": SETTLES,
        "/v1/admin/payment-providers": SETTLES,  # not replayable: the answer shows the secret once
        "/v1/payments/notifications": OWN_KEY,  # by the provider's reference: a repeat answers the first outcome
        "/v1/submissions/{submission_id}/payments": SETTLES,
        "/v1/payments/{payment_id}/void": SETTLES,
        "/open311/v2/requests.json": SETTLES,  # with the submit that ends it (open311/service.py)
    },
    "signatures": {
        "/v1/documents/{document_id}/revoke": SETTLES,
        "/internal/documents/{document_id}/revoke": SETTLES,  # submissions revoking a voided payment's kuitansi
        "/v1/signers/{certificate_id}/revoke": SETTLES,
        "/v1/verify": NO_EFFECT,
        "/internal/tsa": NO_EFFECT,
        "/internal/documents": OWN_KEY,  # one document per submission
    },
    "notifications": {
        "/v1/webhooks": SETTLES,
        "/v1/webhooks/{webhook_id}/rotate-secret": SETTLES,
        "/v1/notifications/dead-letters/{dead_letter_id}/replay": SETTLES,
        "/v1/templates/{event_type}/{language}/preview": NO_EFFECT,
        "/internal/events": OWN_KEY,  # each event once, by its source and id
        "/internal/client-revocations": OWN_KEY,  # by the client id: a repeat finds nothing left to disable
    },
}

PACKAGES = {
    "gateway": ("simpul.gateway", "GatewaySettings"),
    "catalog": ("simpul.catalog", "CatalogSettings"),
    "submissions": ("simpul.submissions", "SubmissionsSettings"),
    "signatures": ("simpul.signatures", "SignaturesSettings"),
    "notifications": ("simpul.notifications", "NotificationsSettings"),
}


def package_of(service: str):
    return importlib.import_module(PACKAGES[service][0])


@pytest.mark.parametrize("service", list(PACKAGES))
async def test_every_post_route_is_known(service, settings_for):
    """A new POST route fails here until its kind is decided: one that changes something must
    settle its key (and gets a crash test in tests/api/<service>/)."""
    package, settings_name = PACKAGES[service]
    settings_class = getattr(importlib.import_module(f"{package}.settings"), settings_name)
    app = importlib.import_module(f"{package}.app").create_app(await settings_for(settings_class))
    assert set(post_paths(app.routes)) == set(POST_ROUTES[service])


def post_paths(routes, prefix: str = ""):
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI includes a router lazily
        if included is not None:
            yield from post_paths(included.routes, prefix + route.include_context.prefix)
        elif "POST" in (getattr(route, "methods", None) or ()):
            yield prefix + route.path


def migrations_of(service: str) -> Path:
    return Path(package_of(service).__file__).parent / "migrations"


def alembic_config(connection, migrations: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["connection"] = connection
    return config


@pytest.mark.parametrize("service", list(PACKAGES))
async def test_the_lease_migration_keeps_older_claims_in_progress_and_downgrades(service, databases):
    migrations = migrations_of(service)
    script = ScriptDirectory.from_config(alembic_config(None, migrations))
    lease_revision = next(r for r in script.walk_revisions() if "lease" in (r.doc or ""))
    table = idempotency_table(MetaData())
    engine = create_engine(await databases.url(service))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(
                lambda sync: command.upgrade(alembic_config(sync, migrations), lease_revision.down_revision)
            )
        assert "locked_until" not in await _columns(engine)
        async with engine.begin() as connection:
            claimed = datetime.now(UTC) - timedelta(minutes=5)
            before_leases = Table(TABLE_NAME, MetaData(), *initial_idempotency_columns())
            await connection.execute(insert(before_leases).values(scope_hash="a" * 64, created_at=claimed))
        await migrate(engine, migrations)
        async with engine.connect() as connection:
            row = (await connection.execute(select(table))).one()
        # Nothing tells whether that request's effect committed: it stays in progress until the
        # key expires, as it did before leases.
        assert row.locked_until > datetime.now(UTC) + timedelta(hours=23)
        assert {c.name for c in table.columns} == await _columns(engine)

        async with engine.begin() as connection:
            await connection.run_sync(
                lambda sync: command.downgrade(alembic_config(sync, migrations), lease_revision.down_revision)
            )
        assert "locked_until" not in await _columns(engine)
    finally:
        await engine.dispose()


async def _columns(engine) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns(TABLE_NAME)})
