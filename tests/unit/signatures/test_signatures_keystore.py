"""The keystore: the development PKI created once and kept in the database (on SQLite and
PostgreSQL), unit signers made on demand exactly once, revocation into the CRL, and production
PKCS#12 signers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, load_der_private_key, pkcs12
from sqlalchemy import func, select

import simpul.signatures
from simpul.shared.db import create_engine, migrate, read_session_factory, session_factory
from simpul.shared.identity import Identity
from simpul.signatures import pki
from simpul.shared.envelope import KeyEncryptionKeys, ReloadingKeys, new_key_text
from simpul.signatures.keystore import DevelopmentKeystore, NoSigner, ProductionKeystore, seal_context
from simpul.signatures.models import certificate_events, certificates

ADMIN = Identity(subject="admin-1", role="admin")

MIGRATIONS = Path(simpul.signatures.__file__).parent / "migrations"
KEKS = KeyEncryptionKeys.parse(new_key_text())


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
async def engine(databases):
    engine = create_engine(await databases.url("signatures"))
    await migrate(engine, MIGRATIONS)
    yield engine
    await engine.dispose()


def keystore(engine, tmp_path, clock=None) -> DevelopmentKeystore:
    return DevelopmentKeystore(session_factory(engine), keks=ReloadingKeys(lambda: KEKS), public_url="https://simpul.example",
                               crl_validity=timedelta(days=2), clock=clock or Clock())


async def count(engine, **where) -> int:
    async with read_session_factory(engine)() as session:
        query = select(func.count()).select_from(certificates)
        for column, value in where.items():
            query = query.where(certificates.c[column] == value)
        return (await session.execute(query)).scalar_one()


async def test_created_once_and_reloaded_after_a_restart(engine, tmp_path):
    first = keystore(engine, tmp_path)
    await first.start()
    again = keystore(engine, tmp_path)
    await again.start()
    assert pki.fingerprint(again.root) == pki.fingerprint(first.root)
    assert pki.fingerprint(again.issuing) == pki.fingerprint(first.issuing)
    assert await count(engine, kind="root") == 1 and await count(engine, kind="tsa") == 1

    # Every key, the root's too, sealed in the database where every replica reads it; none on disk.
    assert not (tmp_path / "pki").exists()
    async with read_session_factory(engine)() as session:
        stored = (await session.execute(select(certificates.c.kind, certificates.c.fingerprint,
                                               certificates.c.private_key))).all()
    assert {kind for kind, _, _ in stored} == {"root", "issuing_ca", "tsa"}
    for kind, fingerprint, sealed in stored:
        assert sealed.startswith(b"SE1")
        key = load_der_private_key(KEKS.open(sealed, seal_context(fingerprint)), password=None)
        certificate = {"root": first.root, "issuing_ca": first.issuing, "tsa": first.tsa_certificate}[kind]
        assert key.public_key().public_numbers() == certificate.public_key().public_numbers()
        async with read_session_factory(engine)() as session:
            events = (await session.execute(select(certificate_events.c.action)
                                            .join(certificates, certificates.c.id == certificate_events.c.certificate_id)
                                            .where(certificates.c.kind == kind))).scalars().all()
        assert events == ["created"]


async def test_two_instances_starting_together_share_one_pki(engine, tmp_path):
    one, two = keystore(engine, tmp_path / "a"), keystore(engine, tmp_path / "b")
    await asyncio.gather(one.start(), two.start())
    assert pki.fingerprint(one.root) == pki.fingerprint(two.root)
    assert await count(engine, kind="root") == 1


async def test_unit_signer_made_once_even_when_asked_concurrently(engine, tmp_path):
    one, two = keystore(engine, tmp_path / "a"), keystore(engine, tmp_path / "b")
    await one.start()
    await two.start()
    materials = await asyncio.gather(*(store.signer_for("KDN-PFK") for store in (one, two, one, two, one)))
    assert len({material.id for material in materials}) == 1
    assert await count(engine, kind="unit", status="active") == 1
    other = await one.signer_for("OTDA")
    assert other.id != materials[0].id and other.name == "Simpul OTDA"
    certificate = x509.load_der_x509_certificate(other.certificate)
    assert certificate.issuer == one.issuing.subject


async def test_revoking_a_signer_lists_it_and_replaces_it(engine, tmp_path):
    store = keystore(engine, tmp_path)
    await store.start()
    signer = await store.signer_for("KDN-PFK")
    number_before, _, _ = await store.crl()
    row = await store.revoke_certificate(signer.id, "key_compromise", ADMIN)
    assert row["status"] == "revoked"
    number, _, der = await store.crl()
    assert number == number_before + 1
    crl = x509.load_der_x509_crl(der)
    assert crl.is_signature_valid(store.issuing.public_key())
    serial = x509.load_der_x509_certificate(signer.certificate).serial_number
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    replacement = await store.signer_for("KDN-PFK")
    assert replacement.id != signer.id
    assert row["revoked_by"] == "admin-1"
    assert await store.revoke_certificate(signer.id, "key_compromise", ADMIN) is None  # already revoked
    async with read_session_factory(engine)() as session:
        tsa_id = (await session.execute(select(certificates.c.id).where(certificates.c.kind == "tsa"))).scalar_one()
    assert await store.revoke_certificate(tsa_id, "superseded", ADMIN) is None  # only unit signers are revoked here


async def test_crl_renewed_at_half_life_and_signers_before_expiry(engine, tmp_path):
    clock = Clock()
    store = keystore(engine, tmp_path, clock)
    await store.start()
    number, _, _ = await store.crl()
    signer = await store.signer_for("KDN-PFK")
    clock.offset = timedelta(days=1, hours=1)
    assert (await store.crl())[0] == number + 1
    clock.offset = timedelta(days=2 * 365)  # past the 30 days before the signer's expiry
    assert (await store.signer_for("KDN-PFK")).id != signer.id
    assert await count(engine, kind="unit", status="replaced") == 1


def write_p12(path: Path, key, certificate, chain, passphrase: bytes) -> None:
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"unit", key, certificate, chain,
                                                           BestAvailableEncryption(passphrase)))


async def test_production_pkcs12_signers(engine, test_pki, tmp_path):
    directory = tmp_path / "p12"
    directory.mkdir()
    write_p12(directory / "KDN-PFK.p12", test_pki.signer_key, test_pki.signer, [test_pki.issuing], b"p12 pass")
    roots = tmp_path / "roots.pem"
    roots.write_bytes(pki.pem(test_pki.root))
    store = ProductionKeystore(session_factory(engine), directory, b"p12 pass", roots, clock=Clock())
    await store.start()
    assert [pki.fingerprint(root) for root in store.trust_roots()] == [pki.fingerprint(test_pki.root)]
    material = await store.signer_for("KDN-PFK")
    assert material.certificate == pki.der(test_pki.signer)
    assert material.chain == (pki.der(test_pki.issuing),)
    assert (await store.signer_for("KDN-PFK")) is material
    assert await count(engine, kind="unit", fingerprint=pki.fingerprint(test_pki.signer)) == 1
    assert await count(engine, kind="root") == 1
    again = ProductionKeystore(session_factory(engine), directory, b"p12 pass", roots, clock=Clock())
    await again.start()
    assert (await again.signer_for("KDN-PFK")).id == material.id
    assert await store.validation_material(material) is None
    with pytest.raises(NoSigner):
        await store.signer_for("OTDA")
    with pytest.raises(RuntimeError):
        await ProductionKeystore(session_factory(engine), directory, b"p12 pass", None, clock=Clock()).start()
