"""The `csc` signing backend, its part in the service process: which credential at the remote
signing service signs for an official (chosen by NIP), and what that credential holds, read from
the service's Cloud Signature Consortium API (v1) `credentials/info`. The signing itself happens
in the worker processes (signing.py); this process never loads pyHanko.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx
from asn1crypto import algos
from cryptography import x509
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from simpul.shared.internal import refused_for_good
from simpul.signatures import pki
from simpul.signatures.jobs import RemoteCredential, RemoteSigningRefused
from simpul.signatures.keystore import record_certificate

OFFICIAL = "official"
CSC_TIMEOUT = httpx.Timeout(15.0, connect=3.0)
# A credential read again after this long: a certificate renewed at the service is used within it.
CREDENTIAL_CACHE_SECONDS = 60.0


class RemoteSigningUnavailable(Exception):
    """The remote signing service did not answer usefully this time (down, 5xx, 401/403/429...)."""


class CredentialUnusable(Exception):
    """The credential exists but cannot sign for this official: retrying will not change that."""


@dataclass
class _Kept:
    credential: RemoteCredential
    loaded_at: float


class CscCredentials:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, service_url: str, token: str | None,
                 credential_template: str, clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._service_url = service_url.rstrip("/")
        self._token = token
        self._template = credential_template
        self._clock = clock
        self._http = httpx.AsyncClient(timeout=CSC_TIMEOUT)
        self._kept: dict[str, _Kept] = {}

    def credential_id(self, nip: str) -> str:
        return self._template.format(nip=nip)

    async def credential_for(self, nip: str, unit: str) -> RemoteCredential:
        credential_id = self.credential_id(nip)
        kept = self._kept.get(credential_id)
        if kept is not None and time.monotonic() - kept.loaded_at < CREDENTIAL_CACHE_SECONDS:
            return kept.credential
        answer = await self._credential_info(credential_id)
        certificates, mechanisms, hash_pinning = _parse_info(answer)
        certificate = certificates[0]  # the CSC API puts the signer's certificate first
        if nip not in certificate.subject.rfc4514_string():
            # A wrong mapping must not sign in another person's name.
            raise CredentialUnusable(f"the certificate of credential {credential_id} does not name NIP {nip}")
        row = await record_certificate(self._sessions, certificate, kind=OFFICIAL, unit=unit, now=self._clock())
        credential = RemoteCredential(
            id=row["id"],
            name=pki.common_name(certificate),
            service_url=self._service_url,
            credential_id=credential_id,
            token=self._token,
            certificate=pki.der(certificate),
            chain=tuple(pki.der(item) for item in certificates[1:]),
            mechanisms=mechanisms,
            hash_pinning=hash_pinning,
        )
        self._kept[credential_id] = _Kept(credential, time.monotonic())
        return credential

    async def _credential_info(self, credential_id: str) -> dict:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            response = await self._http.post(
                f"{self._service_url}/csc/v1/credentials/info",
                json={"credentialID": credential_id, "certificates": "chain", "certInfo": False},
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise RemoteSigningUnavailable(f"credentials/info: {type(exc).__name__}") from exc
        if refused_for_good(response.status_code):
            raise RemoteSigningRefused(response.status_code, "credentials/info")
        if response.status_code != 200:
            raise RemoteSigningUnavailable(f"credentials/info answered {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise RemoteSigningUnavailable("credentials/info answered no JSON") from exc
        if not isinstance(answer, dict):
            raise RemoteSigningUnavailable("credentials/info answered no JSON object")
        return answer

    async def aclose(self) -> None:
        await self._http.aclose()


def _parse_info(answer: dict) -> tuple[list[x509.Certificate], frozenset[str], bool]:
    """Certificates (signer's first), supported signature algorithms and whether the hash must be
    named at authorization (SCAL 2), from a `credentials/info` answer."""
    key = answer.get("key")
    if not isinstance(key, dict) or key.get("status") != "enabled":
        raise CredentialUnusable("the credential's key is not enabled")
    try:
        certificates = [x509.load_der_x509_certificate(base64.b64decode(item, validate=True))
                        for item in answer["cert"]["certificates"]]
        mechanisms = frozenset(algos.SignedDigestAlgorithmId(oid).native for oid in key["algo"])
        scal = int(answer.get("SCAL", 1))
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        # A malformed answer: a broken deployment, not this document's fault.
        raise RemoteSigningUnavailable("credentials/info answered an unreadable credential") from exc
    if not certificates:
        raise CredentialUnusable("the credential holds no certificate")
    return certificates, mechanisms, scal == 2
