"""What the service hands a signing worker and gets back: plain data, picklable, and light to
import, so the service's own process never loads pyHanko (signing.py, in the workers, does)."""

from __future__ import annotations

from dataclasses import dataclass, field

from simpul.signatures.document import DocumentContent


@dataclass(frozen=True)
class SignerMaterial:
    """A unit's signing key and certificates, as handed to a worker process."""

    id: str
    name: str
    private_key: bytes = field(repr=False)  # PKCS#8 DER; never in a log line
    certificate: bytes  # DER
    chain: tuple[bytes, ...]  # issuing CA(s) and root, DER


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
    content: DocumentContent
    signer: SignerMaterial
    tsa: TsaTarget | None
    validation: ValidationMaterial | None


@dataclass(frozen=True)
class SignedDocument:
    pdf: bytes
    pades_level: str
