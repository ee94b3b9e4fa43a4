"""Routes of the Open311 GeoReport v2 facade: thin, the work is in service.py. JSON only (the
`.json` format; GeoReport's XML is not offered)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from simpul.shared.identity import Identity, current_identity
from simpul.shared.problems import request_language
from simpul.submissions.open311.service import Open311Service, token_path
from simpul.submissions.responses import json, roles, statuses

PREFIX = "/open311/v2"
TAG = "open311"
router = APIRouter(prefix=PREFIX, tags=[TAG])
applicant_only = roles("applicant")
readers = roles("applicant", "officer", "admin")

# GeoReport v2 errors: a list of {code, description}, with the HTTP status (the gateway renders
# every error on these paths this way).
ERRORS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
}


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {
            "schema": ERRORS_SCHEMA,
            "example": [{"code": 400, "description": "attribute[perihal]: is required"}],
        }},
    }


NOT_FOUND = {404: _error("No such open service, request or token")}
UNAUTHENTICATED = {401: _error("No valid api_key (an access token) or bearer token"),
                   403: _error("The client's role may not do this")}
CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["service_code", "email", "first_name"],
                    "properties": {
                        "api_key": {"type": "string", "description": "An access token from POST /v1/oauth/token"},
                        "service_code": {"type": "string"},
                        "email": {"type": "string", "format": "email"},
                        "first_name": {"type": "string"},
                        "last_name": {"type": "string"},
                        "phone": {"type": "string"},
                        "description": {"type": "string", "description": "Accepted, not stored"},
                    },
                    "additionalProperties": {"type": "string", "description": "attribute[<code>] per the definition"},
                },
                "example": {
                    "service_code": "SURAT-KETERANGAN", "email": "siti@example.go.id", "first_name": "Siti",
                    "last_name": "Rahma", "attribute[perihal]": "Permohonan surat keterangan",
                },
            }
        },
    }
}


# GeoReport clients send their key as a query parameter on GETs; the gateway takes it out and
# makes it the bearer token, so the routes never see it.
API_KEY_QUERY = {"parameters": [{
    "name": "api_key", "in": "query", "required": False, "schema": {"type": "string"},
    "description": "An access token from POST /v1/oauth/token (or send Authorization: Bearer)",
}]}


def open311_of(request: Request) -> Open311Service:
    return request.app.state.open311


@router.get(
    "/services.json",
    operation_id="listOpen311Services",
    summary="Open311: the published services",
    description="Every published service standard as a GeoReport v2 service (public).",
    responses={200: {"description": "The services", "content": {"application/json": {"example": [{
        "service_code": "IZIN-LN-KDH", "service_name": "Izin Perjalanan ke Luar Negeri", "description": "...",
        "metadata": True, "type": "realtime", "keywords": "perizinan, KDN-PFK", "group": "perizinan"}]}}}},
)
async def list_services(request: Request) -> Response:
    return json(await open311_of(request).services())


@router.get(
    "/services/{code}.json",
    operation_id="getOpen311ServiceDefinition",
    summary="Open311: a service definition",
    description="The service's form (its `form_schema`) as GeoReport v2 attributes: datatype, required, order, "
                "and the values of lists. An object's fields have dotted codes (`narahubung.email`).",
    responses={200: {"description": "The service definition", "content": {"application/json": {"example": {
        "service_code": "IZIN-LN-KDH", "attributes": [{
            "variable": True, "code": "jabatan", "datatype": "singlevaluelist", "required": True, "order": 2,
            "datatype_description": None, "description": "jabatan",
            "values": [{"key": "gubernur", "name": "gubernur"}]}]}}}}, **NOT_FOUND},
)
async def get_service_definition(request: Request, code: str) -> Response:
    return json(await open311_of(request).definition(code))


@router.post(
    "/requests.json",
    operation_id="createOpen311Request",
    summary="Open311: create a service request",
    description="Creates a submission with the attributes as its `data` and submits it, as the client the "
                "`api_key` (an access token, sent as a form field) or the bearer token names. Services that "
                "require documents are refused (400): GeoReport v2 cannot carry them. An `Idempotency-Key` "
                "header makes a retry safe.",
    openapi_extra=CREATE_BODY,
    status_code=201,
    responses={
        201: {"description": "The request was created and submitted: its token and id", "content": {
            "application/json": {"example": [{"token": "01a23d1a-95fa-7e1b-a22e-02eca8493651",
                                              "service_request_id": "98JKWMK7CTKX"}]}}},
        400: _error("A parameter or attribute is missing or not valid, or the service requires documents"),
        409: _error("The Idempotency-Key was used with another body"),
        **UNAUTHENTICATED, **NOT_FOUND,
    },
)
async def create_request(request: Request, identity: Identity = Depends(applicant_only)) -> Response:
    form = await request.form()
    fields = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    answer = await open311_of(request).create(identity, fields, request_language(request))
    return json(answer, 201, {"Location": token_path(answer[0]["token"])})


@router.get(
    "/requests.json",
    operation_id="listOpen311Requests",
    summary="Open311: the client's own service requests",
    description="The caller's submissions (newest first, as GET /v1/submissions sees them) as GeoReport v2 "
                "service requests, optionally by `service_request_id`, `service_code` or `status` "
                "(comma-separated).",
    openapi_extra=API_KEY_QUERY,
    responses={200: {"description": "The service requests"}, **UNAUTHENTICATED},
)
async def list_requests(
    request: Request,
    service_request_id: list[str] | None = Query(None, max_length=20),
    service_code: list[str] | None = Query(None, max_length=20),
    status: list[str] | None = Query(None, max_length=2),
    limit: int = Query(50, ge=1, le=200),
    identity: Identity = Depends(readers),
) -> Response:
    return json(await open311_of(request).requests(
        identity, tracking_codes=statuses(service_request_id), service_codes=statuses(service_code),
        statuses=statuses(status), limit=limit, language=request_language(request),
    ))


@router.get(
    "/requests/{tracking_code}.json",
    operation_id="getOpen311Request",
    summary="Open311: one service request",
    description="A service request by its id, the submission's tracking code: public, with no personal data, "
                "like GET /v1/track/{tracking_code}.",
    responses={200: {"description": "A list of one service request"}, **NOT_FOUND},
)
async def get_request(request: Request, tracking_code: str) -> Response:
    current_identity(request)
    return json(await open311_of(request).request(tracking_code))


@router.get(
    "/tokens/{submission_id}.json",
    operation_id="getOpen311Token",
    summary="Open311: the request id of a token",
    description="The token a create answered (the submission's id) and its service_request_id.",
    openapi_extra=API_KEY_QUERY,
    responses={200: {"description": "A list of one token"}, **NOT_FOUND, **UNAUTHENTICATED},
)
async def get_token(request: Request, submission_id: str, identity: Identity = Depends(readers)) -> Response:
    return json(await open311_of(request).token(identity, submission_id))
