"""/docs and /redoc in Debian's Chromium, headless, with every host name but the gateway's
unresolvable: the pages must render the whole merged document from the gateway's own copy of
Swagger UI and ReDoc, with nothing their Content-Security-Policy had to block but ReDoc's logo
from its CDN (ReDoc drops the image when it fails to load)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.shared_system  # see tests/e2e/conftest.py

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
METHODS = ("get", "put", "post", "delete", "patch")
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def csp_violations(log: str) -> list[str]:
    """Chromium's console lines about what the page's Content-Security-Policy blocked."""
    return [line for line in log.splitlines() if "violates the following Content Security Policy" in line]


def render(url: str, directory) -> tuple[str, str]:
    """The page's DOM once its scripts have run, and Chromium's log (console messages, CSP reports)."""
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={directory / 'profile'}",
         # No internet: any name but the loopback address fails to resolve.
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--enable-logging=stderr", "--v=0",
         # Virtual time runs until the page is idle (the document fetched and rendered), at most this.
         "--virtual-time-budget=30000", "--dump-dom", url],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout, result.stderr


@pytest.fixture(scope="module")
def operations(api) -> list[tuple[str, str, dict]]:
    document = api.http.get("/openapi.json").json()
    found = [(method, path, operation) for path, item in document["paths"].items()
             for method, operation in item.items() if method in METHODS]
    assert len(found) > 30
    return found


def test_swagger_ui_lists_every_operation_offline(system, operations, tmp_path):
    dom, log = render(f"{system.gateway_url}/docs", tmp_path)
    assert csp_violations(log) == []
    listed = {
        (method, html.unescape(re.sub(r"<[^>]+>|\u200b", "", path)))
        for method, path in re.findall(
            r'class="opblock opblock-(\w+)[^"]*".*?class="opblock-summary-path"[^>]*data-path="([^"]*)"', dom, re.S)
    }
    assert listed, dom[:3000]
    assert {(method, path) for method, path, _ in operations} <= listed


def test_redoc_shows_every_operation_offline(system, operations, tmp_path):
    dom, log = render(f"{system.gateway_url}/redoc", tmp_path)
    assert [line for line in csp_violations(log) if REDOC_LOGO not in line] == []
    text = html.unescape(dom)
    missing = [(path, operation["summary"]) for _, path, operation in operations
               if path not in text or operation["summary"] not in text]
    assert missing == [], dom[:3000]
