"""Documents that name people: the deciding official and the initials chain on the PDF, and the
official's name and the unit's full name on the verify page (not a client id, a DN or a code)."""

from __future__ import annotations

from tests.api.signatures.conftest import public
from tests.support.pdf import words

SIGNER = {"nip": "198503142010012002", "name": "Siti Rahma, S.H.", "position": "Kepala Pusat Fasilitasi"}
VERIFIER = {"nip": "199001012015011001", "name": "Budi Santoso", "position": "Analis Kerja Sama"}
UNIT_NAME = "Pusat Fasilitasi Kerja Sama, Kementerian Dalam Negeri"


async def text_of(signatures, document_id: str, tmp_path) -> str:
    return words(await signatures.pdf(document_id), tmp_path, document_id)


async def test_the_pdf_names_the_deciding_official_and_the_initials(signatures, tmp_path):
    approvals = [
        {**VERIFIER, "action": "start_review", "step": None, "at": "2026-11-23T02:00:00+00:00"},
        {**SIGNER, "action": "approve", "step": None, "at": "2026-11-23T03:30:00+00:00"},
    ]
    issued = await signatures.issue(official=SIGNER, approvals=approvals, unit_name=UNIT_NAME,
                                    approved_by="cli_5013deae9c375f362e5a")
    text = await text_of(signatures, issued["document_id"], tmp_path)
    assert f"Disetujui oleh {SIGNER['name']}, {SIGNER['position']} (NIP {SIGNER['nip']})" in text
    assert f"Unit kerja penerbit: {UNIT_NAME}" in text
    assert "Paraf" in text
    first = text.index(f"1. Memulai pemeriksaan {VERIFIER['name']}")
    second = text.index(f"2. Menyetujui {SIGNER['name']}")
    assert first < second
    assert "cli_5013deae9c375f362e5a" not in text

    status = (await signatures.client.get(f"/v1/verify/{issued['document_id']}", headers=public())).json()
    assert status["issuer"] == UNIT_NAME and status["unit"] == "KDN-PFK"
    assert status["official"] == {"name": SIGNER["name"], "position": SIGNER["position"]}
    page = await signatures.client.get(f"/v1/verify/{issued['document_id']}",
                                       headers={**public(), "Accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert "Siti Rahma, S.H., Kepala Pusat Fasilitasi" in html and UNIT_NAME in html
    assert status["signature"]["signer"]["subject"] not in html  # no certificate DN for people
    assert "<dd>KDN-PFK</dd>" not in html


async def test_without_an_official_the_unit_is_named_never_a_client(signatures, tmp_path):
    issued = await signatures.issue(approved_by="cli_5013deae9c375f362e5a")
    text = await text_of(signatures, issued["document_id"], tmp_path)
    assert "Disetujui oleh KDN-PFK" in text
    assert "cli_5013deae9c375f362e5a" not in text and "Paraf" not in text
    status = (await signatures.client.get(f"/v1/verify/{issued['document_id']}", headers=public())).json()
    assert status["issuer"] == "KDN-PFK" and status["official"] is None

    named = await signatures.issue("sub-with-unit-name", unit_name=UNIT_NAME)
    assert f"Disetujui oleh {UNIT_NAME}" in await text_of(signatures, named["document_id"], tmp_path)


async def test_a_malformed_official_is_refused_and_nothing_issued(signatures):
    from tests.api.signatures.conftest import internal, issue_body

    for overrides in ({"official": {**SIGNER, "nip": "123"}},
                      {"approvals": [{**SIGNER, "action": "approve"}]},  # no `at`
                      {"unit_name": "Biro\nHukum"}):
        response = await signatures.client.post("/internal/documents", json=issue_body(**overrides),
                                                headers=internal())
        assert response.status_code == 422, response.text


async def test_the_form_schema_labels_the_data_and_names_its_choices(signatures, tmp_path):
    """What the issuer sends for a loan recommendation reads as a person writes it."""
    from simpul.catalog.demo import demo_services

    schema = next(service.form_schema for service in demo_services() if service.code == "REKOM-PINJAMAN-DAERAH")
    data = {"sumber_pinjaman": "pt_smi", "apbd_tahun": 2026, "jumlah_pinjaman": 1_500_000, "dscr": 3.1}
    document = await signatures.issue(data=data, form_schema=schema, unit_name=UNIT_NAME)
    text = await text_of(signatures, document["document_id"], tmp_path)
    for expected in ("Sumber pinjaman PT SMI", "Tahun APBD 2026", "Jumlah pinjaman Rp 1.500.000", "Rasio DSCR 3,1"):
        assert expected in text, expected
    for wrong in ("Pt smi", "2.026", "Dscr", "Apbd"):
        assert wrong not in text, wrong
