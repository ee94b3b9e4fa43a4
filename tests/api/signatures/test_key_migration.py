"""The migration that seals the PKI's private keys (encrypted before with the passphrase) under the
key-encryption key and back, and the command that re-wraps them under a new key-encryption key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from cryptography.hazmat.primitives.serialization import load_der_private_key
from sqlalchemy import insert, select

import simpul.signatures
from simpul.shared.db import create_engine, migrate, session_factory
from simpul.shared.envelope import KeyEncryptionKeys, ReloadingKeys, new_key_text
from simpul.signatures import pki
from simpul.signatures.commands import COMMANDS
from simpul.signatures.keystore import ISSUING_CA, DevelopmentKeystore, certificate_row, seal_context
from simpul.signatures.models import certificate_events, certificates, metadata
from simpul.signatures.settings import SignaturesSettings
from tests.support.migrations import alembic_to, migrate_down_and_up

MIGRATIONS = Path(simpul.signatures.__file__).parent / "migrations"
PASSPHRASE = "the passphrase of before"


async def _stored_key(url: str):
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(select(certificates.c.fingerprint, certificates.c.private_key))).one()
    finally:
        await engine.dispose()


async def test_migrations_match_the_models_and_downgrade(databases):
    left = await migrate_down_and_up(await databases.url("signatures"), MIGRATIONS, metadata, down_to="0003")
    assert "certificate_events" not in left and "certificates" in left


async def test_a_passphrase_encrypted_key_is_sealed_on_upgrade_and_back_on_downgrade(databases, monkeypatch):
    kek = new_key_text()
    monkeypatch.setenv("SIMPUL_KEY_ENCRYPTION_KEY", kek)
    monkeypatch.setenv("SIMPUL_SIGNATURES_KEY_PASSPHRASE", PASSPHRASE)
    url = await databases.url("signatures")
    await alembic_to(url, MIGRATIONS, command.upgrade, "0003")
    now = datetime.now(UTC)
    root_key, root = pki.make_root(now)
    key, certificate = pki.make_issuing_ca(root_key, root, now)
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(insert(certificates).values(certificate_row(
            certificate, kind=ISSUING_CA, unit=None, role=ISSUING_CA,
            private_key=pki.encrypt_key(key, PASSPHRASE.encode()), now=now)))
    await engine.dispose()

    await alembic_to(url, MIGRATIONS, command.upgrade, "head")
    fingerprint, sealed = await _stored_key(url)
    opened = load_der_private_key(KeyEncryptionKeys.parse(kek).open(sealed, seal_context(fingerprint)), password=None)
    assert opened.private_numbers() == key.private_numbers()

    await alembic_to(url, MIGRATIONS, command.downgrade, "0003")
    _, encrypted = await _stored_key(url)
    assert pki.decrypt_key(encrypted, PASSPHRASE.encode()).private_numbers() == key.private_numbers()


def test_rotating_the_key_encryption_key_rewraps_every_private_key(settings_for, capsys):
    old_kek, new_kek = new_key_text(), new_key_text()
    settings = asyncio.run(settings_for(SignaturesSettings, key_encryption_key=old_kek))

    async def start_pki() -> None:
        engine = create_engine(settings.database_url)
        await migrate(engine, MIGRATIONS)
        await DevelopmentKeystore(session_factory(engine), keks=ReloadingKeys(lambda: KeyEncryptionKeys.parse(old_kek)),
                                  public_url="https://simpul.example", crl_validity=timedelta(days=2),
                                  clock=lambda: datetime.now(UTC)).start()
        await engine.dispose()

    asyncio.run(start_pki())
    rotating = settings.model_copy(update={"key_encryption_key": f"{new_kek},{old_kek}"})
    assert COMMANDS["rotate-key-encryption-key"](rotating) == 0
    assert "re-wrapped 3 private key(s)" in capsys.readouterr().out

    async def stored():
        engine = create_engine(settings.database_url)
        async with engine.connect() as connection:
            keys = (await connection.execute(select(certificates.c.fingerprint, certificates.c.private_key))).all()
            actions = (await connection.execute(select(certificate_events.c.action, certificate_events.c.actor)
                                                .order_by(certificate_events.c.id))).all()
        await engine.dispose()
        return keys, actions

    keys, actions = asyncio.run(stored())
    only_new = KeyEncryptionKeys.parse(new_kek)
    for fingerprint, sealed in keys:
        load_der_private_key(only_new.open(sealed, seal_context(fingerprint)), password=None)
    assert [tuple(action) for action in actions] == [("created", "system")] * 3 + [("rewrapped", "operator")] * 3
