"""Every public page, in both languages, at a phone's and a desktop's width, in Debian's Chromium:
axe-core's WCAG 2.1 A/AA rules find no violation, the page does not scroll sideways (reflow), and
a screenshot of each is saved under var/a11y/ for a person to look at.

The services run in-process; Chromium reaches them through Playwright's request routing, so the
pages arrive with the headers the services send (the CSP included) and no port is opened but
signatures' own (its fixture serves over loopback)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from simpul.catalog.app import create_app as create_catalog
from simpul.catalog.settings import CatalogSettings
from tests.api.signatures.conftest import admin as signatures_admin
from tests.api.signatures.conftest import signatures, signatures_overrides  # noqa: F401 (fixtures)
from tests.api.submissions.conftest import applicant, clock, harness  # noqa: F401 (fixtures)
from tests.support.asgi import running
from tests.support.identity import anonymous

CHROMIUM = "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.async_api")
axe_package = pytest.importorskip("axe_playwright_python")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")

ORIGIN = "http://simpul.test"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "a11y"
AXE_SOURCE = (Path(axe_package.__file__).parent / "axe.min.js").read_text()
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS = {"phone": 390, "desktop": 1280}
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
ELEMENTS = ("requirements", "procedure", "timeliness", "cost", "product", "competence", "behaviour",
            "complaint_handling", "facilities")


CONTROL_PAGE = (
    "<!doctype html><html><head><title>x</title></head><body><main><img src='data:,'>"
    "<p style='color:#bbb;background:#fff'>faint</p><input type=text>"
    "<div style='width:2000px'>wide</div></main></body></html>"
)


@pytest.fixture
def harness_overrides() -> dict:
    return {"ikm_min_respondents": 2}


async def public_pages(harness, signatures, catalog_client) -> list[tuple[str, str]]:  # noqa: F811
    """(name, path) of each page, with the data that makes it say something."""
    demo = (await catalog_client.get("/v1/services", headers=anonymous("catalog"))).json()["items"][0]["code"]
    submitted = await harness.submitted()
    scores = dict(zip(ELEMENTS, (4, 3, 3, 4, 3, 2, 4, 3, 3), strict=True))
    rejected = None
    for _ in range(2):
        rejected = await harness.rejected()
        given = await harness.client.post(f"/v1/submissions/{rejected['id']}/survey", json=scores, headers=applicant())
        assert given.status_code == 201, given.text
    # Each for a submission of its own: issuing is idempotent per submission.
    valid = await signatures.issue(str(uuid.uuid4()))
    revoked = await signatures.issue(str(uuid.uuid4()))
    revoking = await signatures.client.post(f"/v1/documents/{revoked['document_id']}/revoke",
                                            json={"reason": "Dicabut untuk uji."}, headers=signatures_admin())
    assert revoking.status_code == 200, revoking.text
    return [
        ("catalogue", "/v1/services"),
        ("catalogue-search", "/v1/services?q=izin"),
        ("standard", f"/v1/services/{demo}"),
        ("standard-404", "/v1/services/TIDAK-ADA"),
        ("track-submitted", f"/v1/track/{submitted['tracking_code']}"),
        ("track-rejected", f"/v1/track/{rejected['tracking_code']}"),
        ("track-404", "/v1/track/AAAAAAAAAAAA"),
        ("performance", "/v1/reports/performance"),
        ("ikm", "/v1/reports/ikm"),
        ("verify-valid", f"/v1/verify/{valid['document_id']}"),
        ("verify-revoked", f"/v1/verify/{revoked['document_id']}"),
        ("verify-unknown", f"/v1/verify/{uuid.uuid4()}"),
    ]


async def audit(page) -> list[dict]:
    """axe-core's WCAG 2.1 A/AA violations on the page, and sideways scrolling (reflow)."""
    # Evaluated through the DevTools protocol, which the pages' CSP (no script at all) does not
    # govern: the pages themselves stay script-free.
    await page.evaluate(AXE_SOURCE)
    result = await page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_21_AA)
    problems = [{"rule": v["id"], "impact": v["impact"], "help": v["help"],
                 "nodes": [node["target"] for node in v["nodes"]][:5]} for v in result["violations"]]
    sideways = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if sideways > 0:
        problems.append({"rule": "reflow", "help": f"scrolls sideways by {sideways}px"})
    return problems


async def control(browser) -> None:
    """The checks find what they are for: a page with known faults fails them."""
    context = await browser.new_context(viewport={"width": 390, "height": 900})

    async def faulty(route):
        await route.fulfill(status=200, content_type="text/html", body=CONTROL_PAGE)

    await context.route(f"{ORIGIN}/control", faulty)
    page = await context.new_page()
    await page.goto(f"{ORIGIN}/control")
    rules = {problem["rule"] for problem in await audit(page)}
    assert {"html-has-lang", "image-alt", "color-contrast", "label", "reflow"} <= rules, rules
    await context.close()


async def test_every_public_page_passes_axe_in_both_languages_at_both_widths(
    harness, signatures, settings_for  # noqa: F811
):
    started = time.monotonic()
    catalog_app = create_catalog(await settings_for(CatalogSettings, demo=True))
    async with running(catalog_app) as catalog_client:
        backends = {"services": (catalog_client, "catalog"), "track": (harness.client, "submissions"),
                    "reports": (harness.client, "submissions"), "verify": (signatures.client, "signatures")}
        pages = await public_pages(harness, signatures, catalog_client)

        async def forward(route):
            request = route.request
            url = urlsplit(request.url)
            client, service = backends[url.path.split("/")[2]]
            headers = {**anonymous(service), **{name: value for name, value in request.headers.items()
                                                 if name in ("accept", "accept-language")}}
            answer = await client.get(url.path + (f"?{url.query}" if url.query else ""), headers=headers)
            await route.fulfill(status=answer.status_code, body=answer.content,
                                headers={k: v for k, v in answer.headers.items() if k != "content-length"})

        shutil.rmtree(SCREENSHOTS, ignore_errors=True)
        SCREENSHOTS.mkdir(parents=True)
        found: dict[str, list] = {}

        async def check(browser, language: str, width_name: str) -> None:
            context = await browser.new_context(viewport={"width": WIDTHS[width_name], "height": 900}, locale=language)
            await context.route(f"{ORIGIN}/**", forward)
            page = await context.new_page()
            for name, path in pages:
                response = await page.goto(ORIGIN + path)
                expected = 404 if name.endswith(("404", "unknown")) else 200
                assert response.status == expected, (name, language, response.status)
                assert "default-src 'none'" in response.headers["content-security-policy"]
                assert await page.get_attribute("html", "lang") == language, (name, language)
                await page.screenshot(path=SCREENSHOTS / f"{name}-{language}-{width_name}.png", full_page=True)
                problems = await audit(page)
                if problems:
                    found[f"{name} {language} {WIDTHS[width_name]}px"] = problems
            await context.close()

        async with playwright_api.async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            try:
                await control(browser)
                # The four views side by side: Chromium renders each in its own process.
                await asyncio.gather(*(check(browser, language, width_name)
                                       for language in ("id", "en") for width_name in WIDTHS))
            finally:
                await browser.close()
    (SCREENSHOTS / "violations.json").write_text(json.dumps(found, indent=2))
    assert not found, json.dumps(found, indent=2)
    assert len(list(SCREENSHOTS.glob("*.png"))) == len(pages) * 4
    print(f"\n{len(pages) * 4} page views checked in {time.monotonic() - started:.1f} s")
