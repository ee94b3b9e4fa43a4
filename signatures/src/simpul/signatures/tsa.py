"""An RFC 3161 timestamp authority (with the RFC 5816 ESSCertIDv2 signing-certificate attribute).

Served at POST /internal/tsa for this service's own signer. asn1crypto re-encodes any parsed
object placed into a new structure, which made a naive response cost ~15 ms: the parts that never
change (signer id, TSA name, signing-certificate attribute, certificates, algorithm identifiers)
are encoded once, and a granted response is put together from DER bytes around the two parts
that are new each time (the TSTInfo and the signed attributes), ~1 ms, most of it the RSA
signature.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# A UUID-derived object identifier (ITU-T X.667, arc 2.25) naming this TSA's policy.
POLICY_OID = "2.25.53049233296954496697506417080777211423"
CONTENT_TYPE = "application/timestamp-query"
REPLY_CONTENT_TYPE = "application/timestamp-reply"
MAX_REQUEST_BYTES = 4096

_DIGEST_LENGTHS = {"sha256": 32, "sha384": 48, "sha512": 64}
# The fixed parts of a granted response, as DER: the response is put together from bytes, since
# asn1crypto re-encodes every object nested into a new one (~4 ms, 140,000 calls per response).
_VERSION_1 = core.Integer(1).dump()
_VERSION_3 = core.Integer(3).dump()
_SHA256 = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
_SHA256_RSA = algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"}).dump()
_TST_INFO = cms.ContentType("tst_info").dump()
_SIGNED_DATA = cms.ContentType("signed_data").dump()
_GRANTED = tsp.PKIStatusInfo({"status": "granted"}).dump()


class TimestampAuthority:
    def __init__(self, certificate_der: bytes, key: rsa.RSAPrivateKey, chain: tuple[bytes, ...] = (),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        certificate = asn1_x509.Certificate.load(certificate_der)
        self._key = key
        self._clock = clock
        # With certReq the TSA certificate must be sent (RFC 3161 §2.4.1); its issuer goes along
        # so the token validates on its own. SignedData's `certificates [0] IMPLICIT`, a SET OF:
        # in DER, sorted by encoding.
        self._certificates = der_tlv(0xA0, b"".join(sorted((certificate_der, *chain))))
        self._signer_id = cms.SignerIdentifier(
            {"issuer_and_serial_number": {"issuer": certificate.issuer, "serial_number": certificate.serial_number}}
        ).dump()
        self._tsa_name = asn1_x509.GeneralName({"directory_name": certificate.subject}).dump()
        self._signing_certificate = _attribute("signing_certificate_v2", _signing_certificate_v2(certificate)).dump()
        self._content_type = _attribute("content_type", "tst_info").dump()

    def respond(self, request_der: bytes) -> bytes:
        """A DER TimeStampResp: a token, or a rejection naming the RFC 3161 failure."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            version = request["version"].native
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            policy = request["req_policy"].native
            nonce = request["nonce"].native
            certificate_requested = bool(request["cert_req"].native)
            has_extensions = request["extensions"].native is not None
        except (ValueError, TypeError, KeyError):
            return _rejection("bad_data_format", "The request is not a DER TimeStampReq.")
        if version != "v1":
            return _rejection("bad_request", "Only version 1 requests are supported.")
        if _DIGEST_LENGTHS.get(algorithm) != len(digest or b""):
            return _rejection("bad_alg", "The message imprint must be a SHA-256, SHA-384 or SHA-512 digest.")
        if policy is not None and policy != POLICY_OID:
            return _rejection("unaccepted_policy", "This TSA issues timestamps under one policy only.")
        if has_extensions:
            return _rejection("unaccepted_extensions", "No request extensions are supported.")

        now = self._clock()
        info = {
            "version": "v1",
            "policy": POLICY_OID,
            "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
            # Random 127-bit serials: unique without coordinating several instances.
            "serial_number": secrets.randbits(127),
            "gen_time": now,
            "accuracy": {"seconds": 1},
            "tsa": asn1_x509.GeneralName.load(self._tsa_name),
        }
        if nonce is not None:
            info["nonce"] = nonce
        content = tsp.TSTInfo(info).dump()
        # DER: the members of a SET OF in ascending order of their encodings.
        signed_attributes = b"".join(sorted((
            self._content_type,
            _attribute("signing_time", cms.Time({"generalized_time": now})).dump(),
            self._signing_certificate,
            _attribute("message_digest", hashlib.sha256(content).digest()).dump(),
        )))
        # The signature covers the attributes as a SET; the SignerInfo carries them [0] IMPLICIT.
        signature = self._key.sign(der_tlv(0x31, signed_attributes), padding.PKCS1v15(), hashes.SHA256())
        signer_info = der_tlv(0x30, _VERSION_1 + self._signer_id + _SHA256 + der_tlv(0xA0, signed_attributes)
                              + _SHA256_RSA + der_tlv(0x04, signature))
        signed_data = der_tlv(0x30, (
            _VERSION_3
            + der_tlv(0x31, _SHA256)
            + der_tlv(0x30, _TST_INFO + der_tlv(0xA0, der_tlv(0x04, content)))
            + (self._certificates if certificate_requested else b"")
            + der_tlv(0x31, signer_info)
        ))
        token = der_tlv(0x30, _SIGNED_DATA + der_tlv(0xA0, signed_data))
        return der_tlv(0x30, _GRANTED + token)


def _rejection(failure: str, text: str) -> bytes:
    status = tsp.PKIStatusInfo({"status": "rejection", "status_string": [text], "fail_info": {failure}})
    # asn1crypto's TimeStampResp insists on a token, which a rejection has none of.
    return der_tlv(0x30, status.dump())


def der_tlv(tag: int, content: bytes) -> bytes:
    """A DER tag-length-value with a definite length."""
    length = len(content)
    if length < 0x80:
        return bytes((tag, length)) + content
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big") + content


# Built with asn1crypto here rather than with pyHanko's helpers of the same shape: the TSA runs in
# the service's own process, which would otherwise import pyHanko's signing package (~16 MB)
# that only the signing workers need.
def _attribute(kind: str, value: object) -> cms.CMSAttribute:
    return cms.CMSAttribute({"type": cms.CMSAttributeType(kind), "values": (value,)})


def _signing_certificate_v2(certificate: asn1_x509.Certificate) -> tsp.SigningCertificateV2:
    """RFC 5035 ESSCertIDv2 of the TSA's certificate, by its SHA-256."""
    return tsp.SigningCertificateV2({
        "certs": [
            tsp.ESSCertIDv2({
                "hash_algorithm": {"algorithm": "sha256"},
                "cert_hash": hashlib.sha256(certificate.dump()).digest(),
                "issuer_serial": {
                    "issuer": [asn1_x509.GeneralName({"directory_name": certificate.issuer})],
                    "serial_number": certificate["tbs_certificate"]["serial_number"],
                },
            })
        ]
    })
