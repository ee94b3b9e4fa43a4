"""Routes of the catalogue: thin, HTTP in and out. The use cases live in service.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from simpul.shared.identity import Identity, current_identity, require_roles
from simpul.shared.negotiation import preferred
from simpul.shared.openapi import ETAG_HEADER, IF_NONE_MATCH_PARAMETER, OPTIONAL_TOKEN, problem
from simpul.shared.pages import HTML_OFFERS, wants_html
from simpul.shared.pagination import page_params
from simpul.shared.problems import Problem, request_language

from simpul.catalog import cpsv, pages
from simpul.catalog.documents import Listing, Served, service_path
from simpul.catalog.schemas import (
    CATEGORY_PATTERN,
    NO_NUL,
    UNIT_PATTERN,
    ServiceHistoryPage,
    ServiceCreate,
    ServiceDocument,
    ServicePage,
    ServiceRevision,
    ServiceStatus,
    VersionPage,
)
from simpul.catalog.service import Catalogue

# Public data: shared caches may keep it briefly; clients revalidate with the ETag after that.
# (Admins' answers, drafts among them, are no-store: simpul.shared.nostore.)
PUBLIC_CACHE = "public, max-age=60"
# Browsers get HTML at the same URLs (pages.py): caches keep the two apart.
VARY = "Accept, Accept-Language"

def _ok(model: type, description: str) -> dict[str, Any]:
    """A service standard's answer: with the ETag of its version (If-None-Match on reads)."""
    return {"model": model, "description": description, "headers": ETAG_HEADER}


def _ok_or_page(model: type, description: str) -> dict[str, Any]:
    """JSON, or the page a browser asks for with Accept: text/html (pages.py)."""
    return {**_ok(model, description), "content": {"text/html": {"schema": {"type": "string"}}}}


UNAUTHORISED = {401: problem("An admin access token is required"), 403: problem("The caller is not an admin")}
NOT_FOUND = {404: problem("No such service (drafts are hidden from non-admins)")}
INVALID = {422: problem("Invalid input; `errors` names each field")}
TOO_LARGE_BODY = {413: problem("The body is larger than SIMPUL_MAX_JSON_BYTES (1 MiB by default)")}
CONFLICT = {409: problem("The service's state does not allow this, or the code exists")}
BAD_CURSOR = {400: problem("Malformed cursor")}

router = APIRouter(prefix="/v1/services", tags=["catalogue"])
admin_only = require_roles("admin")


def catalogue_of(request: Request) -> Catalogue:
    """The Catalogue create_app built; a plain call, not a dependency, on these hot paths."""
    return request.app.state.catalogue


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2), as If-None-Match asks for."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(candidate.strip().removeprefix("W/") == etag for candidate in if_none_match.split(","))


def document_response(request: Request, served: Served) -> Response:
    headers = {"ETag": served.etag, "Cache-Control": PUBLIC_CACHE, "Vary": VARY}
    if etag_matches(request.headers.get("if-none-match"), served.etag):
        return Response(status_code=304, headers=headers)
    return Response(served.body, media_type="application/json", headers=headers)


def linked_data_response(request: Request, served: Served) -> Response:
    """The CPSV-AP JSON-LD of a standard, with an ETag of its own (another representation)."""
    etag = served.etag[:-1] + '-ld"' if served.etag.endswith('"') else served.etag + "-ld"
    headers = {"ETag": etag, "Cache-Control": PUBLIC_CACHE, "Vary": VARY}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    document = cpsv.public_service(orjson.loads(served.body), request.app.state.settings.public_url)
    return Response(orjson.dumps(document), media_type=cpsv.CONTENT_TYPE, headers=headers)


def written_response(served: Served, status_code: int = 200, location: str | None = None) -> Response:
    headers = {"ETag": served.etag}
    if location is not None:
        headers["Location"] = location
    return Response(served.body, status_code=status_code, media_type="application/json", headers=headers)


def listing_response(listing: Listing, headers: dict[str, str] | None = None) -> Response:
    body = b'{"items":[' + b",".join(listing.items) + b'],"next_cursor":' + orjson.dumps(listing.next_cursor) + b"}"
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "",
    summary="List services",
    description="Published services, ordered by code. Admins see every status and may filter by `status`.",
    response_model=None,
    responses={200: _ok_or_page(ServicePage, "A page of services"), **BAD_CURSOR, **UNAUTHORISED, **INVALID},
    openapi_extra=OPTIONAL_TOKEN,
)
async def list_services(
    request: Request,
    unit: str | None = Query(None, pattern=UNIT_PATTERN, description="Owning unit, e.g. KDN-BH"),
    category: str | None = Query(None, pattern=CATEGORY_PATTERN),
    q: str | None = Query(None, max_length=100, pattern=NO_NUL, description="Text in the code, name or description"),
    status: ServiceStatus | None = Query(None, description="Admins only, except `published`"),
    page: tuple[int, str | None] = Depends(page_params),
) -> Response:
    limit, cursor = page
    catalogue = catalogue_of(request)
    identity = current_identity(request)
    listing = await catalogue.list_services(
        identity, limit=limit, cursor=cursor, unit=unit, category=category, q=q, status=status
    )
    if not wants_html(request):
        return listing_response(listing, {"Vary": VARY})
    # The filters offer the units and categories of what is published (one page of the largest size).
    everything = await catalogue.list_services(identity, limit=200, cursor=None, unit=None, category=None, q=None,
                                               status=None)
    offered = [orjson.loads(item) for item in everything.items]
    next_url = None
    if listing.next_cursor:
        query = {key: value for key, value in request.query_params.items() if key != "cursor"}
        next_url = "/v1/services?" + urlencode({**query, "cursor": listing.next_cursor})
    return pages.pages.render(
        request,
        "catalogue_list.html",
        services=[orjson.loads(item) for item in listing.items],
        filters={"q": q, "unit": unit, "category": category},
        units=sorted({service["unit"] for service in offered}),
        categories=sorted({service["category"] for service in offered}),
        next_url=next_url,
    )


@router.post(
    "",
    status_code=201,
    summary="Create a service (draft, version 1)",
    response_model=None,
    responses={201: _ok(ServiceDocument, "The new draft"), **UNAUTHORISED, **CONFLICT, **INVALID, **TOO_LARGE_BODY},
)
async def create_service(request: Request, body: ServiceCreate, actor: Identity = Depends(admin_only)) -> Response:
    """Create a service standard as a draft, version 1: form schema, requirements, cost, processing time, channels,
    legal basis and outputs. Drafts are visible to admins only until published."""
    served = await catalogue_of(request).create(actor, body, request_language(request))
    return written_response(served, 201, service_path(body.code))


# A standard is offered as plain JSON (the default), CPSV-AP JSON-LD, or a page.
SERVICE_OFFERS = {"json": HTML_OFFERS["json"], "jsonld": (cpsv.CONTENT_TYPE,), "html": HTML_OFFERS["html"]}
_JSON_LD_EXAMPLE = {
    "@context": {"cpsv": cpsv.CPSV, "cv": cpsv.CV, "PublicService": "cpsv:PublicService", "...": "..."},
    "@id": "http://127.0.0.1:8000/v1/services/IZIN-LN-KDH",
    "@type": "PublicService",
    "identifier": "IZIN-LN-KDH",
    "processingTime": "P5D",
    "hasCost": [{"@type": "Cost", "value": "0", "currency": cpsv.CURRENCY_IDR}],
}


@router.get(
    "/{code}",
    summary="The current version of a service standard",
    description=(
        "The service standard as JSON (the default). `Accept: application/ld+json` gives it as a CPSV-AP 3.2.0 "
        "`PublicService` in JSON-LD (requirements as `Evidence`, the fee as `Cost`, the processing time, channels, "
        "competent authority, legal resources and output) with its context embedded; `Accept: text/html` a page."
    ),
    response_model=None,
    responses={
        200: {
            **_ok_or_page(ServiceDocument, "The service standard"),
            "content": {
                "text/html": {"schema": {"type": "string"}},
                cpsv.CONTENT_TYPE: {"schema": {"type": "object"}, "example": _JSON_LD_EXAMPLE},
            },
        },
        304: {"description": "Not modified"},
        **NOT_FOUND,
    },
    openapi_extra={**OPTIONAL_TOKEN, "parameters": [IF_NONE_MATCH_PARAMETER]},
)
async def get_service(request: Request, code: str) -> Response:
    offered = preferred(request.headers.get("accept"), SERVICE_OFFERS, "json")
    if offered == "jsonld":
        served = await catalogue_of(request).current(current_identity(request), code)
        return linked_data_response(request, served)
    if offered != "html":
        return document_response(request, await catalogue_of(request).current(current_identity(request), code))
    try:
        served = await catalogue_of(request).current(current_identity(request), code)
    except Problem as refused:
        if refused.status == 404:
            return pages.pages.not_found(request)
        raise
    return pages.pages.render(request, "catalogue_service.html", service=orjson.loads(served.body))


@router.put(
    "/{code}",
    summary="Revise a service",
    description="A draft is replaced in place; a published service gets a new version, current at once.",
    response_model=None,
    responses={
        200: _ok(ServiceDocument, "The current version"),
        **UNAUTHORISED,
        **NOT_FOUND,
        **CONFLICT,
        **INVALID,
        **TOO_LARGE_BODY,
    },
)
async def revise_service(
    request: Request, code: str, body: ServiceRevision, actor: Identity = Depends(admin_only)
) -> Response:
    served = await catalogue_of(request).revise(actor, code, body, request_language(request))
    return written_response(served)


@router.post(
    "/{code}/publish",
    summary="Publish a draft",
    response_model=None,
    responses={200: _ok(ServiceDocument, "The published version"), **UNAUTHORISED, **NOT_FOUND, **CONFLICT},
)
async def publish_service(request: Request, code: str, actor: Identity = Depends(admin_only)) -> Response:
    """Publish a draft: it becomes visible to everyone and open for submissions."""
    return written_response(await catalogue_of(request).publish(actor, code))


@router.post(
    "/{code}/retire",
    summary="Retire a published service",
    response_model=None,
    responses={200: _ok(ServiceDocument, "The retired version"), **UNAUTHORISED, **NOT_FOUND, **CONFLICT},
)
async def retire_service(request: Request, code: str, actor: Identity = Depends(admin_only)) -> Response:
    """Retire a published service: no new submissions; the ones in progress go on."""
    return written_response(await catalogue_of(request).retire(actor, code))


@router.get(
    "/{code}/versions",
    operation_id="listServiceVersions",
    summary="Every version of a service",
    response_model=None,
    responses={200: _ok(VersionPage, "A page of versions, oldest first"), **BAD_CURSOR, **NOT_FOUND, **INVALID},
    openapi_extra=OPTIONAL_TOKEN,
)
async def list_versions(
    request: Request, code: str, page: tuple[int, str | None] = Depends(page_params)
) -> Response:
    """Every version of a service standard, oldest first, a page at a time."""
    limit, cursor = page
    listing = await catalogue_of(request).list_versions(current_identity(request), code, limit=limit, cursor=cursor)
    return listing_response(listing)


@router.get(
    "/{code}/versions/{version}",
    operation_id="getServiceVersion",
    summary="One version of a service standard",
    response_model=None,
    responses={
        200: _ok(ServiceDocument, "The service standard as it was in that version"),
        304: {"description": "Not modified"},
        **NOT_FOUND,
        **INVALID,
    },
    openapi_extra={**OPTIONAL_TOKEN, "parameters": [IF_NONE_MATCH_PARAMETER]},
)
async def get_version(request: Request, code: str, version: int = Path(ge=1, le=2_147_483_647)) -> Response:
    """One version of a service standard, as it was when it was current; submissions name the version they were
    made under."""
    served = await catalogue_of(request).version(current_identity(request), code, version)
    return document_response(request, served)


@router.get(
    "/{code}/history",
    operation_id="getServiceHistory",
    summary="Who created, revised, published and retired the service, and when",
    response_model=None,
    responses={
        200: _ok(ServiceHistoryPage, "A page of changes, oldest first"),
        **BAD_CURSOR,
        **UNAUTHORISED,
        **NOT_FOUND,
    },
)
async def service_history(
    request: Request,
    code: str,
    page: tuple[int, str | None] = Depends(page_params),
    actor: Identity = Depends(admin_only),
) -> Response:
    """The service's audit trail: who created, revised, published and retired it, and when, oldest first."""
    limit, cursor = page
    return listing_response(await catalogue_of(request).history(actor, code, limit=limit, cursor=cursor))
