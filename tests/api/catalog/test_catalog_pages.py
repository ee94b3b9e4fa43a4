"""The catalogue as HTML for people: negotiation on the public GETs, both languages, the 14
components of a standard, escaping of what the reader typed, the HTML 404 page, headers."""

from __future__ import annotations

import re

from tests.api.catalog.helpers import create, public, publish

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
XSS = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


def html(**extra: str) -> dict[str, str]:
    return {**public(), "Accept": BROWSER, **extra}


def assert_page(response, status: int = 200, lang: str = "id") -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src" not in response.headers["content-security-policy"]
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "Accept" in response.headers["vary"]
    body = response.text
    assert f'<html lang="{lang}">' in body
    assert "<script" not in body
    return body


async def seeded(client) -> None:
    await create(client, "IZIN-A", name="Izin alfa", name_en="Alpha permit", unit="KDN-BH",
                 fee={"amount": 1500000, "currency": "IDR", "legal_basis": "PP 10/2025 tentang tarif"})
    await publish(client, "IZIN-A")
    await create(client, "REKOM-B", name="Rekomendasi beta", name_en="Beta recommendation", unit="OTDA",
                 category="rekomendasi")
    await publish(client, "REKOM-B")
    await create(client, "DRAFT-C", name="Konsep gamma")


async def test_json_stays_the_default_and_names_vary(client):
    await seeded(client)
    for accept in (None, "application/json", "*/*"):
        headers = public() if accept is None else {**public(), "Accept": accept}
        response = await client.get("/v1/services", headers=headers)
        assert response.headers["content-type"] == "application/json"
        assert "Accept" in response.headers["vary"]
        single = await client.get("/v1/services/IZIN-A", headers=headers)
        assert single.headers["content-type"] == "application/json" and single.json()["code"] == "IZIN-A"


async def test_the_list_in_indonesian_with_filters_and_a_switch_to_english(client):
    await seeded(client)
    body = assert_page(await client.get("/v1/services", headers=html()))
    assert "Izin alfa" in body and "Rekomendasi beta" in body and "Konsep gamma" not in body
    assert "Rp1.500.000" in body and "Tidak dipungut biaya" in body
    assert '<option value="OTDA">OTDA</option>' in body and '<option value="rekomendasi">' in body
    assert 'href="/v1/services?lang=en"' in body and "<main" in body and "<nav" in body

    filtered = assert_page(await client.get("/v1/services", params={"unit": "OTDA"}, headers=html()))
    assert "Rekomendasi beta" in filtered and "Izin alfa" not in filtered
    assert '<option value="OTDA" selected>' in filtered
    searched = assert_page(await client.get("/v1/services", params={"q": "alfa"}, headers=html()))
    assert "Izin alfa" in searched and "Rekomendasi beta" not in searched


async def test_english_by_accept_language_or_the_switch(client):
    await seeded(client)
    by_header = assert_page(await client.get("/v1/services", headers=html(**{"Accept-Language": "en-GB,en;q=0.9"})),
                            lang="en")
    assert "Alpha permit" in by_header and "IDR 1,500,000" in by_header and "Service catalogue" in by_header
    by_switch = assert_page(await client.get("/v1/services?lang=en", headers=html()), lang="en")
    assert "Alpha permit" in by_switch and 'href="/v1/services?lang=id"' in by_switch
    back = assert_page(await client.get("/v1/services?lang=id", headers=html(**{"Accept-Language": "en"})))
    assert "Izin alfa" in back


async def test_a_standard_in_full_with_its_fourteen_components(client):
    await seeded(client)
    body = assert_page(await client.get("/v1/services/IZIN-A", headers=html()))
    headings = re.findall(r'<h3 id="c(\d+)">', body)
    assert headings == [str(n) for n in range(1, 15)]
    for text in ("Persyaratan", "Surat permohonan", "PDF", "Wajib", "Tidak wajib", "Verifikasi berkas",
                 "Petugas", "Paling lama 5 hari kerja", "Rp1.500.000", "PP 10/2025 tentang tarif",
                 "Surat Keterangan", "pengaduan@example.go.id", "Ditanggapi dalam 3 hari kerja",
                 "Undang-Undang Nomor 25 Tahun 2009", "Loket daring", "Analis hukum", "Inspektorat Jenderal",
                 "4 orang", "Maklumat pelayanan", "Survei kepuasan masyarakat tiap semester"):
        assert text in body, text
    assert "@media print" in body
    english = assert_page(await client.get("/v1/services/IZIN-A?lang=en", headers=html()), lang="en")
    assert "Alpha permit" in english and "At most 5 working days" in english and "Requirements" in english


async def test_query_parameters_are_escaped(client):
    await seeded(client)
    body = assert_page(await client.get("/v1/services", params={"q": XSS}, headers=html()))
    assert "<script>alert(1)</script>" not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    switched = assert_page(await client.get("/v1/services", params={"q": XSS, "lang": "id"}, headers=html()))
    assert 'onerror=alert(2)>' not in switched


async def test_unknown_and_draft_services_get_the_html_404_page(client):
    await seeded(client)
    for code in ("NOPE", "DRAFT-C", "%3Cscript%3E"):
        body = assert_page(await client.get(f"/v1/services/{code}", headers=html()), 404)
        assert "Halaman tidak ditemukan" in body and "<script>" not in body
    english = assert_page(await client.get("/v1/services/NOPE", headers=html(**{"Accept-Language": "en"})), 404,
                          lang="en")
    assert "Page not found" in english
    problem = await client.get("/v1/services/NOPE", headers=public())
    assert problem.status_code == 404 and problem.headers["content-type"] == "application/problem+json"
