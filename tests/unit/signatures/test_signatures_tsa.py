"""The RFC 3161 timestamp authority: tokens pyHanko accepts, refusals with the RFC's failure codes."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asn1crypto import core, tsp
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko_certvalidator import ValidationContext

from simpul.signatures import pki
from simpul.signatures.jobs import TsaTarget
from simpul.signatures.signing import HttpTimeStamper
from simpul.signatures.tsa import POLICY_OID, TimestampAuthority
from tests.support.processes import free_port


@pytest.fixture(scope="module")
def authority(test_pki) -> TimestampAuthority:
    return TimestampAuthority(pki.der(test_pki.tsa), test_pki.tsa_key, chain=(pki.der(test_pki.issuing),))


def request(digest: bytes, algorithm: str = "sha256", *, nonce: int | None = 4242, cert_req: bool = True,
            **extra) -> bytes:
    fields = {"version": "v1", "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
              "cert_req": cert_req, **extra}
    if nonce is not None:
        fields["nonce"] = nonce
    return tsp.TimeStampReq(fields).dump()


def test_granted_token_validates_against_the_root(authority, test_pki):
    digest = hashlib.sha256(b"document").digest()
    response = tsp.TimeStampResp.load(authority.respond(request(digest)))
    assert response["status"]["status"].native == "granted"
    token = response["time_stamp_token"]
    info = token["content"]["encap_content_info"]["content"].parsed
    assert info["nonce"].native == 4242
    assert info["policy"].native == POLICY_OID
    assert info["message_imprint"]["hashed_message"].native == digest
    assert abs(info["gen_time"].native - datetime.now(UTC)) < timedelta(seconds=5)

    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(pki.der(test_pki.root))], allow_fetching=False)
    status = asyncio.run(validate_tst_signed_data(token["content"], context, lambda algorithm: digest))
    assert status["intact"] and status["valid"]
    assert status["trust_problem_indic"] is None  # chains to the root through the embedded issuing CA


def test_serials_differ_and_cert_req_is_honoured(authority, test_pki):
    digest = hashlib.sha256(b"x").digest()
    first = tsp.TimeStampResp.load(authority.respond(request(digest)))["time_stamp_token"]["content"]
    second = tsp.TimeStampResp.load(authority.respond(request(digest, cert_req=False)))["time_stamp_token"]["content"]
    serial = lambda signed: signed["encap_content_info"]["content"].parsed["serial_number"].native  # noqa: E731
    assert serial(first) != serial(second)
    # RFC 3161 §2.4.1: with certReq the TSA certificate is sent (its issuer too), without it none.
    sent = {choice.chosen.dump() for choice in first["certificates"]}
    assert sent == {pki.der(test_pki.tsa), pki.der(test_pki.issuing)}
    assert len(second["certificates"]) == 0


@pytest.mark.parametrize(
    ("body", "failure"),
    [
        (b"not asn.1 at all", "bad_data_format"),
        (request(hashlib.md5(b"x").digest(), "md5"), "bad_alg"),
        (request(b"short", "sha256"), "bad_alg"),
        (request(hashlib.sha256(b"x").digest(), req_policy="1.2.3.4"), "unaccepted_policy"),
    ],
)
def test_refusals_name_the_failure(authority, body, failure):
    # TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken OPTIONAL }: status only.
    status = tsp.PKIStatusInfo.load(core.Sequence.load(authority.respond(body)).contents)
    assert status["status"].native == "rejection"
    assert status["fail_info"].native == {failure}


def test_http_client_gets_tokens_and_reports_failures(tsa_url):
    with httpx.Client() as client:
        token = asyncio.run(HttpTimeStamper(client, TsaTarget(tsa_url)).async_timestamp(
            hashlib.sha256(b"y").digest(), "sha256"))
        assert token["content_type"].native == "signed_data"
        unreachable = HttpTimeStamper(client, TsaTarget(f"http://127.0.0.1:{free_port()}/tsa"))
        with pytest.raises(TimestampRequestError):
            asyncio.run(unreachable.async_timestamp(hashlib.sha256(b"y").digest(), "sha256"))
