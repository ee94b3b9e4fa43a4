"""Two signatures replicas on one database (and one key-encryption key), started at the same
moment: one PKI made once, both sign, and every document validates against the same root.
The issued files sit on a data directory both share (a shared volume)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

import simpul.signatures
from simpul.shared.db import create_engine, migrate
from simpul.shared.envelope import new_key_text
from simpul.signatures.app import create_app
from simpul.signatures.models import certificate_events, certificates
from simpul.signatures.settings import SignaturesSettings
from tests.api.signatures.conftest import CollectedEvents, Served, public, serve
from tests.api.signatures.test_independent import pyhanko_status
from tests.support.processes import free_port

MIGRATIONS = Path(simpul.signatures.__file__).parent / "migrations"


@pytest.mark.filterwarnings("ignore::UserWarning")
async def test_two_replicas_starting_together_share_one_pki_and_both_sign(settings_for):
    ports = [free_port(), free_port()]
    base = await settings_for(SignaturesSettings, public_url="https://simpul.example.go.id", workers=1,
                              key_encryption_key=new_key_text(), signatures_url=f"http://127.0.0.1:{ports[0]}")
    engine = create_engine(base.database_url)
    await migrate(engine, MIGRATIONS)
    replicas = []
    for port in ports:
        settings = base.model_copy(update={"signatures_url": f"http://127.0.0.1:{port}", "port": port})
        app = create_app(settings, event_transport=CollectedEvents())
        app.state.migration.done = True
        replicas.append((app, port, settings))
    started = await asyncio.gather(*(serve(app, port) for app, port, _ in replicas))
    try:
        served = [Served(httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60.0), app, settings,
                         CollectedEvents()) for app, port, settings in replicas]
        roots = {(await one.client.get("/v1/pki/ca", headers=public())).content for one in served}
        assert len(roots) == 1
        (root_pem,) = roots
        documents = await asyncio.gather(*(one.issue(f"sub-{n}") for n, one in enumerate(served)))
        for one, document in zip(served, documents, strict=True):
            # Each replica's document, read back through the other one.
            other = served[1 - served.index(one)]
            status = await pyhanko_status(await other.pdf(document["document_id"]), root_pem)
            assert status.intact and status.valid and status.trusted and status.bottom_line
        for one in served:
            await one.client.aclose()
    finally:
        for server, task in started:
            server.should_exit = True
        await asyncio.gather(*(task for _, task in started))
    async with engine.connect() as connection:
        kinds = dict((await connection.execute(
            select(certificates.c.kind, func.count()).group_by(certificates.c.kind))).all())
        created = (await connection.execute(select(func.count()).select_from(certificate_events)
                                            .where(certificate_events.c.action == "created"))).scalar_one()
    await engine.dispose()
    # One root, one issuing CA, one TSA and one signer for the unit, each created once.
    assert kinds == {"root": 1, "issuing_ca": 1, "tsa": 1, "unit": 1} and created == 4
