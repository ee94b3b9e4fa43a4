"""Production keys: one PKCS#12 per unit from a real CA, an external timestamp authority, the
configured roots published and trusted; no development PKI and no CRL of our own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from simpul.signatures import pki
from simpul.signatures.app import create_app
from simpul.signatures.settings import SignaturesSettings
from simpul.signatures.tsa import TimestampAuthority
from tests.api.signatures.conftest import CollectedEvents, admin, internal, issue_body, public, serve
from tests.support.csc import TimestampServer
from tests.support.processes import free_port

P12_PASSPHRASE = "unit p12 passphrase"


@pytest.fixture(scope="module")
def ministry_pki():
    """Stands in for the government CA: root, issuing CA, a unit certificate and a TSA."""
    now = datetime.now(UTC)
    urls = pki.urls_for("https://ca.example.go.id")
    root_key, root = pki.make_root(now)
    issuing_key, issuing = pki.make_issuing_ca(root_key, root, now)
    unit_key, unit = pki.make_unit_signer(issuing_key, issuing, "KDN-PFK", urls, now)
    tsa_key, tsa = pki.make_tsa(issuing_key, issuing, urls, now)
    return {"root": root, "issuing": issuing, "unit_key": unit_key, "unit": unit, "tsa_key": tsa_key, "tsa": tsa}


@pytest.fixture(scope="module")
def external_tsa(ministry_pki) -> Iterator[str]:
    server = TimestampServer(TimestampAuthority(pki.der(ministry_pki["tsa"]), ministry_pki["tsa_key"],
                                                chain=(pki.der(ministry_pki["issuing"]),)))
    yield server.url
    server.stop()


@pytest.fixture
async def production(settings_for, tmp_path, ministry_pki, external_tsa) -> AsyncIterator[httpx.AsyncClient]:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "KDN-PFK.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"KDN-PFK", ministry_pki["unit_key"], ministry_pki["unit"], [ministry_pki["issuing"]],
        BestAvailableEncryption(P12_PASSPHRASE.encode())))
    roots = tmp_path / "roots.pem"
    roots.write_bytes(pki.pem(ministry_pki["root"]))
    port = free_port()
    settings = await settings_for(SignaturesSettings, signatures_url=f"http://127.0.0.1:{port}",
                                  public_url="https://simpul.example.go.id", workers=1, pkcs12_dir=keys,
                                  pkcs12_passphrase=P12_PASSPHRASE, trust_roots=roots, tsa_url=external_tsa)
    server, task = await serve(create_app(settings, event_transport=CollectedEvents()), port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60.0) as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def test_signs_with_the_units_pkcs12_and_the_external_tsa(production, ministry_pki):
    created = await production.post("/internal/documents", json=issue_body(), headers=internal())
    assert created.status_code == 201, created.text
    document = created.json()
    assert document["signature"]["level"] == "B-T"
    signer = document["signature"]["signer"]
    assert signer["fingerprint_sha256"] == pki.fingerprint(ministry_pki["unit"]) and signer["kind"] == "unit"
    pdf = (await production.get(f"/v1/documents/{document['document_id']}/content", headers=admin())).content

    check = (await production.post("/v1/verify", files={"file": ("d.pdf", pdf, "application/pdf")},
                                   headers=public())).json()
    assert check["valid"] is True, check
    assert check["signatures"][0]["signer"]["fingerprint_sha256"] == pki.fingerprint(ministry_pki["unit"])

    (root,) = x509.load_pem_x509_certificates((await production.get("/v1/pki/ca", headers=public())).content)
    assert root == ministry_pki["root"]
    assert (await production.get("/v1/pki/crl", headers=public())).status_code == 404
    assert (await production.get("/v1/pki/issuing-ca", headers=public())).status_code == 404

    no_key = await production.post("/internal/documents", json=issue_body("other", unit="OTDA"), headers=internal())
    assert no_key.status_code == 503 and no_key.json()["type"].endswith("no-signer")
    assert (await production.post("/internal/tsa", content=b"x", headers={**internal(),
            "Content-Type": "application/timestamp-query"})).status_code == 404
    refused = await production.post(f"/v1/signers/{signer['id']}/revoke", json={"reason": "superseded"},
                                    headers=admin())
    assert refused.status_code == 409
    listed = (await production.get("/v1/signers", headers=admin())).json()["items"]
    assert {item["kind"] for item in listed} == {"root", "unit"}
    assert timedelta(0) < datetime.now(UTC) - datetime.fromisoformat(document["issued_at"]) < timedelta(minutes=5)
