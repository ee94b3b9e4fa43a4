"""An officer's assertion may name the official it acts as; services read it back intact."""

import asyncio

import pytest

from simpul.shared.identity import AssertionRefused, AssertionVerifier, Official
from tests.support.identity import TEST_INTERNAL_SECRET, assertion, jwks_json

OFFICIAL = Official(id="off_1", nip="198503142010011002", name="Siti Rahma", position="Kepala Seksi",
                    roles=("reviewer", "signer"))


def verifier() -> AssertionVerifier:
    return AssertionVerifier("submissions", internal_secret=TEST_INTERNAL_SECRET, jwks_json=jwks_json())


def test_official_travels_in_the_assertion():
    token = assertion("submissions", "officer", "KEUDA", official=OFFICIAL)
    identity = asyncio.run(verifier().verify(token))
    assert identity.official == OFFICIAL
    assert identity.claims()["official"]["roles"] == ["reviewer", "signer"]


def test_without_official_nothing_changes():
    identity = asyncio.run(verifier().verify(assertion("submissions", "officer", "KEUDA")))
    assert identity.official is None
    assert "official" not in identity.claims()


def test_malformed_official_is_refused():
    with pytest.raises(AssertionRefused):
        Official.from_claims({"id": "x", "nip": "1"})
    with pytest.raises(AssertionRefused):
        Official.from_claims("signer")
