"""Routes of the officials registry (`/v1/officials`), `GET /v1/me`, and the services' internal
read of one official (`GET /internal/officials/{id}`). Thin: the work is in officials.py."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import JSONResponse, Response

from simpul.shared.openapi import problem
from simpul.gateway.runtime import Gateway
from simpul.gateway.schemas import (
    ActingOfficial,
    Me,
    OfficialChange,
    OfficialCreate,
    OfficialHistoryEntry,
    OfficialHistoryPage,
    OfficialPage,
    OfficialView,
)
from simpul.shared.identity import SERVICE_ROLE, AssertionRefused, Identity, require_roles
from simpul.shared.logs import security_event
from simpul.shared.pagination import page_params
from simpul.shared.problems import Problem, Text, request_language
from simpul.shared.requestid import current_request_id

router = APIRouter(tags=["officials"])

OFFICIAL_ID_PATH = Path(max_length=40, description="The official's id")
require_manager = require_roles("officer", "admin")
ERRORS = {
    401: problem("An access token is required"),
    403: problem("Not an officer or admin, or (registering) another unit named by an officer"),
    422: problem("Invalid input; `errors` names each field (nip, roles, unit, ...)"),
}
NOT_FOUND = {404: problem("No such official in the caller's unit")}
SERVICE_ONLY = Text("Hanya untuk layanan internal.", "For internal services only.")


def gateway_of(request: Request) -> Gateway:
    return request.app.state.gateway


@router.post("/v1/officials", status_code=201, response_model=OfficialView,
             responses={**ERRORS, 409: problem("The NIP is held by an active official of the unit, or the "
                                                   "Idempotency-Key was used with another body")},
             summary="Register an official of the unit (an officer for its own unit, an admin naming it)")
async def register_official(body: OfficialCreate, request: Request,
                            identity: Identity = Depends(require_manager)) -> Response:
    """Register an official (pejabat) of a unit by NIP, with the roles it acts in (e.g. signer). An officer
    registers officials of its own unit; an admin names the unit."""
    record = await gateway_of(request).officials.register(
        identity, unit=body.unit, nip=body.nip, name=body.name, position=body.position, roles=list(body.roles),
        email=body.email, request_id=current_request_id(), language=request_language(request),
    )
    return JSONResponse(OfficialView.of(record).model_dump(mode="json"), status_code=201,
                        headers={"Location": f"/v1/officials/{record.id}"})


@router.get("/v1/officials", response_model=OfficialPage, responses={**ERRORS, 400: problem("Malformed cursor")},
            summary="The unit's officials (admins: every unit's, or one unit's with `unit`)")
async def list_officials(
    request: Request,
    page: tuple[int, str | None] = Depends(page_params),
    unit: str | None = Query(None, max_length=64, description="Only this unit's officials"),
    active: bool | None = Query(None, description="Only active (true) or only deactivated (false) officials"),
    identity: Identity = Depends(require_manager),
) -> OfficialPage:
    """The officials of the caller's unit (admins: of every unit, or of one with `unit`), a page at a time."""
    limit, cursor = page
    records, next_cursor = await gateway_of(request).officials.list(identity, unit=unit, active=active,
                                                                    limit=limit, cursor=cursor)
    return OfficialPage(items=[OfficialView.of(record) for record in records], next_cursor=next_cursor)


@router.get("/v1/officials/{official_id}", response_model=OfficialView, responses={**ERRORS, **NOT_FOUND},
            summary="One official")
async def get_official(request: Request, official_id: str = OFFICIAL_ID_PATH,
                       identity: Identity = Depends(require_manager)) -> OfficialView:
    """One official of the caller's unit: NIP, name, position, roles, and whether it is active."""
    return OfficialView.of(await gateway_of(request).officials.get(identity, official_id))


@router.patch("/v1/officials/{official_id}", response_model=OfficialView,
              responses={**ERRORS, **NOT_FOUND, 409: problem("The official was deactivated")},
              summary="Change an official's name, position, roles or email")
async def change_official(body: OfficialChange, request: Request, official_id: str = OFFICIAL_ID_PATH,
                          identity: Identity = Depends(require_manager)) -> OfficialView:
    """Change an official's name, position, roles or email; only the fields sent change. Every change is in the
    official's history."""
    gateway = gateway_of(request)
    record = await gateway.officials.change(identity, official_id, body.changes(), request_id=current_request_id())
    gateway.official_changed(record)
    return OfficialView.of(record)


@router.delete("/v1/officials/{official_id}", status_code=204, responses={**ERRORS, **NOT_FOUND},
               summary="Deactivate an official (kept with its history); tokens acting as it stop working at once")
async def deactivate_official(request: Request, official_id: str = OFFICIAL_ID_PATH,
                              identity: Identity = Depends(require_manager)) -> Response:
    """Deactivate an official: kept with its history, but tokens acting as it stop working at once and it can't
    sign any more."""
    gateway = gateway_of(request)
    record = await gateway.officials.deactivate(identity, official_id, request_id=current_request_id())
    gateway.official_changed(record)
    return Response(status_code=204)


@router.get(
    "/v1/officials/{official_id}/history",
    operation_id="getOfficialHistory",
    response_model=OfficialHistoryPage,
    responses={**ERRORS, **NOT_FOUND, 400: problem("Malformed cursor")},
    summary="Every change of the official: who, when, which fields from what to what",
)
async def official_history(
    request: Request,
    official_id: str = OFFICIAL_ID_PATH,
    page: tuple[int, str | None] = Depends(page_params),
    identity: Identity = Depends(require_manager),
) -> OfficialHistoryPage:
    """Every change of the official, oldest first: who changed it, when, and which fields from what to what."""
    limit, cursor = page
    events, next_cursor = await gateway_of(request).officials.history(identity, official_id, limit=limit, cursor=cursor)
    return OfficialHistoryPage(items=[OfficialHistoryEntry.of(event) for event in events], next_cursor=next_cursor)


@router.get(
    "/v1/me",
    operation_id="getMe",
    response_model=Me,
    responses={401: problem("An access token is required")},
    tags=["identity"],
    summary="Who the access token is: client, role, unit or region, and the official",
)
async def me(identity: Identity = Depends(require_roles("applicant", "officer", "admin"))) -> Me:
    """Who the access token belongs to: the client, its role, its unit or region, and the official it acts as, if
    any."""
    official = identity.official
    return Me(
        client_id=identity.subject,
        role=identity.role,
        tenant=identity.tenant,
        name=identity.name,
        official=None if official is None else ActingOfficial(**official.claims()),
    )


@router.get("/internal/officials/{official_id}", response_model=OfficialView, include_in_schema=False)
async def internal_official(request: Request, official_id: str = OFFICIAL_ID_PATH) -> OfficialView:
    """For the services (a service token, as for any /internal call): one official, active or
    not, whatever its unit; the caller checks the unit and the roles it needs."""
    gateway = gateway_of(request)
    token = request.headers.get("x-simpul-assertion")
    try:
        caller = await gateway.service_tokens.verify(token or "")
        if caller.role != SERVICE_ROLE:
            raise AssertionRefused("not a service")
    except AssertionRefused as exc:
        security_event("assertion_refused", str(exc), request.scope)
        raise Problem(401, SERVICE_ONLY, slug="unauthenticated") from exc
    record = await gateway.officials.find(official_id)
    if record is None:
        raise Problem(404, Text("Pejabat tidak ditemukan.", "The official was not found."), slug="official-not-found")
    return OfficialView.of(record)
