"""The API's documentation pages: Swagger UI at /docs and ReDoc at /redoc, on the gateway's merged
OpenAPI document.

Their scripts and styles are the copies the fastapi-offline package ships (pinned in
requirements.txt), served by the gateway itself: nothing comes from a CDN, so the pages work on a
machine without internet, and a Content-Security-Policy keeps them to this origin. The pages carry
no inline script (Swagger UI is started by swagger-init.js; ReDoc starts itself on its <redoc>
element); inline styles stay allowed because both libraries set styles from script.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

ASSETS_PATH = "/docs/assets"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The vendored files change only with the package version: a day in browser caches is plenty.
ASSET_HEADERS = {**PAGE_HEADERS, "Cache-Control": "public, max-age=86400"}

_OWN_ASSETS = Path(__file__).parent / "docs_assets"
# name -> (package directory, media type); only these are ever served.
_ASSETS = {
    "swagger-ui-bundle.js": ("vendor", "text/javascript; charset=utf-8"),
    "swagger-ui.css": ("vendor", "text/css; charset=utf-8"),
    "redoc.standalone.js": ("vendor", "text/javascript; charset=utf-8"),
    "favicon.png": ("vendor", "image/png"),
    "swagger-init.js": ("own", "text/javascript; charset=utf-8"),
}

SWAGGER_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Simpul API - Swagger UI</title>
<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon.png">
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="{ASSETS_PATH}/swagger-init.js"></script>
</body>
</html>
"""

REDOC_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Simpul API - ReDoc</title>
<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon.png">
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="{ASSETS_PATH}/redoc.standalone.js"></script>
</body>
</html>
"""


@cache
def _vendor_directory() -> Path:
    """fastapi-offline's static folder, found without importing the package (it would import
    FastAPI's static-files support for nothing)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fastapi-offline is not installed; it ships the documentation pages' scripts")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def asset(name: str) -> tuple[Path, str] | None:
    """The file and media type of a documentation asset, or None for any other name."""
    known = _ASSETS.get(name)
    if known is None:
        return None
    where, media_type = known
    directory = _OWN_ASSETS if where == "own" else _vendor_directory()
    return directory / name, media_type
