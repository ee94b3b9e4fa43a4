"""The documentation pages: served from the gateway's own copy of Swagger UI and ReDoc, with no
inline script and a Content-Security-Policy that keeps them to this origin. That they render in
a browser without internet is tests/e2e/test_docs_browser.py."""

from __future__ import annotations

import re

import pytest

PAGES = ("/docs", "/redoc")


async def test_the_root_sends_people_to_the_docs(gateway):
    response = await gateway.http.get("/", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/docs"


def directives(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


@pytest.mark.parametrize("page", PAGES)
async def test_a_docs_page_loads_only_from_this_origin(gateway, page):
    response = await gateway.http.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    html = response.text
    # Every script is a file of ours; nothing names another host.
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/' in attributes and not body.strip() for attributes, body in scripts)
    assert "//" not in re.sub(r"<!doctype[^>]*>", "", html, flags=re.I)
    for asset in re.findall(r'(?:src|href)="([^"]+)"', html):
        served = await gateway.http.get(asset)
        assert served.status_code == 200, asset
        assert served.content, asset
        assert "content-security-policy" in served.headers
        expected = {"js": "text/javascript", "css": "text/css", "png": "image/png"}[asset.rsplit(".", 1)[1]]
        assert served.headers["content-type"].startswith(expected), asset


async def test_swagger_ui_is_started_on_the_merged_document(gateway):
    started = await gateway.http.get("/docs/assets/swagger-init.js")
    assert started.status_code == 200
    assert 'url: "/openapi.json"' in started.text
    redoc = await gateway.http.get("/redoc")
    assert '<redoc spec-url="/openapi.json">' in redoc.text


@pytest.mark.parametrize("name", ["nothing.js", "..%2Fapi.py", "..%2F..%2Fdocs.py", "%2Fetc%2Fpasswd"])
async def test_only_the_docs_files_are_served(gateway, name):
    response = await gateway.http.get(f"/docs/assets/{name}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
