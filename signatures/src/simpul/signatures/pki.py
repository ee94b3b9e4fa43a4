"""Certificates, keys and CRLs of the development PKI, made with `cryptography`.

Root CA (offline: its key is written out encrypted for the operator and never loaded again)
-> issuing CA (online: it signs the unit signers, the TSA and the CRL) -> one signer per ministry
unit and the timestamp authority. RSA throughout, the algorithm every PDF reader and the
Indonesian government PKI support: 3072-bit CAs, 2048-bit end entities.

The end-entity certificates name the CRL at `{public_url}/v1/pki/crl` and the issuing CA's
certificate at `{public_url}/v1/pki/issuing-ca`. The issuing CA itself names no CRL: the root is
offline, so it cannot keep a fresh list; should the issuing CA be compromised, the whole PKI is
replaced. Revoking a document does not revoke its unit's certificate (the unit signs other valid
documents with it); the CRL lists only certificates whose key must no longer be trusted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_KEY_BITS = 3072
END_ENTITY_KEY_BITS = 2048
ROOT_VALIDITY = timedelta(days=20 * 365)
ISSUING_CA_VALIDITY = timedelta(days=10 * 365)
TSA_VALIDITY = timedelta(days=5 * 365)
SIGNER_VALIDITY = timedelta(days=2 * 365)
# A signer or TSA certificate this close to expiry is replaced by a fresh one before use.
RENEW_BEFORE = timedelta(days=30)
# Certificates start a little in the past so a verifier whose clock lags still accepts them.
BACKDATE = timedelta(minutes=10)

REVOCATION_REASONS = {
    "key_compromise": x509.ReasonFlags.key_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
}


@dataclass(frozen=True)
class PkiUrls:
    crl: str
    issuing_ca: str


def urls_for(public_url: str) -> PkiUrls:
    base = public_url.rstrip("/")
    return PkiUrls(crl=f"{base}/v1/pki/crl", issuing_ca=f"{base}/v1/pki/issuing-ca")


def _name(common_name: str, unit: str | None = None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "ID"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Simpul"),
    ]
    if unit:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def new_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _key_usage(*, signing: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=signing,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(subject: x509.Name, issuer: x509.Name, public_key, now: datetime, not_after: datetime):
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def make_root(now: datetime) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = new_key(CA_KEY_BITS)
    name = _name("Simpul Root CA")
    certificate = (
        _builder(name, name, key.public_key(), now, now + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_key_usage(signing=False, ca=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def make_issuing_ca(
    root_key: rsa.RSAPrivateKey, root: x509.Certificate, now: datetime
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = new_key(CA_KEY_BITS)
    certificate = (
        _builder(_name("Simpul Issuing CA"), root.subject, key.public_key(), now, now + ISSUING_CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signing=False, ca=True), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return key, certificate


def _end_entity(
    issuing_key: rsa.RSAPrivateKey,
    issuing: x509.Certificate,
    subject: x509.Name,
    urls: PkiUrls,
    now: datetime,
    validity: timedelta,
    extended_usage: list[x509.ObjectIdentifier] | None,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = new_key(END_ENTITY_KEY_BITS)
    # Never valid beyond the CA that vouches for it.
    not_after = min(now + validity, issuing.not_valid_after_utc)
    builder = (
        _builder(subject, issuing.subject, key.public_key(), now, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signing=True, ca=False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuing_key.public_key()), critical=False)
        .add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.UniformResourceIdentifier(urls.crl)], None, None, None)]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS,
                                        x509.UniformResourceIdentifier(urls.issuing_ca))]
            ),
            critical=False,
        )
    )
    if extended_usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended_usage), critical=True)
    return key, builder.sign(issuing_key, hashes.SHA256())


def make_unit_signer(
    issuing_key: rsa.RSAPrivateKey, issuing: x509.Certificate, unit: str, urls: PkiUrls, now: datetime
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    # No extended key usage: NSS (and so poppler's pdfsig) checks document signatures as
    # e-mail signatures and would refuse a certificate restricted to another purpose.
    return _end_entity(issuing_key, issuing, _name(f"Simpul {unit}", unit), urls, now, SIGNER_VALIDITY, None)


def make_tsa(
    issuing_key: rsa.RSAPrivateKey, issuing: x509.Certificate, urls: PkiUrls, now: datetime
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    # RFC 3161 §2.3: a TSA certificate carries exactly the critical timeStamping usage.
    return _end_entity(
        issuing_key, issuing, _name("Simpul Timestamp Authority"), urls, now, TSA_VALIDITY,
        [ExtendedKeyUsageOID.TIME_STAMPING],
    )


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: str


def make_crl(
    issuing_key: rsa.RSAPrivateKey,
    issuing: x509.Certificate,
    number: int,
    revoked: list[RevokedEntry],
    now: datetime,
    validity: timedelta,
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuing.subject)
        .last_update(now - BACKDATE)
        .next_update(now + validity)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuing_key.public_key()), critical=False)
    )
    for entry in revoked:
        revoked_certificate = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
            .add_extension(x509.CRLReason(REVOCATION_REASONS[entry.reason]), critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(revoked_certificate)
    return builder.sign(issuing_key, hashes.SHA256())


# -- encoding -------------------------------------------------------------------------------------


def encrypt_key(key: PrivateKeyTypes, passphrase: bytes) -> bytes:
    """PKCS#8, encrypted (PEM): how every private key is kept at rest."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def decrypt_key(pem: bytes, passphrase: bytes) -> PrivateKeyTypes:
    return serialization.load_pem_private_key(pem, password=passphrase)


def plain_pkcs8(key: PrivateKeyTypes) -> bytes:
    """Unencrypted PKCS#8 DER, only ever handed to this service's own worker processes."""
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def crl_der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


def fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(der(certificate)).hexdigest()


def serial_hex(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "x")


def common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()
