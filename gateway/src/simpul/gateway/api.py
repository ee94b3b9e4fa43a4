"""The gateway's own routes: token, JWKS, API clients, OpenAPI, docs, health. Thin: the work is in
oauth.py, clients.py and openapi.py."""

from __future__ import annotations

from typing import Literal

import orjson

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from simpul.gateway import docs as docs_pages
from simpul.gateway.datasubjects import DataSubjects
from simpul.gateway.oauth import FORM_TYPE, NO_STORE, OAuthError, grant
from simpul.gateway.openapi import OpenApiAggregator
from simpul.gateway.runtime import Gateway
from simpul.gateway.schemas import (
    Client,
    ClientCreate,
    ClientHistoryEntry,
    ClientHistoryPage,
    ClientPage,
    CreatedClient,
    DataSubjectExport,
    Jwks,
    Role,
    TokenResponse,
)
from simpul.shared.datasubject import subject_email
from simpul.shared.identity import Identity, require_roles
from simpul.shared.pagination import page_params
from simpul.shared.openapi import PROBLEM_REF, problem
from simpul.shared.problems import PROBLEM_CONTENT_TYPE, Problem, Text, problem_response, request_language
from simpul.shared.requestid import current_request_id

router = APIRouter()

# RFC 6749 §5.2's members on top of the Problem every error is.
OAUTH_PROBLEM_SCHEMA = {
    "allOf": [
        {"$ref": PROBLEM_REF},
        {
            "type": "object",
            "required": ["error", "error_description"],
            "properties": {
                "error": {"type": "string", "enum": ["invalid_request", "invalid_client", "unsupported_grant_type",
                                                     "temporarily_unavailable"]},
                "error_description": {"type": "string"},
            },
        },
    ],
}


def oauth_problem(description: str) -> dict:
    return {"description": description, "content": {PROBLEM_CONTENT_TYPE: {"schema": OAUTH_PROBLEM_SCHEMA}}}


TOKEN_ERRORS = {
    400: oauth_problem("RFC 6749 invalid_request or unsupported_grant_type"),
    401: oauth_problem("RFC 6749 invalid_client: unknown client, wrong secret or revoked"),
    429: oauth_problem("Too many failed attempts for this client or from this address: `temporarily_unavailable`, "
                       "retry after `Retry-After` seconds"),
}
ADMIN_ONLY = {401: problem("An access token is required"), 403: problem("The caller is not an admin")}
INVALID = {422: problem("Invalid input; `errors` names each field")}
BAD_CURSOR = {400: problem("Malformed cursor")}
NOT_FOUND = {404: problem("No such client")}
CREATE_ERRORS = {
    400: problem("Malformed JSON or Idempotency-Key"),
    409: problem("The Idempotency-Key was used with another body, or is still in progress"),
}
CLIENT_ID_PATH = Path(max_length=64, description="The client's id")
require_admin = require_roles("admin")
NO_SUCH_ASSET = Text("Berkas dokumentasi ini tidak ada.", "There is no such documentation file.")
REVOKED = Text("Klien ini telah dicabut.", "This client was revoked.")
NOT_READY = Text("Gateway belum siap.", "The gateway is not ready.")

TOKEN_REQUEST = {
    "requestBody": {
        "required": True,
        "content": {
            FORM_TYPE: {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "client_id": {"type": "string", "description": "unless sent with HTTP Basic"},
                        "client_secret": {"type": "string", "description": "unless sent with HTTP Basic"},
                        "official": {"type": "string", "pattern": "^[0-9]{18}$",
                                     "description": "officer clients: the NIP of an active official of the "
                                                    "unit the token is to act as"},
                    },
                },
                "example": {"grant_type": "client_credentials", "client_id": "c-4f1d2a9b7e3c",
                            "client_secret": "s3cr3t-shown-once-at-creation"},
            }
        },
    },
    # No bearer token: the client authenticates with its credentials in the body or as HTTP Basic
    # (RFC 6749 §2.3.1). The oauth2 scheme's clientCredentials flow names this as its tokenUrl.
    "security": [],
}


def gateway_of(request: Request) -> Gateway:
    """The Gateway create_app built (clients, registry, tokens, keys); a plain call, not a dependency."""
    return request.app.state.gateway


def openapi_of(request: Request) -> OpenApiAggregator:
    """The merged OpenAPI document create_app set up."""
    return request.app.state.openapi


@router.post(
    "/v1/oauth/token",
    operation_id="createToken",
    response_model=TokenResponse,
    responses=TOKEN_ERRORS,
    openapi_extra=TOKEN_REQUEST,
    tags=["identity"],
    summary="An access token for a client (OAuth 2.0 client credentials)",
)
async def token(request: Request) -> Response:
    """Exchange a client's id and secret for a short-lived access token (OAuth 2.0 client credentials, RFC 6749
    §4.4): form-encoded, the credentials in the body or as HTTP Basic. Officer clients may name the official
    (NIP) the token acts as. Failures are RFC 6749 errors inside a problem document."""
    gateway = gateway_of(request)
    try:
        issued = await grant(
            gateway.clients,
            gateway.officials,
            gateway.registry,
            gateway.tokens,
            gateway.token_failures,
            address=request.client.host if request.client else "-",
            content_type=request.headers.get("content-type"),
            body=await request.body(),
            authorization=request.headers.get("authorization"),
        )
    except OAuthError as exc:
        return exc.response(request_language(request))
    return JSONResponse(issued.body(), headers=NO_STORE)


@router.get(
    "/.well-known/jwks.json",
    operation_id="getJwks",
    response_model=Jwks,
    tags=["identity"],
    summary="Keys that verify access tokens",
    openapi_extra={"security": []},
)
async def jwks(request: Request) -> Response:
    """The public keys (JWKS) that verify the gateway's access tokens, for services and clients that check tokens
    themselves. Cacheable for five minutes."""
    return Response(
        gateway_of(request).keyring.jwks,
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.post(
    "/v1/admin/clients",
    status_code=201,
    response_model=CreatedClient,
    responses={**ADMIN_ONLY, **CREATE_ERRORS, **INVALID},
    tags=["admin"],
    summary="Create an API client; its secret is shown this once",
)
async def create_client(body: ClientCreate, request: Request, admin: Identity = Depends(require_admin)) -> Response:
    """Create an API client for an applicant region, an officer unit or an admin. The answer holds the client's
    secret: it is shown this once and stored only hashed."""
    gateway = gateway_of(request)
    record, secret = await gateway.clients.create(
        name=body.name,
        role=body.role,
        tenant=body.tenant,
        actor=admin.subject,
        request_id=current_request_id(),
        language=request_language(request),
    )
    gateway.registry.remember(record)
    created = CreatedClient(**Client.of(record).model_dump(), client_secret=secret)
    return JSONResponse(
        created.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/v1/admin/clients/{record.client_id}", **NO_STORE},
    )


@router.get(
    "/v1/admin/clients",
    response_model=ClientPage,
    responses={**BAD_CURSOR, **ADMIN_ONLY, **INVALID},
    tags=["admin"],
    summary="List API clients (never their secrets)",
)
async def list_clients(
    request: Request,
    page: tuple[int, str | None] = Depends(page_params),
    role: Role | None = Query(None, description="Only clients with this role"),
    status: Literal["active", "revoked"] | None = Query(None, description="Only active or only revoked clients"),
    _admin: Identity = Depends(require_admin),
) -> ClientPage:
    """Every API client, oldest first, a page at a time (`cursor` from `next_cursor`). Secrets are never shown."""
    limit, cursor = page
    revoked = None if status is None else status == "revoked"
    records, next_cursor = await gateway_of(request).clients.list(
        limit=limit, cursor=cursor, role=role, revoked=revoked
    )
    return ClientPage(items=[Client.of(record) for record in records], next_cursor=next_cursor)


@router.get(
    "/v1/admin/clients/{client_id}",
    response_model=Client,
    responses={**ADMIN_ONLY, **NOT_FOUND, **INVALID},
    tags=["admin"],
    summary="One API client",
)
async def get_client(
    request: Request, client_id: str = CLIENT_ID_PATH, _admin: Identity = Depends(require_admin)
) -> Client:
    """One API client by its id: name, role, tenant, and when it was created or revoked."""
    return Client.of(await gateway_of(request).clients.get(client_id))


@router.get(
    "/v1/admin/clients/{client_id}/history",
    operation_id="getClientHistory",
    response_model=ClientHistoryPage,
    responses={**BAD_CURSOR, **ADMIN_ONLY, **NOT_FOUND, **INVALID},
    tags=["admin"],
    summary="Who created or revoked the client, and when",
)
async def client_history(
    request: Request,
    client_id: str = CLIENT_ID_PATH,
    page: tuple[int, str | None] = Depends(page_params),
    _admin: Identity = Depends(require_admin),
) -> ClientHistoryPage:
    """The client's audit trail: who created or revoked it and when, oldest first."""
    limit, cursor = page
    events, next_cursor = await gateway_of(request).clients.history(client_id, limit=limit, cursor=cursor)
    return ClientHistoryPage(items=[ClientHistoryEntry.of(event) for event in events], next_cursor=next_cursor)


@router.delete(
    "/v1/admin/clients/{client_id}",
    status_code=204,
    responses={**ADMIN_ONLY, **NOT_FOUND, **INVALID, 409: problem("The bootstrap admin can't be revoked")},
    tags=["admin"],
    summary="Revoke an API client; its tokens stop working at once, its webhooks are disabled",
)
async def revoke_client(
    request: Request, client_id: str = CLIENT_ID_PATH, admin: Identity = Depends(require_admin)
) -> Response:
    """Revoke an API client: its tokens stop working at once on every gateway replica and its webhooks are
    disabled. The bootstrap admin can't be revoked."""
    gateway = gateway_of(request)
    await gateway.clients.revoke(client_id, actor=admin.subject, request_id=current_request_id())
    await gateway.revoked(client_id)
    return Response(status_code=204)


@router.get(
    "/v1/admin/data-subjects/{email}",
    operation_id="getDataSubject",
    response_model=DataSubjectExport,
    responses={**ADMIN_ONLY, **INVALID, 503: problem("A service holding personal data is unavailable")},
    tags=["admin"],
    summary="Everything held about one applicant email, and who read it when (UU 27/2022)",
)
async def data_subject(
    request: Request,
    email: str = Path(max_length=400, description="The applicant's email, as given in its submissions"),
    admin: Identity = Depends(require_admin),
) -> Response:
    """A data subject's access request (UU 27/2022 on personal data protection): every submission, complaint and
    notification held for one applicant email across the services, and who read them when."""
    gateway = gateway_of(request)
    checked = subject_email(email, request_language(request))
    view = gateway.registry.get(admin.subject) or await gateway.registry.resolve(admin.subject)
    if view is None:  # revoked while this request was under way
        raise Problem(401, REVOKED, slug="invalid-token")
    exported = await DataSubjects(gateway).export(view, checked)
    return Response(orjson.dumps(exported), media_type="application/json")


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> Response:
    return Response(await openapi_of(request).document(), media_type="application/json")


@router.get("/", include_in_schema=False)
async def home() -> Response:
    return RedirectResponse("/docs", status_code=302)


@router.get("/docs", include_in_schema=False)
async def swagger_ui() -> HTMLResponse:
    return HTMLResponse(docs_pages.SWAGGER_PAGE, headers=docs_pages.PAGE_HEADERS)


@router.get("/redoc", include_in_schema=False)
async def redoc() -> HTMLResponse:
    return HTMLResponse(docs_pages.REDOC_PAGE, headers=docs_pages.PAGE_HEADERS)


@router.get(docs_pages.ASSETS_PATH + "/{name}", include_in_schema=False)
async def docs_asset(request: Request, name: str) -> Response:
    found = docs_pages.asset(name)
    if found is None:
        language = request_language(request)
        return problem_response(404, NO_SUCH_ASSET.render(language), language, slug="not-found")
    path, media_type = found
    return FileResponse(path, media_type=media_type, headers=docs_pages.ASSET_HEADERS)


@router.get("/healthz", include_in_schema=False)
async def healthz() -> Response:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> Response:
    """Ready when the gateway's own database answers and every service has a ready replica; the
    ready replicas of each are listed either way."""
    unavailable, upstreams = await gateway_of(request).readiness()
    if unavailable:
        language = request_language(request)
        return problem_response(
            503, NOT_READY.render(language), language, slug="not-ready", unavailable=unavailable, upstreams=upstreams
        )
    body: dict = {"status": "ready", "upstreams": upstreams}
    if gateway_of(request).redis_state() == "degraded":  # shared limits fall back to in-process ones
        body["degraded"] = ["redis"]
    return JSONResponse(body)
