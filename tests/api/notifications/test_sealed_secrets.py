"""Webhook signing secrets are kept sealed under the key-encryption key: on create and rotate, by
the migration that sealed the clear ones (and its downgrade), and re-wrapped by the command; a
process holding another key-encryption key does not start."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import JSON, String, column, insert, select, table

import simpul.notifications
from simpul.notifications.app import create_app
from simpul.notifications.commands import COMMANDS
from simpul.notifications.models import audit, metadata, webhook_subscriptions
from simpul.notifications.webhooks import new_secret, secret_context
from simpul.shared.db import UTCDateTime, create_engine
from simpul.shared.envelope import EnvelopeError, KeyEncryptionKeys, new_key_text
from tests.api.notifications.conftest import applicant
from tests.api.notifications.test_webhooks import subscribe
from tests.support.asgi import running
from tests.support.migrations import alembic_to, migrate_down_and_up

MIGRATIONS = Path(simpul.notifications.__file__).parent / "migrations"
BEFORE_SEALING = "0004_audit"


async def _rows(url: str, *columns):
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(select(*columns))).all()
    finally:
        await engine.dispose()


def _opened(keks: KeyEncryptionKeys, rows) -> dict[str, tuple[str, str | None]]:
    """Subscription id -> its (current, previous) secret opened from the sealed columns."""

    def opened(sealed, subscription_id):
        return None if sealed is None else keks.open(sealed, secret_context(subscription_id)).decode()

    return {row.id: (opened(row.sealed_secret, row.id), opened(row.sealed_previous_secret, row.id)) for row in rows}


async def test_migrations_match_the_models_and_downgrade(databases):
    left = await migrate_down_and_up(await databases.url("notifications"), MIGRATIONS, metadata,
                                     down_to=BEFORE_SEALING)
    assert "webhook_subscriptions" in left


async def test_the_stored_secrets_are_sealed(start, receiver):
    """(That deliveries signed with the opened secrets verify: test_webhooks.)"""
    kek = new_key_text()
    async with start(key_encryption_key=kek) as harness:
        created = await subscribe(harness, receiver, applicant("31"))
        rotated = await harness.client.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=applicant("31"))
        assert rotated.status_code == 200, rotated.text
        [(subscription_id, sealed, sealed_previous)] = await _rows(
            harness.settings.database_url, webhook_subscriptions.c.id, webhook_subscriptions.c.sealed_secret,
            webhook_subscriptions.c.sealed_previous_secret)
    for secret, stored in ((rotated.json()["secret"], sealed), (created["secret"], sealed_previous)):
        assert secret.removeprefix("whsec_").encode() not in stored
        assert KeyEncryptionKeys.parse(kek).open(stored, secret_context(subscription_id)).decode() == secret


async def test_a_replica_with_another_key_encryption_key_refuses_to_start(start, receiver):
    async with start(key_encryption_key=new_key_text()) as harness:
        await subscribe(harness, receiver, applicant("31"))
        settings = harness.settings
    with pytest.raises(EnvelopeError, match="does not have"):
        async with running(create_app(settings.model_copy(update={"key_encryption_key": new_key_text()}))):
            pass


_CLEAR_SUBSCRIPTIONS = table(
    "webhook_subscriptions", column("id", String), column("url", String), column("events", JSON),
    column("owner_role", String), column("tenant", String), column("created_by", String),
    column("secret", String), column("previous_secret", String), column("previous_secret_expires_at", UTCDateTime()),
    column("created_at", UTCDateTime()))


async def test_clear_secrets_are_sealed_on_upgrade_and_opened_on_downgrade(databases, monkeypatch):
    kek = new_key_text()
    monkeypatch.setenv("SIMPUL_KEY_ENCRYPTION_KEY", kek)
    url = await databases.url("notifications")
    await alembic_to(url, MIGRATIONS, command.upgrade, BEFORE_SEALING)
    now = datetime.now(UTC)
    rotated_id, fresh_id = str(uuid.uuid4()), str(uuid.uuid4())
    secrets = {rotated_id: (new_secret(), new_secret()), fresh_id: (new_secret(), None)}
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(insert(_CLEAR_SUBSCRIPTIONS), [
            {"id": subscription_id, "url": "https://hooks.example/in", "events": ["submission.issued"],
             "owner_role": "applicant", "tenant": "31", "created_by": "app-31", "secret": secret,
             "previous_secret": previous, "previous_secret_expires_at": previous and now + timedelta(hours=1),
             "created_at": now}
            for subscription_id, (secret, previous) in secrets.items()])
    await engine.dispose()

    await alembic_to(url, MIGRATIONS, command.upgrade, "head")
    sealed = await _rows(url, webhook_subscriptions.c.id, webhook_subscriptions.c.sealed_secret,
                         webhook_subscriptions.c.sealed_previous_secret)
    assert _opened(KeyEncryptionKeys.parse(kek), sealed) == secrets

    await alembic_to(url, MIGRATIONS, command.downgrade, BEFORE_SEALING)
    clear = await _rows(url, _CLEAR_SUBSCRIPTIONS.c.id, _CLEAR_SUBSCRIPTIONS.c.secret,
                        _CLEAR_SUBSCRIPTIONS.c.previous_secret)
    assert {row.id: (row.secret, row.previous_secret) for row in clear} == secrets


def test_rotating_the_key_encryption_key_rewraps_every_secret(start, receiver, capsys):
    old_kek, new_kek = new_key_text(), new_key_text()

    async def two_webhooks():
        async with start(key_encryption_key=old_kek) as harness:
            first = await subscribe(harness, receiver, applicant("31"))
            second = await subscribe(harness, receiver, applicant("32"))
            rotated = await harness.client.post(f"/v1/webhooks/{first['id']}/rotate-secret", headers=applicant("31"))
            assert rotated.status_code == 200, rotated.text
            expected = {first["id"]: (rotated.json()["secret"], first["secret"]), second["id"]: (second["secret"], None)}
            return harness.settings, expected

    settings, expected = asyncio.run(two_webhooks())
    rotating = settings.model_copy(update={"key_encryption_key": f"{new_kek},{old_kek}"})
    assert COMMANDS["rotate-key-encryption-key"](rotating) == 0
    assert "re-wrapped the secrets of 2 webhook(s)" in capsys.readouterr().out
    assert COMMANDS["rotate-key-encryption-key"](rotating) == 0
    assert "re-wrapped the secrets of 0 webhook(s)" in capsys.readouterr().out

    stored = asyncio.run(_rows(settings.database_url, webhook_subscriptions.c.id, webhook_subscriptions.c.sealed_secret,
                               webhook_subscriptions.c.sealed_previous_secret))
    assert _opened(KeyEncryptionKeys.parse(new_kek), stored) == expected
    logged = asyncio.run(_rows(settings.database_url, audit.log.c.actor, audit.log.c.action, audit.log.c.object_id))
    rewrapped = [(row.actor, row.object_id) for row in logged if row.action == "webhook.secret_rewrapped"]
    assert sorted(rewrapped) == sorted(("operator", subscription_id) for subscription_id in expected)
