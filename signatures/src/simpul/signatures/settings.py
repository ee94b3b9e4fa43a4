from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from simpul.shared.settings import BaseServiceSettings, read_or_create_secret
from simpul.shared.storage import ObjectStorageSettings


class SignaturesSettings(BaseServiceSettings, ObjectStorageSettings):
    service_name: ClassVar[str] = "signatures"

    database_url: str | None = Field(default=None, validation_alias="SIMPUL_SIGNATURES_DATABASE_URL")
    port: int = Field(default=8003, validation_alias="SIMPUL_SIGNATURES_PORT")

    # Where issued PDFs are kept (storage.open_blob_store): unset, under the data dir.
    storage_url: str | None = Field(default=None, validation_alias="SIMPUL_SIGNATURES_STORAGE_URL")

    # Encrypted the private keys before they were sealed with the key-encryption key
    # (SIMPUL_KEY_ENCRYPTION_KEY): read only by the migration that seals them (0004).
    key_passphrase: str | None = Field(default=None, repr=False, validation_alias="SIMPUL_SIGNATURES_KEY_PASSPHRASE")

    # Production keys: a directory of `<unit>.p12` files, one signer per ministry unit, their
    # passphrase, and the PEM file of the root certificate(s) those signers chain to. When set,
    # no development PKI is created and the CRL is the real CA's business.
    pkcs12_dir: Path | None = Field(default=None, validation_alias="SIMPUL_SIGNATURES_PKCS12_DIR")
    pkcs12_passphrase: str | None = Field(default=None, repr=False, validation_alias="SIMPUL_SIGNATURES_PKCS12_PASSPHRASE")
    trust_roots: Path | None = Field(default=None, validation_alias="SIMPUL_SIGNATURES_TRUST_ROOTS")
    # RFC 3161 timestamp authority. Unset, the development PKI's own TSA (served by this service
    # at /internal/tsa) is used; with production keys and no URL, signatures are PAdES B-B.
    tsa_url: str | None = Field(default=None, validation_alias="SIMPUL_SIGNATURES_TSA_URL")

    # Who signs an issued document (docs/signing.md): "seal", the unit's own key (development PKI
    # or PKCS#12 above); or "csc", the deciding official's credential at a remote signing service
    # speaking the Cloud Signature Consortium API v1, chosen by the official's NIP.
    signing_backend: Literal["seal", "csc"] = Field(default="seal", validation_alias="SIMPUL_SIGNATURES_SIGNING_BACKEND")
    # The service's base URL: the part before /csc/v1/..., e.g. https://csc.example.go.id
    csc_url: str | None = Field(default=None, validation_alias="SIMPUL_SIGNATURES_CSC_URL")
    # This system's bearer token at the service (its OAuth2 access token); sent on every call.
    csc_token: str | None = Field(default=None, repr=False, validation_alias="SIMPUL_SIGNATURES_CSC_TOKEN")
    # The credential that signs for an official: this pattern with the NIP put in for {nip}, the
    # naming convention the service uses for the credentials it issued to officials.
    csc_credential_id: str = Field(default="{nip}", validation_alias="SIMPUL_SIGNATURES_CSC_CREDENTIAL_ID")
    # A document that names no deciding official (a standard without roles, approved by an
    # officer client): "refuse" it for good, or "seal" it with the unit's key as before.
    csc_without_official: Literal["refuse", "seal"] = Field(
        default="refuse", validation_alias="SIMPUL_SIGNATURES_CSC_WITHOUT_OFFICIAL")
    # PEM file of the roots the service's certificates chain to, trusted by POST /v1/verify.
    csc_trust_roots: Path | None = Field(default=None, validation_alias="SIMPUL_SIGNATURES_CSC_TRUST_ROOTS")

    # Processes that render and sign, at most; 0 means one per CPU. They start with the first
    # documents to sign and stop after this many seconds without one (each holds ~90 MB).
    workers: int = Field(default=0, ge=0, le=64, validation_alias="SIMPUL_SIGNATURES_WORKERS")
    worker_idle_seconds: float = Field(default=300.0, gt=0, validation_alias="SIMPUL_SIGNATURES_WORKER_IDLE_SECONDS")
    sign_timeout_seconds: float = Field(default=60.0, gt=0, validation_alias="SIMPUL_SIGNATURES_SIGN_TIMEOUT")

    # Uploaded PDFs checked by POST /v1/verify: size limit, and the time and memory one check gets.
    verify_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0, validation_alias="SIMPUL_SIGNATURES_VERIFY_MAX_BYTES")
    verify_timeout_seconds: float = Field(default=20.0, gt=0, validation_alias="SIMPUL_SIGNATURES_VERIFY_TIMEOUT")
    verify_memory_bytes: int = Field(
        default=1024 * 1024 * 1024, gt=0, validation_alias="SIMPUL_SIGNATURES_VERIFY_MEMORY_BYTES"
    )
    verify_concurrency: int = Field(default=0, ge=0, le=64, validation_alias="SIMPUL_SIGNATURES_VERIFY_CONCURRENCY")

    # How long a CRL of the development PKI is valid; a new one is made at half-life.
    crl_validity_hours: int = Field(default=7 * 24, gt=1, validation_alias="SIMPUL_SIGNATURES_CRL_VALIDITY_HOURS")

    @field_validator("csc_credential_id")
    @classmethod
    def _names_the_nip(cls, value: str) -> str:
        try:
            filled = value.format(nip="0" * 18)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError("may hold only the {nip} placeholder") from exc
        if filled == value:
            raise ValueError("must hold the {nip} placeholder")
        return value

    @model_validator(mode="after")
    def _csc_complete(self) -> SignaturesSettings:
        if self.signing_backend == "csc" and not self.csc_url:
            raise ValueError("SIMPUL_SIGNATURES_SIGNING_BACKEND=csc needs SIMPUL_SIGNATURES_CSC_URL")
        return self

    @property
    def production_keys(self) -> bool:
        return self.pkcs12_dir is not None

    def resolved_key_passphrase(self) -> bytes:
        if self.key_passphrase:
            return self.key_passphrase.encode()
        return read_or_create_secret(self.data_dir / "secrets" / "signatures-keys.key").encode()

    def resolved_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    def resolved_verify_concurrency(self) -> int:
        return self.verify_concurrency or os.cpu_count() or 1

    def resolved_tsa_url(self) -> str | None:
        if self.tsa_url:
            return self.tsa_url
        if self.production_keys:
            return None
        # This very process: SIMPUL_SIGNATURES_URL may list replicas (or one name for all of them),
        # and a timestamp must not wait on another replica being up.
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/internal/tsa"

    def documents_dir(self) -> Path:
        return self.data_dir / "documents"
