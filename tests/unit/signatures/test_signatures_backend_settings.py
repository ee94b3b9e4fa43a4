"""The signing backend's settings: the embedded default stays the unit seal, and a csc backend
that could not work is refused at start, naming the setting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from simpul.signatures.settings import SignaturesSettings


def settings(tmp_path, **values) -> SignaturesSettings:
    return SignaturesSettings(data_dir=tmp_path, **values)


def test_the_default_is_the_unit_seal(tmp_path, monkeypatch):
    monkeypatch.delenv("SIMPUL_SIGNATURES_SIGNING_BACKEND", raising=False)
    configured = settings(tmp_path)
    assert configured.signing_backend == "seal" and configured.csc_url is None


def test_csc_reads_its_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMPUL_SIGNATURES_SIGNING_BACKEND", "csc")
    monkeypatch.setenv("SIMPUL_SIGNATURES_CSC_URL", "https://csc.example.go.id")
    monkeypatch.setenv("SIMPUL_SIGNATURES_CSC_TOKEN", "service-token-7d1c")
    monkeypatch.setenv("SIMPUL_SIGNATURES_CSC_CREDENTIAL_ID", "asn-{nip}")
    configured = settings(tmp_path)
    assert configured.signing_backend == "csc" and configured.csc_credential_id == "asn-{nip}"
    assert configured.csc_without_official == "refuse"
    assert "service-token-7d1c" not in repr(configured)


def test_csc_without_a_url_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="SIMPUL_SIGNATURES_CSC_URL"):
        settings(tmp_path, signing_backend="csc")


@pytest.mark.parametrize("template", ["official", "{nip}-{unit}", "{0}", "{nip"])
def test_a_credential_pattern_must_hold_only_the_nip(tmp_path, template):
    with pytest.raises(ValidationError, match="csc_credential_id|SIMPUL_SIGNATURES_CSC_CREDENTIAL_ID"):
        settings(tmp_path, signing_backend="csc", csc_url="https://csc.example.go.id", csc_credential_id=template)


@pytest.mark.parametrize("backend", ["hsm", "", "CSC"])
def test_an_unknown_backend_is_refused(tmp_path, backend):
    with pytest.raises(ValidationError, match="SIMPUL_SIGNATURES_SIGNING_BACKEND|signing_backend"):
        settings(tmp_path, signing_backend=backend)
