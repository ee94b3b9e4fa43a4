"""Which service answers which public path: the first segment after `/v1/` decides."""

from __future__ import annotations

# /v1/<segment>... -> service. Anything else under /v1 is the gateway's own (oauth, admin) or 404;
# /internal/... is never routed.
ROUTES: dict[str, str] = {
    "services": "catalog",
    "submissions": "submissions",
    "track": "submissions",
    "complaints": "submissions",
    "reports": "submissions",
    "bills": "submissions",
    "payments": "submissions",
    "documents": "signatures",
    "verify": "signatures",
    "pki": "signatures",
    "signers": "signatures",
    "webhooks": "notifications",
    "notifications": "notifications",
    "templates": "notifications",
}

PUBLIC_PREFIX = "/v1/"
# The Open311 GeoReport v2 facade (docs/open-standards.md): the submissions service answers it.
OPEN311_PREFIX = "/open311/v2/"
OPEN311_SERVICE = "submissions"


def segment_of(path: str) -> str | None:
    """`services` for `/v1/services` and `/v1/services/X`; None outside /v1."""
    if not path.startswith(PUBLIC_PREFIX):
        return None
    return path[len(PUBLIC_PREFIX):].partition("/")[0]


def service_for(path: str) -> str | None:
    if path.startswith(OPEN311_PREFIX):
        return OPEN311_SERVICE
    segment = segment_of(path)
    if segment is None:
        return None
    return ROUTES.get(segment) or admin_service_for(path)


AUDIT_PREFIX = "/v1/admin/audit/"
_SERVICES = frozenset(ROUTES.values())
# /v1/admin/<segment>... answered by a service (which checks the admin role) rather than here.
ADMIN_PREFIX = "/v1/admin/"
ADMIN_ROUTES: dict[str, str] = {"payment-providers": "submissions"}


def admin_service_for(path: str) -> str | None:
    """The service whose audit log `/v1/admin/audit/<service>...` asks for, or that answers another
    admin path of its own (`ADMIN_ROUTES`); None for the gateway's own log and admin routes
    (answered here) or anything else. The service checks the admin role."""
    if not path.startswith(ADMIN_PREFIX):
        return None
    segment = path[len(ADMIN_PREFIX):].partition("/")[0]
    if segment in ADMIN_ROUTES:
        return ADMIN_ROUTES[segment]
    if not path.startswith(AUDIT_PREFIX):
        return None
    service = path[len(AUDIT_PREFIX):].partition("/")[0]
    return service if service in _SERVICES else None


def has_dot_segment(path: str) -> bool:
    """`.` or `..` as a path segment: refused rather than forwarded, so no upstream can be
    tricked into resolving `/v1/services/../../internal/...`."""
    return "/." in path and any(part in (".", "..") for part in path.split("/"))


def service_route(scope: dict) -> str:
    """The route the access log shows for a request the gateway answered without a template
    (a refusal before forwarding): its service's prefix, never the ids in the rest of the path."""
    if scope["path"].startswith(OPEN311_PREFIX):
        return f"{OPEN311_PREFIX}*"
    segment = segment_of(scope["path"])
    if segment is not None and segment in ROUTES:
        return f"{PUBLIC_PREFIX}{segment}/*"
    return "unmatched"
