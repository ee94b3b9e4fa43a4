"""What the service hands a signing worker and gets back: plain data, picklable, and light to
import, so the service's own process never loads pyHanko (signing.py, in the workers, does)."""

from __future__ import annotations

from dataclasses import dataclass, field

from simpul.signatures.document import DocumentContent
from simpul.signatures.kuitansi import KuitansiContent


@dataclass(frozen=True)
class SignerMaterial:
    """A unit's signing key and certificates, as handed to a worker process."""

    id: str
    name: str
    private_key: bytes = field(repr=False)  # PKCS#8 DER; never in a log line
    certificate: bytes  # DER
    chain: tuple[bytes, ...]  # issuing CA(s) and root, DER


@dataclass(frozen=True)
class RemoteCredential:
    """An official's credential at a remote signing service (Cloud Signature Consortium API v1):
    the worker asks the service to sign the hash; the key never leaves it."""

    id: str  # the certificate's row in `certificates`
    name: str
    service_url: str  # the part before /csc/v1/...
    credential_id: str
    token: str | None = field(repr=False)  # the service's bearer token; never in a log line
    certificate: bytes  # DER, as credentials/info returned it
    chain: tuple[bytes, ...]
    mechanisms: frozenset[str]  # signature algorithms the credential supports (asn1crypto names)
    hash_pinning: bool  # SCAL 2: the authorization names the hash it is for


class RemoteSigningRefused(Exception):
    """The remote signing service refused for good (a 4xx other than a retryable one): trying the
    same document again would get the same answer."""

    def __init__(self, status: int, step: str) -> None:
        super().__init__(status, step)
        self.status = status
        self.step = step  # the CSC endpoint that refused, e.g. "credentials/authorize"

    def __str__(self) -> str:
        return f"{self.step} answered {self.status}"


@dataclass(frozen=True)
class TsaTarget:
    url: str
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # may carry a service token


@dataclass(frozen=True)
class ValidationMaterial:
    """Certificates and CRLs written into the document's DSS (PAdES B-LT)."""

    certificates: tuple[bytes, ...]
    crls: tuple[bytes, ...]


@dataclass(frozen=True)
class SignJob:
    content: DocumentContent | KuitansiContent
    signer: SignerMaterial | RemoteCredential
    tsa: TsaTarget | None
    validation: ValidationMaterial | None


@dataclass(frozen=True)
class SignedDocument:
    pdf: bytes
    pades_level: str
