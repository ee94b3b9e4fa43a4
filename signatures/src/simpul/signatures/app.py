from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from cryptography import x509
from fastapi import FastAPI

from simpul.shared.app import create_service_app
from simpul.shared.db import utcnow
from simpul.shared.envelope import ReloadingKeys, keys_for
from simpul.shared.relay import OutboxRelay, Transport, relay_balancers, transport_for
from simpul.shared.storage import open_blob_store
from simpul.signatures import pki
from simpul.signatures.api import VERIFY_UPLOAD_PATH, router
from simpul.signatures.keystore import DevelopmentKeystore, ProductionKeystore
from simpul.signatures.models import audit, idempotency, outbox
from simpul.signatures.remote import CscCredentials
from simpul.signatures.service import DocumentService
from simpul.signatures.settings import SignaturesSettings
from simpul.signatures.workers import SigningPool


def create_app(
    settings: SignaturesSettings | None = None,
    *,
    event_transport: Transport | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> FastAPI:
    """`event_transport` replaces where outbox events go (tests)."""
    settings = settings or SignaturesSettings()

    async def start(app: FastAPI) -> None:
        await app.state.keystore.start()
        relay = OutboxRelay(app.state.sessions, app.state.read_sessions, outbox,
                            event_transport or transport_for(settings))
        relay.watch(app.state.sessions)
        await relay.start()
        app.state.relay = relay

    async def stop(app: FastAPI) -> None:
        relay = getattr(app.state, "relay", None)
        if relay is not None:
            await relay.stop()
        await app.state.pool.close()
        if app.state.documents.remote is not None:
            await app.state.documents.remote.aclose()

    app = create_service_app(
        settings,
        title="Simpul signatures",
        description="Issued documents, their PAdES signatures, verification and revocation.",
        migrations=Path(__file__).parent / "migrations",
        idempotency=idempotency,
        audit=audit,
        on_startup=[start],
        on_shutdown=[stop],
        streaming_paths=(VERIFY_UPLOAD_PATH,),
    )
    app.state.metrics.watch(lambda: relay_balancers(getattr(app.state, "relay", None)))
    if settings.production_keys:
        keystore = ProductionKeystore(
            app.state.sessions,
            settings.pkcs12_dir,
            settings.pkcs12_passphrase.encode() if settings.pkcs12_passphrase else None,
            settings.trust_roots,
            clock=clock,
        )
    else:
        keystore = DevelopmentKeystore(
            app.state.sessions,
            keks=ReloadingKeys(partial(keys_for, settings)),
            public_url=settings.public_url,
            crl_validity=timedelta(hours=settings.crl_validity_hours),
            clock=clock,
        )
    # Built here, started (keys loaded) in the lifespan; the signing workers start on demand.
    app.state.keystore = keystore
    app.state.pool = pool = SigningPool(settings.resolved_workers(), settings.worker_idle_seconds)
    remote = None
    remote_roots: tuple[bytes, ...] = ()
    if settings.signing_backend == "csc":
        assert settings.csc_url is not None  # the settings refuse csc without a URL
        remote = CscCredentials(app.state.sessions, service_url=settings.csc_url, token=settings.csc_token,
                                credential_template=settings.csc_credential_id, clock=clock)
        if settings.csc_trust_roots is not None:
            remote_roots = tuple(pki.der(root) for root in x509.load_pem_x509_certificates(
                settings.csc_trust_roots.read_bytes()))
    app.state.documents = DocumentService(
        sessions=app.state.sessions,
        read_sessions=app.state.read_sessions,
        keystore=keystore,
        remote=remote,
        seal_without_official=settings.csc_without_official == "seal",
        remote_trust_roots=remote_roots,
        pool=pool,
        store=open_blob_store(settings.storage_url, directory=settings.documents_dir(), settings=settings,
                              registry=app.state.metrics.registry),
        public_url=settings.public_url,
        internal_secret=settings.resolved_internal_secret(),
        tsa_url=settings.resolved_tsa_url(),
        tsa_is_own=settings.tsa_url is None and not settings.production_keys,
        sign_timeout=settings.sign_timeout_seconds,
        verify_timeout=settings.verify_timeout_seconds,
        verify_memory_bytes=settings.verify_memory_bytes,
        verify_concurrency=settings.resolved_verify_concurrency(),
        clock=clock,
    )
    app.include_router(router)
    return app
