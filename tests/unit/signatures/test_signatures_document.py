"""The output PDF: readable text in Indonesian (labels and choices by the form schema's titles,
numbers, money and years as Indonesians write them, one time zone, nothing twice), the QR code,
a tagged structure, and layout over several pages."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest

from simpul.catalog.demo import demo_services
from simpul.signatures.document import (
    PAGE_WIDTH,
    NamedOfficial,
    flatten_fields,
    format_datetime,
    format_value,
    render,
    wrap,
)
from simpul.signatures.fonts import BOLD, REGULAR, face
from tests.support.pdf import info, page_images, pdftotext, structure, words

LOAN = {
    "kode_daerah": "16.71",
    "sumber_pinjaman": "pt_smi",
    "jangka_waktu": "menengah",
    "jumlah_pinjaman": 1_500_000,
    "tenor_bulan": 48,
    "peruntukan": "Pembangunan jalan lingkar dan drainase perkotaan Kota Palembang.",
    "apbd_tahun": 2026,
    "pendapatan_daerah": 4_250_000_000_000,
    "dscr": 3.1,
    "narahubung": {"nama": "Rahmat Hidayat", "email": "bpkad@palembang.go.id", "telepon": "0711 350000"},
}
OFFICIAL = NamedOfficial("198503142010012002", "Ir. Siti Rahma, M.Si.", "Direktur Fasilitasi Dana Perimbangan")


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Where the page images of this module are kept for a person to look at."""
    return tmp_path_factory.mktemp("document-pages")


def loan_schema():
    return next(service.form_schema for service in demo_services() if service.code == "REKOM-PINJAMAN-DAERAH")


def test_values_print_the_indonesian_way():
    assert format_value(1500000000) == "1.500.000.000"
    assert format_value(2.5) == "2,5"
    assert format_value(1234.5) == "1.234,5"
    assert format_value(True) == "Ya" and format_value(False) == "Tidak"
    assert format_value(None) == "-"
    assert format_value("2026-12-01") == "1 Desember 2026"
    # A choice without a title keeps its letters as typed: never "Pt smi" for pt_smi.
    assert format_value("pt_smi") == "pt smi"
    assert format_value("Jl. Medan Merdeka Utara No. 7") == "Jl. Medan Merdeka Utara No. 7"
    assert format_datetime(datetime(2026, 11, 23, 17, 5, tzinfo=UTC)) == "24 November 2026 pukul 00.05 WIB"


def test_the_schema_decides_years_money_and_choice_titles():
    choice = {"oneOf": [{"const": "pt_smi", "title": "PT SMI"}, {"const": "apbd", "title": "APBD"}]}
    assert format_value("pt_smi", choice) == "PT SMI" and format_value("apbd", choice) == "APBD"
    assert format_value(2026, {"type": "integer", "minimum": 2020, "maximum": 2100}) == "2026"
    assert format_value(2026, {}, "apbd_tahun") == "2026"
    assert format_value(2026, {}, "jumlah_peserta") == "2.026"
    assert format_value(1_500_000, {"description": "Dalam rupiah"}) == "Rp 1.500.000"


def test_nested_data_becomes_labelled_lines():
    lines = flatten_fields({
        "negara_tujuan": "Jepang",
        "kontak": {"nama": "Budi", "telepon": "+62 812"},
        "anggota": [{"nama": "A"}, {"nama": "B"}],
        "kode": ["31", "32"],
    })
    assert lines == [
        ("Negara tujuan", "Jepang"),
        ("Kontak · Nama", "Budi"),
        ("Kontak · Telepon", "+62 812"),
        ("Anggota 1 · Nama", "A"),
        ("Anggota 2 · Nama", "B"),
        ("Kode", "31, 32"),
    ]


def test_labels_and_choices_come_from_the_form_schema():
    lines = dict(flatten_fields(LOAN, loan_schema()))
    assert lines["Sumber pinjaman"].startswith("PT SMI")
    assert lines["Jangka waktu pinjaman"] == "Jangka menengah"
    assert lines["Jumlah pinjaman"] == "Rp 1.500.000"
    assert lines["Pendapatan daerah"] == "Rp 4.250.000.000.000"
    assert lines["Tahun APBD"] == "2026"
    assert lines["Rasio DSCR"] == "3,1"
    assert lines["Narahubung · Nama"] == "Rahmat Hidayat"


def test_a_loan_recommendation_reads_as_a_person_writes_it(make_content, tmp_path, pages):
    """The issue's example, through pdftotext: what a reader sees, and what they must not."""
    rendered = render(make_content(
        fields=tuple(flatten_fields(LOAN, loan_schema())), official=OFFICIAL,
        unit="KEUDA", unit_name="Direktorat Jenderal Bina Keuangan Daerah, Kementerian Dalam Negeri",
    ))
    text = words(rendered.pdf, tmp_path)
    for expected in (
        "Sumber pinjaman PT SMI", "Tahun APBD 2026", "Jumlah pinjaman Rp 1.500.000",
        "Pendapatan daerah Rp 4.250.000.000.000", "Rasio DSCR 3,1",
        "Jangka waktu pinjaman Jangka menengah",
        "Disetujui oleh Ir. Siti Rahma, M.Si., Direktur Fasilitasi Dana Perimbangan (NIP 198503142010012002)",
        "Unit kerja penerbit: Direktorat Jenderal Bina Keuangan Daerah, Kementerian Dalam Negeri",
        "Tanggal terbit 23 November 2026 pukul 10.30 WIB",
    ):
        assert expected in text, expected
    for wrong in ("Pt smi", "Apbd", "2.026", "Dscr", "Sumber pinjaman pt", "UTC", "GMT", "+00:00",
                  "Disetujui oleh KEUDA"):
        assert wrong not in text, wrong
    assert text.count("Ditandatangani secara elektronik oleh") == 1
    assert page_images(rendered.pdf, pages, "loan-recommendation")


def test_the_pdf_is_tagged_in_indonesian_with_its_title(make_content, tmp_path):
    rendered = render(make_content())
    details = info(rendered.pdf, tmp_path)
    assert details["Tagged"] == "yes"
    assert details["Title"] == "Surat Izin Perjalanan ke Luar Negeri 000042/KDN-PFK/IZIN-LN-KDH/2026"
    raw = rendered.pdf
    assert b"/Lang (id-ID)" in raw and b"/DisplayDocTitle true" in raw and b"/Marked true" in raw
    tree = structure(rendered.pdf, tmp_path)
    roles = [line.split()[0] for line in tree.splitlines() if line.startswith("  ") and not line.startswith("    ")]
    assert roles.count("H1") == 1 and roles.count("H2") == 3 and roles.count("Figure") == 1
    assert '"SURAT IZIN PERJALANAN KE LUAR NEGERI"' in tree and '"Keputusan"' in tree
    # A label and its value are separate paragraphs (read with a pause), in reading order.
    assert tree.index('"Negara tujuan"') < tree.index('"Jepang"') < tree.index('"Keputusan"')
    # Page numbers and rules are artifacts: not read out as content.
    assert "Halaman 1 dari 1" not in tree and "Halaman 1 dari 1" in pdftotext(rendered.pdf, tmp_path)


def test_text_is_extractable_with_its_accents(make_content, tmp_path):
    rendered = render(make_content())
    path = tmp_path / "document.pdf"
    path.write_bytes(rendered.pdf)
    text = pdftotext(path, tmp_path)
    for expected in (
        "SURAT IZIN PERJALANAN KE LUAR NEGERI",
        "Nomor: 000042/KDN-PFK/IZIN-LN-KDH/2026",
        "Pemerintah Provinsi DKI Jakarta",
        "Dr. Siti Nurhaliza Đặng",
        "1 Desember 2026",
        "12.500",
        "Harap melapor sepulang perjalanan.",
        "23 November 2026 pukul 10.30 WIB",
        "Ditandatangani secara elektronik oleh Simpul KDN-PFK",
    ):
        assert expected in text, expected
    fonts = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout
    assert "Lato-Regular" in fonts and "Lato-Bold" in fonts
    assert fonts.count(" yes ") >= 2  # embedded


def test_qr_code_holds_the_verify_url(make_content, tmp_path):
    rendered = render(make_content())
    (tmp_path / "document.pdf").write_bytes(rendered.pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-f", str(rendered.signature_page + 1),
                    "-l", str(rendered.signature_page + 1), str(tmp_path / "document.pdf"), str(tmp_path / "page")],
                   check=True)
    image = next(tmp_path.glob("page*.png"))
    decoded = subprocess.run(["zbarimg", "-q", "--raw", str(image)], capture_output=True, text=True).stdout.strip()
    assert decoded == make_content().verify_url


def test_many_fields_flow_onto_more_pages(make_content, tmp_path, pages):
    fields = tuple((f"Rincian {index}", "nilai " * 12) for index in range(90))
    rendered = render(make_content(fields=fields))
    pages_count = int(info(rendered.pdf, tmp_path)["Pages"])
    assert pages_count >= 3
    assert rendered.signature_page == pages_count - 1
    left, bottom, right, top = rendered.signature_box
    assert 0 < left < right <= PAGE_WIDTH and 0 < bottom < top
    text = pdftotext(rendered.pdf, tmp_path)
    assert "Rincian 89" in text
    for page in range(1, pages_count + 1):
        assert f"Halaman {page} dari {pages_count}" in text
    assert len(page_images(rendered.pdf, pages, "long-document", resolution=50)) == pages_count


def test_wrap_respects_width_and_breaks_long_words():
    font = face(REGULAR)
    lines = wrap("kata " * 60 + "x" * 300, font, 10, 200)
    assert len(lines) > 5
    assert all(font.width(line, 10) <= 200 for line in lines)
    assert "".join(lines).replace(" ", "").endswith("x" * 300)


def test_characters_outside_the_font_degrade_gracefully():
    font = face(BOLD)
    assert font.glyphs("ŉ") and font.glyphs("中") == font.glyphs("?")


@pytest.mark.parametrize("style", [REGULAR, BOLD])
def test_faces_are_prepared_once(style):
    assert face(style) is face(style)
    assert len(face(style).widths) > 300
