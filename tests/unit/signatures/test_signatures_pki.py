"""The development PKI: what each certificate says, and what the CRL and key encryption do."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from simpul.signatures import pki

PUBLIC_URL = "https://simpul.example.go.id"


def verify_issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> None:
    issuer.public_key().verify(certificate.signature, certificate.tbs_certificate_bytes, padding.PKCS1v15(),
                               certificate.signature_hash_algorithm)
    assert certificate.issuer == issuer.subject


def test_chain_and_constraints(test_pki):
    root, issuing = test_pki.root, test_pki.issuing
    verify_issued_by(root, root)
    verify_issued_by(issuing, root)
    verify_issued_by(test_pki.signer, issuing)
    verify_issued_by(test_pki.tsa, issuing)

    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    for ca in (root, issuing):
        usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    for leaf in (test_pki.signer, test_pki.tsa):
        assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
        assert leaf.not_valid_after_utc <= issuing.not_valid_after_utc
    assert isinstance(root.public_key(), rsa.RSAPublicKey) and root.public_key().key_size == pki.CA_KEY_BITS
    assert test_pki.signer.public_key().key_size == pki.END_ENTITY_KEY_BITS


def test_end_entities_name_the_crl_and_the_issuer_certificate(test_pki):
    for leaf in (test_pki.signer, test_pki.tsa):
        points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert [name.value for point in points for name in point.full_name] == [f"{PUBLIC_URL}/v1/pki/crl"]
        access = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        assert [item.access_location.value for item in access] == [f"{PUBLIC_URL}/v1/pki/issuing-ca"]
    # The offline root keeps no CRL, so the issuing CA names none.
    with pytest.raises(x509.ExtensionNotFound):
        test_pki.issuing.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS)


def test_signer_and_tsa_usages(test_pki):
    tsa_usage = test_pki.tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert tsa_usage.critical and list(tsa_usage.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    # Signers carry no EKU: NSS-based validators check document signatures as e-mail signatures.
    with pytest.raises(x509.ExtensionNotFound):
        test_pki.signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    subject = test_pki.signer.subject.rfc4514_string()
    assert "OU=KDN-PFK" in subject and "CN=Simpul KDN-PFK" in subject and "C=ID" in subject


def test_crl_lists_revoked_certificates_with_reason(test_pki):
    now = datetime.now(UTC)
    revoked_at = now - timedelta(hours=1)
    crl = pki.make_crl(test_pki.issuing_key, test_pki.issuing, 7,
                       [pki.RevokedEntry(test_pki.signer.serial_number, revoked_at, "key_compromise")],
                       now, timedelta(days=7))
    assert crl.is_signature_valid(test_pki.issuing.public_key())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    entry = crl.get_revoked_certificate_by_serial_number(test_pki.signer.serial_number)
    assert entry is not None
    assert entry.revocation_date_utc == revoked_at.replace(microsecond=0)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(test_pki.tsa.serial_number) is None
    assert crl.next_update_utc > now + timedelta(days=6)


def test_keys_are_encrypted_at_rest(test_pki):
    encrypted = pki.encrypt_key(test_pki.signer_key, b"correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in encrypted
    restored = pki.decrypt_key(encrypted, b"correct horse")
    assert restored.private_numbers() == test_pki.signer_key.private_numbers()
    with pytest.raises(ValueError):
        pki.decrypt_key(encrypted, b"wrong passphrase")


def test_fingerprint_and_serial(test_pki):
    assert pki.fingerprint(test_pki.root) == hashlib.sha256(pki.der(test_pki.root)).hexdigest()
    assert int(pki.serial_hex(test_pki.signer), 16) == test_pki.signer.serial_number
