"""The published PKI (root certificate, issuing CA, CRL), the signer list, signer revocation, and
the internal timestamp authority's door."""

from __future__ import annotations

import hashlib

from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding

from simpul.signatures.tsa import CONTENT_TYPE, REPLY_CONTENT_TYPE
from tests.api.signatures.conftest import admin, internal, officer, public


async def test_root_issuing_ca_and_crl_are_public_and_consistent(signatures):
    client = signatures.client
    document = await signatures.issue()
    ca = await client.get("/v1/pki/ca", headers=public())
    assert ca.status_code == 200 and ca.headers["content-type"] == "application/x-pem-file"
    (root,) = x509.load_pem_x509_certificates(ca.content)
    issuing = x509.load_der_x509_certificate((await client.get("/v1/pki/issuing-ca", headers=public())).content)
    root.public_key().verify(issuing.signature, issuing.tbs_certificate_bytes, padding.PKCS1v15(),
                             issuing.signature_hash_algorithm)

    crl_response = await client.get("/v1/pki/crl", headers=public())
    assert crl_response.headers["content-type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(crl_response.content)
    assert crl.is_signature_valid(issuing.public_key()) and len(crl) == 0

    fingerprint = document["signature"]["signer"]["fingerprint_sha256"]
    signers = (await client.get("/v1/signers", headers=admin())).json()["items"]
    by_kind = {item["kind"]: item for item in signers}
    assert set(by_kind) == {"root", "issuing_ca", "tsa", "unit"}
    assert by_kind["root"]["fingerprint_sha256"] == hashlib.sha256(root.public_bytes(Encoding.DER)).hexdigest()
    assert by_kind["unit"]["fingerprint_sha256"] == fingerprint
    for item in signers:
        assert {"subject", "serial", "not_before", "not_after", "fingerprint_sha256"} <= set(item)
    assert "private_key" not in str(signers)


async def test_signer_list_is_for_admins_and_pages(signatures):
    client = signatures.client
    for unit in ("A1", "A2", "A3"):
        await signatures.issue(f"sub-{unit}", unit=unit)
    assert (await client.get("/v1/signers", headers=officer())).status_code == 403
    assert (await client.get("/v1/signers", headers=public())).status_code == 401
    first = (await client.get("/v1/signers?limit=4", headers=admin())).json()
    assert len(first["items"]) == 4 and first["next_cursor"]
    rest = (await client.get(f"/v1/signers?limit=4&cursor={first['next_cursor']}", headers=admin())).json()
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None
    ids = [item["id"] for item in first["items"] + rest["items"]]
    assert len(set(ids)) == 6 and ids == sorted(ids)
    assert (await client.get("/v1/signers?cursor=%%%", headers=admin())).status_code == 400


async def test_revoking_a_unit_signer(signatures):
    client = signatures.client
    before = await signatures.issue("sub-before")
    signer = before["signature"]["signer"]
    refused = await client.post(f"/v1/signers/{signer['id']}/revoke", json={"reason": "key_compromise"},
                                headers=officer())
    assert refused.status_code == 403
    bad = await client.post(f"/v1/signers/{signer['id']}/revoke", json={"reason": "because"}, headers=admin())
    assert bad.status_code == 422
    revoked = await client.post(f"/v1/signers/{signer['id']}/revoke", json={"reason": "key_compromise"},
                                headers=admin())
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert revoked.json()["revoked_by"] == "admin-x"
    again = await client.post(f"/v1/signers/{signer['id']}/revoke", json={"reason": "key_compromise"},
                              headers=admin())
    assert again.status_code == 404

    crl = x509.load_der_x509_crl((await client.get("/v1/pki/crl", headers=public())).content)
    entry = crl.get_revoked_certificate_by_serial_number(int(signer["serial"], 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise

    after = await signatures.issue("sub-after")
    assert after["signature"]["signer"]["id"] != signer["id"]
    # Documents signed before the revocation stay valid; the key was trusted when they were made.
    status = (await client.get(f"/v1/verify/{before['document_id']}", headers=public())).json()
    assert status["valid"] is True


async def test_timestamp_authority_answers_only_this_service(signatures):
    client = signatures.client
    request = tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(b"x").digest()},
        "cert_req": True,
    }).dump()
    headers = {"Content-Type": CONTENT_TYPE}
    assert (await client.post("/internal/tsa", content=request, headers=headers)).status_code == 401
    assert (await client.post("/internal/tsa", content=request, headers={**headers, **admin()})).status_code == 403
    granted = await client.post("/internal/tsa", content=request, headers={**headers, **internal()})
    assert granted.status_code == 200 and granted.headers["content-type"] == REPLY_CONTENT_TYPE
    assert tsp.TimeStampResp.load(granted.content)["status"]["status"].native == "granted"
    wrong_type = await client.post("/internal/tsa", content=request, headers={**internal(), "Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    too_big = await client.post("/internal/tsa", content=b"0" * 10_000, headers={**headers, **internal()})
    assert too_big.status_code == 413
