"""The signing keys' life (replaced, verifying until their tokens expire, dropped), their migration (keys kept in the clear by 0001 are sealed, and opened again by a
downgrade) and the operator commands that rotate the signing key and the key-encryption key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from alembic import command
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, text

from simpul.gateway.commands import COMMANDS
from simpul.gateway import keys as keys_module
from simpul.gateway.keys import SigningKey, SigningKeys, seal_context
from simpul.gateway.models import metadata, signing_key_events, signing_keys
from simpul.gateway.runtime import MIGRATIONS
from simpul.shared.db import create_engine, migrate, session_factory
from simpul.shared.envelope import KeyEncryptionKeys, ReloadingKeys, new_key_text
from tests.support.migrations import alembic_to, migrate_down_and_up


async def _query(url: str, statement):
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(statement)).all()
    finally:
        await engine.dispose()


async def test_migrations_match_the_models_and_downgrade(databases):
    left = await migrate_down_and_up(await databases.url("gateway"), MIGRATIONS, metadata, down_to="0002")
    assert "signing_key_events" not in left and "signing_keys" in left


async def test_a_key_kept_in_the_clear_is_sealed_on_upgrade_and_opened_on_downgrade(databases, monkeypatch, tmp_path):
    kek = new_key_text()
    monkeypatch.setenv("SIMPUL_KEY_ENCRYPTION_KEY", kek)
    url = await databases.url("gateway")
    await alembic_to(url, MIGRATIONS, command.upgrade, "0002")
    key = SigningKey.generate()
    pem = key.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode("ascii")
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO signing_keys (kid, algorithm, private_key_pem, created_at) VALUES (:kid, 'ES256', :pem, :at)"),
            {"kid": key.kid, "pem": pem, "at": datetime(2026, 1, 1, tzinfo=UTC)})
    await engine.dispose()

    await alembic_to(url, MIGRATIONS, command.upgrade, "head")
    (row,) = await _query(url, select(signing_keys))
    assert row.signs_from == row.created_at
    opened = KeyEncryptionKeys.parse(kek).open(row.sealed_private_key, seal_context(key.kid))
    assert opened == key.private_der()

    await alembic_to(url, MIGRATIONS, command.downgrade, "0002")
    ((kid, kept_pem),) = await _query(url, text("SELECT kid, private_key_pem FROM signing_keys"))
    assert (kid, kept_pem) == (key.kid, pem)


def test_the_rotation_commands_add_a_signing_key_and_rewrap_under_a_new_kek(gateway_settings, capsys):
    old_kek, new_kek = new_key_text(), new_key_text()
    settings = asyncio.run(gateway_settings(key_encryption_key=old_kek))
    engine = create_engine(settings.database_url)
    asyncio.run(migrate(engine, MIGRATIONS))
    asyncio.run(engine.dispose())

    # The first start's key, then a new one beside it.
    assert COMMANDS["rotate-signing-key"](settings) == 0
    rotating = settings.model_copy(update={"key_encryption_key": f"{new_kek},{old_kek}"})
    assert COMMANDS["rotate-key-encryption-key"](rotating) == 0
    assert "re-wrapped 2 signing key(s)" in capsys.readouterr().out

    rows = asyncio.run(_query(settings.database_url, select(signing_keys).order_by(signing_keys.c.signs_from)))
    assert len(rows) == 2 and rows[0].retired_at is not None and rows[1].retired_at is None
    only_new = KeyEncryptionKeys.parse(new_kek)
    for row in rows:
        SigningKey.from_der(row.kid, only_new.open(row.sealed_private_key, seal_context(row.kid)))
    actions = [(event.action, event.actor) for event in
               asyncio.run(_query(settings.database_url, select(signing_key_events).order_by(signing_key_events.c.id)))]
    assert actions == [("created", "system"), ("retiring", "operator"), ("created", "operator"),
                       ("rewrapped", "operator"), ("rewrapped", "operator")]


async def test_a_replaced_key_verifies_until_its_tokens_expire_then_is_dropped(databases, monkeypatch):
    monkeypatch.setattr(keys_module, "PROPAGATION", timedelta(0))
    url = await databases.url("gateway")
    engine = create_engine(url)
    await migrate(engine, MIGRATIONS)
    keks = KeyEncryptionKeys.parse(new_key_text())
    keys = SigningKeys(session_factory(engine), ReloadingKeys(lambda: keks), verify_for=timedelta(seconds=0.3))
    try:
        await keys.ensure()
        first = (await keys.load()).current.kid
        second, _ = await keys.rotate("operator")
        ring = await keys.load()
        assert ring.current.kid == second and ring.kids == {first, second}
        assert await keys.drop_expired() == []
        await asyncio.sleep(0.4)
        assert (await keys.load()).kids == {second}
        assert await keys.drop_expired() == [first]
    finally:
        await engine.dispose()
    actions = [(event.kid, event.action) for event in await _query(url, select(signing_key_events).order_by(signing_key_events.c.id))]
    assert actions[-1] == (first, "dropped")
