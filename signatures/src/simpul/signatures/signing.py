"""Render and sign one document: the code that runs in the worker processes.

What makes it fast (see DESIGN.md's measured facts): each worker keeps every signer it has used
with its private key already loaded, the space for the signature is reserved up front (pyHanko
otherwise signs a dummy first to measure it), the timestamp comes over a kept-alive HTTP
connection, and validation data (B-LT) is written from what the service already knows (its own
certificates and CRL) instead of being fetched and path-validated per signature.

A job may instead name an official's credential at a remote signing service (the `csc` backend):
pyHanko's CSCSigner then has the service sign the hash over the Cloud Signature Consortium API,
each signature authorized for its own hash.
"""

from __future__ import annotations

import asyncio
import io
from collections import OrderedDict
from datetime import UTC, datetime

import aiohttp
import httpx
from asn1crypto import crl as asn1_crl
from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.general import SigningError, as_signing_certificate_v2
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCCredentialInfo,
    CSCServiceSessionInfo,
    CSCSigner,
)
from pyhanko.sign.timestamps.common_utils import TimestampRequestError, set_tsp_headers
from pyhanko.sign.validation import DocumentSecurityStore
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from simpul.shared.internal import refused_for_good
from simpul.shared.indonesian import long_datetime
from simpul.signatures.document import RenderedDocument, render
from simpul.signatures.kuitansi import KuitansiContent, render_kuitansi
from simpul.signatures.jobs import RemoteCredential, RemoteSigningRefused, SignedDocument, SignerMaterial, SignJob, TsaTarget
from simpul.signatures.tsa import REPLY_CONTENT_TYPE, der_tlv

FIELD_NAME = "TandaTanganElektronik"
# The document names the signer just above the stamp; the stamp adds the signing time, in WIB like
# every other time on the document (pyHanko's own `ts` is the signing machine's zone).
STAMP_STYLE = TextStampStyle(
    stamp_text="Tanda tangan elektronik\n%(signed_at)s",
    border_width=1,
    background=None,
)
TSA_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
CSC_TIMEOUT_SECONDS = 30
# pyHanko's estimate of a remote raw signature (RSA-4096 is 512 bytes).
CSC_SIGNATURE_BYTES = 512
_MAX_KEPT_SIGNERS = 256
_TIMESTAMP_ATTRIBUTE_TYPE = cms.CMSAttributeType("signature_time_stamp_token").dump()


class TimestampSplicing(signers.Signer):
    """Adds the signature timestamp to the finished CMS as DER (mixed into both signers)."""

    async def async_sign(self, data_digest: bytes, digest_algorithm: str, dry_run: bool = False,
                         use_pades: bool = False, timestamper: timestamps.TimeStamper | None = None,
                         **kwargs) -> cms.ContentInfo:
        """The CMS signature with its RFC 3161 signature timestamp spliced in as DER.

        pyHanko assembles the timestamped CMS from parsed asn1crypto objects, which asn1crypto
        then re-encodes level by level on output: 40-180 ms per signature, growing with nesting.
        Here pyHanko signs without the timestamper, and the token is added to the SignerInfo's
        unsigned attributes (RFC 3161 appendix A) by re-wrapping the original encodings.
        """
        signed = await super().async_sign(data_digest, digest_algorithm, dry_run, use_pades, None, **kwargs)
        if timestamper is None:
            return signed
        content = cms.ContentInfo.load(signed.dump())
        signed_data = content["content"]
        signer_infos = signed_data["signer_infos"]
        signer_info = signer_infos[0]
        digest = hashes.Hash(getattr(hashes, digest_algorithm.upper())())
        digest.update(signer_info["signature"].native)
        if dry_run:
            token = await timestamper.async_dummy_response(digest_algorithm)
        else:
            token = await timestamper.async_timestamp(digest.finalize(), digest_algorithm)
        attribute = der_tlv(0x30, _TIMESTAMP_ATTRIBUTE_TYPE + der_tlv(0x31, token.dump()))
        new_signer_info = der_tlv(0x30, signer_info.contents + der_tlv(0xA1, attribute))
        # signerInfos is the last field of SignedData (RFC 5652 §5.1).
        head = signed_data.contents[: len(signed_data.contents) - len(signer_infos.dump())]
        new_signed_data = der_tlv(0x30, head + der_tlv(0x31, new_signer_info))
        return cms.ContentInfo.load(der_tlv(0x30, content["content_type"].dump() + der_tlv(0xA0, new_signed_data)))


class KeptSigner(TimestampSplicing):
    """A pyHanko signer that loads its key once (SimpleSigner re-parses it for every signature)."""

    def __init__(self, material: SignerMaterial) -> None:
        self._key = serialization.load_der_private_key(material.private_key, password=None)
        if not isinstance(self._key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise ValueError("only RSA and ECDSA signing keys are supported")
        certificate = asn1_x509.Certificate.load(material.certificate)
        chain = [asn1_x509.Certificate.load(item) for item in material.chain]
        super().__init__(
            signing_cert=certificate,
            cert_registry=SimpleCertificateStore.from_certs([certificate, *chain]),
            embed_roots=True,
        )
        self._signing_certificate = cms.CMSAttribute(
            {"type": "signing_certificate_v2", "values": [as_signing_certificate_v2(certificate)]}
        ).dump()
        # Upper bound of the CMS object without a timestamp: signature, attributes, certificates.
        self.cms_bytes = 2048 + len(material.certificate) + sum(len(item) for item in material.chain)

    async def signed_attrs(self, data_digest: bytes, digest_algorithm: str, attr_settings=None,
                           content_type="data", use_pades=False, timestamper=None, dry_run=False,
                           is_pdf_sig=True) -> cms.CMSAttributes:
        """PAdES signed attributes (content type, message digest, ESS signing certificate v2) as
        DER, the certificate part encoded once per signer instead of once per signature."""
        if not use_pades or (attr_settings is not None and attr_settings.cades_signed_attrs is not None):
            return await super().signed_attrs(data_digest, digest_algorithm, attr_settings, content_type,
                                              use_pades, timestamper, dry_run, is_pdf_sig)
        attributes = [
            cms.CMSAttribute({"type": "content_type", "values": [content_type]}).dump(),
            cms.CMSAttribute({"type": "message_digest", "values": [data_digest]}).dump(),
            self._signing_certificate,
        ]
        # DER: the members of a SET OF in ascending order of their encodings.
        return cms.CMSAttributes.load(der_tlv(0x31, b"".join(sorted(attributes))))

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        algorithm = getattr(hashes, digest_algorithm.upper())()
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), algorithm)
        return self._key.sign(data, ec.ECDSA(algorithm))


class HttpTimeStamper(timestamps.TimeStamper):
    """RFC 3161 over HTTP with a kept-alive client (pyHanko's opens a connection per request)."""

    # Room for a timestamp token with its TSA certificate chain.
    TOKEN_BYTES = 8192

    def __init__(self, client: httpx.Client, target: TsaTarget) -> None:
        super().__init__()
        self._client = client
        self._target = target

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        headers = set_tsp_headers(dict(self._target.headers))
        try:
            response = self._client.post(self._target.url, content=req.dump(), headers=headers)
        except httpx.HTTPError as exc:
            raise TimestampRequestError(f"timestamp authority unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200 or response.headers.get("content-type") != REPLY_CONTENT_TYPE:
            raise TimestampRequestError(f"timestamp authority answered {response.status_code}")
        try:
            answer = tsp.TimeStampResp.load(response.content)
            answer["status"]  # parses the outer structure: a bad answer fails here, not deep in pyHanko
        except ValueError as exc:
            # Also a refusal: asn1crypto's TimeStampResp cannot parse one (its token is not optional).
            raise TimestampRequestError("timestamp authority refused the request or answered malformed") from exc
        return answer


class _AuthorizeEachHash(CSCAuthorizationManager):
    """Signature activation data from `credentials/authorize`, asked for each signature and bound
    to its hash: what SCAL 2 services require, and no weaker for SCAL 1 ones. The service account
    authorizes (authMode "implicit"); a credential that wants the official's PIN or OTP here
    ("explicit") refuses, and that refusal is final."""

    def __init__(self, session_info: CSCServiceSessionInfo, credential_info: CSCCredentialInfo,
                 http: aiohttp.ClientSession) -> None:
        super().__init__(session_info, credential_info)
        self._http = http

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        body = self.format_csc_auth_request(hash_b64s=hash_b64s)
        try:
            async with self._http.post(self.csc_session_info.endpoint_url("credentials/authorize"), json=body,
                                       headers=self.auth_headers,
                                       timeout=aiohttp.ClientTimeout(total=CSC_TIMEOUT_SECONDS)) as response:
                if refused_for_good(response.status):
                    raise RemoteSigningRefused(response.status, "credentials/authorize")
                response.raise_for_status()
                answer = await response.json()
        except aiohttp.ClientError as exc:
            raise SigningError(f"credentials/authorize failed: {type(exc).__name__}") from exc
        return self.parse_csc_auth_response(answer)


class _RemoteSigner(TimestampSplicing, CSCSigner):
    """CSCSigner keeping why `signatures/signHash` failed: pyHanko logs the HTTP error and then
    raises a generic one, and a final refusal must not be retried like an outage."""

    refusal: RemoteSigningRefused | None = None

    async def commit(self) -> None:
        try:
            await super().commit()
        except SigningError as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ClientResponseError) and refused_for_good(cause.status):
                self.refusal = RemoteSigningRefused(cause.status, "signatures/signHash")
            raise


class _WorkerState:
    """What one process keeps between jobs: its event loop, HTTP client and loaded signers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.http = httpx.Client(timeout=TSA_TIMEOUT)
        self.signers: OrderedDict[str, KeptSigner] = OrderedDict()
        self._csc_http: aiohttp.ClientSession | None = None

    def csc_http(self) -> aiohttp.ClientSession:
        """Kept-alive connections to the remote signing service; made in the worker's loop."""
        if self._csc_http is None:
            self._csc_http = aiohttp.ClientSession()
        return self._csc_http

    async def remote_signer(self, credential: RemoteCredential) -> _RemoteSigner:
        session_info = CSCServiceSessionInfo(credential.service_url, credential.credential_id,
                                             oauth_token=credential.token)
        certificate = asn1_x509.Certificate.load(credential.certificate)
        credential_info = CSCCredentialInfo(
            signing_cert=certificate,
            chain=[asn1_x509.Certificate.load(item) for item in credential.chain],
            supported_mechanisms=credential.mechanisms,
            max_batch_size=1,
            hash_pinning_required=credential.hash_pinning,
            response_data={},
        )
        http = self.csc_http()
        return _RemoteSigner(http, _AuthorizeEachHash(session_info, credential_info, http),
                             sign_timeout=CSC_TIMEOUT_SECONDS, est_raw_signature_size=CSC_SIGNATURE_BYTES)

    def signer(self, material: SignerMaterial) -> KeptSigner:
        kept = self.signers.get(material.id)
        if kept is None:
            kept = KeptSigner(material)
            self.signers[material.id] = kept
            if len(self.signers) > _MAX_KEPT_SIGNERS:
                self.signers.popitem(last=False)
        else:
            self.signers.move_to_end(material.id)
        return kept


_state: _WorkerState | None = None


def _worker_state() -> _WorkerState:
    global _state
    if _state is None:
        _state = _WorkerState()
    return _state


def warm_up() -> None:
    """Run once in each worker process at start: fonts and state are ready before the first job."""
    from simpul.signatures.fonts import BOLD, REGULAR, face

    face(REGULAR)
    face(BOLD)
    _worker_state()


def sign_job(job: SignJob) -> SignedDocument:
    """Entry point in a worker process (also callable in-process): render, then sign."""
    content = job.content
    return sign_rendered(render_kuitansi(content) if isinstance(content, KuitansiContent) else render(content), job)


def sign_rendered(rendered: RenderedDocument, job: SignJob) -> SignedDocument:
    state = _worker_state()
    timestamper = HttpTimeStamper(state.http, job.tsa) if job.tsa else None
    if isinstance(job.signer, RemoteCredential):
        signer: signers.Signer = state.loop.run_until_complete(state.remote_signer(job.signer))
        # Like KeptSigner's bound, with room for the raw signature pyHanko assumes (512 bytes);
        # reserving it spares the dry run pyHanko otherwise signs to measure.
        reserved = (2048 + CSC_SIGNATURE_BYTES + len(job.signer.certificate) + sum(map(len, job.signer.chain))
                    + (HttpTimeStamper.TOKEN_BYTES if timestamper else 0))
    else:
        signer = state.signer(job.signer)
        reserved = signer.cms_bytes + (HttpTimeStamper.TOKEN_BYTES if timestamper else 0)
    try:
        pdf = state.loop.run_until_complete(
            _sign(rendered.pdf, rendered.signature_page, rendered.signature_box, job, signer, timestamper, reserved)
        )
    except SigningError as exc:
        refusal = getattr(signer, "refusal", None)
        if refusal is not None:
            raise refusal from exc
        raise
    if timestamper is None:
        level = "B-B"
    else:
        level = "B-LT" if job.validation else "B-T"
    return SignedDocument(pdf=pdf, pades_level=level)


async def _sign(pdf: bytes, page: int, box: tuple[int, int, int, int], job: SignJob, signer: signers.Signer,
                timestamper: HttpTimeStamper | None, cms_bytes: int) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    if job.validation is not None:
        # Written into the signed revision itself: one revision, readable by any validator.
        DocumentSecurityStore.supply_dss_in_writer(
            writer,
            None,
            certs=[asn1_x509.Certificate.load(item) for item in job.validation.certificates],
            crls=[asn1_crl.CertificateList.load(item) for item in job.validation.crls],
        )
    metadata = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=f"Penerbitan dokumen nomor {job.content.number}",
        location="Indonesia",
        name=job.signer.name,
    )
    pdf_signer = signers.PdfSigner(
        metadata,
        signer,
        timestamper=timestamper,
        stamp_style=STAMP_STYLE,
        new_field_spec=fields.SigFieldSpec(FIELD_NAME, on_page=page, box=box),
    )
    output = await pdf_signer.async_sign_pdf(
        writer,
        # Counted in hex digits, two per byte of the CMS object.
        bytes_reserved=2 * cms_bytes,
        # ASCII only: the stamp's standard font has no glyphs beyond it.
        appearance_text_params={"signed_at": f"Waktu: {long_datetime(datetime.now(UTC))}"},
    )
    return output.getvalue()

