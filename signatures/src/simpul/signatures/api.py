"""Routes of the signatures service: HTTP in and out, the work is in service.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from python_multipart.multipart import parse_options_header
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import HTMLResponse, Response, StreamingResponse

from simpul.shared.identity import Identity, require_roles
from simpul.shared.negotiation import preferred
from simpul.shared.openapi import (
    ETAG_HEADER,
    IF_NONE_MATCH_PARAMETER,
    file_answer,
    json_answer,
    problems,
    upload_body,
)
from simpul.shared.pagination import page_params
from simpul.shared.pages import page_language
from simpul.shared.problems import Problem, Text
from simpul.signatures import pages, pki
from simpul.signatures.keystore import DevelopmentKeystore, ProductionKeystore
from simpul.signatures.schemas import (
    DocumentHistory,
    DocumentStatus,
    DocumentMetadata,
    IssueRequest,
    RevokeRequest,
    RevokeSignerRequest,
    SignerCertificate,
    SignerPage,
    UploadCheck,
)
from simpul.signatures.service import DocumentService
from simpul.signatures.tsa import CONTENT_TYPE as TSQ_CONTENT_TYPE
from simpul.signatures.tsa import MAX_REQUEST_BYTES as TSQ_MAX_BYTES
from simpul.signatures.tsa import REPLY_CONTENT_TYPE

router = APIRouter()

JSON = "application/json"
TOO_LARGE = Text("Berkas lebih besar dari {limit} byte.", "The file is larger than {limit} bytes.")
# The upload route: a PDF streams in under its own bound (app.py exempts it from the JSON bound).
VERIFY_UPLOAD_PATH = "/v1/verify"
NEED_MULTIPART = Text("Kirim berkas sebagai multipart/form-data dengan field `file`.",
                      "Send the file as multipart/form-data with a `file` field.")
NEED_FILE = Text("Field `file` wajib diisi.", "The `file` field is required.")
BAD_MULTIPART = Text("Isi multipart tidak dapat dibaca.", "The multipart body cannot be read.")
BAD_TSQ = Text("Permintaan cap waktu harus berjenis application/timestamp-query.",
               "A timestamp request must be application/timestamp-query.")
NO_TSA = Text("Layanan ini tidak menjalankan otoritas cap waktu.", "This service runs no timestamp authority.")
NO_CRL = Text("CRL diterbitkan oleh CA produksi, bukan oleh layanan ini.",
              "The CRL is published by the production CA, not by this service.")

service_only = require_roles("service")
admin_only = require_roles("admin")
signed_in = require_roles("applicant", "officer", "admin")
# Which officer may revoke which document is the service's rule (the issuing unit's): an applicant never.
revokers = require_roles("officer", "admin")


def documents_of(request: Request) -> DocumentService:
    """The use cases `create_app` built once; a plain call rather than a dependency, on hot paths."""
    return request.app.state.documents


def keystore_of(request: Request) -> DevelopmentKeystore | ProductionKeystore:
    return request.app.state.keystore


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def wants_html(request: Request) -> bool:
    """True when the client prefers HTML to JSON (a browser), judged by Accept q-values."""
    offers = {"json": (JSON, "application/*"), "html": ("text/html", "application/xhtml+xml")}
    return preferred(request.headers.get("accept"), offers, "json") == "html"


# -- internal -------------------------------------------------------------------------------------


@router.post("/internal/tsa", include_in_schema=False)
async def timestamp(request: Request, _: Identity = Depends(service_only)) -> Response:
    tsa = getattr(keystore_of(request), "tsa", None)
    if tsa is None:
        raise Problem(404, NO_TSA, slug="no-tsa")
    if request.headers.get("content-type", "").split(";")[0].strip() != TSQ_CONTENT_TYPE:
        raise Problem(415, BAD_TSQ)
    body = await _read_limited(request, TSQ_MAX_BYTES)
    return Response(tsa.respond(body), media_type=REPLY_CONTENT_TYPE)


@router.post("/internal/documents", include_in_schema=False)
async def issue_document(body: IssueRequest, request: Request, identity: Identity = Depends(service_only)) -> Response:
    issued = await documents_of(request).issue(body, identity)
    location = {"Location": f"/v1/documents/{issued.document['document_id']}"}
    return json_response(issued.document, 201 if issued.created else 200, location)


@router.post("/internal/documents/{document_id}/revoke", include_in_schema=False)
async def revoke_internally(document_id: str, body: RevokeRequest, request: Request,
                            identity: Identity = Depends(service_only)) -> Response:
    return json_response(await documents_of(request).revoke(document_id, body.reason, identity))


# -- documents ------------------------------------------------------------------------------------


@router.get("/v1/documents/{document_id}", tags=["documents"], summary="Metadata of an issued document",
            responses={200: json_answer(DocumentMetadata, "The document's metadata"), **problems(404)})
async def get_document(document_id: str, request: Request, identity: Identity = Depends(signed_in)) -> Response:
    """The metadata of an issued document: number, submission, service, issuer, dates and status (valid or
    revoked)."""
    return json_response(await documents_of(request).get(document_id, identity))


@router.get(
    "/v1/documents/{document_id}/content",
    operation_id="getDocumentContent",
    tags=["documents"],
    summary="The signed PDF",
    response_class=Response,
    responses={200: {**file_answer("application/pdf", "The signed PDF"), "headers": ETAG_HEADER},
               304: {"description": "Not modified"}, **problems(404)},
    openapi_extra={"parameters": [IF_NONE_MATCH_PARAMETER]},
)
async def get_content(document_id: str, request: Request, identity: Identity = Depends(signed_in)) -> Response:
    """The signed PDF of an issued document (PAdES, with the certificate chain and a timestamp), as
    application/pdf."""
    service = documents_of(request)
    row = await service.content(document_id, identity)
    etag = f'"{row["sha256"]}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "private, max-age=3600",
        "Content-Disposition": f'inline; filename="{_filename(row["number"])}.pdf"',
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    headers["Content-Length"] = str(row["size"])
    return StreamingResponse(await service.store.open(row["sha256"]), media_type="application/pdf", headers=headers)


@router.get(
    "/v1/documents/{document_id}/history",
    operation_id="getDocumentHistory",
    tags=["documents"],
    summary="Audit trail of a document",
    responses={200: json_answer(DocumentHistory, "Its events, oldest first"), **problems(404)},
)
async def get_history(document_id: str, request: Request, identity: Identity = Depends(signed_in)) -> Response:
    """The document's audit trail: issued, revoked, by whom and when."""
    return json_response({"items": await documents_of(request).history(document_id, identity)})


@router.post(
    "/v1/documents/{document_id}/revoke",
    tags=["documents"],
    summary="Revoke an issued document",
    responses={200: json_answer(DocumentMetadata, "The revoked document"), **problems(404, s409="Already revoked")},
)
async def revoke_document(
    document_id: str, body: RevokeRequest, request: Request, identity: Identity = Depends(revokers)
) -> Response:
    """Revoke an issued document with a reason; verification answers `valid: false` from then on."""
    return json_response(await documents_of(request).revoke(document_id, body.reason, identity))


# -- public verification --------------------------------------------------------------------------


@router.get(
    "/v1/verify/{document_id}",
    tags=["verification"],
    summary="Public status of a document",
    responses={200: json_answer(DocumentStatus, "The public status", html=True), **problems(404)},
)
async def verify_document(document_id: str, request: Request) -> Response:
    """Anyone checks an issued document by its id (the QR code on the PDF points here): valid or revoked, issued
    when and by whom. An HTML page for browsers."""
    status = await documents_of(request).public_status(document_id)
    if wants_html(request):
        return HTMLResponse(
            pages.document_page(status, page_language(request), request.url.path),
            status_code=200 if status else 404,
            headers=_page_headers(),
        )
    if status is None:
        raise Problem(404, Text("Dokumen tidak dikenal.", "Unknown document."))
    return json_response(status, headers={"Cache-Control": "no-store"})


@router.post(
    VERIFY_UPLOAD_PATH,
    tags=["verification"],
    summary="Check an uploaded PDF",
    responses={200: json_answer(UploadCheck, "What the check found", html=True), **problems(413, 415, 503)},
    openapi_extra=upload_body("The PDF to check"),
)
async def verify_upload(request: Request) -> Response:
    """Anyone checks a PDF by uploading it (multipart `file`): whether its signature is intact, chains to Simpul's
    root and belongs to a document that was issued and not revoked."""
    data = await _read_upload(request, request.app.state.settings.verify_max_bytes)
    result = await documents_of(request).verify_upload(data)
    if wants_html(request):
        return HTMLResponse(pages.check_page(result, page_language(request)), headers=_page_headers())
    return json_response(result, headers={"Cache-Control": "no-store"})


def _page_headers() -> dict[str, str]:
    # No script, no framing, no outside resources: the page is inert by construction.
    return {
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


# -- PKI ------------------------------------------------------------------------------------------


@router.get(
    "/v1/pki/ca",
    operation_id="getRootCertificate",
    tags=["pki"],
    summary="The root certificate (PEM)",
    response_class=Response,
    responses={200: file_answer("application/x-pem-file", "The root certificate(s), PEM")},
)
async def root_certificate(request: Request) -> Response:
    """The root certificate every issued document chains to, PEM, for verifiers to trust."""
    body = b"".join(pki.pem(root) for root in keystore_of(request).trust_roots())
    return Response(
        body,
        media_type="application/x-pem-file",
        headers={
            "Content-Disposition": 'inline; filename="simpul-root-ca.pem"',
            "Cache-Control": "public, max-age=86400",
        },
    )


@router.get(
    "/v1/pki/issuing-ca",
    operation_id="getIssuingCertificate",
    tags=["pki"],
    summary="The issuing CA certificate (DER)",
    response_class=Response,
    responses={
        200: file_answer("application/pkix-cert", "The issuing CA certificate, DER"),
        **problems(s404="Production keys: no issuing CA of ours"),
    },
)
async def issuing_certificate(request: Request) -> Response:
    """The issuing CA certificate, DER."""
    keystore = keystore_of(request)
    if keystore.production:
        raise Problem(404, NO_CRL)
    return Response(
        pki.der(keystore.issuing),
        media_type="application/pkix-cert",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get(
    "/v1/pki/crl",
    operation_id="getRevocationList",
    tags=["pki"],
    summary="The current certificate revocation list (DER)",
    response_class=Response,
    responses={
        200: file_answer("application/pkix-crl", "The CRL, DER"),
        **problems(s404="Production keys: no CRL of ours"),
    },
)
async def revocation_list(request: Request) -> Response:
    """The current certificate revocation list of the issuing CA, DER."""
    keystore = keystore_of(request)
    if keystore.production:
        raise Problem(404, NO_CRL)
    _, next_update, der = await keystore.crl()
    return Response(
        der,
        media_type="application/pkix-crl",
        headers={"Cache-Control": "public, max-age=300", "Expires": next_update.strftime("%a, %d %b %Y %H:%M:%S GMT")},
    )


@router.get(
    "/v1/signers",
    tags=["pki"],
    summary="Certificates held by the service (admin)",
    responses={200: json_answer(SignerPage, "A page of certificates"), **problems(400)},
)
async def list_signers(
    request: Request, page: tuple[int, str | None] = Depends(page_params), _: Identity = Depends(admin_only)
) -> Response:
    """The units' signer certificates the service holds, with their status, a page at a time."""
    limit, cursor = page
    return json_response(await documents_of(request).list_certificates(limit, cursor))


@router.post(
    "/v1/signers/{certificate_id}/revoke",
    tags=["pki"],
    summary="Revoke a unit's signer certificate (admin)",
    responses={200: json_answer(SignerCertificate, "The revoked certificate"), **problems(404, 409)},
)
async def revoke_signer(
    certificate_id: str, body: RevokeSignerRequest, request: Request, identity: Identity = Depends(admin_only)
) -> Response:
    """Revoke a unit's signer certificate (e.g. a compromised key); the next document of the unit gets a new one."""
    return json_response(await documents_of(request).revoke_signer(certificate_id, body.reason, identity))


# -- request bodies -------------------------------------------------------------------------------


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Problem(413, TOO_LARGE, params={"limit": limit})
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Problem(413, TOO_LARGE, params={"limit": limit})
    return bytes(body)


# Multipart framing (boundaries, part headers) on top of the file itself.
_MULTIPART_OVERHEAD = 16 * 1024


async def _read_upload(request: Request, limit: int) -> bytes:
    """The `file` part of a multipart body, refused with 413 as soon as it passes `limit`."""
    content_type, _ = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise Problem(415, NEED_MULTIPART)
    ceiling = limit + _MULTIPART_OVERHEAD
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > ceiling:
        raise Problem(413, TOO_LARGE, params={"limit": limit})

    async def bounded() -> AsyncIterator[bytes]:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > ceiling:
                raise Problem(413, TOO_LARGE, params={"limit": limit})
            yield chunk

    parser = MultiPartParser(Headers(scope=request.scope), bounded(), max_files=1, max_fields=10)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise Problem(400, BAD_MULTIPART, slug="bad-multipart") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Problem(422, NEED_FILE, errors=[{"field": "file", "message": "required"}])
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise Problem(413, TOO_LARGE, params={"limit": limit})
        return data
    finally:
        await form.close()


def _filename(number: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", number).strip("-") or "document"
