"""Tracking and the performance and satisfaction reports as HTML for people: negotiation, both
languages, no personal data, charts with their tables, escaping, the HTML 404 page, headers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.submissions.conftest import applicant
from tests.support.identity import anonymous

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
XSS = '"><script>alert(1)</script><svg onload=alert(2)>'
ELEMENTS = ("requirements", "procedure", "timeliness", "cost", "product", "competence", "behaviour",
            "complaint_handling", "facilities")


@pytest.fixture
def harness_overrides() -> dict:
    return {"ikm_min_respondents": 2}


def html(**extra: str) -> dict[str, str]:
    return {**anonymous("submissions"), "Accept": BROWSER, **extra}


def assert_page(response, status: int = 200, lang: str = "id") -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "script-src" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "Accept-Language" in response.headers["vary"]
    body = response.text
    assert f'<html lang="{lang}">' in body and "<main" in body
    assert "<script" not in body
    return body


async def test_tracking_page_says_where_it_stands_and_what_to_do_without_personal_data(harness):
    submitted = await harness.submitted()
    code = submitted["tracking_code"]
    body = assert_page(await harness.client.get(f"/v1/track/{code}", headers=html()))
    assert code in body and "Diajukan" in body and "Target selesai" in body and "WIB" in body
    assert "Tidak ada yang perlu Anda lakukan" in body
    assert "Sesuai jadwal" in body and "hari kerja" in body
    assert 'aria-current="step"' in body and "sedang berjalan" in body
    for personal in ("Siti Rahayu", "siti@example.go.id", "Dinas PMPTSP", submitted["id"]):
        assert personal not in body
    english = assert_page(await harness.client.get(f"/v1/track/{code}?lang=en", headers=html()), lang="en")
    assert "Application status" in english and "Nothing to do" in english and "On time" in english
    assert f'href="/v1/track/{code}?lang=id"' in english

    json = await harness.client.get(f"/v1/track/{code}", headers=anonymous("submissions"))
    assert json.headers["content-type"] == "application/json" and json.json()["tracking_code"] == code
    assert json.json()["sla_working_days"] == harness.catalog.services["IZIN-USAHA"]["sla_working_days"]


async def test_tracking_a_revision_request_and_a_rejection(harness):
    rejected = await harness.rejected()
    body = assert_page(await harness.client.get(f"/v1/track/{rejected['tracking_code']}", headers=html()))
    assert "Ditolak" in body and "pengaduan" in body and "Persyaratan tidak sesuai" not in body
    assert "Diputuskan dalam waktu layanan." in body

    submitted = await harness.submitted()
    await harness.act(submitted["id"], "start_review")
    await harness.act(submitted["id"], "request_revision", "Lengkapi KTP")
    page = assert_page(await harness.client.get(f"/v1/track/{submitted['tracking_code']}?lang=en", headers=html()),
                       lang="en")
    assert "Revision needed" in page and "clock is stopped" in page and "Lengkapi KTP" not in page


async def test_unknown_tracking_codes_get_the_html_404_page_escaped(harness):
    for code in ("AAAAAAAAAAAA", "0O1IL", "%3Cscript%3Ealert(1)%3Cb%3E"):
        body = assert_page(await harness.client.get(f"/v1/track/{code}", headers=html()), 404)
        assert "Halaman tidak ditemukan" in body
    english = assert_page(await harness.client.get("/v1/track/NOPE", headers=html(**{"Accept-Language": "en"})),
                          404, lang="en")
    assert "Page not found" in english
    escaped = assert_page(await harness.client.get("/v1/track/NOPE", params={"lang": XSS, "x": XSS},
                                                   headers=html()), 404)
    assert "<svg onload" not in escaped and "<script>" not in escaped and "%3Cscript%3E" in escaped
    problem = await harness.client.get("/v1/track/NOPE", headers=anonymous("submissions"))
    assert problem.status_code == 404 and problem.headers["content-type"] == "application/problem+json"


async def test_performance_and_satisfaction_pages_with_charts_and_tables(harness):
    scores = dict(zip(ELEMENTS, (4, 3, 3, 4, 3, 3, 4, 3, 3), strict=True))
    for _ in range(2):
        rejected = await harness.rejected()
        given = await harness.client.post(f"/v1/submissions/{rejected['id']}/survey", json=scores,
                                          headers=applicant())
        assert given.status_code == 201, given.text

    body = assert_page(await harness.client.get("/v1/reports/performance", headers=html()))
    assert "Kinerja layanan" in body and "IZIN-USAHA" in body
    assert '<svg role="img"' in body and "<title id=\"sla-chart-title\">" in body
    assert "<table>" in body and "Selesai tepat waktu" in body and "100,0%" in body
    assert "Median waktu penyelesaian" in body

    ikm = assert_page(await harness.client.get("/v1/reports/ikm?lang=en", headers=html()), lang="en")
    assert "Public Satisfaction Index" in ikm and "Grade" in ikm
    assert '<svg role="img"' in ikm and "elements-chart" in ikm and "ikm-chart" in ikm
    json = (await harness.client.get("/v1/reports/ikm", headers=anonymous("submissions"))).json()
    assert f"{json['ikm']:.2f}" in ikm and f"({json['grade']})" in ikm

    csv = await harness.client.get("/v1/reports/performance", headers={**anonymous("submissions"), "Accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    plain = await harness.client.get("/v1/reports/performance", headers=anonymous("submissions"))
    assert plain.headers["content-type"] == "application/json" and "Accept" in plain.headers["vary"]


async def test_report_filters_are_escaped(harness):
    body = assert_page(await harness.client.get("/v1/reports/performance", params={"service_code": XSS, "unit": XSS},
                                                headers=html()))
    assert "<script>alert(1)</script>" not in body and "<svg onload" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    ikm = assert_page(await harness.client.get("/v1/reports/ikm", params={"service_code": XSS}, headers=html()))
    assert "<script>alert(1)</script>" not in ikm


async def test_tracking_says_when_a_decision_came_late(harness):
    submitted = await harness.submitted()
    await harness.act(submitted["id"], "start_review")
    harness.clock.advance(timedelta(days=40))
    late = assert_page(await harness.client.get(f"/v1/track/{submitted['tracking_code']}", headers=html()))
    assert "Melewati target selesai" in late and 'class="status bad"' in late
    assert (await harness.act(submitted["id"], "reject", "Tidak memenuhi syarat")).status_code == 200
    body = assert_page(await harness.client.get(f"/v1/track/{submitted['tracking_code']}?lang=en", headers=html()),
                       lang="en")
    assert "Decided after the due date." in body
